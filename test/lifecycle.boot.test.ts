import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { SimulatedClock, waitFor } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { ConsentError, ConsentLevel } from 'consent-tracker';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { HARNESSES, reactNativeHarness } from './helpers/adapter-harness.js';
import { deferred } from './helpers/deferred.js';
import { faultyStorage, onDecision } from './helpers/faulty-storage.js';
import { DECISION, drained, entity, event, queuedWhileDown, SESSION, storedDecision, storedLevel, useApps } from './helpers/launch.js';
import { RN_IDENTITY } from './helpers/react-native.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * Booting: what is sent before the stored decision is known, and decisions made meanwhile; stored
 * decisions that cannot be read or have expired (with holdUntilDecided too); the hold buffer's cap
 * while booting; and a tracker that is slow to exist, or never does.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** The level each event may carry, by its action. */
const levelOf = (levels: Record<string, ConsentLevel>) => (e: CollectedEvent) => levels[e.payload.se_ac ?? ''] ?? 'off';

/** The chart's timeout of a change, and of the tracker's start (applyTimeoutMs' default). */
const APPLY_TIMEOUT_MS = 10_000;

/** The actions of the events the collector received, sorted. */
const actions = () => collector.current.events().map((e) => String(e.payload.se_ac)).sort();

describe.each(HARNESSES)('booting with the $name adapter', (harness) => {
  const onDevice = (stored?: string) => {
    const device = harness.device();
    if (stored) device.storage.entries.set('consent-tracker.decision', stored);
    return device;
  };

  it('holds events until the stored decision is read, then sends them at its level', async () => {
    const app = apps.launch(harness, { device: onDevice(storedDecision('full')) });
    app.track('during-boot');
    expect(app.consent.getStatus().phase).toBe('booting');
    await app.consent.ready;
    const [event] = await collector.current.waitForEvents(1);
    expect(event?.payload.uid).toBe('user-1');
    expect(event?.payload.ttm).toEqual(expect.any(String));
    expect(app.consent.stats().gate).toMatchObject({ held: 1, released: 1, dropped: 0 });
  });

  it('two consent trackers at once share the chart built once, and each boots from its own storage', async () => {
    const first = apps.launch(harness, { device: onDevice(storedDecision('full')) });
    const second = apps.launch(harness, { device: onDevice(storedDecision('session-only')) });
    // Building the machine per tracker (its states and transitions) cost more than the rest of its creation.
    expect(first.consent.actor.logic).toBe(second.consent.actor.logic);
    await Promise.all([first.consent.ready, second.consent.ready]);
    expect([first.consent.getLevel(), second.consent.getLevel()]).toEqual(['full', 'session-only']);
  });

  it('first launch: track, setLevel(off), track sends nothing, and counts both as dropped', async () => {
    const device = onDevice();
    const app = apps.launch(harness, { device });
    app.track('before-withdrawal');
    const withdrawal = app.consent.setLevel('off', 'banner');
    // Enforced before setLevel returns, while booting.
    expect(app.consent.getLevel()).toBe('off');
    app.track('after-withdrawal');
    await withdrawal;
    app.track('in-force');
    await drained(app);
    expect(collector.current.events()).toEqual([]);
    expect(app.consent.stats().dropped.off).toBe(3);
    expect(storedLevel(device)).toBe('off');
  });

  it("undecidedLevel 'full', off while booting, then full: nothing tracked before full is in force is sent, and all of it is counted as dropped at off", async () => {
    const app = apps.launch(harness, { device: onDevice(), options: { undecidedLevel: 'full' } });
    app.track('before-withdrawal');
    const off = app.consent.setLevel('off', 'banner');
    app.track('after-withdrawal');
    const full = app.consent.setLevel('full', 'banner');
    // Tracked before full is in force: it may carry no more than the off decided while it waited.
    app.track('before-grant-in-force');
    await Promise.all([off, full]);
    app.track('in-force');
    await collector.current.waitForEvents(1);
    await drained(app);
    expect(actions()).toEqual(['in-force']);
    expect(app.consent.stats().dropped.off).toBe(3);
  });

  it("undecidedLevel 'full' and setLevel(none) while booting: nothing leaves with identifiers", async () => {
    const app = apps.launch(harness, { device: onDevice(), options: { undecidedLevel: 'full' } });
    app.track('before-withdrawal');
    const withdrawal = app.consent.setLevel('none', 'banner');
    expect(app.consent.getLevel()).toBe('none');
    app.track('after-withdrawal');
    await withdrawal;
    const events = await collector.current.waitForEvents(2);
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(events.every((e) => e.anonymous && !e.contexts.some((c) => c.schema.includes('client_session')))).toBe(true);
  });

  it('a decision made while the stored one is read wins over it, and is what is stored', async () => {
    const device = onDevice(storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const read = faults.stall(onDecision('getItem'));
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    app.track('before');
    await expect.poll(read.started).toBe(true);
    await app.consent.setLevel('none', 'banner');
    read.release();
    app.track('after');
    const events = await collector.current.waitForEvents(2);
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'none', target: 'none' });
    expect(storedLevel(device)).toBe('none');
  });

  it('a stored decision read at once is in force once ready resolves', async () => {
    const app = apps.launch(harness, { device: onDevice(storedDecision('session-only')) });
    await app.consent.ready;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only', record: { source: 'earlier' } });
  });
});

describe.each(HARNESSES)('a stored decision that cannot be read, with the $name adapter', (harness) => {
  it.each([
    ['corrupt JSON', '{"level":"full",'],
    ['a wrong shape', JSON.stringify({ level: 'full' })],
    ['an unknown level', JSON.stringify({ level: 'all', decidedAt: 1, policyVersion: '1', source: 's' })],
    ['a prototype-polluting key', '{"level":"full","decidedAt":1,"policyVersion":"1","source":"s","__proto__":{"x":1}}'],
    ['a decision taken in the future (the clock moved back)', storedDecision('full', Date.now() + 86_400_000)],
  ])('%s counts as off: undecided, nothing sent, reported', async (_name, stored) => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', stored);
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, options: { undecidedLevel: 'full', onError: (e) => errors.push(e) } });
    app.track('after-boot');
    await app.consent.ready;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'off', record: null, error: { code: 'STORED_DATA_UNREADABLE' } });
    expect(errors.map((e) => e.code)).toEqual(['STORED_DATA_UNREADABLE']);
    await drained(app);
    expect(collector.current.events()).toEqual([]);
    expect(app.consent.stats().dropped.off).toBe(1);
  });

  it('storage that throws counts as off; retry() reads it again once it answers', async () => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('session-only'));
    const faults = faultyStorage(device.storage);
    faults.fail(onDecision('getItem'), new Error('storage is locked'));
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, options: { storage: faults.storage, onError: (e) => errors.push(e) } });
    await app.consent.ready;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'off' });
    expect(errors.map((e) => e.code)).toEqual(['STORAGE_FAILED']);
    faults.heal();
    await app.consent.retry();
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only' });
    app.track('after-retry');
    const events = await collector.current.waitForEvents(1);
    expect(findLeaks(events, 'session-only')).toEqual([]);
  });

  /** A first run at session-only queues an event while the collector is down, and stops. */
  const earlierQueue = async () => {
    const device = harness.device();
    const first = apps.launch(harness, { device });
    await first.consent.ready;
    await first.consent.setLevel('session-only', 'banner');
    await queuedWhileDown(first, 'queued-earlier', collector.current);
    await first.consent.stop();
    collector.current.failWith(undefined);
    return device;
  };

  /** After {@link earlierQueue}, the next run cannot read the stored decision. */
  const earlierQueueThenUnreadableDecision = async () => {
    const device = await earlierQueue();
    const faults = faultyStorage(device.storage);
    faults.fail(onDecision('getItem'), new Error('storage is locked'));
    const next = apps.launch(harness, { device, options: { storage: faults.storage, onError: () => undefined } });
    await next.consent.ready;
    return { next, faults };
  };

  it('what an earlier run queued is kept, not dropped at the off that stands in for the decision; retry() sends it at the decision read', async () => {
    const { next, faults } = await earlierQueueThenUnreadableDecision();
    await next.control.adapter.flush();
    expect(next.consent.stats().dropped.off, 'an unreadable decision is not a withdrawal').toBe(0);
    faults.heal();
    await next.consent.retry();
    await drained(next);
    expect(collector.current.events().map((e) => e.payload.se_ac)).toEqual(['queued-earlier']);
  });

  it('a decision made without the stored one read drops what an earlier run queued (unreadable-stored): the one unread may have been a withdrawal', async () => {
    const { next } = await earlierQueueThenUnreadableDecision();
    await next.consent.setLevel('full', 'banner');
    next.track('after-the-decision');
    await drained(next);
    expect(collector.current.events().map((e) => e.payload.se_ac)).toEqual(['after-the-decision']);
    expect(next.consent.stats().dropped['unreadable-stored']).toBe(1);
  });

  it('a decision made while the stored one is read, which then fails, is written again over it: what an earlier run queued is dropped, though the decision never came into force', async () => {
    const device = await earlierQueue();
    const faults = faultyStorage(device.storage);
    faults.stall(onDecision('getItem'));
    // The change is held: no decision comes into force in this run (a React Native tracker slow to exist).
    const next = apps.launch(harness, { device, holdApply: true, options: { storage: faults.storage, storageTimeoutMs: 30, onError: () => undefined } });
    void next.consent.setLevel('full', 'banner').catch(() => undefined);
    await waitFor(next.consent.actor, (s) => s.matches({ storedDecision: 'unread', persistence: 'saved' }));
    expect(next.consent.stats().dropped['unreadable-stored']).toBe(1);
    await next.consent.stop();
    faults.heal();
    // The next start reads the full written over the unread decision: the earlier event is not sent at it.
    const last = apps.launch(harness, { device });
    await last.consent.ready;
    last.track('after-restart');
    await drained(last);
    expect(storedLevel(device)).toBe('full');
    expect(actions()).toEqual(['after-restart']);
  });

  /**
   * After {@link earlierQueue}, another instance stored a withdrawal to off without holding that
   * queue to it (its floor did not land). The next run can read neither the decision nor the
   * queue slots' leases, and grants full.
   */
  const grantOverUnreadWithdrawal = async () => {
    const device = await earlierQueue();
    device.storage.entries.set(DECISION, storedDecision('off'));
    const faults = faultyStorage(device.storage);
    faults.fail(onDecision('getItem'), new Error('storage is locked'));
    faults.fail((call) => call.op === 'getItem' && call.key.endsWith('.lease'), new Error('storage is locked'));
    const errors: ConsentError[] = [];
    const next = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 30, onError: (e) => errors.push(e) } });
    await next.consent.ready;
    void next.consent.setLevel('full', 'banner').catch(() => undefined);
    await waitFor(next.consent.actor, (s) => !s.matches({ persistence: 'writing' }) && !s.matches({ persistence: 'unwritten' }));
    return { device, faults, next, errors };
  };

  it('a decision over one that could not be read is stored as off while the queues of earlier runs cannot be held to off: the next start sends none of them', async () => {
    const { device, next, errors } = await grantOverUnreadWithdrawal();
    expect(storedLevel(device)).toBe('off');
    expect(errors.map((e) => e.message)).toContainEqual(expect.stringContaining('off is stored in place of the decision'));
    await next.consent.stop();
    const last = apps.launch(harness, { device });
    await last.consent.ready;
    expect(last.consent.getLevel()).toBe('off');
    await last.consent.setLevel('full', 'banner');
    last.track('after-restart');
    await drained(last);
    expect(actions()).toEqual(['after-restart']);
  });

  it('once the queues of earlier runs are held to off, retry() stores the decision itself', async () => {
    const { device, faults, next } = await grantOverUnreadWithdrawal();
    faults.heal();
    await next.consent.retry();
    await waitFor(next.consent.actor, (s) => s.matches({ persistence: 'saved' }));
    expect(storedLevel(device)).toBe('full');
    await next.consent.stop();
    const last = apps.launch(harness, { device });
    await last.consent.ready;
    last.track('after-restart');
    await drained(last);
    expect(actions()).toEqual(['after-restart']);
  });

  it('storage that never answers counts as off after the storage timeout', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    faults.stall(onDecision('getItem'));
    const app = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 30 } });
    await app.consent.ready;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'off', error: { code: 'STORAGE_FAILED' } });
  });

  it("a decision the user makes meanwhile wins, and replaces what could not be read", async () => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', '{not json');
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    await app.consent.setLevel('session-only', 'banner');
    await app.consent.retry();
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only' });
    expect(storedLevel(device)).toBe('session-only');
  });

  it('is read again at the next start', async () => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', '{not json');
    const first = apps.launch(harness, { device });
    await first.consent.ready;
    expect(first.consent.getLevel()).toBe('off');
    await first.consent.stop();
    device.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const second = apps.launch(harness, { device });
    await second.consent.ready;
    expect(second.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
  });
});

describe.each(HARNESSES)('an expired stored decision, with the $name adapter', (harness) => {
  it.each([
    ['another policy version', { policyVersion: '2' }],
    ['an age past maxAgeDays', { maxAgeDays: 1 }],
  ])('%s is asked again, at no more than the expired level', async (_name, options) => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('none', Date.now() - 3 * 86_400_000));
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, options: { ...options, undecidedLevel: 'full', onError: (e) => errors.push(e) } });
    app.track('while-expired');
    await app.consent.ready;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'none', record: null });
    expect(errors.map((e) => e.code)).toEqual(['STORED_DECISION_EXPIRED']);
    const events = await collector.current.waitForEvents(1);
    expect(findLeaks(events, 'none')).toEqual([]);
  });

  it.each([
    { expired: 'off' as const, sent: ['after-consent'] },
    { expired: 'none' as const, sent: ['after-consent', 'while-expired'] },
  ])('with holdUntilDecided, events held under an expired $expired are released at no more than $expired once the user consents', async ({ expired, sent }) => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision(expired, Date.now() - 3 * 86_400_000));
    const app = apps.launch(harness, { device, options: { holdUntilDecided: true, maxAgeDays: 1, onError: () => undefined } });
    await app.consent.ready;
    // A withdrawal never expires into consent: the expired level caps what is tracked until the user decides.
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: expired });
    app.track('while-expired');
    await app.consent.setLevel('full', 'banner');
    app.track('after-consent');
    await collector.current.waitForEvents(1);
    await drained(app);
    expect(actions()).toEqual(sent);
    expect(findLeaks(collector.current.events(), levelOf({ 'while-expired': expired, 'after-consent': 'full' }))).toEqual([]);
  });
});

describe.each(HARNESSES)('events held while booting, with the $name adapter', (harness) => {
  it('with no stored decision, they are released at the undecided level', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    app.track('during-boot');
    expect(app.consent.getStatus()).toMatchObject({ phase: 'booting', target: null });
    await app.consent.ready;
    const events = await collector.current.waitForEvents(1);
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(event(events, 'during-boot')).toMatchObject({ anonymous: true, payload: { ttm: expect.any(String) } });
    expect(app.consent.stats().gate).toMatchObject({ held: 1, released: 1, dropped: 0 });
  });

  it('a decision made before the stored one is read: what was held before it is sent at no more than none, what follows at the decision', async () => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const app = apps.launch(harness, { device });
    app.track('before-decision');
    // At once, before the stored decision is read: what was stored is not known.
    await app.consent.setLevel('full', 'banner');
    app.track('in-force');
    const events = await collector.current.waitForEvents(2);
    expect(findLeaks(events, levelOf({ 'before-decision': 'none', 'in-force': 'full' }))).toEqual([]);
    expect(event(events, 'before-decision')).toMatchObject({ anonymous: true });
    expect(event(events, 'before-decision').payload.uid).toBeUndefined();
    expect(event(events, 'in-force')).toMatchObject({ anonymous: false, payload: { uid: 'user-1' } });
  });

  it('a withdrawal and a grant made before the stored full is read: every event tracked until the grant is in force is sent, at no more than none', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('full'));
    const app = apps.launch(harness, { device });
    app.track('before-withdrawal');
    const withdrawal = app.consent.setLevel('none', 'banner');
    app.track('after-withdrawal');
    const grant = app.consent.setLevel('full', 'banner');
    app.track('before-grant-in-force');
    await Promise.all([withdrawal, grant, app.consent.ready]);
    await drained(app);
    expect(actions()).toEqual(['after-withdrawal', 'before-grant-in-force', 'before-withdrawal']);
    expect(findLeaks(collector.current.events(), 'none')).toEqual([]);
  });

  it('past bufferLimit, the oldest are dropped and counted, and the rest released once the stored decision is read', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('none'));
    const app = apps.launch(harness, { device, options: { bufferLimit: 2 } });
    for (const label of ['e1', 'e2', 'e3', 'e4', 'e5']) app.track(label);
    await app.consent.ready;
    await drained(app);
    expect(actions()).toEqual(['e4', 'e5']);
    expect(app.consent.stats().gate).toEqual({ held: 5, released: 2, dropped: 3 });
  });
});

describe.each(HARNESSES)('the anonymous session across booting, with the $name adapter', (harness) => {
  it('events held while the stored session-only is read and applied share one anonymous session with the events after', async () => {
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('session-only'));
    const app = apps.launch(harness, { device, holdApply: true });
    app.track('while-booting');
    await expect.poll(() => app.control.pending()).toBe(1);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'booting', target: 'session-only', level: 'none' });
    app.track('while-applying');
    await app.control.finishApply();
    await app.consent.ready;
    app.track('in-force');
    const events = await collector.current.waitForEvents(3);
    expect(findLeaks(events, levelOf({ 'while-booting': 'session-only', 'while-applying': 'none', 'in-force': 'session-only' }))).toEqual([]);
    // session-only was entered once: one anonymous session, started by the first event. The event
    // released lower (tracked while the level was applied) does not split it in two.
    expect(entity(event(events, 'in-force'), SESSION)?.firstEventId).toBe(event(events, 'while-booting').id);
  });
});

describe('the device identity at boot, with the react-native adapter', () => {
  it('an event held while the stored full is applied is sent lower, and does not burn the device user id (no withdrawal happened)', async () => {
    const device = reactNativeHarness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    // The stored full is applied: its IDFA lookup takes a moment.
    const idfa = deferred<string>();
    let asked = false;
    const app = apps.launch(reactNativeHarness, { device, reactNative: { platformContextRetriever: { getAppleIdfa: () => ((asked = true), idfa.promise) } } });
    app.track('while-booting');
    await expect.poll(() => asked).toBe(true);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'booting', target: 'full' });
    app.track('while-applying');
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await app.consent.ready;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    app.track('in-force');
    const events = await collector.current.waitForEvents(3);
    const own = await (app.consent.tracker as ReactNativeTracker).getSessionUserId();
    expect(own).toEqual(expect.any(String));
    // The user never withdrew: full keeps sending the tracker's own device user id...
    expect(entity(event(events, 'in-force'), SESSION)?.userId).toBe(own);
    // ...the event held while booting is released at the stored decision's level, with its session...
    expect(entity(event(events, 'while-booting'), SESSION)?.userId).toBe(own);
    // ...and the one tracked while full was applied at the level enforced then.
    expect(findLeaks([event(events, 'while-applying')], 'none')).toEqual([]);
  });
});

describe('the tracker before it exists, with the react-native adapter', () => {
  it('keeps setUserId and track calls made before the tracker exists in their order', async () => {
    const device = reactNativeHarness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const app = apps.launch(reactNativeHarness, { device });
    const tracker = app.consent.tracker as ReactNativeTracker;
    tracker.setUserId('alice');
    app.track('as-alice');
    tracker.setUserId('bob');
    app.track('as-bob');
    await app.consent.ready;
    const events = await collector.current.waitForEvents(2);
    expect(event(events, 'as-alice').payload.uid).toBe('alice');
    expect(event(events, 'as-bob').payload.uid).toBe('bob');
  });

  it('counts events tracked when the tracker could not be created (nothing is lost silently)', async () => {
    const errors: ConsentError[] = [];
    const broken = { getItem: () => Promise.reject(new Error('storage is gone')), setItem: () => Promise.resolve() };
    const app = apps.launch(reactNativeHarness, { device: reactNativeHarness.device(), options: { onError: (e) => errors.push(e) }, reactNative: { asyncStorage: broken } });
    app.track('held-while-booting');
    await app.consent.ready;
    app.track('after-ready');
    await expect.poll(() => app.consent.stats().dropped['no-tracker']).toBe(2);
    const stats = app.consent.stats();
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0) + stats.gate.dropped;
    expect(stats.tracked + dropped).toBe(2);
    expect(errors.map((e) => e.code)).toContain('APPLY_FAILED');
    // The calls that answer with a promise still answer, with nothing.
    await expect((app.consent.tracker as ReactNativeTracker).getSessionId()).resolves.toBeUndefined();
    await drained(app);
    expect(collector.current.events()).toEqual([]);
  });

  it('a tracker whose stored session read never answers: booting ends at the start timeout, and ready, a decision and the calls held for the tracker all settle', async () => {
    const device = reactNativeHarness.device();
    const faults = faultyStorage(device.storage);
    faults.stall((call) => call.op === 'getItem' && call.key === `snowplow_${device.namespace}_session`);
    const clock = new SimulatedClock();
    const errors: ConsentError[] = [];
    const app = apps.launch(reactNativeHarness, { device, options: { storage: faults.storage, clock, onError: (e) => errors.push(e) } });
    app.track('held');
    // A method of the tracker that answers with a promise: held until the tracker exists.
    const sessionUserId = (app.consent.tracker as ReactNativeTracker).getSessionUserId();
    const withdrawal = app.consent.setLevel('off', 'banner');
    expect(app.consent.getLevel()).toBe('off');
    await expect.poll(() => app.consent.actor.getSnapshot().matches({ tracker: 'starting' })).toBe(true);
    // startTimeoutMs (applyTimeoutMs by default): the tracker's start is given up, and off is applied to a tracker that never comes...
    clock.increment(APPLY_TIMEOUT_MS);
    await expect.poll(() => app.consent.actor.getSnapshot().matches({ tracker: { applying: 'reconfiguring' } })).toBe(true);
    // ...which fails closed in its turn.
    clock.increment(APPLY_TIMEOUT_MS);
    await expect(app.consent.ready).resolves.toBeUndefined();
    await expect(withdrawal).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    await expect(Promise.resolve(sessionUserId)).resolves.toBeUndefined();
    expect(app.consent.getStatus()).toMatchObject({ phase: 'failed', level: 'off' });
    expect(errors.map((e) => e.message)).toContain('the tracker did not start in time');
    // The held event is not lost silently.
    expect(app.consent.stats().dropped['no-tracker']).toBe(1);
  });
});

describe('calls that ask for an answer while events are held until a decision (react-native)', () => {
  it('getSessionId and flush answer once the tracker exists, before the user decides', async () => {
    const app = apps.launch(reactNativeHarness, { device: reactNativeHarness.device(), options: { holdUntilDecided: true } });
    await app.consent.ready;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided' });
    const tracker = app.consent.tracker as ReactNativeTracker;
    await expect(tracker.getSessionId()).resolves.toEqual(expect.any(String));
    await expect(tracker.flush()).resolves.toBeUndefined();
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided' });
  });
});
