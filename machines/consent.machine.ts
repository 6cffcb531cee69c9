/**
 * The consent statechart: it holds the consent level and guarantees the transition rules of the
 * leak contract (DESIGN.md section 2, rules 2 to 6). It knows nothing of Snowplow or React: the
 * tracker is reconfigured by the `apply` actor and the stored decision is read by `loadDecision`,
 * both provided by the controller.
 *
 * - `booting` reads the stored decision; nothing leaves with identifiers meanwhile.
 * - `undecided` enforces the configured undecided level (default `none`).
 * - each level has `applying` (the apply actor runs, with a timeout) and `active`.
 * - entering `applying` lowers the enforced level at once to `min(old, new)`; only entering
 *   `active` raises it. A failure or a timeout goes to `failed`, with the lower level enforced.
 */
import { produce } from 'immer';
import { assign, fromPromise, not, setup } from 'xstate';
import { isConsentLevel, minLevel, type ConsentLevel } from '../src/levels.js';

/**
 * The id of the invoked apply actor: its completion events are `xstate.done.actor.apply` and `xstate.error.actor.apply`.
 *
 * @example
 * ```ts
 * import { APPLY_ACTOR_ID } from 'consent-tracker';
 * const done = `xstate.done.actor.${APPLY_ACTOR_ID}`; // the event that ends a change
 * ```
 */
export const APPLY_ACTOR_ID = 'apply';
/**
 * The id of the invoked actor that reads the stored decision.
 *
 * @example
 * ```ts
 * import { LOAD_ACTOR_ID } from 'consent-tracker';
 * const loaded = `xstate.done.actor.${LOAD_ACTOR_ID}`; // the event that ends booting
 * ```
 */
export const LOAD_ACTOR_ID = 'loadDecision';

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
 * A problem the chart records in context: a rejected event, a failed apply, an unreadable record.
 *
 * @example
 * ```ts
 * import type { ConsentProblem } from 'consent-tracker';
 * const problem: ConsentProblem = { code: 'APPLY_TIMEOUT', message: "applying 'full' timed out" };
 * ```
 */
export interface ConsentProblem {
  readonly code: 'INVALID_LEVEL' | 'INVALID_EVENT' | 'SAME_LEVEL' | 'APPLY_FAILED' | 'APPLY_TIMEOUT' | 'STORED_DATA_UNREADABLE' | 'STORED_DECISION_EXPIRED' | 'STORAGE_FAILED';
  readonly message: string;
}

/**
 * The chart's context: the level enforced now, the decision and what is being applied.
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
  enforced: ConsentLevel;
  /** The level being applied or in force; `null` while booting or undecided. */
  target: ConsentLevel | null;
  /** A change that arrived while another was being applied. */
  pending: { level: ConsentLevel; source: string } | null;
  /** The stored decision, `null` when there is none. */
  record: ConsentRecord | null;
  /** Events the gate held, released, and dropped (overflow, `off`). */
  counters: { held: number; released: number; dropped: number };
  /** The last problem: a rejection, a failure, an unreadable or expired record. */
  error: ConsentProblem | null;
  undecidedLevel: ConsentLevel;
  applyTimeoutMs: number;
  policyVersion: string;
}

/**
 * The events the chart takes.
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
  | { type: 'GATE.COUNT'; held?: number; released?: number; dropped?: number };

export interface ConsentMachineInput {
  undecidedLevel?: ConsentLevel;
  applyTimeoutMs?: number;
  policyVersion?: string;
}

/** What the apply actor is asked to do: bring the tracker to `level`, coming from `from`. */
export interface ApplyInput {
  readonly level: ConsentLevel;
  readonly from: ConsentLevel;
  /** The decision to persist, or `null` to forget the stored one. */
  readonly record: ConsentRecord | null;
}

/**
 * What the apply actor reports: `overtaken` when it stopped its steps for a lower level that was
 * waiting. If that level has been taken back by the time the chart hears it, the change is
 * applied again rather than marked in force.
 */
export type ApplyOutput = { readonly overtaken?: boolean } | undefined;

/** What reading the stored decision gave: a valid record, or none (with the reason, if any). */
export interface LoadOutput {
  readonly record: ConsentRecord | null;
  readonly problem?: ConsentProblem;
}

/** The state name of each level. */
export const LEVEL_STATES = { off: 'off', none: 'none', 'session-only': 'sessionOnly', full: 'full' } as const satisfies Record<ConsentLevel, string>;

const LEVEL_STATE_LIST = Object.entries(LEVEL_STATES) as Array<[ConsentLevel, (typeof LEVEL_STATES)[ConsentLevel]]>;

function problemOf(error: unknown, code: ConsentProblem['code']): ConsentProblem {
  return { code, message: error instanceof Error ? error.message : String(error) };
}

/** Why a `CONSENT.SET` is rejected, or `null` if it is acceptable. */
function rejectionOf(event: ConsentEvent, current: ConsentLevel | null): ConsentProblem | null {
  if (event.type !== 'CONSENT.SET') return null;
  const { level, source } = event as { level: unknown; source: unknown };
  if (!isConsentLevel(level)) return { code: 'INVALID_LEVEL', message: `CONSENT.SET needs a level of 'off', 'none', 'session-only' or 'full'` };
  if (typeof source !== 'string' || source.length === 0 || source.length > 200) {
    return { code: 'INVALID_EVENT', message: 'CONSENT.SET needs a source: a non-empty string of at most 200 characters' };
  }
  if (level === current) return { code: 'SAME_LEVEL', message: `the level is already '${level}'` };
  return null;
}

/** From `undecided` or `failed`: any valid decision is applied; anything else is rejected. */
const decideAnyLevel = [
  { guard: not('validSet'), actions: 'reject' as const },
  ...LEVEL_STATE_LIST.map(([level, state]) => ({
    guard: { type: 'setTo' as const, params: { level } },
    target: state,
    actions: 'decide' as const,
  })),
];

/**
 * The consent statechart (XState v5), pure: levels are states, each with an `applying` substate
 * (the gate closed, the apply actor invoked, a timeout) and an `active` one. Provide the `apply`
 * and `loadDecision` actors to run it yourself; `createConsentTracker` does.
 *
 * @example
 * ```ts
 * import { createActor, fromPromise } from 'xstate';
 * import { consentMachine, type ConsentRecord } from 'consent-tracker';
 * const actor = createActor(
 *   consentMachine.provide({
 *     actors: {
 *       loadDecision: fromPromise(async () => ({ record: null as ConsentRecord | null })),
 *       apply: fromPromise(async (): Promise<{ overtaken?: boolean } | undefined> => undefined),
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
    // Replaced by the controller with `machine.provide({ actors })`.
    apply: fromPromise<ApplyOutput, ApplyInput>(async () => undefined),
    loadDecision: fromPromise<LoadOutput>(async () => ({ record: null })),
  },
  delays: {
    applyTimeout: ({ context }) => context.applyTimeoutMs,
  },
  guards: {
    /** A `CONSENT.SET` with a known level and a source. */
    validSet: ({ event }) => rejectionOf(event, null) === null,
    /** A `CONSENT.SET` to the level already in force, or already next in line. */
    sameLevel: ({ context, event }) => event.type === 'CONSENT.SET' && event.level === (context.pending?.level ?? context.target),
    setTo: ({ event }, params: { level: ConsentLevel }) => event.type === 'CONSENT.SET' && event.level === params.level,
    pendingIs: ({ context }, params: { level: ConsentLevel }) => context.pending?.level === params.level,
    overtaken: ({ event }) => (event as { output?: ApplyOutput }).output?.overtaken === true,
    /** The stored decision just read is for this level. */
    loadedLevelIs: (_, params: { loaded: ConsentLevel | null; level: ConsentLevel }) => params.loaded === params.level,
    targetIs: ({ context }, params: { level: ConsentLevel }) => context.target === params.level,
  },
  actions: {
    /** Entering `applying`: the enforced level drops at once to `min(old, new)`. */
    lowerTo: assign(({ context }, params: { level: ConsentLevel }) => ({ enforced: minLevel(context.enforced, params.level), target: params.level })),
    /** Entering `active`: only now may the enforced level rise. */
    raiseTo: assign((_, params: { level: ConsentLevel }) => ({ enforced: params.level, target: params.level, error: null })),
    decide: assign(({ context, event }) => {
      if (event.type !== 'CONSENT.SET') return {};
      return {
        record: { level: event.level, decidedAt: Date.now(), policyVersion: context.policyVersion, source: event.source },
        pending: null,
        error: null,
      };
    }),
    decidePending: assign(({ context }) =>
      context.pending
        ? { record: { level: context.pending.level, decidedAt: Date.now(), policyVersion: context.policyVersion, source: context.pending.source }, pending: null }
        : {},
    ),
    dropPending: assign({ pending: null }),
    holdPending: assign(({ context, event }) => {
      if (event.type !== 'CONSENT.SET') return {};
      // A pending downgrade is enforced at once, not when its turn comes.
      return { pending: { level: event.level, source: event.source }, enforced: minLevel(context.enforced, event.level) };
    }),
    reject: assign(({ context, event }) => ({ error: rejectionOf(event, context.pending?.level ?? context.target) })),
    forget: assign({ record: null, pending: null, target: null, error: null }),
    enterUndecided: assign(({ context }) => ({ enforced: context.undecidedLevel, target: null })),
    fail: assign((_, params: ConsentProblem) => ({ error: params, pending: null })),
    /** A change failed with a decision waiting: the error is kept, the decision goes ahead. */
    failOver: assign((_, params: ConsentProblem) => ({ error: params })),
    loaded: assign((_, params: LoadOutput) => ({ record: params.record, error: params.problem ?? null })),
    count: assign(({ context, event }) =>
      event.type !== 'GATE.COUNT'
        ? {}
        : {
            counters: produce(context.counters, (draft) => {
              draft.held += event.held ?? 0;
              draft.released += event.released ?? 0;
              draft.dropped += event.dropped ?? 0;
            }),
          },
    ),
  },
}).createMachine({
  id: 'consent',
  initial: 'booting',
  context: ({ input }) => {
    const undecidedLevel = input.undecidedLevel ?? 'none';
    return {
      // Until the stored decision is read, nothing leaves with identifiers (rule 4).
      enforced: minLevel(undecidedLevel, 'none'),
      target: null,
      pending: null,
      record: null,
      counters: { held: 0, released: 0, dropped: 0 },
      error: null,
      undecidedLevel,
      applyTimeoutMs: input.applyTimeoutMs ?? 10_000,
      policyVersion: input.policyVersion ?? '1',
    };
  },
  on: {
    'GATE.COUNT': { actions: 'count' },
  },
  states: {
    booting: {
      tags: ['busy'],
      invoke: {
        id: LOAD_ACTOR_ID,
        src: 'loadDecision',
        onDone: [
          ...LEVEL_STATE_LIST.map(([level, state]) => ({
            guard: {
              type: 'loadedLevelIs' as const,
              params: ({ event }: { event: { output: LoadOutput } }) => ({ loaded: event.output.record?.level ?? null, level }),
            },
            target: state,
            actions: { type: 'loaded' as const, params: ({ event }: { event: { output: LoadOutput } }) => event.output },
          })),
          { target: 'undecided', actions: { type: 'loaded', params: ({ event }) => event.output } },
        ],
        onError: { target: 'undecided', actions: { type: 'fail', params: ({ event }) => problemOf(event.error, 'STORAGE_FAILED') } },
      },
    },
    undecided: {
      entry: 'enterUndecided',
      on: {
        'CONSENT.SET': decideAnyLevel,
        'CONSENT.RESET': { actions: assign({ error: { code: 'SAME_LEVEL', message: 'there is no decision to forget' } }) },
      },
    },
    ...(Object.fromEntries(
      LEVEL_STATE_LIST.map(([level, state]) => [
        state,
        {
          initial: 'applying',
          states: {
            applying: {
              tags: ['busy'],
              entry: { type: 'lowerTo', params: { level } },
              invoke: {
                id: APPLY_ACTOR_ID,
                src: 'apply',
                input: ({ context }: { context: ConsentContext }): ApplyInput => ({ level, from: context.enforced, record: context.record }),
                onDone: [
                  ...LEVEL_STATE_LIST.map(([pendingLevel, pendingState]) => ({
                    guard: { type: 'pendingIs' as const, params: { level: pendingLevel } },
                    target: `#consent.${pendingState}`,
                    actions: 'decidePending' as const,
                  })),
                  // Overtaken, and the lower level taken back since: not in force yet, apply again.
                  { guard: 'overtaken' as const, target: 'applying', reenter: true },
                  { target: 'active' },
                ],
                onError: [
                  // A decision made meanwhile is the user's latest word: it goes ahead, rather than a retry of this one.
                  ...LEVEL_STATE_LIST.map(([pendingLevel, pendingState]) => ({
                    guard: { type: 'pendingIs' as const, params: { level: pendingLevel } },
                    target: `#consent.${pendingState}`,
                    actions: [
                      { type: 'failOver' as const, params: ({ event }: { event: { error: unknown } }) => problemOf(event.error, 'APPLY_FAILED') },
                      'decidePending' as const,
                    ],
                  })),
                  { target: '#consent.failed', actions: { type: 'fail', params: ({ event }: { event: { error: unknown } }) => problemOf(event.error, 'APPLY_FAILED') } },
                ],
              },
              after: {
                applyTimeout: [
                  ...LEVEL_STATE_LIST.map(([pendingLevel, pendingState]) => ({
                    guard: { type: 'pendingIs' as const, params: { level: pendingLevel } },
                    target: `#consent.${pendingState}`,
                    actions: [{ type: 'failOver' as const, params: { code: 'APPLY_TIMEOUT' as const, message: `applying '${level}' timed out` } }, 'decidePending' as const],
                  })),
                  { target: '#consent.failed', actions: { type: 'fail', params: { code: 'APPLY_TIMEOUT', message: `applying '${level}' timed out` } } },
                ],
              },
              on: {
                'CONSENT.SET': [
                  { guard: not('validSet'), actions: 'reject' },
                  { guard: 'sameLevel', actions: 'reject' },
                  // Back to the level being applied: the change in line is cancelled.
                  { guard: { type: 'setTo', params: { level } }, actions: 'dropPending' },
                  { actions: 'holdPending' },
                ],
                'CONSENT.RESET': { target: '#consent.forgetting' },
              },
            },
            active: {
              entry: { type: 'raiseTo', params: { level } },
              on: {
                'CONSENT.SET': [
                  { guard: not('validSet'), actions: 'reject' },
                  { guard: 'sameLevel', actions: 'reject' },
                  ...LEVEL_STATE_LIST.filter(([other]) => other !== level).map(([other, otherState]) => ({
                    guard: { type: 'setTo' as const, params: { level: other } },
                    target: `#consent.${otherState}`,
                    actions: 'decide' as const,
                  })),
                ],
                'CONSENT.RESET': { target: '#consent.forgetting' },
              },
            },
          },
        },
      ]),
    ) as Record<(typeof LEVEL_STATES)[ConsentLevel], { initial: 'applying'; states: { applying: object; active: object } }>),
    /** Forgetting the decision: the tracker is brought to the undecided level and the record removed. */
    forgetting: {
      tags: ['busy'],
      entry: [assign(({ context }) => ({ enforced: minLevel(context.enforced, context.undecidedLevel) })), 'forget'],
      invoke: {
        id: APPLY_ACTOR_ID,
        src: 'apply',
        input: ({ context }) => ({ level: context.undecidedLevel, from: context.enforced, record: null }),
        onDone: [
          // A decision made while forgetting waits its turn (a lower level is enforced at once).
          ...LEVEL_STATE_LIST.map(([pendingLevel, pendingState]) => ({
            guard: { type: 'pendingIs' as const, params: { level: pendingLevel } },
            target: pendingState,
            actions: 'decidePending' as const,
          })),
          // Overtaken by a lower decision that a second reset dropped: forget again, in full.
          { guard: 'overtaken' as const, target: 'forgetting', reenter: true },
          { target: 'undecided' },
        ],
        onError: [
          // A decision made meanwhile is the user's latest word: it goes ahead.
          ...LEVEL_STATE_LIST.map(([pendingLevel, pendingState]) => ({
            guard: { type: 'pendingIs' as const, params: { level: pendingLevel } },
            target: pendingState,
            actions: [
              { type: 'failOver' as const, params: ({ event }: { event: { error: unknown } }) => problemOf(event.error, 'APPLY_FAILED') },
              'decidePending' as const,
            ],
          })),
          { target: 'failed', actions: { type: 'fail', params: ({ event }) => problemOf(event.error, 'APPLY_FAILED') } },
        ],
      },
      after: {
        applyTimeout: [
          ...LEVEL_STATE_LIST.map(([pendingLevel, pendingState]) => ({
            guard: { type: 'pendingIs' as const, params: { level: pendingLevel } },
            target: pendingState,
            actions: [{ type: 'failOver' as const, params: { code: 'APPLY_TIMEOUT' as const, message: 'forgetting the decision timed out' } }, 'decidePending' as const],
          })),
          { target: 'failed', actions: { type: 'fail', params: { code: 'APPLY_TIMEOUT', message: 'forgetting the decision timed out' } } },
        ],
      },
      on: {
        'CONSENT.SET': [{ guard: not('validSet'), actions: 'reject' }, { guard: 'sameLevel', actions: 'reject' }, { actions: 'holdPending' }],
        // Forget again: a decision made meanwhile is forgotten too.
        'CONSENT.RESET': { actions: 'dropPending' },
      },
    },
    /** A change failed or timed out: the lower level stays enforced until a retry or a new decision. */
    failed: {
      on: {
        'CONSENT.RETRY': [
          ...LEVEL_STATE_LIST.map(([level, state]) => ({ guard: { type: 'targetIs' as const, params: { level } }, target: state })),
          { target: 'forgetting' },
        ],
        'CONSENT.SET': decideAnyLevel,
        'CONSENT.RESET': { target: 'forgetting' },
      },
    },
  },
});
