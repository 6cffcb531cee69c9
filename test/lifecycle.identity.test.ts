import { SimulatedClock } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { selectQuiescent } from 'consent-tracker';
import { cookieJarFetch, findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { HARNESSES, type AdapterHarness, type Device } from './helpers/adapter-harness.js';
import { faultyStorage } from './helpers/faulty-storage.js';
import { DECISION, IDENTITY, drained, event, queuedWhileDown, sendingAtFull, storedDecision, storedIdentity, storedLevel, useApps, type App } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * The identity given after a withdrawal, where a run ends between a withdrawal and the storing
 * of the identity that replaces the withdrawn one: at the next start, whatever may have been sent
 * before the stored withdrawal never comes back, however the next decision comes (after start,
 * while booting, after the stored decision expired); and queues adopted from a killed instance.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** Re-links of the events after a new consent to those before (but the app's own user id, which the test app sets at every launch). */
const relinks = (before: readonly CollectedEvent[], after: readonly CollectedEvent[]) =>
  findLeaks([...before, ...after], 'full', { relinks: { before, after } }).filter((leak) => leak.kind === 'relink' && leak.field !== 'uid');

/** Kills the app at its `step`-th storage call from now on, or once it has nothing left to store. */
async function killDuring(app: App, step: number, work: () => Promise<unknown>) {
  app.process.killAtStorageCall(app.process.storageCalls() + step);
  void work().catch(() => undefined);
  await expect.poll(() => app.process.killed() || selectQuiescent(app.consent.actor.getSnapshot())).toBe(true);
  app.kill();
}

/** A launch at full that sends `label`, on a device and network kept across launches. */
const sendAtFull = (harness: AdapterHarness, device: Device, network: ReturnType<typeof cookieJarFetch>, label: string) =>
  sendingAtFull(apps.launch(harness, { device, network }), label, () => collector.current.events());

describe.each(HARNESSES)('a withdrawal stored without the identity that replaces the withdrawn one, with the $name adapter', (harness) => {
  it('a second withdrawal whose new identity never lands: the next consent does not bring back the identity it withdrew', async () => {
    const device = harness.device();
    const network = cookieJarFetch();
    const faults = faultyStorage(device.storage);
    const first = apps.launch(harness, { device, network, options: { storage: faults.storage } });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    await first.consent.setLevel('none', 'settings');
    await first.consent.setLevel('full', 'again');
    first.track('first-identity');
    await collector.current.waitForEvents(1);
    await drained(first);
    await first.consent.stop();
    const stored = device.storage.entries.get(IDENTITY);

    const slow = faults.stall((call) => call.op === 'setItem' && call.key === IDENTITY);
    const second = apps.launch(harness, { device, network, options: { storage: faults.storage, onError: () => undefined } });
    await second.consent.ready;
    second.track('same-identity');
    await collector.current.waitForEvents(2);
    await second.consent.setLevel('none', 'withdraw');
    await expect.poll(() => storedLevel(device)).toBe('none');
    second.kill();
    slow.release();
    faults.heal();
    expect(device.storage.entries.get(IDENTITY)).toBe(stored);
    const before = collector.current.events().slice();
    collector.current.reset();

    const third = apps.launch(harness, { device, network });
    await third.consent.ready;
    await third.consent.setLevel('full', 'again');
    third.track('after');
    expect(relinks(before, await collector.current.waitForEvents(1))).toEqual([]);
  });

  /**
   * For each storage step of a withdrawal from full: the app is killed there, and if the
   * withdrawal was stored, the next launch (`relaunch`) consents again and sends 'after'; what it
   * sends must link to nothing sent before.
   */
  async function atEveryKillStep(relaunch: (device: Device, network: ReturnType<typeof cookieJarFetch>) => Promise<App>) {
    for (let step = 0; step < 8; step += 1) {
      const device = harness.device();
      const network = cookieJarFetch();
      collector.current.reset();
      const first = await sendAtFull(harness, device, network, 'before');
      await killDuring(first, step, () => first.consent.setLevel('none', 'withdraw'));
      if (storedLevel(device) !== 'none') continue;
      const before = collector.current.events().slice();
      collector.current.reset();
      const next = await relaunch(device, network);
      next.track('after');
      expect(relinks(before, await collector.current.waitForEvents(1)), `killed at step ${step}`).toEqual([]);
      await next.consent.stop();
    }
  }

  it('killed at every storage step of a withdrawal, then a grant made while booting: nothing of before comes back', async () => {
    await atEveryKillStep(async (device, network) => {
      const next = apps.launch(harness, { device, network });
      // An app that syncs its consent platform at launch decides before the stored decision is read.
      const grant = next.consent.setLevel('full', 'synced-at-launch');
      await next.consent.ready;
      await grant;
      return next;
    });
  });

  it('killed at every storage step of a withdrawal, then a new policy version: the consent asked again is a new identity', async () => {
    await atEveryKillStep(async (device, network) => {
      const next = apps.launch(harness, { device, network, options: { policyVersion: '2', onError: () => undefined } });
      await next.consent.ready;
      expect(next.consent.getStatus().phase).toBe('undecided');
      await next.consent.setLevel('full', 'banner-v2');
      return next;
    });
  });

  /**
   * A launch whose grant (after a withdrawal) and second withdrawal storage refused, the new
   * identity's use too, killed then: the device holds the first withdrawal beside an identity
   * stored as never used, which the events `before` carried.
   */
  async function sentWithIdentityStoredAsUnused() {
    const device = harness.device();
    const network = cookieJarFetch();
    const faults = faultyStorage(device.storage);
    const first = apps.launch(harness, { device, network, options: { storage: faults.storage, onError: () => undefined } });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    await first.consent.setLevel('none', 'settings');
    // The consent tracker's writes fail (the React Native tracker, on the same storage, writes on).
    faults.fail((call) => call.op !== 'getItem' && call.key.startsWith('consent-tracker.'));
    await first.consent.setLevel('full', 'again');
    first.track('replacement-identity');
    const before = (await collector.current.waitForEvents(1)).slice();
    await first.consent.setLevel('none', 'withdraw-again');
    first.kill();
    faults.heal();
    expect(storedLevel(device)).toBe('none');
    expect(storedIdentity(device)).toMatchObject({ used: false, userId: before[0]?.payload.tnuid });
    collector.current.reset();
    return { device, network, before };
  }

  /** A new launch on the device that consents again and sends 'after': how that links to `before`. */
  async function relinksOfNextConsent(device: Device, network: ReturnType<typeof cookieJarFetch>, before: readonly CollectedEvent[]) {
    const next = apps.launch(harness, { device, network });
    await next.consent.ready;
    await next.consent.setLevel('full', 'again');
    next.track('after');
    return relinks(before, await collector.current.waitForEvents(1));
  }

  it("a grant and a withdrawal that storage refused, the identity's use too: the next start's grant sends a new identity, not the one stored as never used", async () => {
    const { device, network, before } = await sentWithIdentityStoredAsUnused();
    expect(await relinksOfNextConsent(device, network, before)).toEqual([]);
  });

  it('the same, the grant made while booting and killed while its new identity is written: it is not stored beside the one stored as never used', async () => {
    const { device, network, before } = await sentWithIdentityStoredAsUnused();
    const faults = faultyStorage(device.storage);
    const identityWrite = faults.stall((call) => call.op === 'setItem' && call.key === IDENTITY);
    const second = apps.launch(harness, { device, network, options: { storage: faults.storage, onError: () => undefined } });
    void second.consent.setLevel('full', 'synced-at-launch').catch(() => undefined);
    await second.consent.ready;
    await expect.poll(() => identityWrite.started() || storedLevel(device) === 'full').toBe(true);
    second.kill();
    faults.heal();
    expect(storedLevel(device)).toBe('none');

    expect(await relinksOfNextConsent(device, network, before)).toEqual([]);
  });

  it('the same, the grant made while the stored decision is still being read: it is stored beside a new identity, not the one stored as never used', async () => {
    const { device, network, before } = await sentWithIdentityStoredAsUnused();
    const faults = faultyStorage(device.storage);
    const decisionRead = faults.stall((call) => call.op === 'getItem' && call.key === DECISION);
    const second = apps.launch(harness, { device, network, options: { storage: faults.storage } });
    const grant = second.consent.setLevel('full', 'synced-at-launch');
    await expect.poll(() => storedLevel(device)).toBe('full');
    decisionRead.release();
    await second.consent.ready;
    await grant;
    await second.consent.stop();

    const third = apps.launch(harness, { device, network });
    await third.consent.ready;
    third.track('after');
    expect(relinks(before, await collector.current.waitForEvents(1))).toEqual([]);
  });

  it("an update of the identity (its session) that storage refuses, the removal going through: the next start goes on with that identity, not the tracker's own", async () => {
    const device = harness.device();
    const network = cookieJarFetch();
    const faults = faultyStorage(device.storage);
    const first = await sendAtFull(harness, device, network, 'before');
    const before = collector.current.events().slice();
    await first.consent.stop();
    const second = apps.launch(harness, { device, network, options: { storage: faults.storage, onError: () => undefined } });
    await second.consent.ready;
    await second.consent.setLevel('none', 'settings');
    await second.consent.setLevel('full', 'again');
    faults.fail((call) => call.op === 'setItem' && call.key === IDENTITY);
    second.track('replacement');
    await collector.current.waitForEvents(2);
    await drained(second);
    await second.consent.stop();
    faults.heal();
    expect(device.storage.entries.get(IDENTITY)).toBeDefined();
    collector.current.reset();

    const next = apps.launch(harness, { device, network });
    await next.consent.ready;
    next.track('after');
    expect(relinks(before, await collector.current.waitForEvents(1))).toEqual([]);
  });

  it('a grant after a withdrawal is stored only once its identity is stored as used: never beside one that looks unused', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const first = apps.launch(harness, { device, options: { storage: faults.storage } });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    await first.consent.setLevel('none', 'settings');
    const marking = faults.stall((call) => call.op === 'setItem' && call.key === IDENTITY && call.value?.includes('"used":true') === true);
    const grant = first.consent.setLevel('full', 'again');
    await expect.poll(() => marking.started()).toBe(true);
    expect(storedLevel(device)).toBe('none');
    marking.release();
    await grant;
    await expect.poll(() => storedLevel(device)).toBe('full');
    expect(storedIdentity(device)).toMatchObject({ used: true });
  });

  it('a grant stored beside an identity that looks unused (written by an earlier version): the next start goes on with that identity', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('full'));
    device.storage.entries.set(IDENTITY, JSON.stringify({ version: 1, userId: 'stored-identity', sessionCount: 0, lastSessionId: null, used: false, withdrawn: ['own'] }));
    const next = apps.launch(harness, { device });
    await next.consent.ready;
    next.track('after');
    const [after] = await collector.current.waitForEvents(1);
    expect(after?.payload.tnuid).toBe('stored-identity');
  });

  it('a withdrawal stored with no identity beside it, and a grant made while booting: a new identity', async () => {
    const device = harness.device();
    const network = cookieJarFetch();
    const first = await sendAtFull(harness, device, network, 'before');
    await first.consent.stop();
    device.storage.entries.set(DECISION, storedDecision('none'));
    device.storage.entries.delete(IDENTITY);
    const before = collector.current.events().slice();
    collector.current.reset();
    const next = apps.launch(harness, { device, network });
    const grant = next.consent.setLevel('full', 'synced-at-launch');
    await next.consent.ready;
    await grant;
    next.track('after');
    expect(relinks(before, await collector.current.waitForEvents(1))).toEqual([]);
  });
});

describe.each(HARNESSES)('the identities withdrawn, with the $name adapter', (harness) => {
  it('each withdrawal from full withdraws one identity: three leave the tracker\'s own and two replacements listed, the third in force', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    for (const level of ['full', 'none', 'full', 'off', 'full', 'session-only'] as const) await app.consent.setLevel(level, 'settings');
    await app.consent.stop();
    const stored = storedIdentity(device);
    expect(stored?.withdrawn).toHaveLength(3);
    expect(stored?.withdrawn?.[0]).toBe('own');
    expect(stored?.withdrawn).not.toContain(stored?.userId);
  });
});

describe.each(HARNESSES)('a queue adopted from a killed instance, with the $name adapter', (harness) => {
  it('events it queued at full before a withdrawal it did not live to write into its queue are sent anonymised, after a new consent', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const first = apps.launch(harness, { device, options: { storage: faults.storage, onError: () => undefined } });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    await queuedWhileDown(first, 'queued-at-full', collector.current);
    // The queue's storage is busy as the user withdraws; the app dies before the rewrite lands.
    faults.stall((call) => call.op === 'setItem' && call.key.includes('.queue') && !call.key.endsWith('.lease'));
    await first.consent.setLevel('none', 'withdraw');
    await expect.poll(() => storedLevel(device)).toBe('none');
    first.kill();
    faults.heal();
    collector.current.failWith(undefined);
    collector.current.reset();

    const clock = new SimulatedClock();
    const next = apps.launch(harness, { device, options: { clock } });
    await next.consent.ready;
    await next.consent.setLevel('full', 'again');
    next.track('after');
    await collector.current.waitForEvents(1);
    // Its hold on its queue lapses; the next renewal takes the queue over.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 30_001);
      clock.increment(10_000);
      await expect
        .poll(async () => {
          await next.control.adapter.flush();
          return collector.current.events().some((e) => e.payload.se_ac === 'queued-at-full');
        })
        .toBe(true);
    } finally {
      vi.useRealTimers();
    }
    expect(findLeaks([event(collector.current.events(), 'queued-at-full')], 'none')).toEqual([]);
  });
});
