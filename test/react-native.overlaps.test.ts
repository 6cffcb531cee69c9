/**
 * Changes cut short or overlapping, on the React Native adapter: a withdrawal cut short by a stop
 * or a timeout, a lower level taken back, a withdrawal while the stored decision is applied at
 * launch, screen views held during a grant, stop() while requests are in flight or while
 * booting, and a decision made while reset() is applied. Found by a third review; each was a defect.
 */
import { describe, expect, it } from 'vitest';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { RN_IDENTITY, trackRn } from './helpers/react-native.js';
import { deferred, device, entity, event, holdDecisionWrite, inForce, launcher, SCREEN, SESSION, storedLevel, tick, type Device } from './helpers/app-device.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();
const launch = launcher(() => collector.current.url);

describe('a withdrawal that does not complete is still stored (no fail open after a restart)', () => {
  it('a withdrawal followed at once by stop() is what the next launch finds: nothing with identifiers', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    // The user withdraws and the app tears the tracker down (unmount, logout) without awaiting it.
    void first.setLevel('none', 'settings').catch(() => undefined);
    expect(first.getLevel()).toBe('none');
    await first.stop();

    const second = launch(dev);
    await second.ready;
    await expect.poll(() => second.getStatus().phase).not.toBe('applying');
    trackRn(second.tracker, 'after-restart');
    const events = await collector.current.waitForEvents(1);
    expect(second.getLevel()).toBe('none');
    expect(findLeaks(events, 'none')).toEqual([]);
    await second.stop();
  });

  it('a withdrawal that timed out is what the next launch finds: nothing with identifiers', async () => {
    const dev = device();
    const slowRemove = deferred();
    const asyncStorage = {
      ...dev.storage,
      removeItem: async (key: string) => {
        if (key.endsWith('_session')) await slowRemove.promise;
        return dev.storage.removeItem?.(key);
      },
    };
    const first = launch(dev, { asyncStorage: asyncStorage as never }, { applyTimeoutMs: 200, onError: () => undefined });
    await first.ready;
    await first.setLevel('full', 'banner');
    await expect(first.setLevel('none', 'settings')).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    expect(first.getLevel()).toBe('none'); // fail closed, in this run
    slowRemove.resolve();
    await tick(100);
    await first.stop();

    const second = launch(dev);
    await second.ready;
    await expect.poll(() => second.getStatus().phase).not.toBe('applying');
    trackRn(second.tracker, 'after-restart');
    const events = await collector.current.waitForEvents(1);
    expect(second.getLevel()).toBe('none');
    expect(findLeaks(events, 'none')).toEqual([]);
    await second.stop();
  });
});

describe('a lower level taken back after the overtaken change went on', () => {
  it('a downgrade overtaken by off, taken back while off is being stored, clears the stored session and stores its decision', async () => {
    const dev = device();
    const slow = holdDecisionWrite(dev.storage, 'off');
    const consent = launch(dev, {}, { storage: slow.storage });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    const sessionKey = `snowplow_${dev.namespace}_session`;
    const deviceUserId = await consent.tracker.getSessionUserId();
    expect(dev.storage.entries.get(sessionKey) ?? '').toContain(String(deviceUserId));

    const downgrade = consent.setLevel('session-only', 'settings');
    const lower = consent.setLevel('off', 'settings');
    await expect.poll(slow.started).toBe(true);
    const back = consent.setLevel('session-only', 'settings');
    slow.release();
    await Promise.allSettled([downgrade, lower, back]);
    await inForce(consent);
    expect(consent.getLevel()).toBe('session-only');
    // session-only is in force: the stored session (the device user id) must have been cleared on entry,
    // and the decision in storage must be the one in force.
    expect(dev.storage.entries.get(sessionKey) ?? '').not.toContain(String(deviceUserId));
    expect(storedLevel(dev.storage)).toBe('session-only');
    await consent.stop();
  });

  it('a grant overtaken by a withdrawal, taken back while the withdrawal is being stored, is applied and stored in full', async () => {
    const dev = device();
    const slow = holdDecisionWrite(dev.storage, 'none');
    const idfa = deferred<string>();
    let asks = 0;
    const consent = launch(
      dev,
      { platformContextRetriever: { getAppleIdfa: () => (++asks === 1 ? idfa.promise : Promise.resolve(RN_IDENTITY.appleIdfa)) } },
      { storage: slow.storage },
    );
    await consent.ready;
    const grant = consent.setLevel('full', 'banner');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    const withdrawal = consent.setLevel('none', 'settings');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await expect.poll(slow.started).toBe(true);
    const again = consent.setLevel('full', 'settings');
    slow.release();
    await Promise.allSettled([grant, withdrawal, again]);
    await inForce(consent);
    expect(consent.getLevel()).toBe('full');
    // full is in force and is the user's last word: that is what the next launch must find,
    // and the session is stored at full.
    expect(storedLevel(dev.storage)).toBe('full');
    expect(dev.storage.entries.get(`snowplow_${dev.namespace}_session`) ?? '').toContain(String(await consent.tracker.getSessionUserId()));
    await consent.stop();
  });
});

describe('a withdrawal while the stored full is still being applied at launch', () => {
  async function firstRunAtFull(dev: ReturnType<typeof device>) {
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    trackRn(first.tracker, 'before-restart');
    const [before] = await collector.current.waitForEvents(1);
    await expect.poll(() => first.enforcement.eventStore.count()).toBe(0);
    await first.stop();
    collector.current.reset();
    return before as CollectedEvent;
  }

  async function withdrawDuringBootApply(dev: ReturnType<typeof device>) {
    const idfa = deferred<string>();
    let asks = 0;
    const second = launch(dev, { platformContextRetriever: { getAppleIdfa: () => (++asks === 1 ? idfa.promise : Promise.resolve(RN_IDENTITY.appleIdfa)) } });
    await expect.poll(() => second.getStatus().phase).toBe('applying');
    const withdrawal = second.setLevel('none', 'settings');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await withdrawal;
    await second.setLevel('full', 'again');
    trackRn(second.tracker, 'after-re-consent');
    const [after] = await collector.current.waitForEvents(1);
    await second.stop();
    return after as CollectedEvent;
  }

  it('re-consent after that withdrawal sends a new device user id', async () => {
    const dev = device();
    const before = await firstRunAtFull(dev);
    const after = await withdrawDuringBootApply(dev);
    expect(entity(after, SESSION)?.userId).toEqual(expect.any(String));
    expect(entity(after, SESSION)?.userId).not.toBe(entity(before, SESSION)?.userId);
  });

  it('that withdrawal clears the subject: re-consent sends no uid until the app sets it again', async () => {
    const dev = device();
    await firstRunAtFull(dev);
    const after = await withdrawDuringBootApply(dev);
    expect(after.payload.uid).toBeUndefined();
  });
});

describe('screen ids across a grant, with held events', () => {
  it('a screen view held during the grant (sent anonymously) does not end the reset: its id is not carried into identified events', async () => {
    const dev = device();
    const idfa = deferred<string>();
    const consent = launch(dev, { platformContextRetriever: { getAppleIdfa: () => idfa.promise } });
    await consent.ready;
    const grant = consent.setLevel('full', 'banner');
    await expect.poll(() => consent.getStatus().phase).toBe('applying');
    consent.tracker.trackScreenViewEvent({ name: 'held-screen' }); // tracked at none: sent anonymously
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await grant;
    await tick();
    trackRn(consent.tracker, 'identified');
    const events = await collector.current.waitForEvents(2);
    const held = events.find((e) => e.payload.se_ac === undefined) as CollectedEvent;
    expect(findLeaks([held], 'none')).toEqual([]);
    const heldScreenId = (held.selfDescribingEvent?.data as { id?: string } | undefined)?.id;
    expect(heldScreenId).toEqual(expect.any(String));
    const identified = event(events, 'identified');
    expect(identified.payload.uid).toBe(RN_IDENTITY.userId);
    // The anonymous screen view would be joined to the identified user through its id.
    expect(entity(identified, SCREEN)?.id).not.toBe(heldScreenId);
    await consent.stop();
  });
});

/** Launches the app again, tracks one event, lets any late request land, and checks `action` reached the collector exactly once. */
async function expectDeliveredOnceAfterRelaunch(dev: Device, action: string, settleMs: number) {
  const next = launch(dev);
  await inForce(next);
  trackRn(next.tracker, 'next');
  await collector.current.waitForEvents(2);
  await tick(settleMs);
  expect(collector.current.events().filter((e) => e.payload.se_ac === action)).toHaveLength(1);
  await next.stop();
}

describe('stop()', () => {
  it('a request whose body is being read when stop() is called is not sent, and the next launch sends the event once', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    await first.enforcement.eventStore.persisted();
    let stopping: Promise<void> | undefined;
    const text = Request.prototype.text;
    Request.prototype.text = function (this: Request) {
      Request.prototype.text = text;
      // The app stops the tracker just as the emitter hands a request to the fetch guard.
      stopping = first.stop();
      return text.call(this);
    };
    try {
      trackRn(first.tracker, 'once');
      await expect.poll(() => stopping !== undefined).toBe(true);
      await stopping;
    } finally {
      Request.prototype.text = text;
    }
    await tick(100);

    // Not sent after stop() was called, nor again by the next launch.
    await expectDeliveredOnceAfterRelaunch(dev, 'once', 100);
  });
});

describe('stop() called twice', () => {
  it('a second stop() resolves only once the request in flight has settled: the next launch does not send the event again', async () => {
    const dev = device();
    const first = launch(dev);
    await first.ready;
    await first.setLevel('full', 'banner');
    await first.enforcement.eventStore.persisted();
    // A slow network: the request is in flight for a while.
    const realFetch = globalThis.fetch;
    globalThis.fetch = async (...args: Parameters<typeof fetch>) => {
      await tick(150);
      return realFetch(...args);
    };
    try {
      trackRn(first.tracker, 'once');
      await expect.poll(() => first.stats().requests.sent).toBe(1);
      // e.g. an unmount cleanup and the app's own teardown both stop it.
      void first.stop();
      await first.stop();
    } finally {
      globalThis.fetch = realFetch;
    }
    await expectDeliveredOnceAfterRelaunch(dev, 'once', 300);
  });
});

describe('a decision made while reset() is being applied', () => {
  it('setLevel(off) right after reset() is applied once the decision is forgotten, and enforced at once', async () => {
    const dev = device();
    const consent = launch(dev);
    await consent.ready;
    await consent.setLevel('full', 'banner');
    void consent.reset();
    const off = consent.setLevel('off', 'settings');
    expect(consent.getLevel()).toBe('off');
    await off;
    trackRn(consent.tracker, 'after-off');
    await tick(200);
    // At off nothing is sent: every event that reaches the collector is a leak.
    expect(findLeaks(collector.current.events(), 'off')).toEqual([]);
    expect(consent.getLevel()).toBe('off');
    await consent.stop();
  });
});

describe('stop() while booting', () => {
  it('resolves ready rather than rejecting it (nobody may be listening)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const consent = launch(device());
      await consent.stop();
      await tick(50);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});
