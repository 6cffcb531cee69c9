import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { describe, expect, it } from 'vitest';
import type { ConsentError } from 'consent-tracker';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { HARNESSES, reactNativeHarness } from './helpers/adapter-harness.js';
import { deferred } from './helpers/deferred.js';
import { faultyStorage, onDecision, onResetWrite, type StorageCall } from './helpers/faulty-storage.js';
import { drained, event, settled, storedLevel, storedReset, useApps, type App } from './helpers/launch.js';
import { RN_IDENTITY } from './helpers/react-native.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * Decisions made while a change is under way: a change overtaken (cancelled at once), a decision
 * taken back, reset() during a change, and decisions made while a clean-up runs.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** A write of the decision at `level`. */
const writeOf =
  (level: string) =>
  (call: StorageCall): boolean =>
    onDecision('setItem')(call) && call.value?.includes(`"level":"${level}"`) === true;

/** Resolves after `hops` turns of the microtask queue. */
const microtasks = async (hops: number) => {
  for (let i = 0; i < hops; i += 1) await Promise.resolve();
};

/** Tracks `label` and returns it as the collector received it (the first event it receives). */
async function sentAfter(app: App, label: string): Promise<CollectedEvent> {
  app.track(label);
  return event(await collector.current.waitForEvents(1), label);
}

describe.each(HARNESSES)('a change overtaken by a new decision, with the $name adapter', (harness) => {
  it('a grant overtaken by a withdrawal is cancelled: its abandoned call failing reports nothing, and a retry never brings it back', async () => {
    const device = harness.device();
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, options: { onError: (e) => errors.push(e) } });
    await app.consent.ready;
    app.control.setHold(true);
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => app.control.pending()).toBe(1);
    const withdrawal = app.consent.setLevel('session-only', 'settings');
    expect(app.consent.getLevel()).toBe('none');
    // The grant's call, abandoned, fails late; the withdrawal's change is then finished.
    await app.control.failApply();
    await app.control.finishApply();
    await expect(grant).resolves.toBeUndefined();
    await expect(withdrawal).resolves.toBeUndefined();
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only', error: null });
    expect(errors).toEqual([]);
    await app.consent.retry();
    expect(app.consent.getLevel()).toBe('session-only');
    await settled(app);
    expect(storedLevel(device)).toBe('session-only');
    expect(findLeaks([await sentAfter(app, 'after-retry')], 'session-only')).toEqual([]);
  });

  it('reset() during a grant: the abandoned grant, finished late, neither comes into force nor stores a decision', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    app.control.setHold(true);
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => app.control.pending()).toBe(1);
    app.control.setHold(false);
    await app.consent.reset();
    expect(storedReset(device)).toBe(true);
    // The grant's call runs to its end after the reset.
    await app.control.finishApply();
    await expect(grant).resolves.toBeUndefined();
    await drained(app);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'none', record: null });
    expect(storedReset(device)).toBe(true);
    expect(findLeaks([await sentAfter(app, 'after-reset')], 'none')).toEqual([]);
  });
});

describe.each(HARNESSES)('a decision taken back, with the $name adapter', (harness) => {
  it('a withdrawal made while the grant is written, then taken back: full in force and stored, and a restart finds full', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const write = faults.stall(writeOf('full'));
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    await app.consent.ready;
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(write.started).toBe(true);
    const withdrawal = app.consent.setLevel('none', 'settings');
    const back = app.consent.setLevel('full', 'again');
    write.release();
    await Promise.all([grant, withdrawal, back]);
    await settled(app);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    // The decision in force is full; so must the stored one be, or the next start silently undoes it.
    expect(storedLevel(device)).toBe('full');
    expect((await sentAfter(app, 'taken-back')).payload.uid).toBe('user-1');
    await app.consent.stop();

    collector.current.reset();
    const next = apps.launch(harness, { device });
    await next.consent.ready;
    expect(next.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    expect((await sentAfter(next, 'next-start')).payload.uid).toBe('user-1');
  });

  it('taken back at every point as the overtaken withdrawal is written: the last decision is in force and stored', async () => {
    for (let hops = 0; hops < 40; hops += 1) {
      const device = harness.device();
      const faults = faultyStorage(device.storage);
      const write = faults.stall(writeOf('none'));
      const app = apps.launch(harness, { device, options: { storage: faults.storage } });
      await app.consent.ready;
      const grant = app.consent.setLevel('full', 'banner');
      const withdrawal = app.consent.setLevel('none', 'settings'); // overtakes the grant
      await expect.poll(write.started, { interval: 1 }).toBe(true);
      write.release();
      await microtasks(hops);
      // The user takes the withdrawal back: full is the last word.
      const back = app.consent.setLevel('full', 'again');
      await Promise.all([grant, withdrawal, back]);
      await settled(app);
      expect(app.consent.getStatus(), `taken back after ${hops} microtasks`).toMatchObject({ phase: 'active', level: 'full' });
      expect(storedLevel(device), `taken back after ${hops} microtasks`).toBe('full');
      await app.consent.stop();
    }
  });

  it('a withdrawal overtaken by a lower level, then taken back while the clean-up runs: the level taken back is in force and stored', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device, holdForget: true });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.control.setHold(true);
    const withdrawal = app.consent.setLevel('none', 'settings');
    await expect.poll(() => app.control.pending()).toBe(1);
    const lower = app.consent.setLevel('off', 'settings');
    const back = app.consent.setLevel('none', 'settings');
    expect(app.consent.getLevel()).toBe('off');
    app.control.setHold(false);
    // The withdrawal's clean-up ends; the one the lower level asked for runs after it.
    await app.control.finishApply();
    await Promise.all([withdrawal, lower, back]);
    await settled(app);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'none' });
    expect(storedLevel(device)).toBe('none');
    expect(findLeaks([await sentAfter(app, 'taken-back')], 'none')).toEqual([]);
  });

  it.each([
    { name: 'at once', stallWithdrawal: false },
    { name: "while the withdrawal's write waits on storage", stallWithdrawal: true },
  ])('a grant overtaken by a withdrawal and taken back $name is applied in full', async ({ stallWithdrawal }) => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const write = stallWithdrawal ? faults.stall(writeOf('none')) : undefined;
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    await app.consent.ready;
    app.control.setHold(true);
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => app.control.pending()).toBe(1);
    app.control.setHold(false);
    const withdrawal = app.consent.setLevel('none', 'settings');
    if (write) await expect.poll(write.started, { interval: 1 }).toBe(true);
    const again = app.consent.setLevel('full', 'settings');
    write?.release();
    // The grant taken back is applied anew: the abandoned call is never finished.
    await Promise.all([grant, withdrawal, again]);
    expect(app.control.pending()).toBe(1);
    await settled(app);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    expect(storedLevel(device)).toBe('full');
    const granted = await sentAfter(app, 'granted');
    expect(granted).toMatchObject({ anonymous: false, payload: { uid: 'user-1' } });
    expect(granted.contexts.find((c) => c.schema.includes('/mobile_context/'))?.data).toMatchObject({ appleIdfa: 'IDFA-1' });
  });
});

describe('a decision taken back, on the React Native adapter: the stored session', () => {
  const harness = reactNativeHarness;
  const sessionKey = (namespace: string) => `snowplow_${namespace}_session`;

  it('a downgrade overtaken by off, taken back while off is written: the stored session is cleared, and session-only stored', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const tracker = app.consent.tracker as ReactNativeTracker;
    const deviceUserId = await tracker.getSessionUserId();
    expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').toContain(String(deviceUserId));
    const write = faults.stall(writeOf('off'));
    const downgrade = app.consent.setLevel('session-only', 'settings');
    const lower = app.consent.setLevel('off', 'settings');
    await expect.poll(write.started).toBe(true);
    const back = app.consent.setLevel('session-only', 'settings');
    write.release();
    await Promise.all([downgrade, lower, back]);
    await settled(app);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only' });
    // session-only is in force: the stored session (the device user id) was cleared, and the stored decision is the one in force.
    expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').not.toContain(String(deviceUserId));
    expect(storedLevel(device)).toBe('session-only');
    expect(findLeaks([await sentAfter(app, 'taken-back')], 'session-only')).toEqual([]);
  });

  it('a grant overtaken while it asks for the IDFA, taken back while the withdrawal is written: the session is stored at full, and ad ids sent', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const write = faults.stall(writeOf('none'));
    const idfa = deferred<string>();
    let asks = 0;
    const app = apps.launch(harness, {
      device,
      options: { storage: faults.storage },
      reactNative: { platformContextRetriever: { getAppleIdfa: () => (++asks === 1 ? idfa.promise : Promise.resolve(RN_IDENTITY.appleIdfa)) } },
    });
    await app.consent.ready;
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => asks).toBe(1);
    const withdrawal = app.consent.setLevel('none', 'settings');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await expect.poll(write.started).toBe(true);
    const again = app.consent.setLevel('full', 'settings');
    write.release();
    await Promise.all([grant, withdrawal, again]);
    await settled(app);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    expect(storedLevel(device)).toBe('full');
    const tracker = app.consent.tracker as ReactNativeTracker;
    expect(JSON.parse(device.storage.entries.get(sessionKey(device.namespace)) ?? '{}')).toMatchObject({ userId: await tracker.getSessionUserId() });
    const granted = await sentAfter(app, 'granted');
    expect(granted.contexts.find((c) => c.schema.includes('/mobile_context/'))?.data.appleIdfa).toBe(RN_IDENTITY.appleIdfa);
  });
});

describe.each(HARNESSES)('decisions during reset() and while forgetting, with the $name adapter', (harness) => {
  it("reset(), setLevel(full), reset() while the decision's removal waits on storage: the last reset wins", async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const removal = faults.stall(onResetWrite);
    const first = app.consent.reset();
    await expect.poll(removal.started).toBe(true);
    const grant = app.consent.setLevel('full', 'banner');
    const last = app.consent.reset();
    removal.release();
    await Promise.all([first, grant, last]);
    await settled(app);
    // The user's last word is "forget my decision".
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'none', record: null });
    expect(storedLevel(device)).toBeUndefined();
    expect(findLeaks([await sentAfter(app, 'after-reset')], 'none')).toEqual([]);
  });

  it('reset(), off while the removal waits, reset() again at every point after it: undecided with nothing stored', async () => {
    for (let hops = 0; hops < 40; hops += 1) {
      const device = harness.device();
      const faults = faultyStorage(device.storage);
      const app = apps.launch(harness, { device, options: { storage: faults.storage } });
      await app.consent.ready;
      await app.consent.setLevel('full', 'banner');
      const removal = faults.stall(onResetWrite);
      const first = app.consent.reset();
      await expect.poll(removal.started, { interval: 1 }).toBe(true);
      const off = app.consent.setLevel('off', 'settings'); // below the undecided level: enforced and written at once
      removal.release();
      await microtasks(hops);
      // The user forgets again: the decision made meanwhile is forgotten too.
      const last = app.consent.reset();
      await Promise.all([first, off, last]);
      await settled(app);
      expect(app.consent.getStatus(), `reset again after ${hops} microtasks`).toMatchObject({ phase: 'undecided', level: 'none', record: null });
      expect(storedLevel(device), `reset again after ${hops} microtasks`).toBeUndefined();
      await app.consent.stop();
    }
  });

  it('setLevel(off) right after reset() is enforced at once, and in force once the clean-up has ended', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const reset = app.consent.reset();
    const off = app.consent.setLevel('off', 'settings');
    expect(app.consent.getLevel()).toBe('off');
    await Promise.all([reset, off]);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'off', target: 'off' });
    app.track('after-off');
    await drained(app);
    // At off nothing is sent.
    expect(collector.current.events()).toEqual([]);
    expect(app.consent.stats().dropped.off).toBe(1);
    await settled(app);
    expect(storedLevel(device)).toBe('off');
  });
});
