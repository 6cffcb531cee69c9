import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { buildStructEvent, newEmitter, trackerCore } from '@snowplow/tracker-core';
import { createEnforcement, memoryStorage, webStorage, type ConsentError } from 'consent-tracker';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { HARNESSES, reactNativeHarness, trackerCoreHarness } from './helpers/adapter-harness.js';
import { deferred } from './helpers/deferred.js';
import { faultyStorage, onDecision } from './helpers/faulty-storage.js';
import { DECISION, drained, entity, event, SESSION, settled, storedLevel, storedRecord, useApps, type App } from './helpers/launch.js';
import { RN_IDENTITY } from './helpers/react-native.js';
import { useCollector } from './helpers/use-collector.js';
import { fakeLocalStorage } from './helpers/local-storage.js';

/**
 * What fails: a change or a clean-up that fails or times out (and what a decision made meanwhile,
 * or a retry, does then), the hold buffer's cap during a stuck change, and storage that fails to
 * write the decision.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** The chart's timeout of a change and of a clean-up (applyTimeoutMs' default). */
const APPLY_TIMEOUT_MS = 10_000;

const codes = (errors: readonly ConsentError[]) => errors.map((e) => e.code);

/** Tracks `label` and returns it as the collector received it (the first event it receives). */
async function sentAfter(app: App, label: string): Promise<CollectedEvent> {
  app.track(label);
  return event(await collector.current.waitForEvents(1), label);
}

describe.each(HARNESSES)('a change that fails, with the $name adapter', (harness) => {
  it('fails closed at the lower level, rejects with APPLY_FAILED, and says so', async () => {
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device: harness.device(), options: { onError: (e) => errors.push(e) } });
    await app.consent.ready;
    app.control.setHold(true);
    const change = app.consent.setLevel('full', 'banner');
    await app.control.failApply();
    await expect(change).rejects.toMatchObject({ name: 'ConsentError', code: 'APPLY_FAILED' });
    expect(app.consent.getStatus()).toMatchObject({ phase: 'failed', level: 'none', target: 'full', error: { code: 'APPLY_FAILED' } });
    expect(codes(errors)).toEqual(['APPLY_FAILED']);
    expect(findLeaks([await sentAfter(app, 'after-failure')], 'none')).toEqual([]);
  });

  it('the same decision again after the failure is a new attempt', async () => {
    const app = apps.launch(harness, { device: harness.device(), options: { onError: () => undefined } });
    await app.consent.ready;
    app.control.setHold(true);
    const first = app.consent.setLevel('full', 'banner');
    await app.control.failApply();
    await expect(first).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    // The user presses "Accept" again: the adapter now works.
    app.control.setHold(false);
    await expect(app.consent.setLevel('full', 'banner')).resolves.toBeUndefined();
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full', error: null });
    expect((await sentAfter(app, 'after-second-attempt')).payload.uid).toBe('user-1');
  });
});

describe.each(HARNESSES)('a change that times out, with the $name adapter', (harness) => {
  it('fails closed with APPLY_TIMEOUT; a new decision times out again at the lower level; retry() applies it', async () => {
    const clock = new SimulatedClock();
    const app = apps.launch(harness, { device: harness.device(), options: { clock, onError: () => undefined } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.control.setHold(true);
    const downgrade = app.consent.setLevel('session-only', 'settings');
    await expect.poll(() => app.control.pending()).toBe(1);
    clock.increment(APPLY_TIMEOUT_MS);
    await expect(downgrade).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    expect(app.consent.getStatus()).toMatchObject({ phase: 'failed', level: 'session-only' });
    expect(findLeaks([await sentAfter(app, 'while-failed')], 'session-only')).toEqual([]);
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => app.control.pending()).toBe(2);
    clock.increment(APPLY_TIMEOUT_MS);
    await expect(grant).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    expect(app.consent.getLevel()).toBe('session-only');
    app.control.setHold(false);
    await expect(app.consent.retry()).resolves.toBeUndefined();
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
  });
});

describe('a grant that times out asking for the IDFA (the ATT prompt), on the React Native adapter', () => {
  it('does not overwrite a later withdrawal when the prompt is answered: the level and the next start stay at none', async () => {
    const device = reactNativeHarness.device();
    const clock = new SimulatedClock();
    const att = deferred<string>();
    let asked = false;
    const reactNative = { platformContextRetriever: { getAppleIdfa: () => ((asked = true), att.promise) } };
    const app = apps.launch(reactNativeHarness, { device, options: { clock, onError: () => undefined }, reactNative });
    await app.consent.ready;
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => asked).toBe(true);
    clock.increment(APPLY_TIMEOUT_MS);
    await expect(grant).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    await app.consent.setLevel('none', 'settings');
    await settled(app);
    expect(storedLevel(device)).toBe('none');
    // The prompt is answered late: the abandoned grant goes no further.
    att.resolve(RN_IDENTITY.appleIdfa);
    const late = await sentAfter(app, 'after-the-prompt');
    expect(findLeaks([late], 'none')).toEqual([]);
    expect(app.consent.getLevel()).toBe('none');
    expect(storedLevel(device)).toBe('none');
    await app.consent.stop();

    collector.current.reset();
    const next = apps.launch(reactNativeHarness, { device });
    await next.consent.ready;
    expect(next.consent.getLevel()).toBe('none');
    expect(findLeaks([await sentAfter(next, 'next-start')], 'none')).toEqual([]);
  });
});

describe.each(HARNESSES)('a clean-up that fails or times out with a decision made meanwhile, with the $name adapter', (harness) => {
  /** Launched at full, with the next adapter steps (clean-ups included) held. */
  async function atFullThenHeld(options: Parameters<typeof apps.launch>[1]['options'] = {}) {
    const device = harness.device();
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, holdForget: true, options: { ...options, onError: (e) => errors.push(e) } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.control.setHold(true);
    return { device, app, errors };
  }

  it('reset(), off meanwhile, the clean-up fails: off goes ahead, stays stored, and a retry does not bring back none', async () => {
    const { device, app, errors } = await atFullThenHeld();
    const reset = app.consent.reset();
    const off = app.consent.setLevel('off', 'settings'); // the user's latest word: enforced and written at once
    expect(app.consent.getLevel()).toBe('off');
    await expect.poll(() => storedLevel(device)).toBe('off');
    await app.control.failApply(); // the reset's clean-up fails
    await app.control.finishApply(); // the clean-up off asked for runs after it
    await app.control.finishApply(); // then off is applied
    await expect(off).resolves.toBeUndefined();
    await expect(reset).resolves.toBeUndefined();
    expect(codes(errors)).toEqual(['APPLY_FAILED']);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'off', target: 'off' });
    // A retry must not put a level above the user's latest decision in force, nor a restart find "no decision".
    app.control.setHold(false);
    await app.consent.retry();
    expect(app.consent.getLevel()).toBe('off');
    await settled(app);
    expect(storedLevel(device)).toBe('off');
    app.track('after-retry');
    await drained(app);
    expect(collector.current.events()).toEqual([]);
  });

  it('reset(), off meanwhile, the clean-up times out: off\'s own clean-up runs, then off goes ahead; setLevel(off) resolves, off stored', async () => {
    const clock = new SimulatedClock();
    const { device, app, errors } = await atFullThenHeld({ clock });
    const reset = app.consent.reset();
    const off = app.consent.setLevel('off', 'settings');
    await expect.poll(() => app.control.pending()).toBe(1);
    clock.increment(APPLY_TIMEOUT_MS); // the clean-up gives up; the one off asked for runs next
    await expect.poll(() => app.control.pending()).toBe(2);
    await app.control.finishApply(); // off's clean-up
    await app.control.finishApply(); // off is applied
    await expect(off).resolves.toBeUndefined();
    await expect(reset).resolves.toBeUndefined();
    expect(codes(errors)).toEqual(['APPLY_TIMEOUT']);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'off', target: 'off' });
    await settled(app);
    expect(storedLevel(device)).toBe('off');
    app.track('after-timeout');
    await drained(app);
    expect(collector.current.events()).toEqual([]);
  });

  it('reset(), full meanwhile, the clean-up fails: the grant goes ahead, in force and stored', async () => {
    const { device, app, errors } = await atFullThenHeld();
    const reset = app.consent.reset();
    const full = app.consent.setLevel('full', 'again');
    await app.control.failApply(); // the reset's clean-up fails
    await app.control.finishApply(); // the grant, which waited for it, is applied
    await expect(full).resolves.toBeUndefined();
    await expect(reset).resolves.toBeUndefined();
    expect(codes(errors)).toEqual(['APPLY_FAILED']);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    await settled(app);
    expect(storedRecord(device)).toMatchObject({ level: 'full', source: 'again' });
    expect((await sentAfter(app, 'granted')).payload.uid).toBe('user-1');
  });
});

describe('a withdrawal whose clean-up times out on AsyncStorage, on the React Native adapter', () => {
  const sessionKey = (namespace: string) => `snowplow_${namespace}_session`;

  it('goes ahead, and the clean-up removes nothing when the storage answers late: the new grant keeps its stored session and device user id', async () => {
    const device = reactNativeHarness.device();
    const faults = faultyStorage(device.storage);
    const clock = new SimulatedClock();
    const errors: ConsentError[] = [];
    const app = apps.launch(reactNativeHarness, { device, options: { storage: faults.storage, clock, onError: (e) => errors.push(e) } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const read = faults.stall((call) => call.op === 'getItem' && call.key === sessionKey(device.namespace));
    const withdrawal = app.consent.setLevel('none', 'settings');
    await expect.poll(read.started).toBe(true);
    clock.increment(APPLY_TIMEOUT_MS); // the clean-up gives up; the withdrawal is applied
    await expect(withdrawal).resolves.toBeUndefined();
    expect(codes(errors)).toEqual(['APPLY_TIMEOUT']);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'none' });
    await app.consent.setLevel('full', 'again');
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    app.track('granted');
    await collector.current.waitForEvents(1);
    const stored = device.storage.entries.get(sessionKey(device.namespace)) ?? '';
    expect(stored).not.toBe('');

    // The storage answers at last: the abandoned clean-up ends.
    const late = faults.calls.length;
    read.release();
    app.track('still-granted');
    const events = await collector.current.waitForEvents(2);
    // Full is in force and nobody withdrew since the grant: its stored session stays, and its device user id.
    expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').toBe(stored);
    expect(entity(event(events, 'still-granted'), SESSION)?.userId).toBe(entity(event(events, 'granted'), SESSION)?.userId);
    expect(faults.calls.slice(late).filter((call) => call.op === 'removeItem')).toEqual([]);
  });

  it('a second withdrawal made while it is stuck still has its clean-up run after it: the withdrawn device user id is not left on the device', async () => {
    const device = reactNativeHarness.device();
    const faults = faultyStorage(device.storage);
    const clock = new SimulatedClock();
    const errors: ConsentError[] = [];
    const app = apps.launch(reactNativeHarness, { device, options: { storage: faults.storage, clock, onError: (e) => errors.push(e) } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const deviceUserId = await (app.consent.tracker as ReactNativeTracker).getSessionUserId();
    expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').toContain(deviceUserId);
    const read = faults.stall((call) => call.op === 'getItem' && call.key === sessionKey(device.namespace));
    const first = app.consent.setLevel('session-only', 'settings');
    await expect.poll(read.started).toBe(true);
    const second = app.consent.setLevel('none', 'settings'); // one more clean-up, after the one under way
    clock.increment(APPLY_TIMEOUT_MS); // the first clean-up is given up
    read.release(); // the storage answers again
    await Promise.all([first, second]);
    await settled(app);
    expect(codes(errors)).toEqual(['APPLY_TIMEOUT']);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'none' });
    expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').not.toContain(deviceUserId);
  });

  it('its late end neither clears the subject the app set again under a later full, nor stores none over it', async () => {
    const device = reactNativeHarness.device();
    const faults = faultyStorage(device.storage);
    const clock = new SimulatedClock();
    const app = apps.launch(reactNativeHarness, { device, options: { storage: faults.storage, clock, onError: () => undefined } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const removal = faults.stall((call) => call.op === 'removeItem' && call.key === sessionKey(device.namespace));
    const withdrawal = app.consent.setLevel('none', 'settings');
    await expect.poll(removal.started).toBe(true);
    clock.increment(APPLY_TIMEOUT_MS);
    await expect(withdrawal).resolves.toBeUndefined();
    await app.consent.setLevel('full', 'settings');
    // As the docs ask after a new consent: the app sets its user id again.
    (app.consent.tracker as ReactNativeTracker).setUserId('user-2');
    removal.release();
    const atFull = await sentAfter(app, 'at-full');
    expect(app.consent.getLevel()).toBe('full');
    expect(atFull.payload.uid).toBe('user-2');
    // The user's last decision is full: that is what the next launch must find.
    await settled(app);
    expect(storedLevel(device)).toBe('full');
  });
});

describe.each(HARNESSES)('the hold buffer during a stuck change, with the $name adapter', (harness) => {
  it('holds at most bufferLimit events: the oldest are dropped and counted, the newest sent in order', async () => {
    const app = apps.launch(harness, { device: harness.device(), options: { bufferLimit: 3 } });
    await app.consent.ready;
    app.control.setHold(true);
    const change = app.consent.setLevel('full', 'banner');
    for (let i = 0; i < 10; i++) app.track(`e${i}`);
    expect(app.consent.stats().gate).toMatchObject({ held: 10, dropped: 7, released: 0 });
    await app.control.finishApply();
    await change;
    const events = await collector.current.waitForEvents(3);
    expect(events.map((e) => e.payload.se_ac)).toEqual(['e7', 'e8', 'e9']);
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(app.consent.stats().gate).toMatchObject({ held: 10, dropped: 7, released: 3 });
  });

  it('a burst of 10,000 events holds at most the default cap of 1,000, and counts the overflow', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    await app.consent.ready;
    app.control.setHold(true);
    const change = app.consent.setLevel('full', 'banner');
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 10_000; i++) app.track(`e${i}`);
    expect(app.consent.stats().gate).toMatchObject({ held: 10_000, dropped: 9_000, released: 0 });
    // 1,000 held events are far below 50 MB; 10,000 unbounded ones with their builders would not be.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
    await app.control.finishApply();
    await change;
    const events = await collector.current.waitForEvents(1000, 15_000);
    expect(events[0]?.payload.se_ac).toBe('e9000');
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(app.consent.stats().gate.released).toBe(1000);
  });
});

describe.each(HARNESSES)('storage faults on writing the decision, with the $name adapter', (harness) => {
  it('a write that times out never lands over a newer decision', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const errors: ConsentError[] = [];
    // A real timeout: the decision's writes are timed by storageTimeoutMs, not by the chart's clock.
    const app = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 50, clock: new SimulatedClock(), onError: (e) => errors.push(e) } });
    await app.consent.ready;
    const slow = faults.stall((call) => onDecision('setItem')(call) && call.value?.includes('"level":"full"') === true);
    // The write does not fail the change.
    await app.consent.setLevel('full', 'banner');
    expect(app.consent.getLevel()).toBe('full');
    await expect.poll(() => codes(errors)).toContain('STORAGE_FAILED');
    const withdrawal = app.consent.setLevel('none', 'settings');
    // The slow write of full ends at last, after the newer decision was made: that one is written after it.
    slow.release();
    await withdrawal;
    await settled(app);
    expect(storedRecord(device)).toMatchObject({ level: 'none', source: 'settings' });
    expect(findLeaks([await sentAfter(app, 'after-writes')], 'none')).toEqual([]);
  });

  it.each([
    { fault: 'throws', storageTimeoutMs: undefined },
    { fault: 'never answers', storageTimeoutMs: 50 },
  ])('storage that $fault on every call for the decision: reported (STORAGE_FAILED, then STORAGE_REFUSED), and the grant still comes into force', async ({ fault, storageTimeoutMs }) => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    if (fault === 'throws') faults.fail(onDecision(), new Error('storage is locked'));
    else faults.stall(onDecision());
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, {
      device,
      options: { storage: faults.storage, clock: new SimulatedClock(), onError: (e) => errors.push(e), ...(storageTimeoutMs && { storageTimeoutMs }) },
    });
    await app.consent.ready;
    // The stored decision could not be read: undecided, at off.
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'off' });
    await app.consent.setLevel('full', 'banner');
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    await expect.poll(() => codes(errors)).toEqual(['STORAGE_FAILED', 'STORAGE_FAILED', 'STORAGE_REFUSED']);
    expect((await sentAfter(app, 'granted')).payload.uid).toBe('user-1');
    expect(device.storage.entries.has(DECISION)).toBe(false);
  });
});

// Web Storage is the browser's: on React Native the storage is AsyncStorage.
describe('a Web Storage over its quota, with the tracker-core adapter', () => {
  it('the write fails and is reported (STORAGE_FAILED); the change still comes into force, and the write is retried after storageRetryMs', async () => {
    const local = fakeLocalStorage({ overQuota: true });
    const clock = new SimulatedClock();
    const errors: ConsentError[] = [];
    const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device(), options: { storage: webStorage(local), clock, onError: (e) => errors.push(e) } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    await expect.poll(() => app.consent.actor.getSnapshot().matches({ persistence: 'retrying' })).toBe(true);
    // The queue's writes fail too: count the decision's.
    const decisionWrites = () => errors.filter((e) => e.code === 'STORAGE_FAILED' && e.message.includes('store the decision')).length;
    expect(decisionWrites()).toBe(1);
    expect(codes(errors)).not.toContain('APPLY_FAILED');
    expect(local.getItem(DECISION)).toBeNull();
    clock.increment(1000);
    await expect.poll(decisionWrites).toBe(2);
    expect((await sentAfter(app, 'granted')).payload.uid).toBe('user-1');
  });
});

describe.each(HARNESSES)('events the collector refuses for good, with the $name adapter', (harness) => {
  it('are counted as dropped (rejected) and reported, not lost; a refusal the emitter retries is not', async () => {
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device: harness.device(), options: { onError: (e) => errors.push(e) } });
    await app.consent.ready;
    collector.current.failWith(400);
    app.track('refused');
    await expect.poll(() => app.consent.stats().dropped.rejected).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(['EVENTS_REJECTED']);
    expect(await app.consent.enforcement.eventStore.count()).toBe(0);
    // A 503 is retried: nothing is counted, and the event arrives once the collector is back.
    collector.current.failWith(503);
    app.track('retried');
    await expect.poll(() => collector.current.requests().filter((r) => r.status === 503).length).toBeGreaterThan(0);
    expect(app.consent.stats().dropped.rejected).toBe(1);
    collector.current.failWith(undefined);
    await drained(app);
    expect(collector.current.events().map((e) => e.payload.se_ac)).toEqual(['retried']);
  });
});

describe.each(HARNESSES)('an event larger than the emitter takes in one request, with the $name adapter', (harness) => {
  const big = (app: App) => {
    const padding = 'x'.repeat(2000);
    if (harness === reactNativeHarness) (app.consent.tracker as ReactNativeTracker).trackStructuredEvent({ category: 'c', action: 'big', label: padding });
    else harness.track(app.consent.tracker, `big-${padding}`);
  };

  it('is delivered when its one send succeeds, and counted as dropped (too-large) when it fails, never lost', async () => {
    const app = apps.launch(harness, { device: harness.device(), maxPostBytes: 1000 });
    await app.consent.ready;
    big(app);
    await collector.current.waitForEvents(1);
    expect(app.consent.stats().dropped['too-large']).toBe(0);
    collector.current.failWith(503);
    big(app);
    await expect.poll(() => app.consent.stats().dropped['too-large']).toBe(1);
    collector.current.failWith(undefined);
    await drained(app);
    expect(collector.current.events()).toHaveLength(1);
  });
});

describe('an event larger than the emitter takes in one request, sent while no decision is in force', () => {
  it('is counted as dropped (too-large): nothing keeps it, and nothing is sent before the decision', async () => {
    let booting = true;
    const enforcement = createEnforcement({ level: () => 'none', awaitingDecision: () => booting, storage: memoryStorage() });
    await enforcement.ready;
    const emitter = newEmitter({ endpoint: collector.current.url, eventStore: enforcement.eventStore, customFetch: enforcement.customFetch, maxPostBytes: 1000 });
    const core = trackerCore({ corePlugins: [enforcement.plugin], callback: (pb) => void emitter.input(pb.build()) });
    core.setPlatform('web');
    core.setTrackerVersion('js-test');
    core.track(buildStructEvent({ category: 'c', action: 'while-booting', label: 'x'.repeat(2000) }));
    await expect.poll(() => enforcement.stats().dropped['too-large']).toBe(1);
    booting = false;
    await enforcement.levelChanged('none');
    core.track(buildStructEvent({ category: 'c', action: 'after-boot' }));
    const events = await collector.current.waitForEvents(1);
    expect(events.map((e) => e.payload.se_ac)).toEqual(['after-boot']);
    await expect.poll(() => enforcement.eventStore.count()).toBe(0);
    expect(enforcement.stats().tracked).toBe(2);
  });
});
