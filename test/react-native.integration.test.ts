import { describe, expect, it, vi } from 'vitest';
import { CONSENT_LEVELS, NULL_UUID, createConsentTracker, memoryStorage, minLevel, type ConsentLevel, type ConsentTrackerOptions } from 'consent-tracker';
import { levelFromV2Config, reactNativeAdapter, type ReactNativeAdapterOptions } from 'consent-tracker/react-native';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { RN_IDENTITY, rnTrackerOptions, trackRn } from './helpers/react-native.js';
import { entity, event, SCREEN, SESSION } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';
import { storedQueue } from './helpers/stored-queue.js';

const collector = useCollector();

const MOBILE = 'iglu:com.snowplowanalytics.snowplow/mobile_context/';
const AD_IDS = ['appleIdfa', 'appleIdfv', 'androidIdfa', 'appSetId', 'appSetIdScope'] as const;

async function start(overrides: Partial<ReactNativeAdapterOptions> = {}, options: Partial<ConsentTrackerOptions<ReactNativeTracker>> = {}) {
  const config = rnTrackerOptions(collector.current.url, overrides);
  const consent = createConsentTracker({ adapter: reactNativeAdapter(config), storage: memoryStorage(), ...options });
  await consent.ready;
  return { consent, tracker: consent.tracker, config, device: config.asyncStorage };
}

/** Resolves when everything tracked so far has been sent or dropped. */
async function drained(consent: { tracker: ReactNativeTracker; enforcement: { eventStore: { count(): Promise<number> } } }) {
  await expect
    .poll(async () => {
      await consent.tracker.flush();
      return consent.enforcement.eventStore.count();
    }, { timeout: 5000, interval: 10 })
    .toBe(0);
}

const levelOf = (levels: Record<string, ConsentLevel>) => (e: CollectedEvent) => levels[e.payload.se_ac ?? ''] ?? 'off';
const expectNoDuplicates = (events: readonly CollectedEvent[]) => {
  const ids = events.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
};

describe('the seed page, reproduced on @snowplow/react-native-tracker 4.x at runtime', () => {
  it('full sends everything the tracker was configured with', async () => {
    const { consent, tracker } = await start();
    await consent.setLevel('full', 'banner');
    trackRn(tracker, 'identified');
    const [identified] = await collector.current.waitForEvents(1);
    if (!identified) throw new Error('nothing arrived');
    expect(identified.payload).toMatchObject({ uid: RN_IDENTITY.userId, ip: RN_IDENTITY.ipAddress, nuid: RN_IDENTITY.networkUserId, duid: RN_IDENTITY.domainUserId });
    expect(entity(identified, SESSION)).toMatchObject({ userId: await tracker.getSessionUserId(), sessionId: await tracker.getSessionId() });
    expect(entity(identified, MOBILE)).toMatchObject({ appleIdfa: 'IDFA-1', appleIdfv: 'IDFV-1', androidIdfa: 'AAID-1', appSetId: 'APPSET-1', appSetIdScope: 'app' });
    expect(identified.anonymous).toBe(false);
    expect(identified.ipAddress).toBe(RN_IDENTITY.ipAddress);
    expect(identified.networkUserId).toBe(RN_IDENTITY.networkUserId);
  });

  it('1. full client-side anonymisation (sessionContext: false, userAnonymisation: true), switched to from full', async () => {
    const match = levelFromV2Config({ trackerConfig: { sessionContext: false, userAnonymisation: true } });
    expect(match.level).toBe('none');
    const { consent, tracker } = await start();
    await consent.setLevel('full', 'banner');
    trackRn(tracker, 'identified');
    await collector.current.waitForEvents(1);
    await consent.setLevel(match.level, 'settings');
    trackRn(tracker, 'anonymous');
    const anonymous = event(await collector.current.waitForEvents(2), 'anonymous');
    for (const field of ['uid', 'ip', 'nuid', 'duid', 'tnuid']) expect(anonymous.payload[field], field).toBeUndefined();
    expect(entity(anonymous, SESSION)).toBeUndefined();
    const mobile = entity(anonymous, MOBILE);
    expect(mobile).toMatchObject({ osType: 'iOS', deviceModel: 'iPhone' });
    for (const field of AD_IDS) expect(mobile?.[field], field).toBeUndefined();
    // Seed level 3 comes with it: the collector records no network user id and no IP.
    expect(anonymous.anonymous).toBe(true);
    expect(anonymous.networkUserId).toBe(NULL_UUID);
    expect(anonymous.ipAddress).toBeUndefined();
    expect(findLeaks([anonymous], 'none')).toEqual([]);
  });

  it('2. client-side anonymisation with session tracking (sessionContext: true, userAnonymisation: true), switched to from full', async () => {
    const match = levelFromV2Config({ trackerConfig: { sessionContext: true, userAnonymisation: true } });
    expect(match.level).toBe('session-only');
    const { consent, tracker } = await start();
    await consent.setLevel('full', 'banner');
    trackRn(tracker, 'identified');
    const identifiedSession = entity(event(await collector.current.waitForEvents(1), 'identified'), SESSION);
    await consent.setLevel(match.level, 'settings');
    trackRn(tracker, 'anonymous-1');
    trackRn(tracker, 'anonymous-2');
    const events = await collector.current.waitForEvents(3);
    const [first, second] = [entity(event(events, 'anonymous-1'), SESSION), entity(event(events, 'anonymous-2'), SESSION)];
    expect(first).toMatchObject({ userId: NULL_UUID, previousSessionId: null, sessionIndex: 1, eventIndex: 1, storageMechanism: 'LOCAL_STORAGE', firstEventId: event(events, 'anonymous-1').id });
    expect(second).toMatchObject({ userId: NULL_UUID, previousSessionId: null, sessionId: first?.sessionId, eventIndex: 2, firstEventId: event(events, 'anonymous-1').id });
    // Rotated on entering the level: neither the identified session nor the tracker's own.
    expect(first?.sessionId).not.toBe(identifiedSession?.sessionId);
    expect(first?.sessionId).not.toBe(await tracker.getSessionId());
    for (const action of ['anonymous-1', 'anonymous-2']) {
      const e = event(events, action);
      for (const field of ['uid', 'ip', 'nuid', 'duid']) expect(e.payload[field], field).toBeUndefined();
      for (const field of AD_IDS) expect(entity(e, MOBILE)?.[field], field).toBeUndefined();
      expect(e.anonymous).toBe(true);
    }
    expect(findLeaks(events.filter((e) => e.payload.se_ac !== 'identified'), 'session-only')).toEqual([]);
  });

  it('3. server-side anonymisation (serverAnonymisation: true): SP-Anonymous, no network user id, no IP', async () => {
    const match = levelFromV2Config({ emitterConfig: { serverAnonymisation: true } });
    // v2 still sent the user identifiers; no level does that together with the header.
    expect(match).toMatchObject({ level: 'session-only', exact: false });
    const { consent, tracker } = await start();
    await consent.setLevel(match.level, 'banner');
    trackRn(tracker, 'server-anonymised');
    const [e] = await collector.current.waitForEvents(1);
    const request = collector.current.requests()[e?.requestIndex ?? -1];
    expect(request?.headers['sp-anonymous']).toBe('*');
    expect(request?.setCookie).toBeUndefined();
    expect(e?.networkUserId).toBe(NULL_UUID);
    expect(e?.ipAddress).toBeUndefined();
  });

  it('serverAnonymization: true in the tracker configuration adds the header at full too', async () => {
    const { consent, tracker } = await start({ serverAnonymization: true });
    await consent.setLevel('full', 'banner');
    trackRn(tracker, 'full-with-header');
    const [e] = await collector.current.waitForEvents(1);
    expect(e?.anonymous).toBe(true);
    expect(e?.payload.uid).toBe(RN_IDENTITY.userId);
  });
});

describe('every ordered pair of levels, events before, during and after the change', () => {
  for (const from of CONSENT_LEVELS) {
    for (const to of CONSENT_LEVELS) {
      if (from === to) continue;
      it(`${from} → ${to}`, async () => {
        const { consent, tracker } = await start();
        await consent.setLevel(from, 'first');
        trackRn(tracker, 'before');
        if (from !== 'off') await collector.current.waitForEvents(1);
        const change = consent.setLevel(to, 'second');
        trackRn(tracker, 'during');
        await change;
        trackRn(tracker, 'after');
        await drained(consent);

        const events = collector.current.events();
        const during = minLevel(from, to);
        const arrived = [from !== 'off' && 'before', during !== 'off' && 'during', to !== 'off' && 'after'].filter(Boolean);
        expect(events.map((e) => e.payload.se_ac).sort()).toEqual([...arrived].sort());
        expect(consent.stats().dropped.off).toBe(3 - arrived.length);
        expectNoDuplicates(events);
        expect(findLeaks(events, levelOf({ before: from, during, after: to }))).toEqual([]);
        // And what each level does send.
        if (to !== 'off') {
          const after = event(events, 'after');
          const session = entity(after, SESSION);
          if (to === 'full') {
            expect(session?.userId).not.toBe(NULL_UUID);
            expect(entity(after, MOBILE)?.appleIdfa).toBe(RN_IDENTITY.appleIdfa);
            expect(after.anonymous).toBe(false);
          } else if (to === 'session-only') {
            expect(session).toMatchObject({ userId: NULL_UUID, previousSessionId: null });
          } else {
            expect(session).toBeUndefined();
          }
        }
      });
    }
  }
});

describe('forgetting on a downgrade', () => {
  it('clears the stored session, does not write it again below full, and stores a new identity after a new consent', async () => {
    const { consent, tracker, config, device } = await start({ foregroundSessionTimeout: 1, backgroundSessionTimeout: 1 });
    const sessionKey = `snowplow_${config.namespace}_session`;
    await consent.setLevel('full', 'banner');
    const ownUserId = await tracker.getSessionUserId();
    expect(JSON.parse(device.entries.get(sessionKey) ?? '{}')).toMatchObject({ userId: ownUserId });
    trackRn(tracker, 'identified');
    const identified = entity(event(await collector.current.waitForEvents(1), 'identified'), SESSION);

    await consent.setLevel('none', 'settings');
    expect(device.entries.get(sessionKey) ?? '').toBe('');
    // The session times out at none: the tracker writes its session again, which is held back.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 1100);
    trackRn(tracker, 'after-timeout');
    vi.useRealTimers();
    await collector.current.waitForEvents(2);
    expect(await tracker.getSessionId()).not.toBe(identified?.sessionId);
    expect(device.entries.get(sessionKey) ?? '').toBe('');

    await consent.setLevel('full', 'again');
    const stored = JSON.parse(device.entries.get(sessionKey) ?? '{}') as Record<string, unknown>;
    expect(stored.userId).toEqual(expect.any(String));
    expect(stored.userId).not.toBe(ownUserId);
    expect(stored.sessionId).not.toBe(identified?.sessionId);
    // Stored before any event: the session the next event gets, the new identity's first.
    expect(stored.sessionIndex).toBe(1);
    trackRn(tracker, 're-identified');
    const again = entity(event(await collector.current.waitForEvents(3), 're-identified'), SESSION);
    // A new identity: the device user id is the one stored, and nothing points back.
    expect(again?.userId).toBe(stored.userId);
    expect(again).toMatchObject({ sessionId: stored.sessionId, sessionIndex: 1 });
    expect(again?.previousSessionId).toBeNull();
    expect(again?.sessionId).not.toBe(identified?.sessionId);
    expect(again?.sessionId).not.toBe(await tracker.getSessionId());
  });

  it('stitch: true sends the tracker\'s own device user id again after a new consent', async () => {
    const { consent, tracker } = await start({}, { stitch: true });
    await consent.setLevel('full', 'banner');
    trackRn(tracker, 'identified');
    await collector.current.waitForEvents(1);
    await consent.setLevel('none', 'settings');
    await consent.setLevel('full', 'again');
    trackRn(tracker, 'stitched');
    const events = await collector.current.waitForEvents(2);
    expect(entity(event(events, 'stitched'), SESSION)?.userId).toBe(entity(event(events, 'identified'), SESSION)?.userId);
  });

  it('stitch: true stores the tracker\'s own device user id again after a new consent, so a restart keeps it', async () => {
    const { consent, tracker, config, device } = await start({}, { stitch: true });
    await consent.setLevel('full', 'banner');
    const ownUserId = await tracker.getSessionUserId();
    await consent.setLevel('none', 'settings');
    expect(device.entries.get(`snowplow_${config.namespace}_session`) ?? '').toBe('');
    await consent.setLevel('full', 'again');
    expect(JSON.parse(device.entries.get(`snowplow_${config.namespace}_session`) ?? '{}')).toMatchObject({ userId: ownUserId, sessionId: await tracker.getSessionId() });
  });

  it('clears uid, ip, nuid and duid with setters that really clear; the app sets them again after a new consent', async () => {
    const { consent, tracker } = await start();
    await consent.setLevel('full', 'banner');
    await consent.setLevel('session-only', 'settings');
    await consent.setLevel('full', 'again');
    trackRn(tracker, 'cleared');
    tracker.setUserId('user-2');
    trackRn(tracker, 'set-again');
    const events = await collector.current.waitForEvents(2);
    const cleared = event(events, 'cleared');
    for (const field of ['uid', 'ip', 'nuid', 'duid']) expect(cleared.payload[field], field).toBeUndefined();
    expect(event(events, 'set-again').payload.uid).toBe('user-2');
  });

  it('asks for ad ids only at full, and refreshes the platform context after each change', async () => {
    const calls: string[] = [];
    const { consent, tracker } = await start({
      platformContextRetriever: {
        getAppleIdfa: async () => {
          calls.push(consent.getLevel());
          return RN_IDENTITY.appleIdfa;
        },
      },
    });
    expect(calls).toEqual([]);
    await consent.setLevel('session-only', 'banner');
    expect(calls).toEqual([]);
    await consent.setLevel('full', 'settings');
    // Asked while full was being applied: the level in force was still the lower one.
    expect(calls).toHaveLength(1);
    trackRn(tracker, 'full');
    await collector.current.waitForEvents(1);
    await consent.setLevel('none', 'settings');
    trackRn(tracker, 'none');
    await consent.setLevel('full', 'again');
    trackRn(tracker, 'full-again');
    const events = await collector.current.waitForEvents(3);
    expect(calls).toHaveLength(2);
    expect(entity(event(events, 'full'), MOBILE)?.appleIdfa).toBe(RN_IDENTITY.appleIdfa);
    expect(entity(event(events, 'none'), MOBILE)?.appleIdfa).toBeUndefined();
    expect(entity(event(events, 'full-again'), MOBILE)?.appleIdfa).toBe(RN_IDENTITY.appleIdfa);
  });

  it('resets the screen entity and previous* fields at a downgrade', async () => {
    const { consent, tracker } = await start();
    await consent.setLevel('full', 'banner');
    tracker.trackScreenViewEvent({ name: 'home' });
    trackRn(tracker, 'on-home');
    const before = await collector.current.waitForEvents(2);
    const home = entity(event(before, 'on-home'), SCREEN);
    expect(home).toMatchObject({ name: 'home' });

    await consent.setLevel('session-only', 'settings');
    trackRn(tracker, 'after-downgrade');
    tracker.trackScreenViewEvent({ name: 'next' });
    trackRn(tracker, 'on-next');
    const events = await collector.current.waitForEvents(5);
    expect(entity(event(events, 'after-downgrade'), SCREEN)).toBeUndefined();
    const next = events.find((e) => e.selfDescribingEvent?.data.name === 'next');
    expect(next?.selfDescribingEvent?.data).toMatchObject({ name: 'next' });
    expect(next?.selfDescribingEvent?.data).not.toHaveProperty('previousId');
    expect(next?.selfDescribingEvent?.data).not.toHaveProperty('previousName');
    expect(next?.selfDescribingEvent?.data).not.toHaveProperty('previousType');
    expect(entity(event(events, 'on-next'), SCREEN)).toMatchObject({ name: 'next' });
    expect(entity(event(events, 'on-next'), SCREEN)?.id).not.toBe(home?.id);
  });

  it('at none, screen views do not chain and events carry no screen: views link nothing', async () => {
    const { consent, tracker } = await start();
    await consent.setLevel('none', 'banner');
    tracker.trackScreenViewEvent({ name: 'home' });
    trackRn(tracker, 'on-home');
    tracker.trackScreenViewEvent({ name: 'next' });
    trackRn(tracker, 'on-next');
    const events = await collector.current.waitForEvents(4);
    for (const action of ['on-home', 'on-next']) expect(entity(event(events, action), SCREEN)).toBeUndefined();
    const next = events.find((e) => e.selfDescribingEvent?.data.name === 'next');
    expect(next?.selfDescribingEvent?.data).toMatchObject({ name: 'next' });
    for (const field of ['previousId', 'previousName', 'previousType']) expect(next?.selfDescribingEvent?.data).not.toHaveProperty(field);
  });

  it('rotates the anonymous session each time session-only is entered', async () => {
    const { consent, tracker } = await start();
    await consent.setLevel('session-only', 'banner');
    trackRn(tracker, 'first-period');
    await consent.setLevel('none', 'settings');
    await consent.setLevel('session-only', 'settings');
    trackRn(tracker, 'second-period');
    const events = await collector.current.waitForEvents(2);
    expect(entity(event(events, 'second-period'), SESSION)?.sessionId).not.toBe(entity(event(events, 'first-period'), SESSION)?.sessionId);
  });
});

describe('a restart with a persisted queue after a withdrawal', () => {
  it('sends nothing with identifiers, nothing twice, and starts a new device user id', async () => {
    const device = memoryStorage();
    const namespace = rnTrackerOptions('http://unused').namespace;
    // The app keeps the decision, the queue and the tracker's own keys in one AsyncStorage.
    const launch = async (overrides: Partial<ReactNativeAdapterOptions> = {}) => {
      const config = rnTrackerOptions(collector.current.url, { namespace, asyncStorage: device as never, ...overrides });
      const consent = createConsentTracker({ adapter: reactNativeAdapter(config), storage: device });
      await consent.ready;
      return consent;
    };

    // The first launch batches by ten, so the two events are still queued when the app is killed.
    const first = await launch({ bufferSize: 10 });
    await first.setLevel('full', 'banner');
    const firstUserId = await first.tracker.getSessionUserId();
    trackRn(first.tracker, 'queued-1');
    trackRn(first.tracker, 'queued-2');
    await expect.poll(() => first.enforcement.eventStore.count()).toBe(2);
    await first.setLevel('none', 'settings');
    await first.enforcement.eventStore.persisted();
    // What the next launch finds: a decision of none, two queued events, no stored session.
    expect(JSON.parse(device.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'none' });
    expect(storedQueue(device.entries)).toContain('queued-1');
    expect(storedQueue(device.entries)).not.toContain(RN_IDENTITY.userId);
    expect(device.entries.get(`snowplow_${namespace}_session`) ?? '').toBe('');
    await first.stop();
    expect(collector.current.requests()).toEqual([]);

    const second = await launch();
    expect(second.getLevel()).toBe('none');
    await drained(second);
    const events = collector.current.events().filter((e) => e.payload.se_ac?.startsWith('queued-'));
    expect(events.map((e) => e.payload.se_ac).sort()).toEqual(['queued-1', 'queued-2']);
    expectNoDuplicates(events);
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(await second.tracker.getSessionUserId()).not.toBe(firstUserId);
    second.stop();
  });
});

describe("sessions follow the tracker's own session timeouts", () => {
  /** How far the tracker's clock has been moved ahead in this test. */
  let ahead = 0;
  /** Tracks `action` after the tracker's own session has timed out (its clock moved past the 1 s timeout). */
  const afterTimeout = (tracker: ReactNativeTracker, action: string) => {
    ahead += 1100;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + ahead);
    trackRn(tracker, action);
    vi.useRealTimers();
  };

  it('at session-only, the anonymous session rotates with each real session, and links none of them', async () => {
    const { consent, tracker } = await start({ foregroundSessionTimeout: 1, backgroundSessionTimeout: 1 });
    await consent.setLevel('session-only', 'banner');
    trackRn(tracker, 'first');
    afterTimeout(tracker, 'second');
    afterTimeout(tracker, 'third');
    const events = await collector.current.waitForEvents(3);
    const sessions = ['first', 'second', 'third'].map((action) => entity(event(events, action), SESSION));
    expect(new Set(sessions.map((s) => s?.sessionId)).size).toBe(3);
    for (const session of sessions) expect(session).toMatchObject({ userId: NULL_UUID, previousSessionId: null, eventIndex: 1 });
    expect(findLeaks(events, 'session-only')).toEqual([]);
  });

  it('an anonymous session of a later session-only period is a first session too (index 1): nothing counts them across periods', async () => {
    const { consent, tracker } = await start();
    await consent.setLevel('session-only', 'banner');
    trackRn(tracker, 'p1');
    await consent.setLevel('full', 'settings');
    await consent.setLevel('session-only', 'settings');
    trackRn(tracker, 'p2');
    const events = await collector.current.waitForEvents(2);
    for (const action of ['p1', 'p2']) expect(entity(event(events, action), SESSION)).toMatchObject({ userId: NULL_UUID, previousSessionId: null, sessionIndex: 1 });
  });

  it('after a withdrawal and a new consent, a restart continues the new identity: its sessions chain to the last one sent, nothing to the old one', async () => {
    const device = memoryStorage();
    const namespace = rnTrackerOptions('http://unused').namespace;
    const launch = async () => {
      const config = rnTrackerOptions(collector.current.url, { namespace, asyncStorage: device as never, foregroundSessionTimeout: 1, backgroundSessionTimeout: 1 });
      const consent = createConsentTracker({ adapter: reactNativeAdapter(config), storage: device });
      await consent.ready;
      return consent;
    };
    const first = await launch();
    await first.setLevel('full', 'banner');
    trackRn(first.tracker, 'old');
    await collector.current.waitForEvents(1);
    await first.setLevel('none', 'settings');
    await first.setLevel('full', 'again');
    trackRn(first.tracker, 'new-1');
    afterTimeout(first.tracker, 'new-2');
    await collector.current.waitForEvents(3);
    await first.stop();
    const second = await launch();
    trackRn(second.tracker, 'restart');
    const events = await collector.current.waitForEvents(4);
    const [old, n1, n2, restart] = ['old', 'new-1', 'new-2', 'restart'].map((action) => entity(event(events, action), SESSION));
    expect(restart?.userId).toBe(n1?.userId);
    expect(restart?.userId).not.toBe(old?.userId);
    for (const id of [old?.sessionId, old?.previousSessionId]) expect([restart?.sessionId, restart?.previousSessionId]).not.toContain(id);
    expect(n2?.previousSessionId).toBe(n1?.sessionId);
    expect(restart?.previousSessionId).toBe(n2?.sessionId);
    expect(restart?.sessionIndex).toBe(Number(n2?.sessionIndex) + 1);
    await second.stop();
  });

  it('at session-only, a chain of screen views lives within one anonymous session', async () => {
    const { consent, tracker } = await start({ foregroundSessionTimeout: 1, backgroundSessionTimeout: 1 });
    await consent.setLevel('session-only', 'banner');
    tracker.trackScreenViewEvent({ name: 'home' });
    tracker.trackScreenViewEvent({ name: 'next' });
    afterTimeout(tracker, 'new-session');
    tracker.trackScreenViewEvent({ name: 'last' });
    const events = await collector.current.waitForEvents(4);
    const view = (name: string) => events.find((e) => e.selfDescribingEvent?.data.name === name);
    // Within a session the views chain; the first event of the next session carries no screen of the one before.
    expect(view('next')?.selfDescribingEvent?.data).toMatchObject({ previousName: 'home' });
    expect(entity(event(events, 'new-session'), SCREEN)).toBeUndefined();
    expect(view('last')?.selfDescribingEvent?.data).not.toHaveProperty('previousId');
    expect(entity(view('last') as CollectedEvent, SESSION)?.sessionId).not.toBe(entity(view('next') as CollectedEvent, SESSION)?.sessionId);
  });

  it('after a withdrawal and a new consent, the new identity has a new session with each real session', async () => {
    const { consent, tracker } = await start({ foregroundSessionTimeout: 1, backgroundSessionTimeout: 1 });
    await consent.setLevel('full', 'banner');
    await consent.setLevel('none', 'settings');
    await consent.setLevel('full', 'again');
    trackRn(tracker, 'first');
    afterTimeout(tracker, 'second');
    const events = await collector.current.waitForEvents(2);
    const [first, second] = ['first', 'second'].map((action) => entity(event(events, action), SESSION));
    expect(second?.userId).toBe(first?.userId);
    expect(second?.sessionId).not.toBe(first?.sessionId);
    // Within the new identity, sessions chain as the tracker's own do.
    expect(second?.previousSessionId).toBe(first?.sessionId);
  });
});
