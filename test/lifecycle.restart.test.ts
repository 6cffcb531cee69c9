import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { ConsentError, selectBooted, selectQuiescent, type ConsentLevel } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { HARNESSES, type AdapterHarness, type Device } from './helpers/adapter-harness.js';
import { faultyStorage, onDecision } from './helpers/faulty-storage.js';
import { storedDecision, storedLevel, useApps, type App } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * A withdrawal holds across restarts: a stop at any point after setLevel returns, a kill at any
 * storage step once the decision's write has resolved, and a decision write that fails.
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

describe.each(HARNESSES)('a decision write that fails, with the $name adapter', (harness) => {
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
    expect(app.consent.stats().gate.dropped).toBe(1);
  });

  it('a reset() pending when stop() comes settles with STOPPED', async () => {
    const app = apps.launch(harness, { device: harness.device(), holdApply: true });
    const reset = expect(app.consent.reset()).rejects.toBeInstanceOf(ConsentError);
    await app.consent.stop();
    await reset;
  });
});
