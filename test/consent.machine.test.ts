import { createActor, fromPromise, waitFor } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  CONSENT_LEVELS,
  LEVEL_STATES,
  consentMachine,
  decisionProblem,
  selectAwaitingDecision,
  selectBootCap,
  selectBooted,
  selectDecision,
  selectHolding,
  selectPhase,
  selectQuiescent,
  selectStarted,
  toTrackerConfiguration,
  type ConsentProblem,
  type ConsentRecord,
  type SyncedDecision,
  type WriteInput,
} from 'consent-tracker';
import { controlledChart } from './helpers/controllable-actors.js';

/** The chart on its own: every actor controlled by the test, on a simulated clock. */

const record = (level: ConsentRecord['level']): ConsentRecord => ({ level, decidedAt: 1, policyVersion: '1', source: 'stored' });
const set = (level: string, source = 'banner') => ({ type: 'CONSENT.SET', level, source }) as never;
/** A decision (or, for `null`, a reset) made in another tab at `at`. */
const fromAnotherTab = (level: ConsentRecord['level'] | null, at: number): SyncedDecision => ({
  type: 'CONSENT.SYNC',
  record: level === null ? null : { level, decidedAt: at, policyVersion: '1', source: 'other tab' },
  at,
});
const later = () => Date.now() + 60_000;

/** Boots with `stored` and lets the first change and its clean-up finish. */
async function inForceAt(stored: ConsentRecord['level'] | null, input = {}) {
  const chart = controlledChart(input);
  await chart.boot({ record: stored ? record(stored) : null });
  chart.last('forget').resolve();
  await chart.settle();
  chart.last('apply').resolve();
  await chart.settle();
  return chart;
}

describe('the level states', () => {
  it.each(CONSENT_LEVELS)('%s carries its default tracker configuration in meta, as toTrackerConfiguration gives it', (level) => {
    const state = consentMachine.root.states.decision?.states[LEVEL_STATES[level]];
    expect(state?.meta).toEqual({ level, configuration: toTrackerConfiguration(level) });
  });

  it('undecided describes itself in meta, for the drawings of the chart', () => {
    const meta = consentMachine.root.states.decision?.states.undecided?.meta as { description?: unknown } | undefined;
    expect(meta?.description).toMatch(/^No decision in force/);
  });
});

describe('booting', () => {
  it('never enforces more than none while the stored decision is read, whatever the undecided level', () => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    expect(chart.context().enforced).toBe('none');
    expect(selectPhase(chart.actor.getSnapshot())).toBe('booting');
    expect(chart.actor.getSnapshot().matches({ gate: 'holding' })).toBe(true);
  });

  it('raises the level to the stored decision only once it is applied', async () => {
    const chart = controlledChart();
    await chart.boot({ record: record('full') });
    expect(chart.context()).toMatchObject({ enforced: 'none', target: 'full', inForce: 'full' });
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'full', from: 'full', decided: true });
    chart.last('apply').resolve();
    await chart.settle();
    expect(chart.context().enforced).toBe('full');
    expect(selectPhase(chart.actor.getSnapshot())).toBe('active');
    expect(chart.actor.getSnapshot().matches({ gate: 'open' })).toBe(true);
  });

  it('a decision made while reading wins: it is stored at once, and the read goes on', async () => {
    const chart = controlledChart();
    const read = chart.last('loadDecision');
    chart.actor.send(set('off'));
    expect(read.signal.aborted).toBe(false);
    expect(chart.context()).toMatchObject({ enforced: 'off', target: 'off' });
    expect(chart.last('writeDecision').input).toEqual({ record: expect.objectContaining({ level: 'off', source: 'banner' }), raises: false, overUnread: false });
    read.resolve({ record: record('full') });
    await chart.settle();
    // What was read stands for nothing now: the decision made meanwhile stays, and is not written again.
    expect(chart.actor.getSnapshot().matches({ storedDecision: 'read', decision: 'off' })).toBe(true);
    expect(chart.context()).toMatchObject({ target: 'off', storedUnread: false });
    expect(chart.calls.writeDecision).toHaveLength(1);
  });

  it.each([
    ['after its write landed', true],
    ['while it is written', false],
  ])('a decision made while reading is written again over the stored one when that turns out unreadable (%s)', async (_, landed) => {
    const chart = controlledChart();
    chart.actor.send(set('full'));
    const write = chart.last('writeDecision');
    if (landed) write.resolve();
    await chart.settle();
    chart.last('loadDecision').resolve({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'x' } });
    await chart.settle();
    // The write under way is replaced by one over the unread decision (it lands after it).
    if (!landed) expect(write.signal.aborted).toBe(true);
    expect(chart.calls.writeDecision).toHaveLength(2);
    expect(chart.last('writeDecision').input).toEqual({ record: expect.objectContaining({ level: 'full' }), raises: false, overUnread: true });
    // The decision made stays in force: an unreadable one does not stand for it.
    expect(chart.actor.getSnapshot().matches({ storedDecision: 'unread', decision: 'full', persistence: 'writing' })).toBe(true);
    expect(chart.context()).toMatchObject({ target: 'full', storedUnread: true });
  });

  it('a read that fails before any decision is written writes nothing; the first decision then is written over it', async () => {
    const chart = controlledChart();
    chart.last('loadDecision').reject(new Error('storage is down'));
    chart.last('startTracker').resolve();
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ storedDecision: 'unread', decision: { undecided: 'unreadable' }, persistence: 'unwritten' })).toBe(true);
    expect(chart.calls.writeDecision).toEqual([]);
    chart.actor.send(set('none'));
    expect(chart.last('writeDecision').input).toMatchObject({ overUnread: true });
  });

  it('a retry that reads the stored decision ends the unread state: later decisions are written as usual', async () => {
    const chart = controlledChart();
    await chart.boot({ record: null, problem: { code: 'STORAGE_FAILED', message: 'x' } });
    expect(chart.context().storedUnread).toBe(true);
    chart.actor.send({ type: 'CONSENT.RETRY' });
    expect(chart.actor.getSnapshot().matches({ storedDecision: 'reading', decision: 'booting' })).toBe(true);
    chart.last('loadDecision').resolve({ record: record('none') });
    await chart.settle();
    expect(chart.context().storedUnread).toBe(false);
    chart.actor.send(set('full'));
    expect(chart.last('writeDecision').input).toMatchObject({ overUnread: false });
  });

  it('once decided, retry writes again what failed and reads nothing again', async () => {
    const chart = controlledChart();
    await chart.boot({ record: null, problem: { code: 'STORAGE_FAILED', message: 'x' } });
    chart.actor.send(set('none'));
    chart.last('writeDecision').reject(new Error('full'));
    await chart.settle();
    chart.last('clearDecision').reject(new Error('full'));
    await chart.settle();
    chart.actor.send({ type: 'CONSENT.RETRY' });
    expect(chart.calls.loadDecision).toHaveLength(1);
    expect(chart.last('writeDecision').input).toMatchObject({ record: expect.objectContaining({ level: 'none' }), overUnread: true });
  });

  it.each(['STORED_DATA_UNREADABLE', 'STORAGE_FAILED'] as const)('an unreadable decision (%s) counts as off, and retry reads it again', async (code) => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    await chart.boot({ record: null, problem: { code, message: 'x' } });
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'unreadable' } })).toBe(true);
    expect(chart.context()).toMatchObject({ enforced: 'off', target: 'off', error: { code } });
    // Not a withdrawal: nothing is cleared, and off stands in for a decision (what earlier runs queued waits).
    expect(chart.calls.forget).toEqual([]);
    expect(chart.last('apply').input).toMatchObject({ level: 'off', decided: false });
    expect(selectAwaitingDecision(chart.actor.getSnapshot())).toBe(true);
    chart.actor.send({ type: 'CONSENT.RETRY' });
    expect(chart.calls.loadDecision).toHaveLength(2);
  });

  it('an expired decision is asked again, at no more than its level', async () => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    await chart.boot({ record: null, problem: { code: 'STORED_DECISION_EXPIRED', message: 'old' }, expiredLevel: 'session-only' });
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'expired' } })).toBe(true);
    expect(chart.context()).toMatchObject({ enforced: 'none', target: 'session-only' });
  });
});

describe('a change', () => {
  it('a downgrade is enforced synchronously, stored at once, and cleared before it is applied', async () => {
    const chart = await inForceAt('full');
    chart.actor.send(set('none'));
    expect(chart.context().enforced).toBe('none');
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'none' } });
    expect(chart.last('forget').input).toEqual({ level: 'none', withdrawal: true });
    expect(chart.actor.getSnapshot().matches({ tracker: { applying: 'awaitingCleanup' } })).toBe(true);
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'none', from: 'full', decided: true });
  });

  it('an upgrade raises the level only when applied', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full'));
    expect(chart.context().enforced).toBe('none');
    expect(chart.calls.forget).toHaveLength(1);
    chart.last('apply').resolve();
    await chart.settle();
    expect(chart.context().enforced).toBe('full');
  });

  it.each([
    [set('everything'), 'INVALID_LEVEL'],
    [{ type: 'CONSENT.SET', level: 'full' } as never, 'INVALID_EVENT'],
    [set('full', ''), 'INVALID_EVENT'],
    [set('full', 'x'.repeat(201)), 'INVALID_EVENT'],
  ])('rejects %j with %s and changes nothing else', async (event, code) => {
    const chart = await inForceAt('none');
    const before = chart.actor.getSnapshot();
    chart.actor.send(event);
    expect(chart.context()).toEqual({ ...before.context, error: expect.objectContaining({ code }) });
    expect(chart.actor.getSnapshot().value).toEqual(before.value);
  });

  it('the same level again refreshes the decision without a new change', async () => {
    const chart = await inForceAt('full');
    chart.actor.send(set('full', 'settings'));
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'full', source: 'settings' } });
    expect(chart.actor.getSnapshot().matches({ tracker: 'inForce' })).toBe(true);
  });
});

describe('overlapping decisions', () => {
  it('a new decision replaces the change under way (its actor aborted), and the level stays at the lowest decided', async () => {
    const chart = await inForceAt('none');
    chart.actor.send(set('full'));
    const grant = chart.last('apply');
    chart.actor.send(set('off'));
    expect(grant.signal.aborted).toBe(true);
    expect(chart.context().enforced).toBe('off');
    chart.last('forget').resolve();
    await chart.settle();
    chart.actor.send(set('full'));
    // Taken back: the level stays at off until full is in force.
    expect(chart.context().enforced).toBe('off');
    chart.last('apply').resolve();
    await chart.settle();
    expect(chart.context()).toMatchObject({ enforced: 'full', inForce: 'full' });
  });

  it('no decision cancels a clean-up; a second one runs after it, at the lowest level asked', async () => {
    const chart = await inForceAt('full');
    chart.actor.send(set('session-only'));
    const first = chart.last('forget');
    chart.actor.send(set('full'));
    chart.actor.send(set('off'));
    expect(first.signal.aborted).toBe(false);
    expect(chart.calls.forget).toHaveLength(2);
    first.resolve();
    await chart.settle();
    expect(chart.calls.forget).toHaveLength(3);
    expect(chart.last('forget').input).toEqual({ level: 'off', withdrawal: true });
  });

  it('a decision above a withdrawal not yet in force is written once the queue is lowered to the withdrawal (raises)', async () => {
    const chart = await inForceAt('full');
    chart.actor.send({ type: 'CONSENT.SET', level: 'off', source: 'withdraw' });
    expect(chart.last('writeDecision').input).toMatchObject({ raises: false });
    chart.actor.send({ type: 'CONSENT.RESET' });
    expect(chart.last('writeDecision').input).toEqual({ record: null, raises: true, overUnread: false });
    chart.actor.send({ type: 'CONSENT.SET', level: 'full', source: 'again' });
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'full' }, raises: true });
  });

  it('a reset forgets everything and goes back to the undecided level', async () => {
    const chart = await inForceAt('full');
    chart.actor.send({ type: 'CONSENT.RESET' });
    expect(chart.context()).toMatchObject({ record: null, target: 'none', enforced: 'none' });
    expect(chart.last('forget').input).toEqual({ level: 'off', withdrawal: true });
    expect(chart.last('writeDecision').input).toEqual({ record: null, raises: false, overUnread: false });
  });
});

describe('failures', () => {
  it('a change that fails keeps the lower level, and retry applies it again', async () => {
    const chart = await inForceAt('none');
    chart.actor.send(set('full'));
    chart.last('apply').reject(new Error('refused'));
    await chart.settle();
    expect(selectPhase(chart.actor.getSnapshot())).toBe('failed');
    expect(chart.context()).toMatchObject({ enforced: 'none', error: { code: 'APPLY_FAILED', message: 'refused' } });
    chart.actor.send({ type: 'CONSENT.RETRY' });
    expect(chart.calls.apply).toHaveLength(3);
  });

  it('a change that times out fails closed, its actor aborted', async () => {
    const chart = await inForceAt('none', { applyTimeoutMs: 100 });
    chart.actor.send(set('full'));
    const grant = chart.last('apply');
    chart.clock.increment(100);
    expect(grant.signal.aborted).toBe(true);
    expect(chart.context()).toMatchObject({ enforced: 'none', error: { code: 'APPLY_TIMEOUT' } });
  });

  it('a clean-up that times out gives up (its actor aborted) and the waiting change goes on', async () => {
    const chart = await inForceAt('full', { applyTimeoutMs: 100 });
    chart.actor.send(set('none'));
    const cleanup = chart.last('forget');
    chart.clock.increment(100);
    expect(cleanup.signal.aborted).toBe(true);
    expect(chart.context().error?.code).toBe('APPLY_TIMEOUT');
    expect(chart.last('apply').input).toEqual({ level: 'none', from: 'full', decided: true });
  });

  it('a clean-up that times out with another asked for meanwhile runs that one next', async () => {
    const chart = await inForceAt('full', { applyTimeoutMs: 100 });
    chart.actor.send(set('session-only'));
    chart.actor.send(set('none'));
    expect(chart.calls.forget).toHaveLength(2);
    chart.clock.increment(100);
    expect(chart.calls.forget).toHaveLength(3);
    expect(chart.last('forget').input).toEqual({ level: 'none', withdrawal: true });
    expect(chart.context().forgetAgain).toBeNull();
  });

  it('a failed write removes the stored decision and is retried after storageRetryMs', async () => {
    const chart = await inForceAt('full', { storageRetryMs: 500 });
    chart.actor.send(set('none'));
    chart.last('writeDecision').reject(new Error('quota'));
    await chart.settle();
    expect(chart.context().error?.code).toBe('STORAGE_FAILED');
    chart.last('clearDecision').reject(new Error('quota'));
    await chart.settle();
    expect(chart.context().error?.code).toBe('STORAGE_REFUSED');
    expect(chart.calls.writeDecision).toHaveLength(1);
    chart.clock.increment(500);
    expect(chart.calls.writeDecision).toHaveLength(2);
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'none' } });
  });

  it('a failed write is saved once the decision, written again behind the removal, lands; retried when only the removal did', async () => {
    const chart = await inForceAt('full', { storageRetryMs: 500 });
    chart.actor.send(set('off'));
    chart.last('writeDecision').reject(new Error('timeout'));
    await chart.settle();
    expect(chart.last('clearDecision').input).toMatchObject({ record: { level: 'off' } });
    chart.last('clearDecision').resolve('rewritten');
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ persistence: 'saved' })).toBe(true);
    chart.clock.increment(500);
    expect(chart.calls.writeDecision).toHaveLength(1);
    chart.actor.send(set('none'));
    chart.last('writeDecision').reject(new Error('quota'));
    await chart.settle();
    chart.last('clearDecision').resolve('removed');
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ persistence: 'retrying' })).toBe(true);
    chart.clock.increment(500);
    expect(chart.calls.writeDecision).toHaveLength(3);
  });

  it('a write held back (a grant whose identity is not stored yet) removes nothing and is retried after storageRetryMs', async () => {
    const chart = await inForceAt('none', { storageRetryMs: 500 });
    chart.actor.send(set('full'));
    chart.last('writeDecision').resolve({ code: 'STORAGE_FAILED', message: 'the identity is not stored' });
    await chart.settle();
    expect(chart.context().error).toEqual({ code: 'STORAGE_FAILED', message: 'the identity is not stored' });
    expect(chart.calls.clearDecision ?? []).toHaveLength(0);
    expect(chart.actor.getSnapshot().matches({ persistence: 'retrying' })).toBe(true);
    chart.clock.increment(500);
    expect(chart.calls.writeDecision).toHaveLength(2);
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'full' } });
  });
});

describe('a decision made in another tab (CONSENT.SYNC)', () => {
  const synced = (level: ConsentRecord['level'] | null, at: number) =>
    ({ type: 'CONSENT.SYNC', record: level === null ? null : { level, decidedAt: at, policyVersion: '1', source: 'other tab' }, at }) as never;

  it('a newer one is taken at once, applied and forgotten for like one made here, and not stored again', async () => {
    const chart = await inForceAt('full');
    const writes = chart.calls.writeDecision?.length ?? 0;
    chart.actor.send(synced('none', Date.now() + 1000));
    expect(chart.context()).toMatchObject({ enforced: 'none', target: 'none', record: { level: 'none', source: 'other tab' } });
    expect(chart.last('forget').input).toEqual({ level: 'none', withdrawal: true });
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toMatchObject({ level: 'none' });
    expect(chart.calls.writeDecision?.length ?? 0).toBe(writes);
  });

  it('an older one than the latest this tab knows of is ignored: the newest decision wins', async () => {
    const chart = await inForceAt('none');
    chart.actor.send(set('full'));
    chart.actor.send(synced('session-only', 5));
    expect(chart.context()).toMatchObject({ target: 'full', record: { level: 'full', source: 'banner' } });
  });

  it('of two decisions made at the same instant, every tab takes the lower: the tabs agree, on the more private one', async () => {
    const full = await inForceAt('none');
    full.actor.send(set('full'));
    const at = full.context().decidedAt;
    full.actor.send(synced('off', at));
    expect(full.context()).toMatchObject({ target: 'off', enforced: 'off', record: { level: 'off', source: 'other tab' } });
    const off = await inForceAt('none');
    off.actor.send(set('off'));
    off.actor.send(synced('full', off.context().decidedAt));
    expect(off.context()).toMatchObject({ target: 'off', record: { level: 'off', source: 'banner' } });
  });

  it('storage found holding an older decision than this tab\'s (writes landed out of order): this tab stores its own again', async () => {
    const chart = await inForceAt('none');
    chart.actor.send(set('off'));
    chart.last('forget').resolve();
    await chart.settle();
    chart.last('apply').resolve();
    chart.last('writeDecision').resolve();
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ tracker: 'inForce' })).toBe(true);
    const writes = chart.calls.writeDecision?.length ?? 0;
    const older = { ...(synced('full', chart.context().decidedAt - 1) as object), stored: true } as never;
    chart.actor.send(older);
    expect(chart.context()).toMatchObject({ target: 'off', enforced: 'off' });
    expect(chart.calls.writeDecision).toHaveLength(writes + 1);
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'off', source: 'banner' } });
    // No forgetting and no change: the decision is only written again.
    expect(chart.actor.getSnapshot().matches({ tracker: 'inForce' })).toBe(true);
    chart.last('writeDecision').resolve();
    await chart.settle();
    // Storage holding this tab's own decision, or an older one only announced (not stored), writes nothing.
    chart.actor.send({ ...(synced('off', chart.context().decidedAt) as object), record: chart.context().record, stored: true } as never);
    chart.actor.send(synced('full', chart.context().decidedAt - 1));
    expect(chart.calls.writeDecision).toHaveLength(writes + 1);
  });

  it('storage found holding an older decision than this tab\'s reset: the stored decision is removed again', async () => {
    const chart = await inForceAt('full');
    chart.actor.send({ type: 'CONSENT.RESET' } as never);
    chart.last('forget').resolve();
    await chart.settle();
    chart.last('apply').resolve();
    chart.last('writeDecision').resolve();
    await chart.settle();
    const writes = chart.calls.writeDecision?.length ?? 0;
    chart.actor.send({ ...(synced('full', chart.context().decidedAt - 1) as object), stored: true } as never);
    expect(chart.context()).toMatchObject({ record: null, target: 'none' });
    expect(chart.calls.writeDecision).toHaveLength(writes + 1);
    expect(chart.last('writeDecision').input).toEqual({ record: null, raises: false, overUnread: false });
  });

  it('a reset in another tab forgets the decision here too', async () => {
    const chart = await inForceAt('full');
    chart.actor.send(synced(null, Date.now() + 1000));
    expect(chart.context()).toMatchObject({ target: 'none', record: null, enforced: 'none' });
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'noDecision' } })).toBe(true);
  });
});

describe('the chart\'s input', () => {
  it('defaults: undecided at none, no hold, 10 s to apply and to start, a write retried after 1 s, policy version 1', () => {
    const context = createActor(consentMachine, { input: {} }).getSnapshot().context;
    expect(context).toMatchObject({ undecidedLevel: 'none', holdUntilDecided: false, applyTimeoutMs: 10_000, startTimeoutMs: 10_000, storageRetryMs: 1000, policyVersion: '1' });
  });

  it('starts knowing nothing: no decision, nothing in force, nothing being forgotten', () => {
    const context = createActor(consentMachine, { input: {} }).getSnapshot().context;
    expect(context).toMatchObject({
      enforced: 'none',
      target: null,
      inForce: null,
      record: null,
      loaded: false,
      deviceKnown: false,
      forgetting: { level: 'off', withdrawal: false },
      forgetAgain: null,
      converged: false,
      decisionInForce: false,
      error: null,
      decidedAt: 0,
    });
  });

  it('the tracker may take as long to start as a change to apply, unless told otherwise', () => {
    const chart = controlledChart({ applyTimeoutMs: 200 });
    expect(chart.context().startTimeoutMs).toBe(200);
    chart.clock.increment(199);
    expect(selectStarted(chart.actor.getSnapshot())).toBe(false);
    chart.clock.increment(1);
    expect(selectStarted(chart.actor.getSnapshot())).toBe(true);
  });

  it('the policy version goes into every decision recorded', () => {
    const defaulted = controlledChart();
    defaulted.actor.send(set('full'));
    expect(defaulted.context().record?.policyVersion).toBe('1');
    const versioned = controlledChart({ policyVersion: '2026-11' });
    versioned.actor.send(set('full'));
    expect(versioned.context().record?.policyVersion).toBe('2026-11');
  });
});

describe('the chart with its default actors', () => {
  it('reads no decision, and puts the undecided level in force', async () => {
    const actor = createActor(consentMachine, { input: { undecidedLevel: 'session-only' } }).start();
    const snapshot = await waitFor(actor, (s) => s.matches({ tracker: 'inForce' }));
    expect(snapshot.context).toMatchObject({ record: null, target: 'session-only', enforced: 'session-only', error: null });
    expect(snapshot.matches({ decision: { undecided: 'noDecision' } })).toBe(true);
    actor.stop();
  });

  it('its clear reports the decision written again, so that a failed write ends saved', async () => {
    const failing = fromPromise<ConsentProblem | undefined, WriteInput>(() => Promise.reject(new Error('quota')));
    const actor = createActor(consentMachine.provide({ actors: { writeDecision: failing } }), { input: {} }).start();
    actor.send(set('full'));
    const snapshot = await waitFor(actor, (s) => s.matches({ persistence: 'saved' }) || s.matches({ persistence: 'retrying' }));
    expect(snapshot.matches({ persistence: 'saved' })).toBe(true);
    expect(snapshot.context.error).toMatchObject({ code: 'STORAGE_FAILED', message: 'quota' });
    actor.stop();
  });
});

describe('refused decisions', () => {
  it('an unknown level is refused with the levels there are', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('everything'));
    expect(chart.context().error).toEqual({ code: 'INVALID_LEVEL', message: "the level must be one of 'off', 'none', 'session-only', 'full'" });
  });

  it('a missing source is refused with what a source must be', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full', ''));
    expect(chart.context().error).toEqual({ code: 'INVALID_EVENT', message: 'the source must be a non-empty string of at most 200 characters' });
  });

  it('a source of 200 characters is accepted', () => {
    expect(decisionProblem('full', 'x'.repeat(200))).toBeNull();
    const chart = controlledChart();
    chart.actor.send(set('full', 'x'.repeat(200)));
    expect(chart.context()).toMatchObject({ target: 'full', error: null });
  });
});

describe('a decision', () => {
  it.each(CONSENT_LEVELS)('for %s moves the decision region to its state, as not read from storage', async (level) => {
    const chart = await inForceAt('full');
    chart.actor.send(set(level));
    expect(chart.actor.getSnapshot().matches({ decision: LEVEL_STATES[level] })).toBe(true);
    expect(selectDecision(chart.actor.getSnapshot())).toEqual({ level, stored: false });
  });

  it('an upgrade from the level in force is no withdrawal: it is written at once (not held for a lowered queue)', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full'));
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'full' }, raises: false });
  });

  it('a lower decision before a grant is in force clears what the grant may have kept, without withdrawing', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full'));
    expect(chart.calls.forget).toHaveLength(1);
    chart.actor.send(set('session-only'));
    expect(chart.last('forget').input).toEqual({ level: 'session-only', withdrawal: false });
  });

  it('a grant before the undecided level read is in force withdraws nothing: no further clean-up is queued', async () => {
    const chart = controlledChart();
    await chart.boot({ record: null });
    chart.actor.send(set('session-only'));
    expect(chart.context().forgetAgain).toBeNull();
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.calls.forget).toHaveLength(1);
  });

  it('made while booting, a grant clears what it may not keep without withdrawing; a lower one withdraws', () => {
    const grant = controlledChart();
    grant.actor.send(set('full'));
    expect(grant.last('forget').input).toEqual({ level: 'full', withdrawal: false });
    const lower = controlledChart();
    lower.actor.send(set('none'));
    expect(lower.last('forget').input).toEqual({ level: 'none', withdrawal: true });
  });

  it('a reset goes back to no decision, applied as a decision', async () => {
    const chart = await inForceAt('full');
    chart.actor.send({ type: 'CONSENT.RESET' });
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'noDecision' } })).toBe(true);
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'none', from: 'full', decided: true });
  });

  it('a reset from a decision for the undecided level still clears the device, and applies the level again after', async () => {
    const chart = await inForceAt('none');
    const applies = chart.calls.apply.length;
    chart.actor.send({ type: 'CONSENT.RESET' });
    expect(chart.actor.getSnapshot().matches({ tracker: { applying: 'awaitingCleanup' } })).toBe(true);
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.calls.apply).toHaveLength(applies + 1);
  });

  it('a reset while booting releases held calls at no more than none, whatever the undecided level', () => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    chart.actor.send({ type: 'CONSENT.RESET' });
    expect(chart.context()).toMatchObject({ target: 'full', enforced: 'none' });
    expect(selectBootCap(chart.actor.getSnapshot())).toBe('none');
  });
});

describe('reading the stored decision', () => {
  it('the tracker started first waits for it, then applies what was read', async () => {
    const chart = controlledChart();
    chart.last('startTracker').resolve();
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ tracker: 'waiting' })).toBe(true);
    expect(chart.calls.apply).toEqual([]);
    chart.last('loadDecision').resolve({ record: record('full') });
    await chart.settle();
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'full', from: 'full', decided: true });
  });

  it('booting lasts until the level read is in force', async () => {
    const chart = controlledChart();
    await chart.boot({ record: record('full') });
    expect(selectPhase(chart.actor.getSnapshot())).toBe('booting');
    expect(selectBooted(chart.actor.getSnapshot())).toBe(false);
  });

  it('a decision read clears what its level may not keep, without withdrawing', async () => {
    const chart = controlledChart();
    await chart.boot({ record: record('session-only') });
    expect(chart.last('forget').input).toEqual({ level: 'session-only', withdrawal: false });
  });

  it('no decision stored: undecided, at the undecided level, cleared to it', async () => {
    const chart = controlledChart({ undecidedLevel: 'session-only' });
    await chart.boot({ record: null });
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'noDecision' } })).toBe(true);
    expect(chart.context()).toMatchObject({ target: 'session-only', record: null, error: null });
    expect(chart.last('forget').input).toEqual({ level: 'session-only', withdrawal: false });
  });

  it('an expired decision clears what its capped level may not keep', async () => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    await chart.boot({ record: null, problem: { code: 'STORED_DECISION_EXPIRED', message: 'old' }, expiredLevel: 'session-only' });
    expect(chart.last('forget').input).toEqual({ level: 'session-only', withdrawal: false });
  });

  it('an expired decision of no known level counts as off', async () => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    await chart.boot({ record: null, problem: { code: 'STORED_DECISION_EXPIRED', message: 'old' } });
    expect(chart.context()).toMatchObject({ target: 'off', enforced: 'off', error: { code: 'STORED_DECISION_EXPIRED' } });
    expect(chart.last('forget').input).toEqual({ level: 'off', withdrawal: false });
  });

  it('a read that fails counts as an unreadable decision: off, not a withdrawal, applied as a stand-in', async () => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    chart.last('startTracker').resolve();
    chart.last('loadDecision').reject(new Error('storage is down'));
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'unreadable' } })).toBe(true);
    expect(chart.context()).toMatchObject({ target: 'off', enforced: 'off', record: null, error: { code: 'STORAGE_FAILED', message: 'storage is down' } });
    expect(chart.calls.forget).toEqual([]);
    expect(chart.last('apply').input).toEqual({ level: 'off', from: 'off', decided: false });
  });

  it('a retry of an unreadable decision clears its problem', async () => {
    const chart = controlledChart();
    await chart.boot({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'x' } });
    chart.actor.send({ type: 'CONSENT.RETRY' });
    expect(chart.context().error).toBeNull();
  });

  it('a retry that finds the decision unreadable again changes nothing in force', async () => {
    const chart = controlledChart();
    await chart.boot({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'x' } });
    chart.last('apply').resolve();
    await chart.settle();
    chart.actor.send({ type: 'CONSENT.RETRY' });
    chart.last('loadDecision').resolve({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'still' } });
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'unreadable' }, tracker: 'inForce' })).toBe(true);
    expect(chart.calls.apply).toHaveLength(1);
    expect(chart.calls.forget).toEqual([]);
  });

  it('the stand-in for an unreadable decision in force still awaits a decision; a decision in force ends that', async () => {
    const chart = controlledChart();
    await chart.boot({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'x' } });
    chart.last('apply').resolve();
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ tracker: 'inForce' })).toBe(true);
    expect(selectAwaitingDecision(chart.actor.getSnapshot())).toBe(true);
    chart.actor.send(set('none'));
    chart.last('forget').resolve();
    await chart.settle();
    chart.last('apply').resolve();
    await chart.settle();
    expect(selectAwaitingDecision(chart.actor.getSnapshot())).toBe(false);
  });
});

describe('the tracker', () => {
  it('that fails to start reports it, and the level read is applied all the same', async () => {
    const chart = controlledChart();
    chart.last('loadDecision').resolve({ record: null });
    chart.last('startTracker').reject(new Error('no storage'));
    await chart.settle();
    expect(chart.context().error).toEqual({ code: 'APPLY_FAILED', message: 'no storage' });
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'none', from: 'none', decided: true });
  });

  it('that does not start in time is given up on (its actor aborted), and the chart goes on', async () => {
    const chart = controlledChart({ startTimeoutMs: 300 });
    chart.last('loadDecision').resolve({ record: null });
    await chart.settle();
    const start = chart.last('startTracker');
    chart.clock.increment(300);
    expect(start.signal.aborted).toBe(true);
    expect(chart.context().error).toEqual({ code: 'APPLY_TIMEOUT', message: 'the tracker did not start in time' });
    expect(chart.actor.getSnapshot().matches({ tracker: { applying: 'awaitingCleanup' } })).toBe(true);
  });

  it('a change that times out says which level', async () => {
    const chart = await inForceAt(null, { applyTimeoutMs: 100 });
    chart.actor.send(set('full'));
    chart.clock.increment(100);
    expect(chart.context().error).toEqual({ code: 'APPLY_TIMEOUT', message: "applying 'full' timed out" });
  });

  it('a first change that fails ends booting, failed closed: calls flow at the lower level', async () => {
    const chart = controlledChart();
    await chart.boot({ record: record('full') });
    chart.last('forget').resolve();
    await chart.settle();
    chart.last('apply').reject(new Error('refused'));
    await chart.settle();
    expect(selectPhase(chart.actor.getSnapshot())).toBe('failed');
    expect(selectHolding(chart.actor.getSnapshot())).toBe(false);
    expect(chart.context().enforced).toBe('none');
  });

  it('after a failed change, a new decision is applied, and a retry clears the problem', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full'));
    chart.last('apply').reject(new Error('refused'));
    await chart.settle();
    chart.actor.send(set('session-only'));
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'session-only', from: 'none', decided: true });
    chart.last('apply').reject(new Error('refused'));
    await chart.settle();
    chart.actor.send({ type: 'CONSENT.RETRY' });
    expect(chart.context().error).toBeNull();
    expect(selectPhase(chart.actor.getSnapshot())).toBe('applying');
  });

  it('the same level decided again while it is applied does not restart the change', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full'));
    const grant = chart.last('apply');
    const applies = chart.calls.apply.length;
    chart.actor.send(set('full', 'settings'));
    expect(grant.signal.aborted).toBe(false);
    expect(chart.calls.apply).toHaveLength(applies);
  });

  it('a higher grant replaces a lower one under way', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('session-only'));
    const lower = chart.last('apply');
    chart.actor.send(set('full'));
    expect(lower.signal.aborted).toBe(true);
    expect(chart.last('apply').input).toEqual({ level: 'full', from: 'none', decided: true });
  });

  it('deciding the stand-in level of an unreadable decision clears the device first: the change under way restarts after it', async () => {
    const chart = controlledChart();
    await chart.boot({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'x' } });
    const standIn = chart.last('apply');
    chart.actor.send(set('off'));
    expect(standIn.signal.aborted).toBe(true);
    expect(chart.actor.getSnapshot().matches({ tracker: { applying: 'awaitingCleanup' } })).toBe(true);
  });
});

describe('the gate', () => {
  it('holds again while a change is applied', async () => {
    const chart = await inForceAt(null);
    expect(selectHolding(chart.actor.getSnapshot())).toBe(false);
    chart.actor.send(set('full'));
    expect(selectHolding(chart.actor.getSnapshot())).toBe(true);
  });

  it('opens at the undecided level in force, unless told to hold until a decision', async () => {
    const open = await inForceAt(null);
    expect(selectHolding(open.actor.getSnapshot())).toBe(false);
    const held = await inForceAt(null, { holdUntilDecided: true });
    expect(held.actor.getSnapshot().matches({ tracker: 'inForce' })).toBe(true);
    expect(selectHolding(held.actor.getSnapshot())).toBe(true);
    held.actor.send(set('none'));
    expect(selectHolding(held.actor.getSnapshot())).toBe(false);
  });
});

describe('clean-ups', () => {
  it('one that fails is reported, and the change waiting for it goes on', async () => {
    const chart = controlledChart();
    await chart.boot({ record: record('full') });
    chart.last('forget').reject(new Error('disk'));
    await chart.settle();
    expect(chart.context().error).toEqual({ code: 'APPLY_FAILED', message: 'disk' });
    expect(chart.actor.getSnapshot().matches({ cleanup: 'idle' })).toBe(true);
    expect(chart.last('apply').input).toMatchObject({ level: 'full' });
  });

  it('one that fails with another asked for meanwhile is reported, and that one runs next', async () => {
    const chart = await inForceAt('full');
    chart.actor.send(set('session-only'));
    chart.actor.send(set('none'));
    chart.last('forget').reject(new Error('disk'));
    await chart.settle();
    expect(chart.context().error).toEqual({ code: 'APPLY_FAILED', message: 'disk' });
    expect(chart.last('forget').input).toEqual({ level: 'none', withdrawal: true });
    expect(chart.calls.forget).toHaveLength(3);
  });

  it.each([
    ['alone', false],
    ['with another asked for meanwhile', true],
  ])('one that times out (%s) says so', async (_, queued) => {
    const chart = await inForceAt('full', { applyTimeoutMs: 100 });
    chart.actor.send(set('session-only'));
    if (queued) chart.actor.send(set('none'));
    chart.clock.increment(100);
    expect(chart.context().error).toEqual({ code: 'APPLY_TIMEOUT', message: 'forgetting timed out' });
  });

  it('asked for while one runs, they merge: the lowest level, and a withdrawal if any was', async () => {
    const chart = controlledChart();
    await chart.boot({ record: record('none') });
    chart.actor.send(set('full'));
    chart.actor.send(set('session-only'));
    expect(chart.context().forgetAgain).toEqual({ level: 'session-only', withdrawal: false });
    chart.actor.send(set('off'));
    chart.actor.send(set('full'));
    chart.actor.send(set('session-only'));
    expect(chart.context().forgetAgain).toEqual({ level: 'off', withdrawal: true });
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('forget').input).toEqual({ level: 'off', withdrawal: true });
  });
});

describe('writing the decision', () => {
  it('a write that lands is saved, with nothing to report', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('none'));
    chart.last('writeDecision').resolve();
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ persistence: 'saved' })).toBe(true);
    expect(chart.context().error).toBeNull();
    expect(selectQuiescent(chart.actor.getSnapshot())).toBe(true);
  });

  it('a decision from another tab does not restart the write under way', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('none'));
    const write = chart.last('writeDecision');
    chart.actor.send(fromAnotherTab('full', later()));
    expect(write.signal.aborted).toBe(false);
    expect(chart.calls.writeDecision).toHaveLength(1);
  });

  it('once saved, a decision from another tab is not written again', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('none'));
    chart.last('writeDecision').resolve();
    await chart.settle();
    chart.actor.send(fromAnotherTab('full', later()));
    expect(chart.calls.writeDecision).toHaveLength(1);
    expect(chart.actor.getSnapshot().matches({ persistence: 'saved' })).toBe(true);
  });
});

describe('a write that failed', () => {
  /** In force at the undecided level, a decision for none whose write failed: its stored decision is being removed. */
  async function writeFailed() {
    const chart = await inForceAt(null);
    chart.actor.send(set('none'));
    chart.last('writeDecision').reject(new Error('quota'));
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ persistence: 'clearing' })).toBe(true);
    return chart;
  }

  /** As `writeFailed`, the removal refused too: the write waits to be retried. */
  async function writeRefused() {
    const chart = await writeFailed();
    chart.last('clearDecision').reject(new Error('quota'));
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ persistence: 'retrying' })).toBe(true);
    return chart;
  }

  it.each([
    ['while its decision is removed', writeFailed, 'session-only'],
    ['waiting to be retried', writeRefused, 'off'],
  ] as const)('%s, a newer decision is written at once; one from another tab is not', async (_, failedWrite, level) => {
    const chart = await failedWrite();
    chart.actor.send(fromAnotherTab('full', later()));
    expect(chart.calls.writeDecision).toHaveLength(1);
    chart.actor.send(set(level));
    expect(chart.calls.writeDecision).toHaveLength(2);
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level } });
  });

  it('while its decision is removed, stop writes it once more', async () => {
    const chart = await writeFailed();
    chart.actor.send({ type: 'CONSENT.STOP' });
    expect(chart.calls.writeDecision).toHaveLength(2);
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'none' } });
  });

  it('waiting to be retried, retry writes it at once, the problem cleared', async () => {
    const chart = await writeRefused();
    chart.actor.send({ type: 'CONSENT.RETRY' });
    expect(chart.calls.writeDecision).toHaveLength(2);
    expect(chart.context().error).toBeNull();
  });

  it('waiting to be retried, stop writes it at once', async () => {
    const chart = await writeRefused();
    chart.actor.send({ type: 'CONSENT.STOP' });
    expect(chart.calls.writeDecision).toHaveLength(2);
  });
});

describe('a decision made while reading, and its write', () => {
  type Stage = 'saved' | 'clearing' | 'retrying';

  /** A grant made while the stored decision is read, its write landed (`saved`), failed (`clearing`) or refused twice (`retrying`). */
  async function decidedWhileReading(stage: Stage) {
    const chart = controlledChart();
    chart.actor.send(set('full'));
    if (stage === 'saved') chart.last('writeDecision').resolve();
    else chart.last('writeDecision').reject(new Error('quota'));
    await chart.settle();
    if (stage === 'retrying') chart.last('clearDecision').reject(new Error('quota'));
    await chart.settle();
    expect(chart.actor.getSnapshot().matches({ persistence: stage })).toBe(true);
    return chart;
  }

  it.each(['saved', 'clearing', 'retrying'] as const)('(%s) is not written again over a stored decision that was read', async (stage) => {
    const chart = await decidedWhileReading(stage);
    chart.last('loadDecision').resolve({ record: record('none') });
    await chart.settle();
    expect(chart.calls.writeDecision).toHaveLength(1);
  });

  it.each(['clearing', 'retrying'] as const)('(%s) is written again at once over a stored decision that turns out unreadable', async (stage) => {
    const chart = await decidedWhileReading(stage);
    chart.last('loadDecision').resolve({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'x' } });
    await chart.settle();
    expect(chart.calls.writeDecision).toHaveLength(2);
    expect(chart.last('writeDecision').input).toMatchObject({ record: { level: 'full' }, overUnread: true });
  });
});
