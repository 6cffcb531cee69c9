import { describe, expect, it } from 'vitest';
import { initialTransition, transition, waitFor, type SnapshotFrom } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { CONSENT_LEVELS, createConsentTracker, memoryStorage, minLevel, type ConsentLevel } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { APPLY_ACTOR_ID, LOAD_ACTOR_ID, consentMachine } from '../machines/consent.machine.js';
import { HARNESSES, type AdapterHarness } from './helpers/adapter-harness.js';
import { useCollector } from './helpers/use-collector.js';

type Snap = SnapshotFrom<typeof consentMachine>;
type ModelEvent = { type: string; [key: string]: unknown };

const APPLY_TIMEOUT_MS = 300;
const DONE_APPLY = `xstate.done.actor.${APPLY_ACTOR_ID}`;
const ERROR_APPLY = `xstate.error.actor.${APPLY_ACTOR_ID}`;
const DONE_LOAD = `xstate.done.actor.${LOAD_ACTOR_ID}`;
const record = (level: ConsentLevel) => ({ level, decidedAt: 1, policyVersion: '1', source: 'stored' });

/** The leaf state's id, which names its delayed (timeout) event. */
const leafId = (s: Snap) => (s as unknown as { _nodes: Array<{ type: string; id: string }> })._nodes.find((n) => n.type === 'atomic')?.id ?? '';
const timeoutEvent = (s: Snap) => `xstate.after.applyTimeout.${leafId(s)}`;

/** Every event the model may take from a state; the actors' completions are modelled as events. */
function eventsFor(s: Snap): ModelEvent[] {
  if (s.matches('booting')) return [{ type: DONE_LOAD, output: { record: null } }, ...CONSENT_LEVELS.map((level) => ({ type: DONE_LOAD, output: { record: record(level) } }))];
  const events: ModelEvent[] = [
    ...CONSENT_LEVELS.map((level) => ({ type: 'CONSENT.SET', level, source: 'model' })),
    { type: 'CONSENT.SET', level: 'everything', source: 'model' },
    { type: 'CONSENT.RESET' },
    { type: 'CONSENT.RETRY' },
  ];
  if (s.hasTag('busy')) events.push({ type: DONE_APPLY }, { type: ERROR_APPLY, error: new Error('refused') }, { type: timeoutEvent(s) });
  return events;
}

/** Only what matters for behaviour: no timestamps, no counters. */
const serializeState = (s: Snap) =>
  JSON.stringify({ value: s.value, enforced: s.context.enforced, target: s.context.target, pending: s.context.pending?.level ?? null, failed: s.context.error?.code ?? null, decided: s.context.record?.level ?? null });

export const traversalForCount = {
  events: eventsFor as never,
  serializeState: serializeState as never,
  filterEvents: ((s: Snap, e: ModelEvent) => s.can(e as never)) as never,
  input: { applyTimeoutMs: APPLY_TIMEOUT_MS },
};

const collectorRef = useCollector();

/**
 * Replays a generated path against the real controller, tracker-core and the collectorRef.current. After
 * every step one event is tracked; at the end every change is let through, the queue drained,
 * and the collector's events checked: nothing beyond the level enforced when it was tracked,
 * nothing twice, and everything else accounted for as dropped.
 */
async function replay(harness: AdapterHarness, steps: Array<{ event: ModelEvent; state: Snap }>) {
  const [first, ...rest] = steps.slice(1);
  if (!first) return;
  const stored = (first.event.output as { record: { level: ConsentLevel } | null }).record;
  const control = harness.held(collectorRef.current.url, { holdApply: true });
  const consent = createConsentTracker({
    adapter: control.adapter,
    storage: memoryStorage(stored ? { 'consent-tracker.decision': JSON.stringify(stored) } : {}),
    applyTimeoutMs: APPLY_TIMEOUT_MS,
  });
  const { actor } = consent;
  const allowed = new Map<string, ConsentLevel>();
  /** The lowest level enforced since each event was tracked: below off, it may be dropped. */
  const lowestSince = new Map<string, ConsentLevel>();
  actor.subscribe((s) => {
    for (const [label, level] of lowestSince) lowestSince.set(label, minLevel(level, s.context.enforced));
  });
  let tracked = 0;
  const track = (label: string) => {
    tracked += 1;
    allowed.set(label, consent.getLevel());
    lowestSince.set(label, consent.getLevel());
    harness.track(consent.tracker, label);
  };
  const reached = (expected: Snap) => waitFor(actor, (s) => serializeState(s) === serializeState(expected), { timeout: APPLY_TIMEOUT_MS * 4 });

  await consent.ready;
  await reached(first.state);
  for (const [i, { event, state }] of rest.entries()) {
    if (event.type === DONE_APPLY) control.finishApply();
    else if (event.type === ERROR_APPLY) control.failApply();
    else if (!event.type.startsWith('xstate.after.')) actor.send(event as never);
    await reached(state);
    track(`step-${i}`);
  }

  // Let every change through, then drain.
  control.setHold(false);
  while (actor.getSnapshot().hasTag('busy')) {
    if (control.pending() > 0) control.finishApply();
    await waitFor(actor, (s) => !s.hasTag('busy') || control.pending() > 0, { timeout: APPLY_TIMEOUT_MS * 4 });
  }
  await waitFor(actor, () => true);
  await expect
    .poll(async () => {
      await control.adapter.flush();
      return consent.enforcement.eventStore.count();
    }, { timeout: 3000, interval: 20 })
    .toBe(0);
  await new Promise((resolve) => setTimeout(resolve, 10));

  const events = collectorRef.current.events();
  expect(findLeaks(events, (e) => allowed.get(e.payload.se_ac ?? '') ?? 'off')).toEqual([]);
  const ids = events.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
  const stats = consent.stats();
  expect(events.length + stats.dropped.off + stats.gate.dropped).toBe(tracked);
  for (const [label, level] of lowestSince) {
    if (level !== 'off') expect(events.some((e) => e.payload.se_ac === label), `${label} was let through and must arrive`).toBe(true);
  }
  consent.stop();
}

const shortest = getShortestPaths(consentMachine, traversalForCount);
const stepsOf = (path: { steps: Array<{ event: unknown; state: unknown }> }) => path.steps as unknown as Array<{ event: ModelEvent; state: Snap }>;
const title = (path: { state: unknown; steps: Array<{ event: unknown }> }) =>
  `${serializeState(path.state as Snap)} via ${(path.steps as Array<{ event: ModelEvent }>).slice(1).map((s) => (s.event.type === 'CONSENT.SET' ? `SET(${String(s.event.level)})` : s.event.type.replace(/^xstate\./, '').split('.').slice(0, 3).join('.'))).join(' → ')}`;

describe.each(HARNESSES)('model-based with the $name adapter: every state, shortest paths, on the wire', (harness) => {
  it('covers every state node of the chart', () => {
    const visited = new Set<string>();
    for (const path of shortest) for (const { state } of stepsOf(path)) for (const id of (state as unknown as { _nodes: Array<{ id: string }> })._nodes.map((n) => n.id)) visited.add(id);
    const all = new Set<string>();
    const walk = (node: { id: string; states: Record<string, unknown> }) => {
      all.add(node.id);
      for (const child of Object.values(node.states)) walk(child as never);
    };
    walk(consentMachine.root as never);
    expect([...all].filter((id) => !visited.has(id))).toEqual([]);
  });

  for (const path of shortest) {
    it(title(path), () => replay(harness, stepsOf(path)));
  }
});

/** Each transition of the chart: its source and target state nodes and what took it. */
function transitionKey(from: Snap, event: ModelEvent, to: Snap): string {
  const output = event.output as { record: { level: ConsentLevel } | null } | undefined;
  const kind = event.type === 'CONSENT.SET' ? `SET(${String(event.level)})` : output ? `load(${output.record?.level ?? 'nothing'})` : event.type.startsWith('xstate.after.') ? 'timeout' : event.type.replace(/^xstate\./, '');
  return `${JSON.stringify(from.value)} —${kind}→ ${JSON.stringify(to.value)}`;
}

describe.each(HARNESSES)('model-based with the $name adapter: every transition, on the wire', (harness) => {
  const pathTo = new Map(shortest.map((path) => [serializeState(path.state as Snap), stepsOf(path)]));
  const adjacency = getAdjacencyMap(consentMachine, traversalForCount) as unknown as Record<string, { state: Snap; transitions: Record<string, { event: ModelEvent; state: Snap }> }>;
  const byTransition = new Map<string, Array<{ event: ModelEvent; state: Snap }>>();
  for (const [key, node] of Object.entries(adjacency)) {
    for (const { event, state } of Object.values(node.transitions)) {
      const transition = transitionKey(node.state, event, state);
      const prefix = pathTo.get(key);
      if (!prefix || byTransition.has(transition)) continue;
      byTransition.set(transition, [...prefix, { event, state }]);
    }
  }
  it('reaches every transition the chart defines from its initial state', () => {
    expect(byTransition.size).toBeGreaterThanOrEqual(90);
  });
  for (const [transition, steps] of byTransition) {
    it(transition, () => replay(harness, steps));
  }
});

/** A small seeded generator, so that a failing walk can be replayed from its seed. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random walk of `depth` events over the chart, computed with xstate's pure transition functions. */
function randomWalk(seed: number, depth: number): Array<{ event: ModelEvent; state: Snap }> {
  const random = mulberry32(seed);
  const [initial] = initialTransition(consentMachine, { applyTimeoutMs: APPLY_TIMEOUT_MS });
  const steps: Array<{ event: ModelEvent; state: Snap }> = [{ event: { type: 'xstate.init' }, state: initial }];
  let state = initial;
  for (let i = 0; i < depth; i++) {
    const options = eventsFor(state).filter((e) => state.can(e as never));
    const event = options[Math.floor(random() * options.length)] as ModelEvent;
    [state] = transition(consentMachine, state, event as never);
    steps.push({ event, state });
  }
  return steps;
}

describe.each(HARNESSES)('model-based with the $name adapter: bounded random walks with tracks interleaved', (harness) => {
  const depth = Math.max(6, Number(process.env.MODEL_DEPTH ?? 8));
  const walks = Number(process.env.MODEL_WALKS ?? 40);
  const baseSeed = Number(process.env.MODEL_SEED ?? 20261128);
  for (let i = 0; i < walks; i++) {
    const seed = baseSeed + i;
    const steps = randomWalk(seed, depth);
    it(`seed ${seed}: ${title({ state: steps.at(-1)?.state, steps })}`, () => replay(harness, steps));
  }
});
