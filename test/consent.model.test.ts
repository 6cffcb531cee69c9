import { describe, expect, it } from 'vitest';
import { SimulatedClock, waitFor, type AnyStateNode, type SnapshotFrom } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { CHART_ACTORS, CONSENT_LEVELS, consentMachine, minLevel, selectOutcome, type ConsentLevel, type KeyValueStorage, type LoadOutput, type SyncedDecision } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { HARNESSES, type AdapterHarness } from './helpers/adapter-harness.js';
import { deferred } from './helpers/deferred.js';
import { drained, storedDecision, useApps } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * Model-based tests generated from the chart itself. The traversal (xstate/graph's path
 * functions) takes an explicit list of events: the user's decisions, and every actor's
 * completion, failure and timeout, so that overlapping, taken-back, failing and boot-time paths
 * are all generated. A set of paths that covers every transition of the chart is then replayed
 * against the real consent tracker, tracker and collector, for each adapter, with an event
 * tracked after every step; the collector's view is checked at the end. A second set, with
 * decisions from another tab among the events, ends in each kind of such decision wherever it
 * may arrive.
 */

type Snap = SnapshotFrom<typeof consentMachine>;
type ModelEvent = { type: string; [key: string]: unknown };
type Step = { event: ModelEvent; state: Snap };

const APPLY_TIMEOUT_MS = 1000;
const done = (id: string) => `xstate.done.actor.${id}`;
const failed = (id: string) => `xstate.error.actor.${id}`;
const timeout = (stateId: string) => `xstate.after.applyTimeout.${stateId}`;
const RECONFIGURING = 'consent.tracker.applying.reconfiguring';
const FORGETTING = 'consent.cleanup.forgetting';

const stored = (level: ConsentLevel) => ({ level, decidedAt: 1, policyVersion: '1', source: 'stored' });
/** What reading the stored decision may give, and what the device stores for it. */
const LOADS: Array<{ output: LoadOutput; raw: string | undefined }> = [
  { output: { record: null }, raw: undefined },
  ...CONSENT_LEVELS.map((level) => ({ output: { record: stored(level) }, raw: storedDecision(level, 1) })),
  { output: { record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'corrupt' } }, raw: '{"level":' },
  { output: { record: null, problem: { code: 'STORED_DECISION_EXPIRED', message: 'old' }, expiredLevel: 'full' }, raw: JSON.stringify({ ...stored('full'), policyVersion: '0' }) },
];

/**
 * Decisions from another tab on the same storage (`CONSENT.SYNC`), as the tab sync delivers them
 * (made at `at`, the record's own time): a newer one at each level and a newer reset, made just
 * after the latest decision this tab knows of; and, once this tab knows of one, an older decision
 * found in storage, which has this tab store its own again. `after` is that offset: the replay
 * takes it from the live decision's time, as the traversal from the model's.
 */
function syncsFor(s: Snap): ModelEvent[] {
  const made = (after: number, level: ConsentLevel | null, inStorage?: true): ModelEvent => {
    const at = s.context.decidedAt + after;
    return { type: 'CONSENT.SYNC', record: level === null ? null : { ...stored(level), decidedAt: at }, at, after, ...(inStorage && { stored: inStorage }) };
  };
  return [...CONSENT_LEVELS.map((level) => made(1, level)), made(1, null), ...(s.context.decidedAt > 0 ? [made(-1, 'full', true)] : [])];
}
const syncKind = (event: ModelEvent) => (event.stored ? 'older, stored' : ((event.record as { level: string } | null)?.level ?? 'reset'));

/** Every event the model may take from a state: decisions, and the completions of the actors running in it. */
function eventsFor(s: Snap): ModelEvent[] {
  const events: ModelEvent[] = [];
  if (s.matches({ storedDecision: 'reading' })) events.push(...LOADS.map(({ output }) => ({ type: done(CHART_ACTORS.load), output })));
  if (s.matches({ tracker: 'starting' })) events.push({ type: done(CHART_ACTORS.start) });
  if (s.matches({ tracker: { applying: 'reconfiguring' } })) {
    events.push({ type: done(CHART_ACTORS.apply) }, { type: failed(CHART_ACTORS.apply), error: new Error('refused') }, { type: timeout(RECONFIGURING) });
  }
  if (s.matches({ cleanup: 'forgetting' })) {
    events.push({ type: done(CHART_ACTORS.forget) }, { type: failed(CHART_ACTORS.forget), error: new Error('refused') }, { type: timeout(FORGETTING) });
  }
  events.push(...CONSENT_LEVELS.map((level) => ({ type: 'CONSENT.SET', level, source: 'model' })), { type: 'CONSENT.RESET' }, { type: 'CONSENT.RETRY' });
  return events;
}

/**
 * What matters for behaviour. The persistence region is left out: the replay lets the storage
 * write as it comes, and nothing else in the chart depends on it.
 */
function serializeState(s: Snap): string {
  const value = Object.fromEntries(Object.entries(s.value).filter(([region]) => region !== 'persistence'));
  const { enforced, target, inForce, forgetAgain, converged, loaded, deviceKnown } = s.context;
  return JSON.stringify({ value, enforced, target, inForce, forgetAgain, converged, loaded, deviceKnown });
}

const traversal = {
  events: eventsFor as never,
  serializeState: serializeState as never,
  filterEvents: ((s: Snap, e: ModelEvent) => s.can(e as never)) as never,
  // The tracker's start is the test's to end (it never times out here: its timer would fire with the others).
  input: { applyTimeoutMs: APPLY_TIMEOUT_MS, startTimeoutMs: 1e9 },
};

/** The same, with decisions from another tab too. */
const syncTraversal = {
  ...traversal,
  events: ((s: Snap) => [...eventsFor(s), ...syncsFor(s)]) as never,
};
/** A transition of the chart, by its state nodes and what took it. */
function transitionKey(from: Snap, event: ModelEvent, to: Snap): string {
  const nodes = (s: Snap) => serializeState(s).replace(/,"enforced".*$/, '');
  const output = event.output as LoadOutput | undefined;
  const kind = event.type.startsWith('xstate.after.') ? `timeout(${event.type.split('.').at(-1)})` : output ? `load(${output.problem?.code ?? output.record?.level ?? 'nothing'})` : event.type.replace(/^xstate\./, '');
  return `${nodes(from)} —${kind}${event.level ? `(${String(event.level)})` : ''}→ ${nodes(to)}`;
}

/**
 * Paths that cover every transition `keyOf` names (`undefined`: not to cover): for each, the
 * shortest path to its source and the transition itself; then, greedily, the fewest of those
 * that cover them all, capped; and how many the cap left out.
 */
function coveringPaths(cap: number, over: typeof traversal = traversal, keyOf: (from: Snap, event: ModelEvent, to: Snap) => string | undefined = transitionKey): { paths: Step[][]; uncovered: number } {
  const shortest = new Map(getShortestPaths(consentMachine, over).map((p) => [serializeState(p.state as Snap), p.steps as unknown as Step[]]));
  const adjacency = getAdjacencyMap(consentMachine, over) as unknown as Record<string, { state: Snap; transitions: Record<string, Step> }>;
  const candidates = new Map<string, Step[]>();
  for (const [key, node] of Object.entries(adjacency)) {
    for (const step of Object.values(node.transitions)) {
      const transition = keyOf(node.state, step.event, step.state);
      if (transition !== undefined && !candidates.has(transition)) candidates.set(transition, [...(shortest.get(key) ?? []), step]);
    }
  }
  const keysOf = (steps: Step[]) => steps.slice(1).flatMap((step, i) => keyOf((steps[i] as Step).state, step.event, step.state) ?? []);
  const covers = [...candidates.values()].map((steps) => ({ steps, keys: new Set(keysOf(steps)) }));
  const covered = new Set<string>();
  const chosen: Step[][] = [];
  while (covered.size < candidates.size && chosen.length < cap) {
    const gain = (c: (typeof covers)[number]) => [...c.keys].filter((k) => !covered.has(k)).length;
    const best = covers.reduce((a, b) => (gain(b) > gain(a) ? b : a));
    if (gain(best) === 0) break;
    for (const key of best.keys) covered.add(key);
    chosen.push(best.steps);
  }
  return { paths: chosen, uncovered: candidates.size - covered.size };
}

/**
 * A decision from another tab, by where it arrives (the decision region's state, the tracker
 * region's outer one, and the clean-up's) and what it is; other events are not to cover.
 */
function syncKey(from: Snap, event: ModelEvent): string | undefined {
  if (event.type !== 'CONSENT.SYNC') return undefined;
  const { decision, tracker, cleanup } = from.value as Record<string, unknown>;
  const outer = (value: unknown) => (typeof value === 'string' ? value : Object.keys(value as object)[0]);
  return `${JSON.stringify({ decision, tracker: outer(tracker), cleanup })} —SYNC(${syncKind(event)})`;
}

/** The device's storage, with each read of the decision and the first read of the queue held until the model says. */
function steppedStorage(base: ReturnType<AdapterHarness['device']>['storage']) {
  const decisionReads: Array<() => void> = [];
  const queueRead = deferred();
  const storage: KeyValueStorage = {
    getItem: async (key) => {
      if (key.endsWith('.decision')) {
        const read = deferred();
        decisionReads.push(read.resolve);
        await read.promise;
      } else if (key.endsWith('.queue')) await queueRead.promise;
      return base.getItem(key);
    },
    setItem: (key, value) => base.setItem(key, value),
    removeItem: (key) => base.removeItem?.(key),
  };
  return {
    storage,
    /** The latest read of the decision finds `raw`. */
    load(raw: string | undefined) {
      if (raw === undefined) base.entries.delete('consent-tracker.decision');
      else base.entries.set('consent-tracker.decision', raw);
      decisionReads.pop()?.();
      decisionReads.length = 0;
    },
    start: () => queueRead.resolve(),
  };
}

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** A decision from another tab, made `after` ms from `decidedAt` (the live decision's time). */
function syncedNow(event: ModelEvent, decidedAt: number): SyncedDecision {
  const at = decidedAt + (event.after as number);
  const record = event.record as SyncedDecision['record'];
  return { type: 'CONSENT.SYNC', record: record && { ...record, decidedAt: at }, at, ...(event.stored === true && { stored: true }) };
}

/** Replays a path against the real consent tracker and checks what the collector received. */
async function replay(harness: AdapterHarness, steps: Step[]) {
  const device = harness.device();
  const stepped = steppedStorage(device.storage);
  const clock = new SimulatedClock();
  const app = apps.launch(harness, { device, holdApply: true, holdForget: true, options: { storage: stepped.storage, clock, applyTimeoutMs: APPLY_TIMEOUT_MS, startTimeoutMs: 1e9 } });
  const { actor } = app.consent;
  /** The most each event may carry: the level when it was tracked (once known, for events tracked while booting). */
  const allowed = new Map<string, ConsentLevel | undefined>();
  const lowestSince = new Map<string, ConsentLevel>();
  actor.subscribe(({ context: { target, enforced, loaded } }) => {
    for (const [label, level] of lowestSince) lowestSince.set(label, minLevel(level, enforced));
    for (const [label, level] of allowed) if (level === undefined && target !== null) allowed.set(label, loaded ? target : minLevel(target, enforced));
  });
  let tracked = 0;
  const track = (label: string) => {
    tracked += 1;
    allowed.set(label, actor.getSnapshot().context.target === null ? undefined : app.consent.getLevel());
    lowestSince.set(label, app.consent.getLevel());
    app.track(label);
  };

  for (const [i, { event, state }] of steps.slice(1).entries()) {
    if (event.type === done(CHART_ACTORS.load)) stepped.load(LOADS.find((l) => l.output === event.output)?.raw);
    else if (event.type === done(CHART_ACTORS.start)) stepped.start();
    else if (event.type === done(CHART_ACTORS.apply) || event.type === done(CHART_ACTORS.forget)) await app.control.finishApply();
    else if (event.type === failed(CHART_ACTORS.apply) || event.type === failed(CHART_ACTORS.forget)) await app.control.failApply();
    else if (event.type.startsWith('xstate.after.')) clock.increment(APPLY_TIMEOUT_MS);
    else if (event.type === 'CONSENT.SET') void app.consent.setLevel(event.level as ConsentLevel, 'model').catch(() => undefined);
    else if (event.type === 'CONSENT.RESET') void app.consent.reset().catch(() => undefined);
    // As the tab sync delivers a decision made in another tab.
    else if (event.type === 'CONSENT.SYNC') actor.send(syncedNow(event, actor.getSnapshot().context.decidedAt));
    else void app.consent.retry().catch(() => undefined);
    await waitFor(actor, (s) => serializeState(s) === serializeState(state), { timeout: 3000 });
    track(`step-${i}`);
  }

  // Let every step through, then drain.
  app.control.setHold(false);
  stepped.load(device.storage.entries.get('consent-tracker.decision'));
  stepped.start();
  while (selectOutcome(actor.getSnapshot()) !== 'settled') {
    if (app.control.pending() > 0) await app.control.finishApply();
    else if (selectOutcome(actor.getSnapshot()) === 'failed') await app.consent.retry().catch(() => undefined);
    await waitFor(actor, (s) => app.control.pending() > 0 || selectOutcome(s) !== 'pending', { timeout: 3000 });
  }
  await drained(app);

  const events = collector.current.events();
  expect(findLeaks(events, (e) => allowed.get(e.payload.se_ac ?? '') ?? 'off')).toEqual([]);
  const ids = events.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
  // Each event once: delivered, or counted as dropped, whatever the reason.
  const { dropped, gate } = app.consent.stats();
  const counted = Object.values(dropped).reduce((sum, count) => sum + count, 0) + gate.dropped;
  expect(events.length + counted).toBe(tracked);
  // One let through arrives, unless a drop for another reason than its level accounts for it (an
  // event queued at full whose identity a stored decision that could not be read may have withdrawn).
  const droppedOtherwise = counted - dropped.off - dropped.stopped - gate.dropped;
  for (const [label, level] of lowestSince) {
    if (level !== 'off' && allowed.get(label) !== 'off' && droppedOtherwise === 0) expect(events.some((e) => e.payload.se_ac === label), `${label} was let through and must arrive`).toBe(true);
  }
}

const covering = coveringPaths(Number(process.env.MODEL_PATHS ?? 1000));
const { paths } = covering;
/** Paths that end in a decision from another tab, for each place it may arrive and each kind. */
const sync = coveringPaths(Number(process.env.MODEL_SYNC_PATHS ?? 300), syncTraversal, syncKey);
/** A path's events, shortly: `load(full) → startTracker → SET(none) → …`. */
const title = (steps: Step[]) =>
  steps
    .slice(1)
    .map(({ event }) => {
      if (event.type === 'CONSENT.SET') return `SET(${String(event.level)})`;
      if (event.type === 'CONSENT.SYNC') return `SYNC(${syncKind(event)})`;
      const output = event.output as LoadOutput | undefined;
      if (output) return `load(${output.problem?.code ?? output.record?.level ?? 'nothing'})`;
      return event.type.replace(/^xstate\.(done|error|after)\.(actor\.)?/, '$1.').replace(/^after\.applyTimeout\..*\.(\w+)$/, 'timeout.$1');
    })
    .join(' → ');

describe('the generated paths', () => {
  it('cover every state node and every transition of the chart', () => {
    const visited = new Set<string>();
    const visit = (value: unknown, prefix: string) => {
      if (typeof value === 'string') visited.add(`${prefix}.${value}`);
      else {
        for (const [key, child] of Object.entries(value as object)) {
          visited.add(`${prefix}.${key}`);
          visit(child, `${prefix}.${key}`);
        }
      }
    };
    for (const steps of paths) for (const { state } of steps) visit(state.value, 'consent');
    const all: string[] = [];
    // Left out: a transient node (never at rest) and the persistence region, whose faults the restart suite covers.
    const walk = (node: AnyStateNode) => {
      if (node.parent && !node.always && !node.id.startsWith('consent.persistence.')) all.push(node.id);
      for (const child of Object.values(node.states)) walk(child);
    };
    walk(consentMachine.root);
    expect(all.filter((id) => !visited.has(id))).toEqual([]);
    expect(covering.uncovered, 'transitions left out by the cap (MODEL_PATHS)').toBe(0);
    expect(paths.length).toBeGreaterThan(100);
  });

  it('deliver a decision from another tab of each kind wherever it may arrive', () => {
    expect(sync.uncovered).toBe(0);
    const kinds = new Set(sync.paths.map((steps) => syncKind((steps.at(-1) as Step).event)));
    expect([...kinds].sort()).toEqual([...CONSENT_LEVELS, 'older, stored', 'reset'].sort());
    expect(sync.paths.length).toBeGreaterThan(100);
  });
});

describe.each(HARNESSES)('the generated paths with the $name adapter, on the wire', (harness) => {
  for (const steps of paths) it(title(steps), () => replay(harness, steps));
});

describe.each(HARNESSES)('the generated paths to a decision from another tab with the $name adapter, on the wire', (harness) => {
  for (const steps of sync.paths) it(title(steps), () => replay(harness, steps));
});
