import { SimulatedClock } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { ConsentError, selectBooted, selectQuiescent, type ConsentLevel, type ConsentTrackerOptions } from 'consent-tracker';
import { cookieJarFetch, findLeaks, findRelinks, type CollectedEvent } from 'consent-tracker/testing';
import { HARNESSES, reactNativeHarness, type AdapterHarness, type Device } from './helpers/adapter-harness.js';
import { faultyStorage, onDecision } from './helpers/faulty-storage.js';
import { DECISION, IDENTITY, drained, queuedWhileDown, sendingAtFull, settled, entity, event, SESSION, storedDecision, storedIdentity, storedLevel, storedReset, useApps, type App } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';
import { storedQueue } from './helpers/stored-queue.js';

/**
 * A withdrawal holds across restarts: a stop at any point after setLevel returns, a kill at any
 * storage step once the decision's write has resolved, a decision write that fails or never
 * answers, and a queue that cannot be written; and the identity the next launch sends.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** Launches again on the device and reports the level the next start sends at, checked on the wire. */
async function nextStart(harness: AdapterHarness, device: Device, undecidedLevel: ConsentLevel): Promise<ConsentLevel> {
  collector.current.reset();
  const next = apps.launch(harness, { device, options: { undecidedLevel } });
  await next.consent.ready;
  const level = next.consent.getLevel();
  next.track('next-start');
  if (level !== 'off') expect(findLeaks(await collector.current.waitForEvents(1), level)).toEqual([]);
  return level;
}

const RANK: Record<ConsentLevel, number> = { off: 0, none: 1, 'session-only': 2, full: 3 };

describe.each(HARNESSES)('a withdrawal made while booting, then the app ends, with the $name adapter', (harness) => {
  const scenarios = [
    { name: 'first launch, undecidedLevel full', stored: undefined, undecidedLevel: 'full' as const },
    { name: 'stored full', stored: 'full', undecidedLevel: 'none' as const },
  ];

  it.each(scenarios)('$name: stop() right after setLevel(none) returns leaves the next start at none or below', async ({ stored, undecidedLevel }) => {
    const device = harness.device();
    if (stored) device.storage.entries.set('consent-tracker.decision', storedDecision(stored));
    const app = apps.launch(harness, { device, options: { undecidedLevel } });
    app.track('before');
    const withdrawal = app.consent.setLevel('none', 'banner');
    const stopped = app.consent.stop();
    // Every promise settles: the change never came into force.
    await expect(withdrawal).rejects.toMatchObject({ code: 'STOPPED' });
    await stopped;
    expect(RANK[await nextStart(harness, device, undecidedLevel)]).toBeLessThanOrEqual(RANK.none);
  });

  it.each(scenarios)('$name: a kill at every storage step, once the decision is written, leaves the next start at none or below', async ({ stored, undecidedLevel }) => {
    /** One run of the scenario, killed as its storage call `killAt` starts. */
    const run = async (killAt: number) => {
      const device = harness.device();
      if (stored) device.storage.entries.set('consent-tracker.decision', storedDecision(stored));
      const app: App = apps.launch(harness, { device, options: { undecidedLevel } });
      app.process.killAtStorageCall(killAt);
      app.track('before');
      void app.consent.setLevel('none', 'banner').catch(() => undefined);
      app.track('after');
      // Until it is killed, or it has booted and written what it had to.
      await expect.poll(() => app.process.killed() || (selectBooted(app.consent.actor.getSnapshot()) && selectQuiescent(app.consent.actor.getSnapshot()))).toBe(true);
      return { device, app };
    };
    // The storage calls of a whole run, and a kill at each of them.
    const { app: whole } = await run(Number.POSITIVE_INFINITY);
    await whole.consent.stop();
    const steps = whole.process.storageCalls();
    expect(steps).toBeGreaterThan(2);
    let written = 0;
    for (let killAt = 0; killAt <= steps; killAt++) {
      const { device, app } = await run(killAt);
      app.kill();
      if (storedLevel(device) !== 'none') continue;
      written += 1;
      expect(RANK[await nextStart(harness, device, undecidedLevel)], `killed at storage call ${killAt}`).toBeLessThanOrEqual(RANK.none);
    }
    expect(written).toBeGreaterThan(0);
    if (process.env.DEBUG_KILLS) console.log(harness.name, stored, { steps, written });
  });
});

describe.each(HARNESSES)('a decision write that fails or never answers, with the $name adapter', (harness) => {
  it('a slow removal of the stored decision, after a failed write, never erases a later decision: the next start finds it', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage, clock: new SimulatedClock() } });
    await app.consent.ready;
    // The write of none fails once (a passing quota error); the removal that follows is slow.
    faults.fail((call) => onDecision('setItem')(call) && call.value?.includes('"level":"none"') === true);
    const removal = faults.stall(onDecision('removeItem'));
    await app.consent.setLevel('none', 'settings');
    await expect.poll(removal.started).toBe(true);
    // The user's next decision waits for the removal under way, then lands after it.
    await app.consent.setLevel('off', 'settings');
    removal.release();
    await expect.poll(() => storedLevel(device)).toBe('off');
    await app.consent.stop();
    expect(await nextStart(harness, device, 'none')).toBe('off');
  });

  it('removes the stored grant, reports it, retries, and the next start is not above the withdrawal', async () => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const clock = new SimulatedClock();
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, options: { storage: faults.storage, clock, onError: (e) => errors.push(e) } });
    await app.consent.ready;
    faults.fail(onDecision('setItem'));
    await app.consent.setLevel('none', 'settings');
    await expect.poll(() => app.consent.actor.getSnapshot().matches({ persistence: 'retrying' })).toBe(true);
    expect(errors.map((e) => e.code)).toContain('STORAGE_FAILED');
    // The grant is gone from storage while the withdrawal could not be written.
    expect(device.storage.entries.has('consent-tracker.decision')).toBe(false);
    faults.heal();
    clock.increment(1000);
    await expect.poll(() => storedLevel(device)).toBe('none');
    await app.consent.stop();
    expect(RANK[await nextStart(harness, device, 'none')]).toBeLessThanOrEqual(RANK.none);
  });

  it('a withdrawal whose decision write never answers still removes the stored grant, so the next start is not above the withdrawal', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const errors: ConsentError[] = [];
    // The decision's storage calls time out after storageTimeoutMs; the chart's clock, and with it the write's retry, stands still.
    const app = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 50, clock: new SimulatedClock(), onError: (e) => errors.push(e) } });
    await app.consent.ready;
    expect(app.consent.getLevel()).toBe('full');
    // Only the decision's write hangs (a storage lock, a write that never returns); a removal would work.
    faults.stall(onDecision('setItem'));
    await app.consent.setLevel('none', 'settings');
    await expect.poll(() => app.consent.actor.getSnapshot().matches({ persistence: 'retrying' })).toBe(true);
    // The removal does not wait behind the hung write: it is made, and it works.
    expect(faults.calls.filter((call) => call.op === 'removeItem' && call.key === DECISION)).toHaveLength(1);
    expect(errors.map((e) => e.code)).toContain('STORAGE_FAILED');
    expect(errors.map((e) => e.code)).not.toContain('STORAGE_REFUSED');
    expect(storedLevel(device)).toBeUndefined();
    await app.consent.stop();
    // The hung write dies with the process.
    app.kill();
    expect(await nextStart(harness, device, 'none')).toBe('none');
    expect(storedLevel(device)).toBeUndefined();
  });

  it('a withdrawal below the undecided level whose write and removal hang, then land late, stays stored: after a kill the next start is at off', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 50, clock: new SimulatedClock(), onError: () => undefined } });
    await app.consent.ready;
    const hung = faults.stall(onDecision());
    await app.consent.setLevel('off', 'settings');
    await expect.poll(() => app.consent.actor.getSnapshot().matches({ persistence: 'retrying' })).toBe(true);
    // The write of off timed out; the removal of the stored grant, and off again right behind it, time out too.
    expect(faults.calls.filter((call) => onDecision()(call) && call.op !== 'getItem').map((call) => call.op)).toEqual(['setItem', 'removeItem', 'setItem']);
    // The storage answers at last, in the order of the calls: no decision stored would read as none, above off.
    hung.release();
    await expect.poll(() => storedLevel(device)).toBe('off');
    app.kill();
    expect(await nextStart(harness, device, 'none')).toBe('off');
  });

  it('storage that refuses every write and every removal is reported as STORAGE_REFUSED', async () => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, options: { storage: faults.storage, clock: new SimulatedClock(), onError: (e) => errors.push(e) } });
    await app.consent.ready;
    faults.fail(onDecision('setItem'));
    faults.fail(onDecision('removeItem'));
    await app.consent.setLevel('none', 'settings');
    await expect.poll(() => errors.map((e) => e.code)).toContain('STORAGE_REFUSED');
    // The one case the library cannot cover: the stored grant outlives the withdrawal.
    expect(storedLevel(device)).toBe('full');
    expect(app.consent.getLevel()).toBe('none');
  });
});

describe.each(HARNESSES)('calls after stop(), with the $name adapter', (harness) => {
  it('setLevel, reset and retry reject with STOPPED, and tracks are counted as dropped', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    await app.consent.ready;
    await app.consent.stop();
    await expect(app.consent.setLevel('full', 'banner')).rejects.toMatchObject({ code: 'STOPPED' });
    await expect(app.consent.reset()).rejects.toMatchObject({ code: 'STOPPED' });
    await expect(app.consent.retry()).rejects.toMatchObject({ code: 'STOPPED' });
    app.track('after-stop');
    expect(app.consent.stats().dropped.stopped).toBe(1);
    expect(app.consent.stats().tracked).toBe(0);
  });

  it('a reset() pending when stop() comes settles with STOPPED', async () => {
    const app = apps.launch(harness, { device: harness.device(), holdApply: true });
    const reset = expect(app.consent.reset()).rejects.toBeInstanceOf(ConsentError);
    await app.consent.stop();
    await reset;
  });
});

describe.each(HARNESSES)('a withdrawal cut short at full, then a restart, with the $name adapter', (harness) => {
  it('a withdrawal followed at once by stop(): the next launch finds it, and sends nothing with identifiers', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    // The user withdraws and the app tears the tracker down (unmount, logout) without awaiting it.
    const withdrawal = expect(app.consent.setLevel('none', 'settings')).rejects.toMatchObject({ code: 'STOPPED' });
    expect(app.consent.getLevel()).toBe('none');
    await app.consent.stop();
    await withdrawal;
    expect(storedLevel(device)).toBe('none');
    // Undecided at full: only the stored withdrawal keeps the next start at none.
    expect(await nextStart(harness, device, 'full')).toBe('none');
  });

  it("a withdrawal made while the grant is being written, then stop(): the next launch finds none, not full", async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    await app.consent.ready;
    const write = faults.stall((call) => onDecision('setItem')(call) && call.value?.includes('"level":"full"') === true);
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(write.started).toBe(true);
    await grant;
    // The user withdraws; the app then tears the tracker down; the grant's write ends after.
    const withdrawal = expect(app.consent.setLevel('none', 'settings')).rejects.toMatchObject({ code: 'STOPPED' });
    expect(app.consent.getLevel()).toBe('none');
    const stopping = app.consent.stop();
    write.release();
    await stopping;
    await withdrawal;
    // The user's last word was none: a restart at full would send identifiers.
    expect(storedLevel(device)).toBe('none');
    expect(await nextStart(harness, device, 'full')).toBe('none');
  });

  it('a withdrawal whose clean-up timed out: the next launch finds it, and sends nothing with identifiers', async () => {
    const device = harness.device();
    const clock = new SimulatedClock();
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, holdForget: true, options: { clock, onError: (e) => errors.push(e) } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.control.setHold(true);
    const withdrawal = app.consent.setLevel('none', 'settings');
    await expect.poll(() => app.control.pending()).toBe(1);
    clock.increment(10_000); // the clean-up is given up; the withdrawal goes on
    await expect.poll(() => app.control.pending()).toBe(2);
    await app.control.finishApply();
    await withdrawal;
    expect(errors.map((e) => e.code)).toEqual(['APPLY_TIMEOUT']);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'none' });
    await app.consent.stop();
    expect(await nextStart(harness, device, 'full')).toBe('none');
  });
});

describe.each(HARNESSES)('a stored queue that cannot be written, then a restart, with the $name adapter', (harness) => {
  it('an event queued at full and dropped by a withdrawal to off is counted, and the next launch does not send it', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 50, onError: () => undefined } });
    await app.consent.ready;
    // The collector is down: the event stays queued, and stored.
    collector.current.failWith(503);
    app.track('queued-at-full');
    await expect.poll(() => storedQueue(device.storage.entries)).toContain('queued-at-full');
    // From here the queue cannot be written (a full quota); the decision can.
    faults.fail((call) => call.key.startsWith('consent-tracker.queue') && !call.key.endsWith('.lease') && call.op === 'setItem');
    await app.consent.setLevel('off', 'settings');
    await app.consent.setLevel('full', 'settings');
    await app.consent.stop();
    expect(app.consent.stats().dropped.off).toBe(1);
    app.kill();

    faults.heal();
    collector.current.failWith(undefined);
    const next = apps.launch(harness, { device });
    await next.consent.ready;
    next.track('next-launch');
    await collector.current.waitForEvents(1);
    await drained(next);
    // What the stored queue held must not outlive the failed write: dropped at off, it is sent by no run.
    expect(collector.current.events().map((e) => e.payload.se_ac)).toEqual(['next-launch']);
  });
});

describe.each(HARNESSES)('a queue stored by the run before, with the $name adapter', (harness) => {
  /** A run at `decided` that queues `queued` while the collector is down, then stops; the next launch's drops. */
  async function queuedThenRestarted(decided: ConsentLevel, next: ConsentLevel | undefined, undecidedLevel: ConsentLevel) {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision(decided));
    const first = apps.launch(harness, { device, options: { undecidedLevel } });
    await first.consent.ready;
    collector.current.failWith(503);
    first.track('queued');
    await expect.poll(() => collector.current.requests().length).toBeGreaterThan(0);
    await first.consent.stop();
    collector.current.failWith(undefined);
    collector.current.reset();
    if (next !== undefined) device.storage.entries.set('consent-tracker.decision', storedDecision(next));
    const drops: string[] = [];
    const app = apps.launch(harness, { device, options: { undecidedLevel, onDrop: (drop) => drops.push(drop.reason) } });
    await app.consent.ready;
    return { app, drops };
  }

  /**
   * Launches again a minute later (the killed run's hold on its queue has lapsed), at full, and
   * checks that only 'before' and 'after' arrived: the queued event was forgotten (counted), and
   * nothing links 'after' to 'before'.
   */
  async function nextRunForgetsQueued(device: Device, options: Partial<ConsentTrackerOptions<object>>, grantWhileBooting = false) {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 60_000 });
    try {
      const drops: string[] = [];
      const next = apps.launch(harness, { device, options: { ...options, onDrop: (drop) => drops.push(drop.reason) } });
      if (grantWhileBooting) void next.consent.setLevel('full', 'banner');
      await next.consent.ready;
      next.track('after');
      await expect.poll(() => collector.current.events().some((e) => e.payload.se_ac === 'after')).toBe(true);
      await drained(next);
      const all = collector.current.events();
      expect(all.map((e) => e.payload.se_ac)).toEqual(['before', 'after']);
      expect(drops).toContain('forgotten');
      expect(findRelinks([event(all, 'before')], [event(all, 'after')]).filter((relink) => relink.field !== 'uid')).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  }

  it('queued before a withdrawal to off that a reset and a new decision follow at once: once the withdrawal is stored, a kill at any storage step never lets it out', async () => {
    /** One run, killed as its storage call `killAt` (from the withdrawal on) starts; then the next start, once the lease has lapsed. */
    const run = async (killAt: number) => {
      const device = harness.device();
      const faults = faultyStorage(device.storage);
      const app: App = apps.launch(harness, { device, options: { storage: faults.storage } });
      await app.consent.ready;
      collector.current.failWith(503);
      app.track('before-withdrawal');
      await app.consent.enforcement.eventStore.persisted();
      const before = app.process.storageCalls();
      app.process.killAtStorageCall(before + killAt);
      const decisions = Promise.all([app.consent.setLevel('off', 'withdraw'), app.consent.reset(), app.consent.setLevel('none', 'banner')].map((p) => p.catch(() => undefined)));
      let done = false;
      void decisions.then(() => (done = true));
      await expect.poll(() => app.process.killed() || (done && selectQuiescent(app.consent.actor.getSnapshot()))).toBe(true);
      app.kill();
      collector.current.failWith(undefined);
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 60_000 });
      try {
        const next = apps.launch(harness, { device });
        await next.consent.ready;
        await drained(next);
      } finally {
        vi.useRealTimers();
      }
      // A withdrawal killed before any of it reached storage never happened, as far as the device knows.
      const stored = faults.calls.some((call) => call.op === 'setItem' && call.key === DECISION && call.value?.includes('"level":"off"') === true);
      return { stored, steps: app.process.storageCalls() - before };
    };
    // The storage calls of the decisions, uncut, and a kill at each of them.
    const { steps } = await run(Number.POSITIVE_INFINITY);
    let storedAndKilled = 0;
    for (let killAt = 0; killAt < steps; killAt += 1) {
      collector.current.reset();
      const { stored } = await run(killAt);
      if (stored) expect(collector.current.events().filter((e) => e.payload.se_ac === 'before-withdrawal'), `killed at storage step ${killAt}`).toEqual([]);
      if (stored) storedAndKilled += 1;
    }
    expect(storedAndKilled).toBeGreaterThan(2);
  }, 60_000);

  it.each(['none', 'off'] as const)('is sent at the level of the decision read, not lowered to the stand-in of booting (undecided level %s), without another event', async (undecidedLevel) => {
    const { drops } = await queuedThenRestarted('full', undefined, undecidedLevel);
    const [queued] = await collector.current.waitForEvents(1);
    expect(queued?.payload.se_ac).toBe('queued');
    expect(queued?.anonymous).toBe(false);
    expect(findLeaks([queued as CollectedEvent], 'full')).toEqual([]);
    expect(drops).toEqual([]);
  });

  it('queued at full before a withdrawal whose rewrite of the queue never landed, then a new consent: the next launch forgets it (counted), and nothing links to before', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const first = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 100, onError: () => undefined } });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    first.track('before');
    await collector.current.waitForEvents(1);
    await drained(first);
    collector.current.failWith(503);
    first.track('queued');
    await expect.poll(() => [...device.storage.entries].some(([key, value]) => key.includes('.queue') && value.includes('queued'))).toBe(true);
    // From here the queue's writes hang; the decision's and the identity's land.
    faults.stall((call) => call.key.includes('.queue') && call.op === 'setItem');
    await first.consent.setLevel('none', 'settings');
    await first.consent.setLevel('full', 'again');
    expect(storedLevel(device)).toBe('full');
    first.kill();
    collector.current.failWith(undefined);
    await nextRunForgetsQueued(device, {});
  });

  it.each(['undecided full', 'a grant while booting'] as const)('a reset whose identity write never landed, then a kill: the next run (%s) sends a new identity, and forgets what was queued', async (variant) => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const undecidedLevel = variant === 'undecided full' ? 'full' : 'none';
    const first = apps.launch(harness, { device, options: { undecidedLevel, storage: faults.storage, storageTimeoutMs: 100, onError: () => undefined } });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    first.track('before');
    await collector.current.waitForEvents(1);
    await drained(first);
    await queuedWhileDown(first, 'queued', collector.current);
    // From here the queue's and the identity's writes hang; the reset itself is stored.
    faults.stall((call) => (call.key.includes('.queue') || call.key === IDENTITY) && call.op !== 'getItem');
    await first.consent.reset().catch(() => undefined);
    await expect.poll(() => storedReset(device)).toBe(true);
    first.kill();
    collector.current.failWith(undefined);
    await nextRunForgetsQueued(device, { undecidedLevel }, variant === 'a grant while booting');
  });

  it('is lowered to a withdrawal the run before stored after it, and dropped and counted at off', async () => {
    const { app } = await queuedThenRestarted('full', 'none', 'none');
    const [queued] = await collector.current.waitForEvents(1);
    expect(queued?.anonymous).toBe(true);
    expect(findLeaks([queued as CollectedEvent], 'none')).toEqual([]);
    await app.consent.stop();
    collector.current.reset();
    const off = await queuedThenRestarted('full', 'off', 'none');
    await drained(off.app);
    expect(collector.current.events()).toEqual([]);
    expect(off.drops).toContain('off');
  });
});

describe('the identity across restarts, with the react-native adapter', () => {
  const harness = reactNativeHarness;

  /** A first launch that consents to full and sends `label`; returns the device and the event as received. */
  async function firstLaunchAtFull(label: string) {
    const device = harness.device();
    const first = apps.launch(harness, { device });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    first.track(label);
    const sent = event(await collector.current.waitForEvents(1), label);
    await drained(first);
    return { device, first, sent };
  }

  it('a withdrawal cut short by stop(), then a restart: a later full does not send the old device user id', async () => {
    const { device, first, sent } = await firstLaunchAtFull('before');
    const oldUserId = entity(sent, SESSION)?.userId;
    expect(oldUserId).toEqual(expect.any(String));
    const withdrawal = expect(first.consent.setLevel('session-only', 'settings')).rejects.toMatchObject({ code: 'STOPPED' });
    await first.consent.stop();
    await withdrawal;
    expect(storedLevel(device)).toBe('session-only');
    collector.current.reset();

    const second = apps.launch(harness, { device });
    await second.consent.ready;
    expect(second.consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only' });
    await second.consent.setLevel('full', 'again');
    second.track('after');
    const after = event(await collector.current.waitForEvents(1), 'after');
    // The user withdrew that identity: a new consent must start a new one.
    expect(entity(after, SESSION)?.userId).toEqual(expect.any(String));
    expect(entity(after, SESSION)?.userId).not.toBe(oldUserId);
  });

  it('a withdrawal whose removal of the stored session fails: after a restart, a new consent does not send the old device user id', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const sessionKey = `snowplow_${device.namespace}_session`;
    const first = apps.launch(harness, { device, options: { storage: faults.storage, onError: () => undefined } });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    first.track('before');
    const oldUserId = entity(event(await collector.current.waitForEvents(1), 'before'), SESSION)?.userId;
    expect(oldUserId).toEqual(expect.any(String));
    await drained(first);
    expect(device.storage.entries.get(sessionKey) ?? '').toContain(String(oldUserId));
    // From here the stored session cannot be removed (a write-protected key, a quota error on remove).
    faults.fail((call) => call.op === 'removeItem' && call.key === sessionKey);
    await first.consent.setLevel('none', 'settings');
    await first.consent.stop();
    expect(storedLevel(device)).toBe('none');
    collector.current.reset();

    const second = apps.launch(harness, { device, options: { storage: faults.storage, onError: () => undefined } });
    await second.consent.ready;
    expect(second.consent.getLevel()).toBe('none');
    await second.consent.setLevel('full', 'again');
    second.track('after');
    const after = event(await collector.current.waitForEvents(1), 'after');
    // The session found stored where the withdrawal should have removed it was withdrawn all the same.
    expect(entity(after, SESSION)?.userId).toEqual(expect.any(String));
    expect(entity(after, SESSION)?.userId).not.toBe(oldUserId);
  });

  it('a withdrawal right after a restart at full starts a new identity: the device user id sent before the restart does not come back', async () => {
    const { device, first, sent } = await firstLaunchAtFull('before-restart');
    await first.consent.stop();

    // Next launch at the stored full: the user goes straight to the privacy settings, withdraws,
    // and consents again, with no event tracked in between.
    const second = apps.launch(harness, { device });
    await second.consent.ready;
    expect(second.consent.getLevel()).toBe('full');
    await second.consent.setLevel('none', 'settings');
    await second.consent.setLevel('full', 'settings');
    second.track('after-re-consent');
    const old = entity(sent, SESSION);
    const again = entity(event(await collector.current.waitForEvents(2), 'after-re-consent'), SESSION);
    expect(again?.userId).toEqual(expect.any(String));
    expect(again?.userId).not.toBe(old?.userId);
    expect(again?.previousSessionId).not.toBe(old?.sessionId);
    // Nor is the withdrawn device user id stored again for the next launch.
    expect(device.storage.entries.get(`snowplow_${device.namespace}_session`) ?? '').not.toContain(String(old?.userId));
  });

  it('after a withdrawal and a new consent, the new device user id is stored, so a restart keeps it', async () => {
    const device = harness.device();
    const first = apps.launch(harness, { device });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    await first.consent.setLevel('none', 'settings');
    await first.consent.setLevel('full', 'again');
    first.track('new-identity');
    const newId = entity(event(await collector.current.waitForEvents(1), 'new-identity'), SESSION)?.userId;
    expect(newId).toEqual(expect.any(String));
    await drained(first);
    await first.consent.stop();

    const second = apps.launch(harness, { device });
    await second.consent.ready;
    expect(second.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    second.track('after-restart');
    expect(entity(event(await collector.current.waitForEvents(2), 'after-restart'), SESSION)?.userId).toBe(newId);
  });
});

describe.each(HARNESSES)('the new identity across restarts, with the $name adapter', (harness) => {
  /** full → none → full on one launch, over a network that keeps cookies; the events before the withdrawal and after the new consent. */
  async function reConsent(device: Device, network = cookieJarFetch(), options: Partial<ConsentTrackerOptions<object>> = {}) {
    const first = apps.launch(harness, { device, network, options });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    first.track('before-1');
    await collector.current.waitForEvents(1);
    first.track('before-2');
    const before = await collector.current.waitForEvents(2);
    await first.consent.setLevel('none', 'settings');
    await first.consent.setLevel('full', 'again');
    first.track('after-1');
    const after = event(await collector.current.waitForEvents(3), 'after-1');
    await drained(first);
    await first.consent.stop();
    collector.current.reset();
    return { before, after, network };
  }

  /**
   * Relinks through anything but the app's own user id (`uid`): the test app sets it at every
   * launch, as an app does for a signed-in user; that is the app's choice, not the device's identity.
   */
  const relinks = (before: readonly CollectedEvent[], after: readonly CollectedEvent[]) =>
    findLeaks([...before, ...after], 'full', { relinks: { before, after } }).filter((leak) => leak.field !== 'uid');

  /** What ties an event to a device: its network user id and the session entity's user id (and `duid`, when sent, is the same). */
  const identityOf = (e: CollectedEvent) => ({ networkUserId: e.networkUserId, userId: entity(e, SESSION)?.userId, duid: e.payload.duid ?? entity(e, SESSION)?.userId });

  it('the next launch at full goes on with the identity given at the new consent: same ids, no cookie, nothing of before the withdrawal', async () => {
    const device = harness.device();
    const { before, after, network } = await reConsent(device);
    const second = apps.launch(harness, { device, network });
    await second.consent.ready;
    expect(second.consent.getLevel()).toBe('full');
    second.track('next-run-1');
    await collector.current.waitForEvents(1);
    second.track('next-run-2');
    const nextRun = await collector.current.waitForEvents(2);
    for (const e of nextRun) expect(identityOf(e)).toEqual(identityOf(after));
    expect(nextRun.every((e) => !e.cookieSent)).toBe(true);
    expect(relinks(before, nextRun)).toEqual([]);
  });

  it('the next launch withdraws again and consents again: a third identity, linked to neither', async () => {
    const device = harness.device();
    const { before, after, network } = await reConsent(device);
    const second = apps.launch(harness, { device, network });
    await second.consent.ready;
    await second.consent.setLevel('session-only', 'settings');
    await second.consent.setLevel('full', 'again');
    second.track('third');
    const third = await collector.current.waitForEvents(1);
    expect(relinks([...before, after], third)).toEqual([]);
  });

  it('an identity that cannot be stored: reported, the new consent is not stored without it, and is once storage heals', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    faults.fail((call) => call.op === 'setItem' && call.key === IDENTITY);
    const errors: string[] = [];
    const { before, after, network } = await reConsent(device, cookieJarFetch(), { storage: faults.storage, onError: (error) => errors.push(error.code), storageRetryMs: 60_000 });
    expect(errors).toContain('STORAGE_FAILED');
    // A stored grant without its identity would bring back, at the next launch, what the withdrawal took away.
    expect(storedLevel(device)).not.toBe('full');
    expect(device.storage.entries.has(IDENTITY)).toBe(false);
    faults.heal();
    const retried = apps.launch(harness, { device, network, options: { storage: faults.storage } });
    await retried.consent.ready;
    await retried.consent.setLevel('full', 'banner');
    await settled(retried);
    expect(storedLevel(device)).toBe('full');
    expect(device.storage.entries.has(IDENTITY)).toBe(true);
    retried.track('next-run');
    expect(relinks([...before, after], await collector.current.waitForEvents(1))).toEqual([]);
  });

  it('an identity write that fails, then storage heals: retry() stores the grant with its identity', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage, onError: () => undefined, storageRetryMs: 60_000 } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    faults.fail((call) => call.op === 'setItem' && call.key === IDENTITY);
    await app.consent.setLevel('none', 'settings');
    await app.consent.setLevel('full', 'again');
    await settled(app);
    expect(storedLevel(device)).not.toBe('full');
    faults.heal();
    await app.consent.retry();
    await settled(app);
    expect(storedLevel(device)).toBe('full');
    expect(storedIdentity(device)).toMatchObject({ userId: app.consent.enforcement.replacementIdentity()?.userId });
  });

  it('a stored identity that cannot be read: reported, and a new one is used rather than anything stored before', async () => {
    const device = harness.device();
    const { before, after, network } = await reConsent(device);
    device.storage.entries.set(IDENTITY, '{"version":1,"userId":');
    const errors: ConsentError[] = [];
    const second = apps.launch(harness, { device, network, options: { onError: (error) => errors.push(error) } });
    await second.consent.ready;
    expect(errors.map((error) => error.code)).toContain('STORED_DATA_UNREADABLE');
    second.track('next-run');
    const nextRun = await collector.current.waitForEvents(1);
    expect(relinks([...before, after], nextRun)).toEqual([]);
    expect(nextRun.every((e) => !e.cookieSent)).toBe(true);
  });

  it('a withdrawal stored with no identity beside it (from an earlier version, or a lost write): a later full sends a new identity', async () => {
    const device = harness.device();
    const network = cookieJarFetch();
    const first = await sendingAtFull(apps.launch(harness, { device, network }), 'before', () => collector.current.events());
    const before = collector.current.events().slice();
    await first.consent.stop();
    // The device as an earlier run left it: the withdrawal stored, and nothing of a new identity.
    device.storage.entries.set(DECISION, storedDecision('none'));
    device.storage.entries.delete(IDENTITY);
    collector.current.reset();
    const second = apps.launch(harness, { device, network });
    await second.consent.ready;
    await second.consent.setLevel('full', 'again');
    second.track('after');
    expect(relinks(before, await collector.current.waitForEvents(1))).toEqual([]);
  });
});
