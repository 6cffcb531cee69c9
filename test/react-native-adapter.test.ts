import { getTracker } from '@snowplow/react-native-tracker';
import { describe, expect, it } from 'vitest';
import { ConsentError, createConsentTracker, createEnforcement, memoryStorage } from 'consent-tracker';
import { createConsentAwareAsyncStorage, reactNativeAdapter, type ReactNativeAdapterOptions } from 'consent-tracker/react-native';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { rnTrackerOptions, trackRn } from './helpers/react-native.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();

describe('reactNativeAdapter', () => {
  it.each([
    ['no options', undefined],
    ['no namespace', { endpoint: 'https://collector.example.com' }],
    ['an empty namespace', { namespace: '', endpoint: 'https://collector.example.com' }],
    ['no endpoint', { namespace: 'app' }],
  ])('rejects %s with a typed error', (_name, options) => {
    expect(() => reactNativeAdapter(options as unknown as ReactNativeAdapterOptions)).toThrow(ConsentError);
    try {
      reactNativeAdapter(options as unknown as ReactNativeAdapterOptions);
    } catch (error) {
      expect((error as ConsentError).code).toBe('INVALID_OPTION');
    }
  });

  it('creates one tracker per adapter', async () => {
    const adapter = reactNativeAdapter(rnTrackerOptions(collector.current.url));
    const consent = createConsentTracker({ adapter, storage: memoryStorage() });
    await consent.ready;
    expect(() => createConsentTracker({ adapter, storage: memoryStorage() })).toThrow(/one tracker/);
    consent.stop();
  });

  it('rejects a stitch that is not a boolean, creating nothing', () => {
    const options = rnTrackerOptions(collector.current.url);
    expect(() => createConsentTracker({ adapter: reactNativeAdapter(options), stitch: 'yes' as never })).toThrow(/stitch must be a boolean/);
    expect(getTracker(options.namespace)).toBeUndefined();
  });

  it('answers the promise-returning methods called before the tracker exists once it does', async () => {
    const consent = createConsentTracker({ adapter: reactNativeAdapter(rnTrackerOptions(collector.current.url)), storage: memoryStorage() });
    const userId = consent.tracker.getSessionUserId();
    expect(userId).toBeInstanceOf(Promise);
    await expect(userId).resolves.toMatch(/^[0-9a-f-]{36}$/);
    consent.stop();
  });

  it('keeps calls made before the tracker exists and makes them, in order, once it does', async () => {
    const consent = createConsentTracker({ adapter: reactNativeAdapter(rnTrackerOptions(collector.current.url)), storage: memoryStorage() });
    consent.tracker.setUserId('early-user');
    trackRn(consent.tracker, 'early');
    await consent.setLevel('full', 'banner');
    const [early] = await collector.current.waitForEvents(1);
    // Held by the gate while booting, released at none (the level when it was tracked), with its time.
    expect(early?.payload.se_ac).toBe('early');
    expect(early?.payload.uid).toBeUndefined();
    expect(early?.payload.ttm).toEqual(expect.any(String));
    trackRn(consent.tracker, 'later');
    const events = await collector.current.waitForEvents(2);
    expect(events.find((e) => e.payload.se_ac === 'later')?.payload.uid).toBe('early-user');
    consent.stop();
  });

  it('sends the install event the tracker tracks by itself at the level in force: none before any decision', async () => {
    const consent = createConsentTracker({ adapter: reactNativeAdapter(rnTrackerOptions(collector.current.url, { installAutotracking: true })), storage: memoryStorage() });
    await consent.ready;
    const [install] = await collector.current.waitForEvents(1);
    expect(install?.selfDescribingEvent?.schema).toMatch(/application_install/);
    expect(findLeaks([install as CollectedEvent], 'none')).toEqual([]);
    consent.stop();
  });

  it('reports a tracker that could not be created, and still boots', async () => {
    const errors: ConsentError[] = [];
    const broken = { getItem: () => Promise.reject(new Error('storage is gone')), setItem: () => Promise.resolve() };
    const consent = createConsentTracker({
      adapter: reactNativeAdapter(rnTrackerOptions(collector.current.url, { asyncStorage: broken })),
      storage: memoryStorage(),
      onError: (error) => errors.push(error),
    });
    await consent.ready;
    expect(errors.map((e) => [e.code, e.message])).toEqual([['APPLY_FAILED', 'the tracker could not be created: storage is gone']]);
    expect(consent.getStatus().phase).toBe('undecided');
    trackRn(consent.tracker, 'nowhere');
    expect(consent.tracker.getIsInBackground()).toBeUndefined();
    consent.stop();
  });

  it('frees the namespace when the consent tracker stops', async () => {
    const options = rnTrackerOptions(collector.current.url);
    const consent = createConsentTracker({ adapter: reactNativeAdapter(options), storage: memoryStorage() });
    await consent.ready;
    expect(getTracker(options.namespace)).toBeDefined();
    consent.stop();
    await expect.poll(() => getTracker(options.namespace)).toBeUndefined();
  });

  it("keeps the decision and the queue in the tracker's AsyncStorage when given no storage", async () => {
    const options = rnTrackerOptions(collector.current.url);
    const consent = createConsentTracker({ adapter: reactNativeAdapter(options) });
    await consent.setLevel('full', 'banner');
    expect(JSON.parse(options.asyncStorage.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'full' });
    trackRn(consent.tracker, 'stored');
    await collector.current.waitForEvents(1);
    expect(options.asyncStorage.entries.has('consent-tracker.queue')).toBe(true);
    consent.stop();
  });
});

describe("the tracker's own session writes", () => {
  it('a session write that storage refuses resolves: the tracker, which does not handle it, sees no rejection', async () => {
    const enforcement = createEnforcement({ level: () => 'full' });
    const refusing = {
      getItem: async () => null,
      setItem: () => Promise.reject(new Error('QuotaExceededError: the quota has been exceeded')),
      removeItem: async () => undefined,
    };
    const storage = createConsentAwareAsyncStorage(refusing, 'app', enforcement);
    await expect(storage.setItem(storage.sessionKey, JSON.stringify({ userId: 'u', sessionId: 's', sessionIndex: 1 }))).resolves.toBeUndefined();
    // Other keys are the tracker's to handle as it does: their failures reach it.
    await expect(storage.setItem('other', 'x')).rejects.toThrow('QuotaExceededError');
  });
});
