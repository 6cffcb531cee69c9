import { describe, expect, it } from 'vitest';
import { LEVEL_STATES, selectBootCap, selectDecision, type ConsentLevel, type ConsentRecord, type SyncedDecision } from 'consent-tracker';
import { controlledChart } from './helpers/controllable-actors.js';

/** The chart and decisions made in other tabs on the same storage (`CONSENT.SYNC`), every actor controlled by the test. */

const record = (level: ConsentLevel, decidedAt = 1): ConsentRecord => ({ level, decidedAt, policyVersion: '1', source: 'stored' });
const set = (level: ConsentLevel, source = 'banner') => ({ type: 'CONSENT.SET', level, source }) as const;

/** A decision (or, for `null`, a reset) made in another tab at `at`. */
const synced = (level: ConsentLevel | null, at: number, source = 'other tab'): SyncedDecision => ({
  type: 'CONSENT.SYNC',
  record: level === null ? null : { level, decidedAt: at, policyVersion: '1', source },
  at,
});

/** Boots with `stored` and lets the first change and its clean-up finish. */
async function inForceAt(stored: ConsentRecord | null, input = {}) {
  const chart = controlledChart(input);
  await chart.boot({ record: stored });
  chart.last('forget').resolve();
  await chart.settle();
  chart.last('apply').resolve();
  await chart.settle();
  return chart;
}

const later = () => Date.now() + 60_000;

describe('a newer decision from another tab', () => {
  it('moves the decision region to its level, as one made here would', async () => {
    const chart = await inForceAt(record('full'));
    chart.actor.send(synced('none', later()));
    expect(chart.actor.getSnapshot().matches({ decision: LEVEL_STATES.none })).toBe(true);
    expect(selectDecision(chart.actor.getSnapshot())).toEqual({ level: 'none', stored: false });
  });

  it('is applied as a decision (not a stand-in), from the level in force', async () => {
    const chart = await inForceAt(record('full'));
    chart.actor.send(synced('none', later()));
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'none', from: 'full', decided: true });
  });

  it('a grant is applied, and raises the level once in force', async () => {
    const chart = await inForceAt(null);
    const applies = chart.calls.apply.length;
    chart.actor.send(synced('full', later()));
    expect(chart.calls.apply).toHaveLength(applies + 1);
    expect(chart.last('apply').input).toEqual({ level: 'full', from: 'none', decided: true });
    chart.last('apply').resolve();
    await chart.settle();
    expect(chart.context()).toMatchObject({ enforced: 'full', inForce: 'full' });
  });

  it('with a level this version does not know is ignored', async () => {
    const chart = await inForceAt(record('full'));
    const before = chart.actor.getSnapshot();
    chart.actor.send({ ...synced('full', later()), record: { ...record('full'), level: 'everything' as ConsentLevel } });
    expect(chart.actor.getSnapshot().value).toEqual(before.value);
    expect(chart.context()).toEqual(before.context);
  });
});

describe('the same decision from another tab', () => {
  it('changes nothing: the record made here stays', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full'));
    const { decidedAt } = chart.context();
    chart.actor.send(synced('full', decidedAt, 'echo'));
    expect(chart.context().record).toMatchObject({ level: 'full', source: 'banner' });
  });
});

describe('a reset made in another tab', () => {
  it('forgets everything like a withdrawal, and is not written again here', async () => {
    const chart = await inForceAt(record('full'));
    const writes = chart.calls.writeDecision.length;
    chart.actor.send(synced(null, later()));
    expect(chart.last('forget').input).toEqual({ level: 'off', withdrawal: true });
    expect(chart.calls.writeDecision).toHaveLength(writes);
    chart.last('forget').resolve();
    await chart.settle();
    expect(chart.last('apply').input).toEqual({ level: 'none', from: 'full', decided: true });
  });

  it('made at the same instant as the decision here wins over it: the more private', async () => {
    const chart = await inForceAt(null);
    chart.actor.send(set('full'));
    chart.actor.send(synced(null, chart.context().decidedAt));
    expect(chart.context()).toMatchObject({ record: null, target: 'none' });
    expect(chart.actor.getSnapshot().matches({ decision: { undecided: 'noDecision' } })).toBe(true);
  });

  it('becomes the latest decision known: one from another tab made before it is ignored', async () => {
    const chart = await inForceAt(record('none'));
    const at = later();
    chart.actor.send(synced(null, at));
    chart.actor.send(synced('full', at - 1));
    expect(chart.context()).toMatchObject({ record: null, target: 'none', decidedAt: at });
  });

  it('while booting releases held calls at no more than none, whatever the undecided level', () => {
    const chart = controlledChart({ undecidedLevel: 'full' });
    chart.actor.send(synced(null, later()));
    expect(chart.context()).toMatchObject({ target: 'full', enforced: 'none' });
    expect(selectBootCap(chart.actor.getSnapshot())).toBe('none');
  });
});

describe('an older decision from another tab', () => {
  it('than the decision read from storage is ignored', async () => {
    const chart = await inForceAt(record('full', 1000));
    chart.actor.send(synced('none', 500));
    expect(chart.context()).toMatchObject({ target: 'full', record: { source: 'stored' }, decidedAt: 1000 });
  });
});
