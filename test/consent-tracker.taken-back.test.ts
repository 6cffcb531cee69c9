/**
 * Decisions taken back after they were stored, and late steps of abandoned changes: the stored
 * decision always ends as the one in force; a withdrawal's forgetting that comes late does not
 * undo a newer grant; stop() is bounded even when storage never answers. Found by a fifth
 * review; each was a defect.
 */
import { describe, expect, it } from 'vitest';
import { createConsentTracker, memoryStorage, trackerCoreAdapter, type KeyValueStorage } from 'consent-tracker';
import { reactNativeAdapter } from 'consent-tracker/react-native';
import { rnTrackerOptions, trackRn } from './helpers/react-native.js';
import { DECISION, deferred, entity, event, holdDecisionWrite, inForce, SESSION, storedLevel, tick } from './helpers/app-device.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();

describe('a lower decision stored at once, then taken back after the adapter steps', () => {
  it('grant being stored, withdrawal, withdrawal taken back: active at full with full stored (a restart must not find none)', async () => {
    const base = memoryStorage();
    const held = holdDecisionWrite(base, 'full');
    const storage = held.storage;
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage, onError: () => undefined });
    await consent.ready;
    const grant = consent.setLevel('full', 'banner');
    // The adapter steps are done; the grant's decision is being written.
    await expect.poll(held.started).toBe(true);
    const withdrawal = consent.setLevel('none', 'settings'); // stored at once (after the full write)
    const back = consent.setLevel('full', 'again'); // taken back: full is the last word
    held.release();
    await Promise.allSettled([grant, withdrawal, back]);
    await tick(50);
    expect(consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    // The decision in force is full; the stored one must be too, or the next start silently undoes it.
    expect(storedLevel(base)).toBe('full');
    await consent.stop();

    const second = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage: base });
    await second.ready;
    await inForce(second);
    expect(second.getLevel()).toBe('full');
    await second.stop();
  });

  it('reset(), off while forgetting, reset() again: undecided with nothing stored (every microtask interleaving)', async () => {
    const failures: string[] = [];
    for (let hops = 0; hops < 40; hops += 1) {
      const base = memoryStorage();
      const gate = deferred();
      let held = false;
      const storage: KeyValueStorage = {
        getItem: (key) => base.getItem(key),
        setItem: (key, value) => base.setItem(key, value),
        removeItem: async (key) => {
          if (key === DECISION && !held) {
            held = true;
            await gate.promise;
          }
          return base.removeItem?.(key);
        },
      };
      const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage, onError: () => undefined });
      await consent.ready;
      await consent.setLevel('full', 'banner');
      const first = consent.reset();
      await expect.poll(() => held).toBe(true);
      const off = consent.setLevel('off', 'settings'); // lower than the undecided level: stored at once
      gate.resolve();
      let chain: Promise<unknown> = Promise.resolve();
      for (let i = 0; i < hops; i += 1) chain = chain.then(() => undefined);
      // The user forgets again: the decision made meanwhile is forgotten too.
      const last = chain.then(() => consent.reset());
      await Promise.allSettled([first, off, last]);
      await tick(10);
      const status = consent.getStatus();
      if (status.phase === 'undecided' && storedLevel(base) !== undefined) {
        failures.push(`hops=${hops}: undecided, stored '${storedLevel(base)}'`);
      }
      await consent.stop();
    }
    expect(failures).toEqual([]);
  });
});

describe('a withdrawal timed out in its forgetting, then a new grant (React Native)', () => {
  it('the late forgetting neither deletes the new grant’s stored session nor changes the device user id while full is in force', async () => {
    const base = memoryStorage();
    const namespace = rnTrackerOptions('http://unused').namespace;
    const sessionKey = `snowplow_${namespace}_session`;
    const slow = deferred();
    let armed = false;
    let stalled = false;
    const asyncStorage = {
      getItem: async (key: string) => {
        if (armed && !stalled && key === sessionKey) {
          stalled = true;
          await slow.promise;
        }
        return base.getItem(key);
      },
      setItem: (key: string, value: string) => base.setItem(key, value),
      removeItem: async (key: string) => base.removeItem?.(key),
    };
    const config = rnTrackerOptions(collector.current.url, { namespace, asyncStorage: asyncStorage as never });
    const consent = createConsentTracker({ adapter: reactNativeAdapter(config), storage: base, applyTimeoutMs: 300, onError: () => undefined });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    trackRn(consent.tracker, 'first');
    await collector.current.waitForEvents(1);

    armed = true;
    await consent.setLevel('none', 'settings').catch(() => undefined); // times out in forgetStored
    expect(consent.getStatus().phase).toBe('failed');
    await consent.setLevel('full', 'again');
    expect(consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    trackRn(consent.tracker, 'granted');
    await collector.current.waitForEvents(2);
    const stored = base.entries.get(sessionKey) ?? '';
    expect(stored).not.toBe('');

    // The storage answers at last: the abandoned withdrawal's forgetting ends.
    slow.resolve();
    await tick(100);
    // Full is in force and nobody withdrew since the grant: its stored session stays...
    expect.soft(base.entries.get(sessionKey) ?? '').toBe(stored);
    // ...and the device user id it has been sending does not change.
    trackRn(consent.tracker, 'still-granted');
    const events = await collector.current.waitForEvents(3);
    expect(entity(event(events, 'still-granted'), SESSION)?.userId).toBe(entity(event(events, 'granted'), SESSION)?.userId);
    await consent.stop();
  });
});

describe('stop() while a withdrawal’s forgetting waits on storage (React Native)', () => {
  it('resolves within the storage timeout even if AsyncStorage never answers', async () => {
    const base = memoryStorage();
    const namespace = rnTrackerOptions('http://unused').namespace;
    const sessionKey = `snowplow_${namespace}_session`;
    let armed = false;
    const asyncStorage = {
      getItem: (key: string) => (armed && key === sessionKey ? new Promise<string | null>(() => undefined) : base.getItem(key)),
      setItem: (key: string, value: string) => base.setItem(key, value),
      removeItem: async (key: string) => base.removeItem?.(key),
    };
    const config = rnTrackerOptions(collector.current.url, { namespace, asyncStorage: asyncStorage as never });
    const consent = createConsentTracker({ adapter: reactNativeAdapter(config), storage: base, storageTimeoutMs: 200, onError: () => undefined });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    armed = true;
    void consent.setLevel('none', 'settings').catch(() => undefined);
    await tick(50);
    let stopped = false;
    void consent.stop().then(() => {
      stopped = true;
    });
    // README: stop() resolves once in-flight requests have settled, waiting at most storageTimeoutMs.
    await tick(1500);
    expect(stopped).toBe(true);
  });
});
