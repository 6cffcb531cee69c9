/**
 * Decisions that overlap, on the tracker-core and React Native adapters: decisions made while
 * forgetting, an overtaken change whose lower level is taken back as it ends, a withdrawal made
 * while the grant is being stored, a withdrawal cut short before its adapter steps, and the
 * level in force before a change that adapters are given. Found by a fourth review; each was a defect.
 */
import { describe, expect, it } from 'vitest';
import { createConsentTracker, memoryStorage, trackerCoreAdapter, type KeyValueStorage } from 'consent-tracker';
import type { CollectedEvent } from 'consent-tracker/testing';
import { RN_IDENTITY, trackRn } from './helpers/react-native.js';
import { DECISION, deferred, device, entity, event, holdDecisionWrite, inForce, launcher, SESSION, storedLevel, tick } from './helpers/app-device.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();
const launch = launcher(() => collector.current.url);

describe('a decision made while forgetting', () => {
  it('reset(), setLevel(full), reset(): the last reset wins (undecided, nothing stored)', async () => {
    const base = memoryStorage();
    const removal = deferred();
    const storage: KeyValueStorage = {
      getItem: (key) => base.getItem(key),
      setItem: (key, value) => base.setItem(key, value),
      removeItem: async (key) => {
        if (key === DECISION) await removal.promise;
        return base.removeItem?.(key);
      },
    };
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    const first = consent.reset();
    const grant = consent.setLevel('full', 'banner');
    const last = consent.reset();
    removal.resolve();
    await Promise.allSettled([first, grant, last]);
    await tick(50);
    // The user's last word is "forget my decision".
    expect(consent.getStatus().phase).toBe('undecided');
    expect(storedLevel(base)).toBeUndefined();
    await consent.stop();
  });
});

describe('an overtaken change whose lower level is taken back just as it ends', () => {
  it('never ends active at the higher level with the lower decision stored (every microtask interleaving)', async () => {
    const failures: string[] = [];
    for (let hops = 0; hops < 40; hops += 1) {
      const base = memoryStorage();
      const held = holdDecisionWrite(base, 'none');
      const storage = held.storage;
      const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage, onError: () => undefined });
      await consent.ready;
      const grant = consent.setLevel('full', 'banner');
      const withdrawal = consent.setLevel('none', 'settings'); // overtakes the grant; the grant's actor stores none
      await expect.poll(held.started).toBe(true);
      held.release();
      let chain: Promise<unknown> = Promise.resolve();
      for (let i = 0; i < hops; i += 1) chain = chain.then(() => undefined);
      // The user takes the withdrawal back: full is the last word.
      const back = chain.then(() => consent.setLevel('full', 'again'));
      await Promise.allSettled([grant, withdrawal, back]);
      await tick(10);
      const status = consent.getStatus();
      if (status.phase === 'active' && status.level === 'full' && storedLevel(base) !== 'full') {
        failures.push(`hops=${hops}: active at full, stored '${storedLevel(base)}'`);
      }
      await consent.stop();
    }
    expect(failures).toEqual([]);
  });
});

describe('a withdrawal made while the grant is being stored', () => {
  it('withdrawal during the slow write of full, then stop(): the next start finds none, not full', async () => {
    const base = memoryStorage();
    const held = holdDecisionWrite(base, 'full');
    const storage = held.storage;
    const first = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage, onError: () => undefined });
    await first.ready;
    void first.setLevel('full', 'banner').catch(() => undefined);
    await expect.poll(held.started).toBe(true);
    // The user withdraws; the app then tears the tracker down (unmount, logout).
    void first.setLevel('none', 'settings').catch(() => undefined);
    expect(first.getLevel()).toBe('none');
    const stopping = first.stop();
    held.release();
    await stopping;
    await tick(50);

    const second = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage: base });
    await second.ready;
    await expect.poll(() => second.getStatus().phase).not.toBe('applying');
    // The user's last word was none: a restart at full would send identifiers.
    expect(storedLevel(base)).toBe('none');
    expect(second.getLevel()).toBe('none');
    await second.stop();
  });
});

describe('a withdrawal cut short before its adapter steps (the early write landed)', () => {
  it('withdrawal to session-only, stop() at once, restart: a later full does not send the old device user id', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    trackRn(first.tracker, 'before');
    const [before] = await collector.current.waitForEvents(1);
    await expect.poll(() => first.enforcement.eventStore.count()).toBe(0);
    const oldUserId = entity(before as CollectedEvent, SESSION)?.userId;
    expect(oldUserId).toEqual(expect.any(String));
    void first.setLevel('session-only', 'settings').catch(() => undefined);
    await first.stop();
    expect(storedLevel(dev.storage)).toBe('session-only');
    collector.current.reset();

    const second = launch(dev);
    await inForce(second);
    expect(second.getLevel()).toBe('session-only');
    await second.setLevel('full', 'again');
    trackRn(second.tracker, 'after');
    const events = await collector.current.waitForEvents(1);
    // The user withdrew that identity: a new consent must start a new one.
    expect(entity(event(events, 'after'), SESSION)?.userId).not.toBe(oldUserId);
    await second.stop();
  });
});

describe('the `from` the RN adapter is given', () => {
  it('a withdrawal after the stored full failed to apply at launch clears the subject', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    trackRn(first.tracker, 'before');
    await collector.current.waitForEvents(1);
    await expect.poll(() => first.enforcement.eventStore.count()).toBe(0);
    await first.stop();
    collector.current.reset();

    const idfa = deferred<string>();
    let asks = 0;
    const second = launch(
      dev,
      { platformContextRetriever: { getAppleIdfa: () => (++asks === 1 ? idfa.promise : Promise.resolve(RN_IDENTITY.appleIdfa)) } },
      { applyTimeoutMs: 200, onError: () => undefined },
    );
    await expect.poll(() => second.getStatus().phase, { timeout: 2000 }).toBe('failed');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await second.setLevel('none', 'settings');
    await second.setLevel('full', 'settings');
    trackRn(second.tracker, 'after-re-consent');
    const events = await collector.current.waitForEvents(1);
    // As when the stored full did apply (react-native.overlaps): the withdrawal clears the subject.
    expect(event(events, 'after-re-consent').payload.uid).toBeUndefined();
    await second.stop();
  });

  it('a first grant overtaken before it came into force is no withdrawal: the subject is kept', async () => {
    const dev = device();
    const idfa = deferred<string>();
    let asks = 0;
    const consent = launch(dev, { platformContextRetriever: { getAppleIdfa: () => (++asks === 1 ? idfa.promise : Promise.resolve(RN_IDENTITY.appleIdfa)) } });
    await consent.ready;
    const grant = consent.setLevel('full', 'banner');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    const lower = consent.setLevel('session-only', 'banner');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await Promise.allSettled([grant, lower]);
    await inForce(consent);
    await consent.setLevel('full', 'settings');
    trackRn(consent.tracker, 'identified');
    const events = await collector.current.waitForEvents(1);
    // undecided → session-only → full keeps the app's uid; so must this path (nothing was withdrawn).
    expect(event(events, 'identified').payload.uid).toBe(RN_IDENTITY.userId);
    await consent.stop();
  });
});
