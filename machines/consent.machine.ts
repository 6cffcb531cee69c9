/**
 * The consent statechart: the single source of truth for the consent lifecycle (docs/design.md,
 * "The chart"). It is pure: it knows nothing of Snowplow, React or storage. The work is done by
 * the actors it invokes (read the stored decision, start the tracker, apply a level, forget,
 * write the decision), which `createConsentTracker` provides.
 *
 * Six parallel regions:
 * - `storedDecision`: reading the decision storage holds (`reading`), and what came of it: `read`,
 *   or `unread` (it could not be read, and no later read succeeded). The read goes on when the user
 *   decides while booting; when it ends it raises `STORED_READ` for the other regions.
 * - `decision`: the user's decision. `booting` waits for the stored one; `undecided` (no decision,
 *   an unreadable one, an expired one) or one state per level, each carrying in `meta` what the
 *   level means for a tracker. Every change raises `DECIDED` for the other regions.
 * - `tracker`: how the live tracker converges to the decision: `starting`, `applying`
 *   (waiting for the clean-up, then reconfiguring), `inForce`, `failed`.
 * - `cleanup`: the forgetting a withdrawal or a reset starts. No decision cancels it, and a
 *   change waits for it.
 * - `persistence`: `unwritten` until the run makes a decision; the decision is written as soon as
 *   it is made, and written again when the stored decision turns out unreadable after it (what
 *   earlier runs queued is dropped first, see {@link WriteInput}); a failed write removes the
 *   stored decision, writes it again right behind the removal, and is retried (after
 *   `storageRetryMs`, on `retry()`, and at `stop()`) unless that second write landed. A
 *   write the actor holds back (a grant whose new identity could not be stored first) leaves what
 *   is stored, which is lower, and is retried; one over an unread decision whose floor on earlier
 *   runs' queues could not be recorded stores `off` in its place, and is retried.
 * - `gate`: `holding` while the tracker does not exist or a change is applied, `open` otherwise.
 *
 * The enforced level drops at once to the lowest level decided since the last level in force,
 * and rises only when a change is in force.
 */
import { and, assign, fromPromise, not, or, raise, setup, stateIn } from 'xstate';
import { compareLevels, isConsentLevel, minLevel, type ConsentLevel } from './levels.js';
import { DEFAULT_TRACKER_CONFIGURATIONS } from './tracker-configuration.js';

/**
 * The ids of the actors the chart invokes; their completion events are
 * `xstate.done.actor.<id>` and `xstate.error.actor.<id>`.
 *
 * @example
 * ```ts
 * import { CHART_ACTORS } from 'consent-tracker';
 * const applied = `xstate.done.actor.${CHART_ACTORS.apply}`; // the event that ends a change
 * ```
 */
export const CHART_ACTORS = {
  load: 'loadDecision',
  start: 'startTracker',
  apply: 'apply',
  forget: 'forget',
  write: 'writeDecision',
  clear: 'clearDecision',
} as const;

/**
 * A consent decision as it is stored.
 *
 * @example
 * ```ts
 * import type { ConsentRecord } from 'consent-tracker';
 * const record: ConsentRecord = { level: 'full', decidedAt: Date.now(), policyVersion: '2026-11', source: 'banner' };
 * ```
 */
export interface ConsentRecord {
  readonly level: ConsentLevel;
  /** When the user decided, in milliseconds since the epoch. */
  readonly decidedAt: number;
  /** The version of the privacy policy the user agreed to. */
  readonly policyVersion: string;
  /** Where the decision came from (a banner, settings screen, a CMP). */
  readonly source: string;
}

/**
 * A problem the chart records in context: a rejected event, a failed change, an unreadable record.
 *
 * @example
 * ```ts
 * import type { ConsentProblem } from 'consent-tracker';
 * const problem: ConsentProblem = { code: 'APPLY_TIMEOUT', message: "applying 'full' timed out" };
 * ```
 */
export interface ConsentProblem {
  readonly code:
    | 'INVALID_LEVEL'
    | 'INVALID_EVENT'
    | 'APPLY_FAILED'
    | 'APPLY_TIMEOUT'
    | 'STORED_DATA_UNREADABLE'
    | 'STORED_DECISION_EXPIRED'
    | 'STORAGE_FAILED'
    | 'STORAGE_REFUSED';
  readonly message: string;
}

/**
 * The chart's context.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, type ConsentContext } from 'consent-tracker';
 * const context: ConsentContext = createActor(consentMachine, { input: {} }).getSnapshot().context;
 * context.enforced; // 'none' until the stored decision is read
 * ```
 */
export interface ConsentContext {
  /** The level the enforcement points apply now. */
  readonly enforced: ConsentLevel;
  /** The level the tracker converges to: the decision's, or the undecided one; `null` while booting. */
  readonly target: ConsentLevel | null;
  /** The level last in force: in this run, or at start the stored decision's (the last run's). */
  readonly inForce: ConsentLevel | null;
  /** The user's decision as stored; `null` while undecided. */
  readonly record: ConsentRecord | null;
  /** Whether the decision (or its absence) was read from storage, rather than made in this run or unreadable. */
  readonly loaded: boolean;
  /** Whether what earlier runs left on the device is known: a stored decision was read, or this run forgot for a decision. */
  readonly deviceKnown: boolean;
  /** The clean-up under way. */
  readonly forgetting: ForgetInput;
  /** A clean-up asked for while one was under way: the lowest level asked for, a withdrawal if any was. */
  readonly forgetAgain: ForgetInput | null;
  /** Whether the tracker has reached a level (in force, or failed closed) in this run: booting ends then. */
  readonly converged: boolean;
  /**
   * Whether a decision (made, or read from storage) has come into force in this run. Until then
   * the level in force stands in for one (booting, an unreadable decision, the change out of it):
   * what earlier runs queued keeps its own levels.
   */
  readonly decisionInForce: boolean;
  /**
   * Whether the decision storage held could not be read in this run (and no later read
   * succeeded): it may have been a withdrawal, so what earlier runs queued counts as withdrawn
   * once this run decides (docs/design.md, "But a decision never read counts as the lowest").
   */
  readonly storedUnread: boolean;
  /** The last problem. */
  readonly error: ConsentProblem | null;
  /** When the latest decision (or reset) this tracker knows of was made: a synced one older than it is ignored. */
  readonly decidedAt: number;
  readonly undecidedLevel: ConsentLevel;
  readonly holdUntilDecided: boolean;
  readonly applyTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly storageRetryMs: number;
  readonly policyVersion: string;
}

/**
 * What the decision region tells the other regions on every change of the decision (internal).
 * `forget`: the level whose device rules a clean-up applies, `null` for none. `withdrawal`:
 * whether the level the tracker may have been at (the last in force, or any, when that is not
 * known) sent user identifiers that `to` does not allow. `store`: whether the decision is written.
 *
 * @example
 * ```ts
 * import type { DecidedEvent } from 'consent-tracker';
 * const withdrawal: DecidedEvent = { type: 'DECIDED', from: 'full', to: 'none', forget: 'none', withdrawal: true, store: true };
 * ```
 */
export interface DecidedEvent {
  readonly type: 'DECIDED';
  readonly from: ConsentLevel | null;
  readonly to: ConsentLevel;
  readonly forget: ConsentLevel | null;
  readonly withdrawal: boolean;
  readonly store: boolean;
}

/**
 * What the `storedDecision` region tells the others when reading the stored decision ends
 * (internal): what the read gave, a failure as a `STORAGE_FAILED` problem.
 *
 * @example
 * ```ts
 * import type { StoredReadEvent } from 'consent-tracker';
 * const unreadable: StoredReadEvent = { type: 'STORED_READ', output: { record: null, problem: { code: 'STORAGE_FAILED', message: 'timed out' } } };
 * ```
 */
export interface StoredReadEvent {
  readonly type: 'STORED_READ';
  readonly output: LoadOutput;
}

/**
 * The events the chart takes. Apps send none of them directly: `setLevel`, `reset`, `retry` and
 * `stop` of the consent tracker do. `DECIDED` and `STORED_READ` are raised by the chart itself.
 *
 * @example
 * ```ts
 * import type { ConsentEvent } from 'consent-tracker';
 * const grant: ConsentEvent = { type: 'CONSENT.SET', level: 'full', source: 'banner' };
 * ```
 */
export type ConsentEvent =
  | { type: 'CONSENT.SET'; level: ConsentLevel; source: string }
  | { type: 'CONSENT.RESET' }
  | { type: 'CONSENT.RETRY' }
  /** The run ends (`stop()`): a decision whose write failed is written once more (a write under way is that last try), so that the next start finds it. */
  | { type: 'CONSENT.STOP' }
  | SyncedDecision
  | DecidedEvent
  | StoredReadEvent;

/**
 * A decision made by another consent tracker on the same storage (another tab): its record as
 * stored, or `null` for a reset, and when it was made; `stored` when it was read from storage
 * (what storage holds now). The newest decision wins, and of two made at the same instant the
 * lower level; it is not stored again, since the other tracker stored it. When storage is found
 * holding an older decision than this tab's (two writes landed out of order), this tab stores its
 * own again.
 *
 * @example
 * ```ts
 * import type { SyncedDecision } from 'consent-tracker';
 * const fromAnotherTab: SyncedDecision = { type: 'CONSENT.SYNC', record: { level: 'none', decidedAt: 1796175091384, policyVersion: '1', source: 'banner' }, at: 1796175091384 };
 * ```
 */
export interface SyncedDecision {
  readonly type: 'CONSENT.SYNC';
  readonly record: ConsentRecord | null;
  readonly at: number;
  readonly stored?: boolean;
}

/**
 * The chart's input.
 *
 * @example
 * ```ts
 * import type { ConsentMachineInput } from 'consent-tracker';
 * const input: ConsentMachineInput = { undecidedLevel: 'none', applyTimeoutMs: 10_000 };
 * ```
 */
export interface ConsentMachineInput {
  undecidedLevel?: ConsentLevel;
  holdUntilDecided?: boolean;
  applyTimeoutMs?: number;
  /** How long the tracker may take to start; `applyTimeoutMs` if absent. */
  startTimeoutMs?: number;
  storageRetryMs?: number;
  policyVersion?: string;
}

/**
 * What the apply actor is asked to do: bring the tracker to `level`, coming from `from`.
 * `decided`: whether `level` follows a decision (made, or read from storage) rather than standing
 * in for one that could not be read; only a decision lowers what earlier runs queued.
 *
 * @example
 * ```ts
 * import type { ApplyInput } from 'consent-tracker';
 * const grant: ApplyInput = { level: 'full', from: 'none', decided: true };
 * ```
 */
export interface ApplyInput {
  readonly level: ConsentLevel;
  readonly from: ConsentLevel;
  readonly decided: boolean;
}

/**
 * What the write actor is asked to store: the decision's record (`null` for a reset). `raises`:
 * whether it stands above a withdrawal not yet in force (a grant or a reset right after it): it
 * is stored only once the queue at rest is lowered to that withdrawal and stored, or a kill in
 * between would leave the queue's events to a start that finds only the later decision.
 * `overUnread`: it is written over a stored decision this run could not read (perhaps a
 * withdrawal): what earlier runs queued is dropped first, or a later start would find only this
 * decision above their events.
 *
 * @example
 * ```ts
 * import type { WriteInput } from 'consent-tracker';
 * const reset: WriteInput = { record: null, raises: true, overUnread: false };
 * ```
 */
export interface WriteInput {
  readonly record: ConsentRecord | null;
  readonly raises: boolean;
  readonly overUnread: boolean;
}

/**
 * What the clear actor did after a failed write: `'rewritten'`, the decision was written again
 * right behind the removal of the stored one, and is stored; `'removed'`, only the removal
 * landed, and the write is retried. It rejects when neither landed.
 *
 * @example
 * ```ts
 * import type { ClearOutput } from 'consent-tracker';
 * const stored: ClearOutput = 'rewritten';
 * ```
 */
export type ClearOutput = 'rewritten' | 'removed';

/**
 * What the forget actor is asked to do: clear what the tracker keeps on the device that `level`
 * may not keep; on a `withdrawal`, also the user identifiers the app set on the live tracker.
 *
 * @example
 * ```ts
 * import type { ForgetInput } from 'consent-tracker';
 * const everything: ForgetInput = { level: 'off', withdrawal: true };
 * ```
 */
export interface ForgetInput {
  readonly level: ConsentLevel;
  readonly withdrawal: boolean;
}

/**
 * What reading the stored decision gave: a valid record, or none (with the reason, and an expired record's level).
 *
 * @example
 * ```ts
 * import type { LoadOutput } from 'consent-tracker';
 * const expired: LoadOutput = { record: null, problem: { code: 'STORED_DECISION_EXPIRED', message: 'older than 365 days' }, expiredLevel: 'none' };
 * ```
 */
export interface LoadOutput {
  readonly record: ConsentRecord | null;
  readonly problem?: ConsentProblem;
  /** The level of a stored decision that has expired: until the user decides again, the level stays at or below it. */
  readonly expiredLevel?: ConsentLevel;
  /** Storage held a reset: no decision, and the identity sent before it was withdrawn. */
  readonly reset?: boolean;
}

/**
 * The name of each level's state in the chart's `decision` region.
 *
 * @example
 * ```ts
 * import { LEVEL_STATES } from 'consent-tracker';
 * LEVEL_STATES['session-only']; // 'sessionOnly'
 * ```
 */
export const LEVEL_STATES = { off: 'off', none: 'none', 'session-only': 'sessionOnly', full: 'full' } as const satisfies Record<ConsentLevel, string>;

const LEVEL_STATE_LIST = Object.entries(LEVEL_STATES) as Array<[ConsentLevel, (typeof LEVEL_STATES)[ConsentLevel]]>;

const MAX_SOURCE_LENGTH = 200;

/**
 * Why a decision would be refused, or `null` if it is acceptable: the one check of the chart's
 * guard and of `setLevel`.
 *
 * @example
 * ```ts
 * import { decisionProblem } from 'consent-tracker';
 * decisionProblem('full', 'banner'); // null
 * decisionProblem('everything', 'banner')?.code; // 'INVALID_LEVEL'
 * ```
 */
export function decisionProblem(level: unknown, source: unknown): ConsentProblem | null {
  if (!isConsentLevel(level)) return { code: 'INVALID_LEVEL', message: `the level must be one of 'off', 'none', 'session-only', 'full'` };
  if (typeof source !== 'string' || source.length === 0 || source.length > MAX_SOURCE_LENGTH) {
    return { code: 'INVALID_EVENT', message: `the source must be a non-empty string of at most ${MAX_SOURCE_LENGTH} characters` };
  }
  return null;
}

/** Whether the decision stands above a withdrawal not yet in force (the level enforced is below the one last in force). */
const raisesAboveWithdrawal = (context: ConsentContext) =>
  compareLevels(context.enforced, context.inForce ?? context.enforced) < 0 && compareLevels(context.record?.level ?? context.undecidedLevel, context.enforced) > 0;

/** Whether a read gave what is stored (a decision, none, or an expired one), rather than failing. */
const UNREADABLE: ReadonlyArray<ConsentProblem['code']> = ['STORED_DATA_UNREADABLE', 'STORAGE_FAILED'];
const readable = (output: LoadOutput) => output.problem === undefined || !UNREADABLE.includes(output.problem.code);

function problemOf(error: unknown, code: ConsentProblem['code']): ConsentProblem {
  return { code, message: error instanceof Error ? error.message : String(error) };
}

type LoadDone = { event: { output: LoadOutput } };

/** What the read ended with: its output, or a failure as a `STORAGE_FAILED` problem. */
const readOutcome = ({ event }: LoadDone) => event.output;
const readFailure = ({ event }: { event: { error: unknown } }): LoadOutput => ({ record: null, problem: problemOf(event.error, 'STORAGE_FAILED') });

/**
 * What a decision for `to` means for the other regions: whether it withdraws what the tracker may
 * have been sending, and what must be forgotten. `store`: the decision was made here, and is
 * written (one synced from another tab was written there).
 */
function decidedEvent(context: ConsentContext, to: ConsentLevel, store: boolean): DecidedEvent {
  const from = context.target;
  // The level the tracker may have been at: the last in force; any, when no stored decision was read.
  const before = context.inForce ?? (context.loaded ? from : null) ?? 'full';
  const withdrawal = minLevel(to, before) !== before;
  // A lower decision forgets; so does the first decision of a run (a withdrawal may have been
  // cut short), or the first after an unreadable one (what is on the device is not known).
  const forget = !context.deviceKnown || (from !== to && (withdrawal || minLevel(to, from ?? to) === to)) ? to : null;
  return { type: 'DECIDED', from, to, forget, withdrawal, store };
}

/**
 * Where a synced decision stands against this tab's latest, in the order every tab shares:
 * positive when it is newer, or made at the same instant for a lower level (tabs then agree, on
 * the more private one); zero for the same decision.
 */
function syncOrder(context: ConsentContext, event: SyncedDecision): number {
  if (event.at !== context.decidedAt) return event.at - context.decidedAt;
  const theirs = event.record?.level ?? context.undecidedLevel;
  return compareLevels(context.target ?? context.undecidedLevel, theirs);
}

/** The decision region's transitions out of any state on a valid `CONSENT.SET`: one per level. */
const decideTransitions = LEVEL_STATE_LIST.map(([level, state]) => ({
  guard: { type: 'setTo' as const, params: { level } },
  target: `#consent.decision.${state}`,
  actions: ['announceDecision' as const, 'decide' as const],
}));

const onSet = [{ guard: not('validSet'), actions: 'reject' as const }, ...decideTransitions];

const onReset = { target: '#consent.decision.undecided.noDecision', actions: ['announceReset' as const, 'forgetDecision' as const] };

/**
 * A decision made in another tab: ignored if older than the latest this tab knows of (this tab's
 * stored again if storage holds the older one), else taken as made here, but not stored.
 */
const onSync = [
  { guard: 'storedIsOlder' as const, actions: 'storeAgain' as const },
  { guard: not('syncIsNewer') },
  ...LEVEL_STATE_LIST.map(([level, state]) => ({
    guard: { type: 'syncTo' as const, params: { level } },
    target: `#consent.decision.${state}`,
    actions: ['announceSync' as const, 'adoptSync' as const],
  })),
  { target: '#consent.decision.undecided.noDecision', actions: ['announceSyncedReset' as const, 'forgetSyncedDecision' as const] },
];

/**
 * The consent statechart (XState v5). Provide its actors to run it yourself;
 * `createConsentTracker` does.
 *
 * @example
 * ```ts
 * import { createActor, fromPromise } from 'xstate';
 * import { consentMachine, type ApplyInput, type ClearOutput, type ConsentProblem, type ConsentRecord, type ForgetInput } from 'consent-tracker';
 * const actor = createActor(
 *   consentMachine.provide({
 *     actors: {
 *       loadDecision: fromPromise(async () => ({ record: null as ConsentRecord | null })),
 *       startTracker: fromPromise(async () => undefined),
 *       apply: fromPromise(async ({ input }: { input: ApplyInput }) => void input.level),
 *       forget: fromPromise(async ({ input }: { input: ForgetInput }) => void input.level),
 *       writeDecision: fromPromise(async (): Promise<ConsentProblem | undefined> => undefined),
 *       clearDecision: fromPromise(async (): Promise<ClearOutput> => 'rewritten'),
 *     },
 *   }),
 *   { input: { undecidedLevel: 'none' } },
 * ).start();
 * actor.send({ type: 'CONSENT.SET', level: 'full', source: 'banner' });
 * ```
 */
export const consentMachine = setup({
  types: {
    context: {} as ConsentContext,
    events: {} as ConsentEvent,
    input: {} as ConsentMachineInput,
  },
  actors: {
    // Each is replaced by `createConsentTracker` with `machine.provide({ actors })`.
    loadDecision: fromPromise<LoadOutput>(async () => ({ record: null })),
    startTracker: fromPromise<undefined>(async () => undefined),
    apply: fromPromise<undefined, ApplyInput>(async () => undefined),
    forget: fromPromise<undefined, ForgetInput>(async () => undefined),
    writeDecision: fromPromise<ConsentProblem | undefined, WriteInput>(async () => undefined),
    clearDecision: fromPromise<ClearOutput, Pick<WriteInput, 'record'>>(async () => 'rewritten'),
  },
  delays: {
    applyTimeout: ({ context }) => context.applyTimeoutMs,
    startTimeout: ({ context }) => context.startTimeoutMs,
    storageRetry: ({ context }) => context.storageRetryMs,
  },
  guards: {
    validSet: ({ event }) => event.type === 'CONSENT.SET' && decisionProblem(event.level, event.source) === null,
    setTo: ({ event }, params: { level: ConsentLevel }) => event.type === 'CONSENT.SET' && event.level === params.level,
    syncIsNewer: ({ context, event }) => event.type === 'CONSENT.SYNC' && syncOrder(context, event) > 0 && (event.record === null || isConsentLevel(event.record.level)),
    /** Storage holds a decision older than this tab's: another tab's write landed after this one's. */
    storedIsOlder: ({ context, event }) => event.type === 'CONSENT.SYNC' && event.stored === true && syncOrder(context, event) < 0,
    syncTo: ({ event }, params: { level: ConsentLevel }) => event.type === 'CONSENT.SYNC' && event.record?.level === params.level,
    loadedLevelIs: (_, params: { loaded: ConsentLevel | undefined; level: ConsentLevel }) => params.loaded === params.level,
    loadProblemIs: (_, params: { problem: ConsentProblem['code'] | undefined; codes: ReadonlyArray<ConsentProblem['code']> }) =>
      params.problem !== undefined && params.codes.includes(params.problem),
    /** The read that just ended found the stored decision unreadable (see `storedDecision`). */
    storedUnread: ({ context }) => context.storedUnread,
    noTarget: ({ context }) => context.target === null,
    /** A decision that changes where the tracker is going, or starts a clean-up it must wait for. */
    targetMoved: ({ event }) => event.type === 'DECIDED' && (event.from !== event.to || event.forget !== null),
    /** A decision for another level than the one in force, or one whose clean-up the level must be applied again after. */
    leavesInForce: ({ context, event }) => event.type === 'DECIDED' && (event.to !== context.inForce || event.forget !== null),
    asksToForget: ({ event }) => event.type === 'DECIDED' && event.forget !== null,
    asksToStore: ({ event }) => event.type === 'DECIDED' && event.store,
    forgetAgain: ({ context }) => context.forgetAgain !== null,
    /** The decision's write was held back, with the problem as its output. */
    writeHeldBack: ({ event }) => event.type === `xstate.done.actor.${CHART_ACTORS.write}` && (event as { output?: unknown }).output !== undefined,
    /** The decision was written again behind the removal of the stored one, and landed. */
    decisionRewritten: ({ event }) => event.type === `xstate.done.actor.${CHART_ACTORS.clear}` && (event as { output?: unknown }).output === 'rewritten',
    cleanupIdle: stateIn('#consent.cleanup.idle'),
    holdsUntilDecided: ({ context }) => context.holdUntilDecided,
    /** The tracker is in force (or failed closed at the lower level), and no decision is awaited before sending. */
    gateMayOpen: and([
      or([stateIn('#consent.tracker.inForce'), stateIn('#consent.tracker.failed')]),
      not(and(['holdsUntilDecided', stateIn('#consent.decision.undecided')])),
    ]),
  },
  actions: {
    /** Tells the other regions about a decision; runs before `decide`, so `from` is the level before it. */
    announceDecision: raise(({ context, event }) => decidedEvent(context, (event as { level: ConsentLevel }).level, true)),
    storeAgain: raise(({ context }) => ({ type: 'DECIDED' as const, from: context.target, to: context.target ?? context.undecidedLevel, forget: null, withdrawal: false, store: true })),
    announceSync: raise(({ context, event }) => decidedEvent(context, (event as SyncedDecision).record?.level ?? context.undecidedLevel, false)),
    adoptSync: assign(({ context, event }) => {
      if (event.type !== 'CONSENT.SYNC' || event.record === null) return {};
      return { record: event.record, loaded: false, deviceKnown: true, target: event.record.level, enforced: minLevel(context.enforced, event.record.level), error: null, decidedAt: event.at };
    }),
    announceSyncedReset: raise(({ context }) => ({ type: 'DECIDED' as const, from: context.target, to: context.undecidedLevel, forget: 'off' as const, withdrawal: true, store: false })),
    forgetSyncedDecision: assign(({ context, event }) => ({
      record: null,
      loaded: false,
      deviceKnown: true,
      target: context.undecidedLevel,
      enforced: minLevel(context.enforced, context.undecidedLevel),
      error: null,
      decidedAt: event.type === 'CONSENT.SYNC' ? event.at : context.decidedAt,
    })),
    decide: assign(({ context, event }) => {
      if (event.type !== 'CONSENT.SET') return {};
      const decidedAt = Date.now();
      return {
        record: { level: event.level, decidedAt, policyVersion: context.policyVersion, source: event.source },
        decidedAt,
        loaded: false,
        deviceKnown: true,
        target: event.level,
        enforced: minLevel(context.enforced, event.level),
        error: null,
      };
    }),
    announceReset: raise(({ context }) => ({ type: 'DECIDED' as const, from: context.target, to: context.undecidedLevel, forget: 'off' as const, withdrawal: true, store: true })),
    forgetDecision: assign(({ context }) => ({ record: null, loaded: false, deviceKnown: true, target: context.undecidedLevel, enforced: minLevel(context.enforced, context.undecidedLevel), error: null, decidedAt: Date.now() })),
    /** A decision read from storage (or none): the level it stands for, and the problem if any. */
    loaded: assign(({ context }, params: { output: LoadOutput; target: ConsentLevel }) => ({
      record: params.output.record,
      // What could not be read says nothing of the level before: it counts as unknown.
      loaded: readable(params.output),
      deviceKnown: context.deviceKnown || readable(params.output),
      target: params.target,
      inForce: context.inForce ?? params.output.record?.level ?? null,
      enforced: minLevel(context.enforced, params.target),
      decidedAt: Math.max(context.decidedAt, params.output.record?.decidedAt ?? 0),
      error: params.output.problem ?? null,
    })),
    announceLoaded: raise(({ context }, params: { target: ConsentLevel; forget: boolean }) => ({
      type: 'DECIDED' as const,
      from: context.target,
      to: params.target,
      forget: params.forget ? params.target : null,
      withdrawal: false,
      store: false,
    })),
    /** Tells the other regions what reading the stored decision gave. */
    tellRead: raise((_, output: LoadOutput) => ({ type: 'STORED_READ' as const, output })),
    markUnread: assign((_, params: { unread: boolean }) => ({ storedUnread: params.unread })),
    reject: assign(({ event }) => ({ error: event.type === 'CONSENT.SET' ? decisionProblem(event.level, event.source) : null })),
    putInForce: assign(({ context }) => ({ inForce: context.target, enforced: context.target ?? context.enforced, decisionInForce: context.decisionInForce || context.deviceKnown })),
    fail: assign((_, params: ConsentProblem) => ({ error: params })),
    converge: assign({ converged: true }),
    /** A retry starts afresh: the problem it retries is no longer the last word (a new failure reports its own). */
    clearError: assign({ error: null }),
    startForgetting: assign(({ event }) => ({
      forgetting: event.type === 'DECIDED' && event.forget !== null ? { level: event.forget, withdrawal: event.withdrawal } : { level: 'off' as const, withdrawal: true },
      forgetAgain: null,
    })),
    queueForgetting: assign(({ context, event }) =>
      event.type === 'DECIDED' && event.forget !== null
        ? { forgetAgain: { level: minLevel(context.forgetAgain?.level ?? event.forget, event.forget), withdrawal: event.withdrawal || context.forgetAgain?.withdrawal === true } }
        : {},
    ),
    forgetQueued: assign(({ context }) => ({ forgetting: context.forgetAgain ?? context.forgetting, forgetAgain: null })),
  },
}).createMachine({
  id: 'consent',
  type: 'parallel',
  context: ({ input }) => {
    const undecidedLevel = input.undecidedLevel ?? 'none';
    return {
      // Until the stored decision is read, nothing leaves with identifiers.
      enforced: minLevel(undecidedLevel, 'none'),
      target: null,
      inForce: null,
      record: null,
      loaded: false,
      forgetting: { level: 'off', withdrawal: false },
      deviceKnown: false,
      forgetAgain: null,
      converged: false,
      decisionInForce: false,
      storedUnread: false,
      error: null,
      decidedAt: 0,
      undecidedLevel,
      holdUntilDecided: input.holdUntilDecided ?? false,
      applyTimeoutMs: input.applyTimeoutMs ?? 10_000,
      startTimeoutMs: input.startTimeoutMs ?? input.applyTimeoutMs ?? 10_000,
      storageRetryMs: input.storageRetryMs ?? 1000,
      policyVersion: input.policyVersion ?? '1',
    };
  },
  states: {
    storedDecision: {
      initial: 'reading',
      states: {
        reading: {
          invoke: {
            id: CHART_ACTORS.load,
            src: 'loadDecision',
            onDone: [
              {
                guard: { type: 'loadProblemIs', params: ({ event }) => ({ problem: event.output.problem?.code, codes: UNREADABLE }) },
                target: 'unread',
                actions: { type: 'tellRead', params: readOutcome },
              },
              { target: 'read', actions: { type: 'tellRead', params: readOutcome } },
            ],
            onError: { target: 'unread', actions: { type: 'tellRead', params: readFailure } },
          },
        },
        // The flag is set on entry, before the raised STORED_READ is taken by the other regions.
        read: { entry: { type: 'markUnread', params: { unread: false } } },
        // Read again only while it stands for the decision (a decision made since wins over it).
        unread: {
          entry: { type: 'markUnread', params: { unread: true } },
          on: { 'CONSENT.RETRY': { guard: stateIn('#consent.decision.undecided.unreadable'), target: 'reading' } },
        },
      },
    },
    decision: {
      initial: 'booting',
      states: {
        booting: {
          on: {
            STORED_READ: [
              ...LEVEL_STATE_LIST.map(([level, state]) => ({
                guard: { type: 'loadedLevelIs' as const, params: ({ event }: LoadDone) => ({ loaded: event.output.record?.level, level }) },
                target: state,
                actions: [
                  { type: 'announceLoaded' as const, params: { target: level, forget: true } },
                  { type: 'loaded' as const, params: ({ event }: LoadDone) => ({ output: event.output, target: level }) },
                ],
              })),
              // What cannot be read counts as the lowest level; it is not a withdrawal, so nothing is cleared.
              {
                guard: { type: 'loadProblemIs', params: ({ event }) => ({ problem: event.output.problem?.code, codes: UNREADABLE }) },
                target: 'undecided.unreadable',
                actions: [{ type: 'announceLoaded', params: { target: 'off', forget: false } }, { type: 'loaded', params: ({ event }) => ({ output: event.output, target: 'off' }) }],
              },
              // An expired decision is asked again, and the level stays at or below it meanwhile.
              {
                guard: { type: 'loadProblemIs', params: ({ event }) => ({ problem: event.output.problem?.code, codes: ['STORED_DECISION_EXPIRED'] }) },
                target: 'undecided.expired',
                actions: [
                  {
                    type: 'announceLoaded',
                    params: ({ context, event }) => ({ target: minLevel(context.undecidedLevel, event.output.expiredLevel ?? 'off'), forget: true }),
                  },
                  { type: 'loaded', params: ({ context, event }) => ({ output: event.output, target: minLevel(context.undecidedLevel, event.output.expiredLevel ?? 'off') }) },
                ],
              },
              {
                target: 'undecided.noDecision',
                actions: [
                  { type: 'announceLoaded', params: ({ context }) => ({ target: context.undecidedLevel, forget: true }) },
                  { type: 'loaded', params: ({ context, event }) => ({ output: event.output, target: context.undecidedLevel }) },
                ],
              },
            ],
            // A decision made while booting is the user's latest word: it wins over the stored one.
            'CONSENT.SET': onSet,
            'CONSENT.RESET': onReset,
            'CONSENT.SYNC': onSync,
          },
        },
        undecided: {
          meta: { description: 'No decision in force: the undecided level, off for an unreadable decision, at most the expired level.' },
          initial: 'noDecision',
          states: {
            noDecision: {},
            unreadable: { on: { 'CONSENT.RETRY': { target: '#consent.decision.booting', actions: 'clearError' } } },
            expired: {},
          },
          on: { 'CONSENT.SET': onSet, 'CONSENT.SYNC': onSync },
        },
        ...(Object.fromEntries(
          LEVEL_STATE_LIST.map(([level, state]) => [
            state,
            { meta: { level, configuration: DEFAULT_TRACKER_CONFIGURATIONS[level] }, on: { 'CONSENT.SET': onSet, 'CONSENT.RESET': onReset, 'CONSENT.SYNC': onSync } },
          ]),
        ) as Record<(typeof LEVEL_STATES)[ConsentLevel], object>),
      },
    },
    tracker: {
      initial: 'starting',
      states: {
        starting: {
          invoke: {
            id: CHART_ACTORS.start,
            src: 'startTracker',
            onDone: 'converging',
            onError: { target: 'converging', actions: { type: 'fail', params: ({ event }) => problemOf(event.error, 'APPLY_FAILED') } },
          },
          // A tracker that never comes up (its storage never answers) must not hold every promise forever.
          after: { startTimeout: { target: 'converging', actions: { type: 'fail', params: { code: 'APPLY_TIMEOUT', message: 'the tracker did not start in time' } } } },
        },
        converging: { always: [{ guard: 'noTarget', target: 'waiting' }, { target: 'applying' }] },
        waiting: { on: { DECIDED: 'applying' } },
        applying: {
          initial: 'awaitingCleanup',
          states: {
            // A grant never runs beside a withdrawal's clean-up: it would store what is being forgotten.
            awaitingCleanup: { always: { guard: 'cleanupIdle', target: 'reconfiguring' } },
            reconfiguring: {
              invoke: {
                id: CHART_ACTORS.apply,
                src: 'apply',
                input: ({ context }) => ({ level: context.target ?? context.enforced, from: context.inForce ?? context.target ?? context.enforced, decided: context.deviceKnown }),
                onDone: { target: '#consent.tracker.inForce', actions: 'putInForce' },
                onError: { target: '#consent.tracker.failed', actions: { type: 'fail', params: ({ event }) => problemOf(event.error, 'APPLY_FAILED') } },
              },
              after: {
                applyTimeout: {
                  target: '#consent.tracker.failed',
                  actions: { type: 'fail', params: ({ context }) => ({ code: 'APPLY_TIMEOUT' as const, message: `applying '${context.target}' timed out` }) },
                },
              },
            },
          },
          // A new decision replaces the change under way (leaving the state aborts its actor).
          on: { DECIDED: { guard: 'targetMoved', target: 'applying', reenter: true } },
        },
        inForce: { entry: 'converge', on: { DECIDED: { guard: 'leavesInForce', target: 'applying' } } },
        /** The lower level stays enforced until a retry or a new decision. */
        failed: { entry: 'converge', on: { DECIDED: 'applying', 'CONSENT.RETRY': { target: 'applying', actions: 'clearError' } } },
      },
    },
    cleanup: {
      initial: 'idle',
      states: {
        idle: { on: { DECIDED: { guard: 'asksToForget', target: 'forgetting', actions: 'startForgetting' } } },
        forgetting: {
          invoke: {
            id: CHART_ACTORS.forget,
            src: 'forget',
            input: ({ context }) => context.forgetting,
            onDone: [{ guard: 'forgetAgain', target: 'forgetting', reenter: true, actions: 'forgetQueued' }, { target: 'idle' }],
            onError: [
              { guard: 'forgetAgain', target: 'forgetting', reenter: true, actions: ['forgetQueued', { type: 'fail', params: ({ event }) => problemOf(event.error, 'APPLY_FAILED') }] },
              { target: 'idle', actions: { type: 'fail', params: ({ event }) => problemOf(event.error, 'APPLY_FAILED') } },
            ],
          },
          // Storage that never answers: give up on this clean-up (its actor stops before removing anything).
          after: {
            applyTimeout: [
              { guard: 'forgetAgain', target: 'forgetting', reenter: true, actions: ['forgetQueued', { type: 'fail', params: { code: 'APPLY_TIMEOUT', message: 'forgetting timed out' } }] },
              { target: 'idle', actions: { type: 'fail', params: { code: 'APPLY_TIMEOUT', message: 'forgetting timed out' } } },
            ],
          },
          // No decision cancels a clean-up: a further one runs after it.
          on: { DECIDED: { guard: 'asksToForget', actions: 'queueForgetting' } },
        },
      },
    },
    persistence: {
      initial: 'unwritten',
      states: {
        /** No decision made in this run yet: storage holds what an earlier run left. */
        unwritten: { on: { DECIDED: { guard: 'asksToStore', target: 'writing' } } },
        // A decision written before the read of the stored one failed is written again, over the unread one.
        saved: { on: { DECIDED: { guard: 'asksToStore', target: 'writing' }, STORED_READ: { guard: 'storedUnread', target: 'writing' } } },
        writing: {
          invoke: {
            id: CHART_ACTORS.write,
            src: 'writeDecision',
            input: ({ context }) => ({ record: context.record, raises: raisesAboveWithdrawal(context), overUnread: context.storedUnread }),
            onDone: [
              // Held back (a grant whose identity could not be stored first, or a decision over an unread one stored as off until earlier runs' queues are held to it): retried.
              { guard: 'writeHeldBack', target: 'retrying', actions: { type: 'fail', params: ({ event }) => event.output as ConsentProblem } },
              { target: 'saved' },
            ],
            onError: { target: 'clearing', actions: { type: 'fail', params: ({ event }) => problemOf(event.error, 'STORAGE_FAILED') } },
          },
          // The newer decision is written after the one under way (writes land in order).
          on: { DECIDED: { guard: 'asksToStore', target: 'writing', reenter: true }, STORED_READ: { guard: 'storedUnread', target: 'writing', reenter: true } },
        },
        /**
         * The write failed: whatever is stored must not outlive a withdrawal, so it is removed, and
         * the decision written again right behind (no decision stored reads as the undecided
         * level, which may be above a withdrawal).
         */
        clearing: {
          invoke: {
            id: CHART_ACTORS.clear,
            src: 'clearDecision',
            input: ({ context }) => ({ record: context.record }),
            onDone: [{ guard: 'decisionRewritten', target: 'saved' }, { target: 'retrying' }],
            onError: { target: 'retrying', actions: { type: 'fail', params: ({ event }) => problemOf(event.error, 'STORAGE_REFUSED') } },
          },
          on: { DECIDED: { guard: 'asksToStore', target: 'writing' }, STORED_READ: { guard: 'storedUnread', target: 'writing' }, 'CONSENT.STOP': 'writing' },
        },
        retrying: {
          after: { storageRetry: 'writing' },
          // At stop the write is tried once more: a withdrawal that storage refused a moment ago must still reach the next start.
          on: {
            'CONSENT.RETRY': { target: 'writing', actions: 'clearError' },
            'CONSENT.STOP': 'writing',
            DECIDED: { guard: 'asksToStore', target: 'writing' },
            STORED_READ: { guard: 'storedUnread', target: 'writing' },
          },
        },
      },
    },
    gate: {
      initial: 'holding',
      states: {
        holding: { always: { guard: 'gateMayOpen', target: 'open' } },
        open: { always: { guard: not('gateMayOpen'), target: 'holding' } },
      },
    },
  },
});

