import { createActor, fromPromise, waitFor, type Actor, type InspectionEvent, type SnapshotFrom } from 'xstate';
import { consentMachine, type ConsentProblem, type ConsentRecord } from '../machines/consent.machine.js';
import type { ConsentAdapter } from './consent-adapter.js';
import { ConsentError, assertConsentLevel, describe, positiveInteger } from './consent-error.js';
import { createRecordWriter, readConsentRecord } from './consent-record.js';
import { applyChange } from './apply-change.js';
import { DecisionKeeper } from './decision-keeper.js';
import { createEnforcement, type Enforcement } from './enforce/create-enforcement.js';
import { withTimeout } from './enforce/with-timeout.js';
import type { DroppedEvent, EnforcementStats } from './enforce/enforcement-context.js';
import { minLevel, type ConsentLevel } from './levels.js';
import type { PolicyOptions, PolicyTable } from './policy.js';
import { memoryStorage, type KeyValueStorage } from './storage.js';

/**
 * Options of {@link createConsentTracker}.
 *
 * @example
 * ```ts
 * import { memoryStorage, trackerCoreAdapter, type ConsentTrackerOptions, type CoreTracker } from 'consent-tracker';
 * const options: ConsentTrackerOptions<CoreTracker> = {
 *   adapter: trackerCoreAdapter({ endpoint: 'https://collector.example.com' }),
 *   storage: memoryStorage(),
 *   policyVersion: '2026-11',
 *   maxAgeDays: 365,
 * };
 * ```
 */
export interface ConsentTrackerOptions<Tracker extends object> {
  readonly adapter: ConsentAdapter<Tracker>;
  /** Where the decision and the event queue are kept; the adapter's storage (AsyncStorage for React Native) or memory if absent. */
  readonly storage?: KeyValueStorage;
  /** The storage key prefix: the decision is `<key>.decision`, the queue `<key>.queue`. Default `'consent-tracker'`. */
  readonly storageKey?: string;
  /** The level before any decision. Default `none`. */
  readonly undecidedLevel?: ConsentLevel;
  /** Hold events until the user decides, then release them at the decided level. Default `false`. */
  readonly holdUntilDecided?: boolean;
  /** The most events held while booting or applying; past it the oldest is dropped and counted. Default 1000. */
  readonly bufferLimit?: number;
  /** How long a change may take before it fails closed. Default 10,000 ms. */
  readonly applyTimeoutMs?: number;
  /** How long a storage call may take before it counts as failed (reported; no decision). Default 3000 ms. */
  readonly storageTimeoutMs?: number;
  /** The privacy policy version; a stored decision for another version has expired. Default `'1'`. */
  readonly policyVersion?: string;
  /** A stored decision older than this has expired. */
  readonly maxAgeDays?: number;
  /** The identifier policy, or options to build it. */
  readonly policy?: PolicyOptions | PolicyTable;
  /** XState's inspector, to watch the chart (`@statelyai/inspect`). */
  readonly inspect?: (event: InspectionEvent) => void;
  /**
   * After a withdrawal and a new consent, send the tracker's own device user id and sessions
   * again. Default `false`: `full` after a withdrawal is a new identity, unlinked to the old one.
   */
  readonly stitch?: boolean;
  /** Called for every problem: a rejected change, a failed apply, an unreadable or expired stored decision, a storage failure. */
  readonly onError?: (error: ConsentError) => void;
  /** Called for every event that is not passed on. */
  readonly onDrop?: (drop: DroppedEvent) => void;
}

/**
 * Where the consent tracker is in its lifecycle.
 *
 * @example
 * ```ts
 * import type { ConsentStatus } from 'consent-tracker';
 * const show = (status: ConsentStatus) => status.phase === 'undecided';
 * ```
 */
export interface ConsentStatus {
  readonly phase: 'booting' | 'undecided' | 'applying' | 'active' | 'forgetting' | 'failed';
  /** The level the enforcement points apply now. */
  readonly level: ConsentLevel;
  /** The level being applied or in force, `null` while undecided. */
  readonly target: ConsentLevel | null;
  readonly record: ConsentRecord | null;
  readonly error: ConsentProblem | null;
}

/**
 * A consent tracker: the chart, the enforcement points and a gated tracker facade.
 *
 * @example
 * ```ts
 * import { createConsentTracker, trackerCoreAdapter } from 'consent-tracker';
 * const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: 'https://collector.example.com' }) });
 * await consent.ready;
 * await consent.setLevel('full', 'banner');
 * ```
 */
export interface ConsentTracker<Tracker extends object> {
  readonly actor: Actor<typeof consentMachine>;
  /** Resolves when the stored decision and the stored queue have been read. */
  readonly ready: Promise<void>;
  /** The tracker: its `track*` calls pass through the gate. */
  readonly tracker: Tracker;
  readonly enforcement: Enforcement;
  getLevel(): ConsentLevel;
  getStatus(): ConsentStatus;
  /**
   * Records the user's decision and applies it; resolves when it is in force (or when a later
   * decision that overtook it is), rejects (`APPLY_FAILED`, `APPLY_TIMEOUT`) if it failed closed.
   * After a failure, the same decision again is a new attempt.
   */
  setLevel(level: ConsentLevel, source?: string): Promise<void>;
  /** Forgets the decision: back to the undecided level, stored identifiers cleared. */
  reset(): Promise<void>;
  subscribe(listener: (status: ConsentStatus) => void): () => void;
  stats(): EnforcementStats & { readonly gate: { readonly held: number; readonly released: number; readonly dropped: number } };
  /**
   * Stops the chart and the enforcement points: held events are dropped and counted, nothing new
   * is sent. Resolves once requests already in flight have settled and the stored queue says so:
   * start the next consent tracker on the same storage after that, or an event in flight at the
   * stop may be sent twice (same event id).
   */
  stop(): Promise<void>;
}

type Snapshot = SnapshotFrom<typeof consentMachine>;

function phaseOf(snapshot: Snapshot): ConsentStatus['phase'] {
  if (snapshot.matches('booting')) return 'booting';
  if (snapshot.matches('undecided')) return 'undecided';
  if (snapshot.matches('forgetting')) return 'forgetting';
  if (snapshot.matches('failed')) return 'failed';
  return snapshot.hasTag('busy') ? 'applying' : 'active';
}

interface HeldCall {
  method: string;
  args: unknown[];
  timestamp: number;
  /** The most it may be sent with: the level enforced when it was tracked, or none if no level was in force yet. */
  ceiling: ConsentLevel | undefined;
  /** A `track*` call (counted, and dropped first on overflow), or a call that only keeps its place among them. */
  event: boolean;
}

/**
 * Wires the consent chart to a tracker: creates the tracker once through the adapter with the
 * three enforcement points, reads the stored decision, applies every change through the chart,
 * and returns a facade whose `track*` calls pass through a gate: straight to the tracker while a
 * level is in force; held while booting or applying (bounded: the oldest is dropped and counted),
 * then released under the min rule with their original timestamps.
 *
 * @throws {@link ConsentError} `INVALID_OPTION` or `INVALID_LEVEL` for bad options; nothing is created.
 *
 * @example
 * ```ts
 * import { buildStructEvent } from '@snowplow/tracker-core';
 * import { createConsentTracker, memoryStorage, trackerCoreAdapter } from 'consent-tracker';
 *
 * const consent = createConsentTracker({
 *   adapter: trackerCoreAdapter({ endpoint: 'https://collector.example.com' }),
 *   storage: memoryStorage(),
 * });
 * consent.tracker.track(buildStructEvent({ category: 'app', action: 'open' })); // held, then sent at none
 * await consent.setLevel('full', 'banner');
 * ```
 */
export function createConsentTracker<Tracker extends object>(options: ConsentTrackerOptions<Tracker>): ConsentTracker<Tracker> {
  if (typeof options !== 'object' || options === null || typeof options.adapter?.create !== 'function') {
    throw new ConsentError('INVALID_OPTION', 'createConsentTracker needs { adapter }');
  }
  const undecidedLevel = options.undecidedLevel ?? 'none';
  assertConsentLevel(undecidedLevel, 'undecidedLevel');
  const bufferLimit = positiveInteger(options.bufferLimit, 'bufferLimit', 1000);
  const applyTimeoutMs = positiveInteger(options.applyTimeoutMs, 'applyTimeoutMs', 10_000);
  const storageTimeoutMs = positiveInteger(options.storageTimeoutMs, 'storageTimeoutMs', 3000);
  if (options.maxAgeDays !== undefined && !(typeof options.maxAgeDays === 'number' && options.maxAgeDays > 0)) {
    throw new ConsentError('INVALID_OPTION', `maxAgeDays must be a positive number; got ${describe(options.maxAgeDays)}`);
  }
  const policyVersion = options.policyVersion ?? '1';
  if (typeof policyVersion !== 'string' || policyVersion === '') throw new ConsentError('INVALID_OPTION', 'policyVersion must be a non-empty string');
  if (options.stitch !== undefined && typeof options.stitch !== 'boolean') throw new ConsentError('INVALID_OPTION', `stitch must be a boolean; got ${describe(options.stitch)}`);
  const storage = options.storage ?? options.adapter.storage ?? memoryStorage();
  const storageKey = options.storageKey ?? 'consent-tracker';
  const holdUntilDecided = options.holdUntilDecided ?? false;
  const { adapter } = options;
  const report = (error: ConsentError) => {
    try {
      options.onError?.(error);
    } catch {
      // A throwing listener must not break consent handling.
    }
  };

  let ceiling: ConsentLevel | undefined;
  /** The user's decision (in force, being applied or waiting). */
  let decided: ConsentLevel | undefined;
  // The enforcement points are created before the actor (the adapter needs them); until the actor
  // exists nothing can be tracked, and the level reads as off.
  const started: { actor?: Actor<typeof consentMachine> } = {};
  const inForce = (): ConsentLevel => started.actor?.getSnapshot().context.enforced ?? 'off';
  const enforcedLevel = (): ConsentLevel => (ceiling ? minLevel(inForce(), ceiling) : inForce());
  const enforcement = createEnforcement({
    level: inForce,
    ceiling: () => ceiling,
    storage,
    storageKey: `${storageKey}.queue`,
    storageTimeoutMs,
    stitch: options.stitch === true,
    ...(options.policy !== undefined && { policy: options.policy }),
    ...(options.onDrop && { onDrop: options.onDrop }),
    onError: report,
  });
  const tracker = adapter.create(enforcement);
  // A tracker that could not be created is reported once; booting still ends, so the chart works.
  const created = (adapter.created?.() ?? Promise.resolve()).catch((cause: unknown) => {
    report(new ConsentError('APPLY_FAILED', `the tracker could not be created: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }));
  });

  const decisions = new DecisionKeeper(createRecordWriter(storage, `${storageKey}.decision`, storageTimeoutMs), { undecidedLevel, policyVersion, report });
  const machine = consentMachine.provide({
    actors: {
      apply: applyChange({
        adapter: adapter as ConsentAdapter<object>,
        enforcement,
        decisions,
        chart: () => {
          const actor = started.actor;
          return actor && { context: () => actor.getSnapshot().context, subscribe: (listener) => actor.subscribe(listener) };
        },
      }),
      loadDecision: fromPromise(async () => {
        const [loaded] = await Promise.all([
          readConsentRecord(storage, `${storageKey}.decision`, { policyVersion, maxAgeDays: options.maxAgeDays }, storageTimeoutMs),
          enforcement.ready,
          created,
        ]);
        decisions.loaded(loaded.record);
        return loaded;
      }),
    },
  });

  const held: HeldCall[] = [];
  let lastError: ConsentProblem | null = null;
  const isOpen = (snapshot: Snapshot) => !snapshot.hasTag('busy') && !(holdUntilDecided && snapshot.matches('undecided'));

  function release() {
    let released = 0;
    while (held.length > 0 && isOpen(running.getSnapshot())) {
      const call = held.shift() as HeldCall;
      if (call.event) heldEvents -= 1;
      ceiling = call.ceiling;
      try {
        adapter.replay(tracker, call.method, call.args, call.timestamp);
      } finally {
        ceiling = undefined;
      }
      if (call.event) released += 1;
    }
    if (released > 0) running.send({ type: 'GATE.COUNT', released });
  }

  const running = createActor(machine, { input: { undecidedLevel, applyTimeoutMs, policyVersion }, ...(options.inspect && { inspect: options.inspect }) });
  started.actor = running;
  running.subscribe((snapshot) => {
    // Every change of the level in force and of the decision, seen at once, whether or not an event follows.
    const { pending, target, record } = snapshot.context;
    const nowDecided = snapshot.matches('booting') ? undefined : (pending?.level ?? target ?? undecidedLevel);
    // The first decision after booting is the stored one, if any: its identity was in use before.
    const stored = decided === undefined && record !== null;
    decided = nowDecided;
    enforcement.followLevel(decided === undefined ? undefined : { level: decided, stored });
    decisions.follow(snapshot);
    const error = snapshot.context.error;
    if (error && error !== lastError) {
      report(new ConsentError(error.code === 'SAME_LEVEL' || error.code === 'INVALID_EVENT' ? 'INVALID_OPTION' : error.code === 'INVALID_LEVEL' ? 'INVALID_LEVEL' : error.code, error.message));
    }
    lastError = error;
    if (held.length > 0 && isOpen(snapshot)) queueMicrotask(release);
  });
  running.start();

  let heldEvents = 0;
  const gated = (method: string, call: (...args: unknown[]) => unknown, event: boolean) =>
    (...args: unknown[]) => {
      const snapshot = running.getSnapshot();
      if (isOpen(snapshot) && held.length === 0) return call(...args);
      const undecidedHold = snapshot.matches('booting') || (holdUntilDecided && snapshot.matches('undecided'));
      held.push({ method, args, timestamp: Date.now(), ceiling: undecidedHold ? undefined : snapshot.context.enforced, event });
      let dropped = 0;
      if (event) {
        heldEvents += 1;
        // Past the cap the oldest event goes; the calls that keep their place among events stay.
        while (heldEvents > bufferLimit) {
          held.splice(held.findIndex((c) => c.event), 1);
          heldEvents -= 1;
          dropped += 1;
        }
        running.send({ type: 'GATE.COUNT', held: 1, dropped });
      }
      if (isOpen(snapshot)) queueMicrotask(release);
      return undefined;
    };

  const orderedMethods = new Set(adapter.orderedMethods ?? []);
  const facade = new Proxy(tracker, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || typeof value !== 'function') return value;
      const event = property.startsWith('track');
      if (!event && !orderedMethods.has(property)) return value;
      return gated(property, (value as (...args: unknown[]) => unknown).bind(target), event);
    },
  });

  const status = (): ConsentStatus => {
    const snapshot = running.getSnapshot();
    const { enforced, target, record, error } = snapshot.context;
    return { phase: phaseOf(snapshot), level: enforced, target, record, error };
  };

  const settled = async () => {
    const snapshot = await waitFor(running, (s) => !s.hasTag('busy'), { timeout: Infinity });
    if (snapshot.matches('failed')) {
      const error = snapshot.context.error;
      throw new ConsentError(error?.code === 'APPLY_TIMEOUT' ? 'APPLY_TIMEOUT' : 'APPLY_FAILED', error?.message ?? 'the change failed');
    }
  };

  const ready = waitFor(running, (s) => !s.matches('booting'), { timeout: Infinity }).then(
    async (snapshot) => {
      // No decision in force: a queue restored from the last run is brought down to the undecided level now.
      if (snapshot.matches('undecided')) await enforcement.levelChanged();
    },
    (error: unknown) => {
      // Stopped while booting: nothing to wait for any more (and nobody may be listening).
      if (running.getSnapshot().status === 'stopped') return;
      throw error;
    },
  );

  return {
    actor: running,
    ready,
    tracker: facade,
    enforcement,
    getLevel: enforcedLevel,
    getStatus: status,
    setLevel(level, source = 'api') {
      try {
        assertConsentLevel(level, 'level');
        if (typeof source !== 'string' || source === '') throw new ConsentError('INVALID_OPTION', 'source must be a non-empty string');
      } catch (error) {
        return Promise.reject(error);
      }
      const change = () => {
        const { target, pending } = running.getSnapshot().context;
        // After a failure, the same decision again is a new attempt.
        if (level !== (pending?.level ?? target) || running.getSnapshot().matches('failed')) running.send({ type: 'CONSENT.SET', level, source });
        return settled();
      };
      // Once booted, the change starts in this very call: a downgrade is enforced before it returns.
      return running.getSnapshot().matches('booting') ? ready.then(change) : change();
    },
    reset() {
      const forget = () => {
        if (running.getSnapshot().matches('undecided')) return Promise.resolve();
        running.send({ type: 'CONSENT.RESET' });
        return settled();
      };
      return running.getSnapshot().matches('booting') ? ready.then(forget) : forget();
    },
    subscribe(listener) {
      const subscription = running.subscribe(() => listener(status()));
      return () => subscription.unsubscribe();
    },
    stats: () => ({ ...enforcement.stats(), gate: { ...running.getSnapshot().context.counters } }),
    async stop() {
      if (heldEvents > 0) running.send({ type: 'GATE.COUNT', dropped: heldEvents });
      held.length = 0;
      heldEvents = 0;
      running.stop();
      const stopping = enforcement.stop();
      // Bounded, like the rest of stopping: a storage that never answers does not hold it up.
      await withTimeout(Promise.resolve(adapter.stop?.()), storageTimeoutMs, 'stopping the tracker').catch(() => undefined);
      await stopping;
    },
  };
}
