import { waitFor, type Actor } from 'xstate';
import { decisionProblem, type consentMachine } from '../machines/consent.machine.js';
import { selectAwaitingDecision, selectBootCap, selectBooted, selectDecidedLevel, selectDecision, selectHoldCap, selectHolding, selectQuiescent, selectStarted, selectStatus, selectStoredDecisionUnread, type ConsentStatus } from '../machines/consent.selectors.js';
import type { ConsentLevel } from '../machines/levels.js';
import { createChartActors } from './chart-actors.js';
import { createConsentChart } from './create-consent-chart.js';
import { createTabSync } from './tab-sync.js';
import { ConsentError } from './consent-error.js';
import { resolveConsentOptions, type ConsentTrackerOptions } from './consent-options.js';
import { createEnforcement, type Enforcement } from './enforce/create-enforcement.js';
import type { EnforcementStats } from './enforce/enforcement-context.js';
import { withTimeout } from './enforce/with-timeout.js';
import { Gate, type GateCounters } from './gate.js';
import { reportProblems } from './report-problems.js';
import { whenSettled } from './when-settled.js';

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
  /** The chart's actor, to inspect (`getSnapshot`, `subscribe`) or to bind (`@xstate/react`). */
  readonly actor: Actor<typeof consentMachine>;
  /** Resolves when booting is over: the stored decision read (or the user decided first) and its level in force, or failed closed. */
  readonly ready: Promise<void>;
  /** The tracker: its `track*` calls pass through the gate. */
  readonly tracker: Tracker;
  readonly enforcement: Enforcement;
  /** The level enforced now. */
  getLevel(): ConsentLevel;
  getStatus(): ConsentStatus;
  /**
   * Records the user's decision; a lower level is enforced before it returns, and the decision's
   * write has started. Resolves when it is in force (or a later decision is), rejects with
   * `APPLY_FAILED` or `APPLY_TIMEOUT` if it failed closed, `INVALID_LEVEL` or `INVALID_OPTION` for
   * bad input (nothing changes), `STOPPED` after `stop()`. The same level again refreshes the
   * decision, and after a failure is a new attempt.
   */
  setLevel(level: ConsentLevel, source?: string): Promise<void>;
  /** Forgets the decision: back to the undecided level, stored identifiers cleared. Settles like `setLevel`. */
  reset(): Promise<void>;
  /** Tries again what failed: a change, reading the stored decision, writing the decision. Settles like `setLevel`. */
  retry(): Promise<void>;
  subscribe(listener: (status: ConsentStatus) => void): () => void;
  stats(): EnforcementStats & { readonly gate: GateCounters };
  /**
   * Stops: held events are dropped and counted, nothing new is sent, pending promises reject
   * with `STOPPED`. Resolves once the decision's write and a clean-up under way have ended (at
   * most the storage timeout each) and requests in flight have settled: start the next consent
   * tracker on the same storage after that.
   */
  stop(): Promise<void>;
}

/**
 * Wires the consent chart to a tracker: the enforcement points, the tracker created once through
 * the adapter, the chart's actors, and a gate in front of the tracker. See docs/design.md.
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
  const config = resolveConsentOptions(options);
  const { adapter, storage, storageKey, storageTimeoutMs, report } = config;
  const chart: { actor?: Actor<typeof consentMachine> } = {};
  let decisionInForce = false;
  // Until the chart exists nothing can be tracked; the level reads as off.
  const enforcement = createEnforcement({
    ...config,
    // A queue in memory only is not stored: what is left of it at stop() is counted there.
    storage: config.storageIsMemory ? undefined : storage,
    level: () => chart.actor?.getSnapshot().context.enforced ?? 'off',
    // Until a decision is in force the level stands in for one: what an earlier run queued waits
    // for it. Once one is in force that stays so: the chart is not read again.
    awaitingDecision: () => !(decisionInForce ||= chart.actor !== undefined && !selectAwaitingDecision(chart.actor.getSnapshot())),
    storedDecisionUnread: () => chart.actor !== undefined && selectStoredDecisionUnread(chart.actor.getSnapshot()),
    storageKey: `${storageKey}.queue`,
    onError: report,
  });
  const gate = new Gate(adapter, adapter.create(enforcement), config.bufferLimit, (detail) => enforcement.drop('stopped', undefined, detail));
  const rules = { policyVersion: config.policyVersion, maxAgeDays: config.maxAgeDays };
  const inOrder = (step: () => void) => gate.inOrder(step);
  const decisionKey = `${storageKey}.decision`;
  // Tabs on one storage: a decision in one reaches the others (docs/design.md, "Tabs in step").
  const tabs = adapter.syncsTabs ? createTabSync({ name: storageKey, decisionKey, rules, receive: (decision) => chart.actor?.send(decision) }) : undefined;
  const actors = createChartActors({ adapter: adapter as never, enforcement, inOrder, storage, decisionKey, rules, storageTimeoutMs, report, ...(tabs && { announce: tabs.post }) });
  const actor = createConsentChart(actors, { input: config, ...(config.inspect && { inspect: config.inspect }), ...(config.clock && { clock: config.clock }) });
  chart.actor = actor;
  actor.subscribe((snapshot) => {
    const { target, enforced } = snapshot.context;
    enforcement.followLevel(selectDecision(snapshot), selectDecidedLevel(snapshot));
    gate.follow({ holding: selectHolding(snapshot), started: selectStarted(snapshot), cap: selectHoldCap(snapshot), bootCap: selectBootCap(snapshot), target, enforced });
  });
  reportProblems(actor, report);
  actor.start();

  let stopping: Promise<void> | undefined;
  let stop!: (error: ConsentError) => void;
  const stopped = new Promise<never>((_, reject) => (stop = reject));
  stopped.catch(() => undefined);
  const send = (event: Parameters<typeof actor.send>[0]) => {
    if (stopping) return Promise.reject(new ConsentError('STOPPED', 'the consent tracker was stopped'));
    actor.send(event);
    return whenSettled(actor, stopped);
  };
  const ready = waitFor(actor, selectBooted, { timeout: Infinity }).then(() => undefined, () => undefined);
  // What waited while booting (an earlier run's queue, what the tracker tracked by itself) goes now.
  void ready
    .then(async () => (!stopping && (await enforcement.eventStore.count()) > 0 ? adapter.flush() : undefined))
    .catch(() => undefined);
  return {
    actor,
    ready,
    tracker: gate.facade,
    enforcement,
    getLevel: () => actor.getSnapshot().context.enforced,
    getStatus: () => selectStatus(actor.getSnapshot()),
    setLevel(level, source = 'api') {
      const problem = decisionProblem(level, source);
      if (problem) return Promise.reject(new ConsentError(problem.code === 'INVALID_LEVEL' ? 'INVALID_LEVEL' : 'INVALID_OPTION', problem.message));
      return send({ type: 'CONSENT.SET', level, source });
    },
    reset: () => send({ type: 'CONSENT.RESET' }),
    retry: () => send({ type: 'CONSENT.RETRY' }),
    subscribe(listener) {
      const subscription = actor.subscribe((snapshot) => listener(selectStatus(snapshot)));
      return () => subscription.unsubscribe();
    },
    stats: () => ({ ...enforcement.stats(), gate: gate.counters() }),
    stop() {
      stopping ??= (async () => {
        stop(new ConsentError('STOPPED', 'the consent tracker was stopped'));
        tabs?.stop();
        gate.stop();
        // The decision's write (tried once more if it failed) and a clean-up under way end first, so the next start finds them.
        actor.send({ type: 'CONSENT.STOP' });
        await waitFor(actor, selectQuiescent, { timeout: storageTimeoutMs }).catch(() => undefined);
        actor.stop();
        const enforcementStopped = enforcement.stop();
        await withTimeout(Promise.resolve(adapter.stop?.()), storageTimeoutMs, 'stopping the tracker').catch(() => undefined);
        await enforcementStopped;
      })();
      return stopping;
    },
  };
}
