/**
 * The React Native adapter over an app's life: restarts, changes that overlap or are abandoned,
 * calls made before the tracker exists, a tracker that cannot be created, what a withdrawal
 * forgets, and screen ids across a grant. Found by a second review; each was a defect.
 */
import { describe, expect, it } from 'vitest';
import { createConsentTracker, memoryStorage } from 'consent-tracker';
import { reactNativeAdapter } from 'consent-tracker/react-native';
import { findLeaks } from 'consent-tracker/testing';
import { RN_IDENTITY, rnTrackerOptions, trackRn } from './helpers/react-native.js';
import { deferred, device, entity, event, inForce, launcher, SCREEN, SESSION, storedDecision, tick } from './helpers/app-device.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();
const launch = launcher(() => collector.current.url);

describe('the identity across restarts and replays', () => {
  it('a held event released under a lower ceiling does not burn the device identity (no withdrawal happened)', async () => {
    // The app starts with a stored decision of full. One event is tracked while booting, one while
    // full is being applied (the IDFA lookup takes a moment), one once full is in force.
    const dev = device();
    dev.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const idfa = deferred<string>();
    const consent = launch(dev, { platformContextRetriever: { getAppleIdfa: () => idfa.promise } });
    trackRn(consent.tracker, 'while-booting');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    trackRn(consent.tracker, 'while-applying');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await inForce(consent);
    await tick();
    trackRn(consent.tracker, 'in-force');
    const events = await collector.current.waitForEvents(3);
    const own = await consent.tracker.getSessionUserId();
    // The user never withdrew: full must keep sending the tracker's own device user id.
    expect(entity(event(events, 'in-force'), SESSION)?.userId).toBe(own);
    // And the event held while booting is released at the decided level (README), with its session.
    expect(entity(event(events, 'while-booting'), SESSION)?.userId).toBe(own);
    consent.stop();
  });

  it('the same replay also rotates the anonymous session at session-only (one session split in two)', async () => {
    const dev = device();
    dev.storage.entries.set('consent-tracker.decision', storedDecision('session-only'));
    const slow = deferred();
    // A slow first removal of the stored session (entering session-only) keeps session-only.applying open.
    let removals = 0;
    const asyncStorage = {
      ...dev.storage,
      removeItem: async (key: string) => {
        if (key.endsWith('_session') && removals++ === 0) await slow.promise;
        return dev.storage.removeItem?.(key);
      },
    };
    const config = rnTrackerOptions(collector.current.url, { namespace: dev.namespace, asyncStorage: asyncStorage as never });
    const consent = createConsentTracker({ adapter: reactNativeAdapter(config), storage: dev.storage });
    trackRn(consent.tracker, 'while-booting');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    trackRn(consent.tracker, 'while-applying');
    slow.resolve();
    await inForce(consent);
    await tick();
    trackRn(consent.tracker, 'in-force');
    const events = await collector.current.waitForEvents(3);
    const later = entity(event(events, 'in-force'), SESSION);
    // session-only was entered once: one anonymous session, started by the first event.
    expect(later?.firstEventId).toBe(event(events, 'while-booting').id);
    consent.stop();
  });

  it('a withdrawal right after a restart at full starts a new identity (the device user id sent before the restart does not come back)', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    trackRn(first.tracker, 'before-restart');
    const [before] = await collector.current.waitForEvents(1);
    await expect.poll(() => first.enforcement.eventStore.count()).toBe(0);
    await first.enforcement.eventStore.persisted();
    first.stop();

    // Next launch at the stored full: the user goes straight to the privacy settings, withdraws,
    // and consents again, with no event tracked in between.
    const second = launch(dev);
    await inForce(second);
    await second.setLevel('none', 'settings');
    await second.setLevel('full', 'settings');
    trackRn(second.tracker, 'after-re-consent');
    const events = await collector.current.waitForEvents(2);
    const old = before && entity(before, SESSION);
    const again = entity(event(events, 'after-re-consent'), SESSION);
    expect(again?.userId).not.toBe(old?.userId);
    expect(again?.previousSessionId).not.toBe(old?.sessionId);
    // And the withdrawn device user id is stored again for the next launch.
    expect(dev.storage.entries.get(`snowplow_${dev.namespace}_session`) ?? '').not.toContain(String(old?.userId));
    second.stop();
  });

  it('after a withdrawal and a new consent, the new device user id is stored, so a restart keeps it', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    await first.setLevel('none', 'settings');
    await first.setLevel('full', 'again');
    trackRn(first.tracker, 'new-identity');
    const [before] = await collector.current.waitForEvents(1);
    const newId = before && entity(before, SESSION)?.userId;
    await expect.poll(() => first.enforcement.eventStore.count()).toBe(0);
    await first.enforcement.eventStore.persisted();
    first.stop();

    const second = launch(dev);
    await inForce(second);
    expect(second.getLevel()).toBe('full');
    trackRn(second.tracker, 'after-restart');
    const events = await collector.current.waitForEvents(2);
    expect(entity(event(events, 'after-restart'), SESSION)?.userId).toBe(newId);
    second.stop();
  });
});

describe('changes that are abandoned or overtaken', () => {
  it('a grant that timed out does not overwrite a later withdrawal in storage (restart stays at none)', async () => {
    const dev = device();
    // iOS: the IDFA lookup waits on the App Tracking Transparency prompt.
    const att = deferred<string>();
    const first = launch(dev, { platformContextRetriever: { getAppleIdfa: () => att.promise } }, { applyTimeoutMs: 200 });
    await first.ready;
    await expect(first.setLevel('full', 'banner')).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    await first.setLevel('none', 'settings');
    expect(JSON.parse(dev.storage.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'none' });
    // The prompt is answered later: the abandoned apply(full) runs to its end.
    att.resolve(RN_IDENTITY.appleIdfa);
    await tick(100);
    expect(first.getLevel()).toBe('none');
    first.stop();

    // Next launch: the user's last decision was none.
    const second = launch(dev);
    await second.ready;
    await expect.poll(() => second.getStatus().phase).not.toBe('applying');
    trackRn(second.tracker, 'after-restart');
    const events = await collector.current.waitForEvents(1);
    // Not uid, ip, nuid, duid, the device user id, the ad ids and no SP-Anonymous after the user chose none.
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(second.getLevel()).toBe('none');
    second.stop();
  });

  it('a withdrawal that timed out does not, when it finally runs, clear the subject and store none under a later full', async () => {
    const dev = device();
    const slowClear = deferred();
    let clears = 0;
    const asyncStorage = {
      ...dev.storage,
      removeItem: async (key: string) => {
        if (key.endsWith('_session') && clears++ === 0) await slowClear.promise;
        return dev.storage.removeItem?.(key);
      },
    };
    const first = launch(dev, { asyncStorage: asyncStorage as never }, { applyTimeoutMs: 200 });
    await first.ready;
    await first.setLevel('full', 'banner');
    await expect(first.setLevel('none', 'settings')).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    await first.setLevel('full', 'settings');
    // As the README asks after a new consent: the app sets its user id again.
    first.tracker.setUserId('user-2');
    slowClear.resolve();
    await tick(100);
    trackRn(first.tracker, 'at-full');
    const [atFull] = await collector.current.waitForEvents(1);
    expect(first.getLevel()).toBe('full');
    // The user's last decision is full: that is what the next launch must find.
    expect(JSON.parse(dev.storage.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'full' });
    expect(atFull?.payload.uid).toBe('user-2');
    first.stop();
  });

  it('reset() during a slow grant is not undone by the abandoned apply (no decision stored)', async () => {
    const dev = device();
    const att = deferred<string>();
    const consent = launch(dev, { platformContextRetriever: { getAppleIdfa: () => att.promise } });
    await consent.ready;
    const grant = consent.setLevel('full', 'banner');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    await consent.reset();
    expect(dev.storage.entries.has('consent-tracker.decision')).toBe(false);
    att.resolve(RN_IDENTITY.appleIdfa);
    await grant.catch(() => undefined);
    await tick(100);
    expect(consent.getStatus().phase).toBe('undecided');
    // The forgotten grant is not written back by the abandoned apply.
    expect(dev.storage.entries.get('consent-tracker.decision') ?? null).toBeNull();
    consent.stop();
  });

  it('a withdrawal overtaken by a lower level that is then taken back still stores its decision', async () => {
    const dev = device();
    const slowRemove = deferred();
    let removes = 0;
    const asyncStorage = {
      ...dev.storage,
      removeItem: async (key: string) => {
        if (key.endsWith('_session') && removes++ === 0) await slowRemove.promise;
        return dev.storage.removeItem?.(key);
      },
    };
    const consent = launch(dev, { asyncStorage: asyncStorage as never });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    const withdrawal = consent.setLevel('none', 'settings');
    const lower = consent.setLevel('off', 'settings');
    const back = consent.setLevel('none', 'settings');
    slowRemove.resolve();
    await Promise.allSettled([withdrawal, lower, back]);
    await inForce(consent);
    expect(consent.getLevel()).toBe('none');
    expect(JSON.parse(dev.storage.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'none' });
    expect(dev.storage.entries.get(`snowplow_${dev.namespace}_session`) ?? '').toBe('');
    consent.stop();
  });

  it('a grant overtaken by a withdrawal that is then taken back is applied in full', async () => {
    const dev = device();
    const idfa = deferred<string>();
    let asks = 0;
    const consent = launch(dev, {
      platformContextRetriever: {
        getAppleIdfa: () => {
          asks += 1;
          return asks === 1 ? idfa.promise : Promise.resolve(RN_IDENTITY.appleIdfa);
        },
      },
    });
    await consent.ready;
    const grant = consent.setLevel('full', 'banner');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    const withdrawal = consent.setLevel('none', 'settings');
    const again = consent.setLevel('full', 'settings');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await Promise.allSettled([grant, withdrawal, again]);
    await inForce(consent);
    expect(consent.getLevel()).toBe('full');
    expect(JSON.parse(dev.storage.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'full' });
    expect(JSON.parse(dev.storage.entries.get(`snowplow_${dev.namespace}_session`) ?? '{}')).toMatchObject({ userId: await consent.tracker.getSessionUserId() });
    trackRn(consent.tracker, 'granted');
    const [granted] = await collector.current.waitForEvents(1);
    expect(granted?.contexts.find((c) => c.schema.includes('/mobile_context/'))?.data.appleIdfa).toBe(RN_IDENTITY.appleIdfa);
    consent.stop();
  });

  it('ad ids are not asked for once the user has withdrawn, even while full is still being applied', async () => {
    const dev = device();
    const idfa = deferred<string>();
    let withdrawn = false;
    const askedAfterWithdrawal: string[] = [];
    const consent = launch(dev, {
      platformContextRetriever: {
        getAppleIdfa: () => idfa.promise,
        getAppleIdfv: async () => {
          if (withdrawn) askedAfterWithdrawal.push('appleIdfv');
          return RN_IDENTITY.appleIdfv;
        },
        getAndroidIdfa: async () => {
          if (withdrawn) askedAfterWithdrawal.push('androidIdfa');
          return RN_IDENTITY.androidIdfa;
        },
      },
    });
    await consent.ready;
    const grant = consent.setLevel('full', 'banner');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    const withdrawal = consent.setLevel('none', 'settings');
    withdrawn = true;
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await Promise.allSettled([grant, withdrawal]);
    expect(consent.getLevel()).toBe('none');
    expect(askedAfterWithdrawal).toEqual([]);
    consent.stop();
  });
});

describe('stopping', () => {
  it('an event delivered while the consent tracker is stopped is not sent again by the next launch', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    trackRn(first.tracker, 'delivered-once');
    await collector.current.waitForEvents(1);
    // The app tears the tracker down (unmount, logout, reload) while the response is on its way.
    await first.stop();

    const second = launch(dev);
    await inForce(second);
    trackRn(second.tracker, 'next');
    await collector.current.waitForEvents(2);
    await tick(100);
    const ids = collector.current.events().filter((e) => e.payload.se_ac === 'delivered-once').map((e) => e.id);
    expect(ids).toHaveLength(1);
    second.stop();
  });
});

describe('the tracker before it exists', () => {
  it('keeps setUserId and track calls made before the tracker exists in their order', async () => {
    const dev = device();
    dev.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const consent = launch(dev);
    consent.tracker.setUserId('alice');
    trackRn(consent.tracker, 'as-alice');
    consent.tracker.setUserId('bob');
    trackRn(consent.tracker, 'as-bob');
    await inForce(consent);
    const events = await collector.current.waitForEvents(2);
    expect(event(events, 'as-bob').payload.uid).toBe('bob');
    expect(event(events, 'as-alice').payload.uid).toBe('alice');
    consent.stop();
  });

  it('counts events tracked when the tracker could not be created (nothing is lost silently)', async () => {
    const broken = { getItem: () => Promise.reject(new Error('storage is gone')), setItem: () => Promise.resolve() };
    const consent = createConsentTracker({
      adapter: reactNativeAdapter(rnTrackerOptions(collector.current.url, { asyncStorage: broken })),
      storage: memoryStorage(),
      onError: () => undefined,
    });
    trackRn(consent.tracker, 'held-while-booting');
    await consent.ready;
    trackRn(consent.tracker, 'after-ready');
    await tick();
    const stats = consent.stats();
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0) + stats.gate.dropped;
    expect(stats.tracked + dropped).toBe(2);
    expect(stats.dropped['no-tracker']).toBe(2);
    consent.stop();
  });
});

describe('forgetting', () => {
  it("clears the RN tracker's own stored queue (snowplow_<ns>) on a withdrawal", async () => {
    const dev = device();
    // What the app's RN tracker stored before consent-tracker was adopted: identified events.
    const legacy = JSON.stringify([{ payload: { e: 'se', eid: 'old-1', uid: RN_IDENTITY.userId, ip: RN_IDENTITY.ipAddress }, svrAnon: false }]);
    dev.storage.entries.set(`snowplow_${dev.namespace}`, legacy);
    const consent = launch(dev);
    await consent.ready;
    await consent.setLevel('full', 'banner');
    await consent.setLevel('none', 'settings');
    expect(dev.storage.entries.get(`snowplow_${dev.namespace}`) ?? '').not.toContain(RN_IDENTITY.userId);
    expect(consent.stats().dropped.forgotten).toBe(1);
    consent.stop();
  });
});

describe('screen ids across a grant', () => {
  it('a screen viewed under none is not carried into identified events after a grant', async () => {
    const dev = device();
    const consent = launch(dev);
    await consent.ready;
    consent.tracker.trackScreenViewEvent({ name: 'anonymous-screen' });
    trackRn(consent.tracker, 'anonymous');
    await collector.current.waitForEvents(2);
    const anonymousScreen = entity(event(collector.current.events(), 'anonymous'), SCREEN);
    expect(anonymousScreen?.id).toEqual(expect.any(String));
    await consent.setLevel('full', 'banner');
    trackRn(consent.tracker, 'identified');
    const events = await collector.current.waitForEvents(3);
    const identified = event(events, 'identified');
    expect(identified.payload.uid).toBe(RN_IDENTITY.userId);
    // Otherwise the anonymous events could be joined to the identified user through the screen id.
    expect(entity(identified, SCREEN)?.id).not.toBe(anonymousScreen?.id);
    consent.stop();
  });
});
