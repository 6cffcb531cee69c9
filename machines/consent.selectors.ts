import type { SnapshotFrom } from 'xstate';
import type { ConsentProblem, consentMachine } from './consent.machine.js';
import { minLevel, type ConsentLevel } from './levels.js';

type ConsentSnapshot = SnapshotFrom<typeof consentMachine>;

/**
 * Where the consent lifecycle is, in one word:
 * - `booting`: the stored decision is being read, or the level it stands for is not in force yet;
 * - `failed`: a change failed or timed out; the lower level stays enforced until a retry or a new decision;
 * - `forgetting`: a withdrawal's or a reset's clean-up is under way;
 * - `applying`: a change is being applied;
 * - `undecided`: no decision is in force (none made, an unreadable one, an expired one): ask the user;
 * - `active`: the decision is in force.
 *
 * @example
 * ```ts
 * import type { ConsentPhase } from 'consent-tracker';
 * const showBanner = (phase: ConsentPhase) => phase === 'undecided';
 * ```
 */
export type ConsentPhase = 'booting' | 'undecided' | 'applying' | 'active' | 'forgetting' | 'failed';

/**
 * The phase of a chart snapshot.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectPhase } from 'consent-tracker';
 * selectPhase(createActor(consentMachine, { input: {} }).getSnapshot()); // 'booting'
 * ```
 */
export function selectPhase(snapshot: ConsentSnapshot): ConsentPhase {
  if (snapshot.matches({ decision: 'booting' }) || !snapshot.context.converged) return 'booting';
  if (snapshot.matches({ tracker: 'failed' })) return 'failed';
  if (snapshot.matches({ cleanup: 'forgetting' })) return 'forgetting';
  if (!snapshot.matches({ tracker: 'inForce' })) return 'applying';
  return snapshot.matches({ decision: 'undecided' }) ? 'undecided' : 'active';
}

/**
 * Whether the changes asked for so far are over: `pending` while booting, applying or
 * forgetting, `failed` if the last change failed closed, `settled` otherwise.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectOutcome } from 'consent-tracker';
 * selectOutcome(createActor(consentMachine, { input: {} }).getSnapshot()); // 'pending'
 * ```
 */
export function selectOutcome(snapshot: ConsentSnapshot): 'pending' | 'failed' | 'settled' {
  const phase = selectPhase(snapshot);
  if (phase === 'failed') return 'failed';
  return phase === 'active' || phase === 'undecided' ? 'settled' : 'pending';
}

/**
 * Whether the decision is safely written and no clean-up is under way, so that stopping now
 * loses nothing (a write that keeps failing counts as done: it was reported).
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectQuiescent } from 'consent-tracker';
 * selectQuiescent(createActor(consentMachine, { input: {} }).getSnapshot()); // true
 * ```
 */
export function selectQuiescent(snapshot: ConsentSnapshot): boolean {
  return snapshot.matches({ cleanup: 'idle' }) && !snapshot.matches({ persistence: 'writing' }) && !snapshot.matches({ persistence: 'clearing' });
}

/**
 * Whether the decision storage held could not be read in this run, and no later read succeeded
 * (the `storedDecision` region's `unread`, or a retry's read under way): what earlier runs queued
 * then counts as withdrawn once this run decides.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectStoredDecisionUnread } from 'consent-tracker';
 * selectStoredDecisionUnread(createActor(consentMachine, { input: {} }).getSnapshot()); // false: not read yet
 * ```
 */
export function selectStoredDecisionUnread(snapshot: ConsentSnapshot): boolean {
  return snapshot.context.storedUnread;
}

/**
 * Whether the tracker has started (it exists, or the chart stopped waiting for it).
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectStarted } from 'consent-tracker';
 * selectStarted(createActor(consentMachine, { input: {} }).getSnapshot()); // false
 * ```
 */
export function selectStarted(snapshot: ConsentSnapshot): boolean {
  return !snapshot.matches({ tracker: 'starting' });
}

/**
 * Whether the gate holds calls now (the tracker does not exist yet, a change is applied, or
 * no decision is in force while the app asked to hold until one is).
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectHolding } from 'consent-tracker';
 * selectHolding(createActor(consentMachine, { input: {} }).getSnapshot()); // true
 * ```
 */
export function selectHolding(snapshot: ConsentSnapshot): boolean {
  return snapshot.matches({ gate: 'holding' });
}

/**
 * Whether booting is over: the stored decision read (or the user decided first) and the level
 * it stands for in force, or failed closed.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectBooted } from 'consent-tracker';
 * selectBooted(createActor(consentMachine, { input: {} }).getSnapshot()); // false
 * ```
 */
export function selectBooted(snapshot: ConsentSnapshot): boolean {
  return selectPhase(snapshot) !== 'booting';
}

/**
 * Whether the level in force stands in for a decision: until a decision (made, or read from
 * storage) first comes into force in this run. So while booting, while the stored decision
 * cannot be read (an unreadable decision is not a withdrawal), and while the first decision
 * after it is applied. What earlier runs queued keeps its own levels meanwhile.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectAwaitingDecision } from 'consent-tracker';
 * selectAwaitingDecision(createActor(consentMachine, { input: {} }).getSnapshot()); // true
 * ```
 */
export function selectAwaitingDecision(snapshot: ConsentSnapshot): boolean {
  return !snapshot.context.decisionInForce;
}

/**
 * Whether the app holds events until a first decision and none has been made (an expired or
 * unreadable decision is not a first one: its cap holds).
 */
function awaitsFirstDecision(snapshot: ConsentSnapshot): boolean {
  return snapshot.context.holdUntilDecided && snapshot.matches({ decision: { undecided: 'noDecision' } });
}

/**
 * The most a call held now may be sent with when it is released: the enforced level, or
 * `undefined` while the stored decision is being read, or while the app holds events until a
 * first decision (their level is then {@link selectBootCap}'s, once known).
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectHoldCap } from 'consent-tracker';
 * selectHoldCap(createActor(consentMachine, { input: {} }).getSnapshot()); // undefined
 * ```
 */
export function selectHoldCap(snapshot: ConsentSnapshot): ConsentLevel | undefined {
  if (snapshot.context.target === null || awaitsFirstDecision(snapshot)) return undefined;
  return snapshot.context.enforced;
}

/**
 * The most calls held before their level was known may be sent with, once it is: the stored
 * decision's level when it was read, the decided level when the app holds events until a
 * decision, and no more than the level enforced before it when the user decided while the
 * stored decision was being read (what was stored is not known then). `undefined` until then.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectBootCap } from 'consent-tracker';
 * selectBootCap(createActor(consentMachine, { input: {} }).getSnapshot()); // undefined
 * ```
 */
export function selectBootCap(snapshot: ConsentSnapshot): ConsentLevel | undefined {
  const { target, loaded, enforced, holdUntilDecided } = snapshot.context;
  if (target === null || awaitsFirstDecision(snapshot)) return undefined;
  // Held until a decision on the app's request: released at the decided level, as asked.
  return loaded || holdUntilDecided ? target : minLevel(target, enforced);
}

/**
 * The decision the identity follows: the level decided (or the undecided one while there is no
 * decision), and whether it is a decision read from storage, made in an earlier run. `undefined`
 * while booting.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectDecision } from 'consent-tracker';
 * selectDecision(createActor(consentMachine, { input: {} }).getSnapshot()); // undefined
 * ```
 */
export function selectDecision(snapshot: ConsentSnapshot): { readonly level: ConsentLevel; readonly stored: boolean } | undefined {
  const { target, loaded, record } = snapshot.context;
  return target === null ? undefined : { level: target, stored: loaded && record !== null };
}

/**
 * The level the user decided, or the stored decision read at start, in force or still being
 * applied; `undefined` while booting or undecided (the level that stands in then is no
 * decision). A withdrawal to `off` drops what was queued before it at once: it holds from the
 * moment it is made, even if a grant supersedes it before it comes into force.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectDecidedLevel } from 'consent-tracker';
 * selectDecidedLevel(createActor(consentMachine, { input: {} }).getSnapshot()); // undefined
 * ```
 */
export function selectDecidedLevel(snapshot: ConsentSnapshot): ConsentLevel | undefined {
  if (snapshot.matches({ decision: 'booting' }) || snapshot.matches({ decision: 'undecided' })) return undefined;
  return snapshot.context.target ?? undefined;
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
  readonly phase: ConsentPhase;
  /** The level the enforcement points apply now. */
  readonly level: ConsentSnapshot['context']['enforced'];
  /** The level the tracker converges to (the decision's, or the undecided one); `null` while booting. */
  readonly target: ConsentSnapshot['context']['target'];
  /** The decision as stored; `null` while undecided. */
  readonly record: ConsentSnapshot['context']['record'];
  /** The last problem. */
  readonly error: ConsentSnapshot['context']['error'];
}

/**
 * The status of a chart snapshot.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectStatus } from 'consent-tracker';
 * selectStatus(createActor(consentMachine, { input: {} }).getSnapshot()).phase; // 'booting'
 * ```
 */
export function selectStatus(snapshot: ConsentSnapshot): ConsentStatus {
  const { enforced, target, record, error } = snapshot.context;
  return { phase: selectPhase(snapshot), level: enforced, target, record, error };
}

/**
 * What an interface shows of the consent lifecycle: the level in force, the phase, whether the
 * user has decided, whether a change or a clean-up is under way, and the last problem.
 *
 * @example
 * ```ts
 * import type { ConsentView } from 'consent-tracker';
 * const label = (view: ConsentView) => (view.isApplying ? 'Saving your choice…' : view.level);
 * ```
 */
export interface ConsentView {
  readonly level: ConsentLevel;
  readonly phase: ConsentPhase;
  /** The user's decision is known (made in this run, or stored). */
  readonly decided: boolean;
  /** A change or a clean-up is under way. */
  readonly isApplying: boolean;
  readonly error: ConsentProblem | null;
}

/**
 * The view of a chart snapshot: what `useConsentTracker()` returns, without its functions.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * import { consentMachine, selectConsentView } from 'consent-tracker';
 * selectConsentView(createActor(consentMachine, { input: {} }).getSnapshot()).phase; // 'booting'
 * ```
 */
export function selectConsentView(snapshot: ConsentSnapshot): ConsentView {
  const phase = selectPhase(snapshot);
  const { enforced, record, error } = snapshot.context;
  return { level: enforced, phase, decided: record !== null, isApplying: phase === 'applying' || phase === 'forgetting', error };
}
