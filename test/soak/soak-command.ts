import fc from 'fast-check';
import { CONSENT_LEVELS, type ConsentLevel } from 'consent-tracker';
import type { StorageCalls, StorageFault } from './faultable-storage.js';

/** What the collector does with event requests: answer, fail with a status, drop the connection, or answer late (`slowMs` of simulated time). */
export type CollectorFault = { readonly kind: 'none' } | { readonly kind: 'status'; readonly status: 500 | 503 } | { readonly kind: 'drop' } | { readonly kind: 'slow'; readonly slowMs: number };

/** One step of a soak run. */
export type SoakCommand =
  /** `settle`: the change (and those before it) comes into force before the next command. */
  | { readonly kind: 'set'; readonly level: ConsentLevel; readonly settle: boolean }
  | { readonly kind: 'reset' }
  | { readonly kind: 'retry' }
  /** A withdrawal to `via` and a new consent to full, each in force before the next. */
  | { readonly kind: 'regrant'; readonly via: ConsentLevel }
  | { readonly kind: 'track' }
  | { readonly kind: 'flush' }
  | { readonly kind: 'collector'; readonly fault: CollectorFault }
  | { readonly kind: 'storage'; readonly fault: StorageFault; readonly calls: StorageCalls }
  /** The device's clock is set forward or back (timers keep their course). */
  | { readonly kind: 'clock'; readonly jumpMs: number }
  /** Time passes: timers due within `ms` fire. */
  | { readonly kind: 'wait'; readonly ms: number }
  /** `stop()`, once what is under way has settled, and a new start on the same device. */
  | { readonly kind: 'restart' }
  /** The process dies at its `atAwait`-th storage call or request from now (no `stop()`), and the app starts again on the same device. */
  | { readonly kind: 'kill'; readonly atAwait: number };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const collectorFault: fc.Arbitrary<CollectorFault> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('status' as const), status: fc.constantFrom(500 as const, 503 as const) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'drop' as const }), weight: 1 },
  // Either side of the trackers' 5 s request timeout.
  { arbitrary: fc.record({ kind: fc.constant('slow' as const), slowMs: fc.constantFrom(200, 4000, 9000) }), weight: 1 },
);

/** Soak commands, weighted so that most runs track, decide and fail in between. */
export const soakCommand: fc.Arbitrary<SoakCommand> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('set' as const), level: fc.constantFrom(...CONSENT_LEVELS), settle: fc.boolean() }), weight: 6 },
  { arbitrary: fc.constant({ kind: 'track' as const }), weight: 8 },
  { arbitrary: fc.constant({ kind: 'flush' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'reset' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'retry' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('regrant' as const), via: fc.constantFrom<ConsentLevel>('off', 'none', 'session-only') }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('collector' as const), fault: collectorFault }), weight: 2 },
  {
    arbitrary: fc.record({ kind: fc.constant('storage' as const), fault: fc.constantFrom<StorageFault>('none', 'none', 'throw', 'hang', 'quota'), calls: fc.constantFrom<StorageCalls>('reads', 'writes', 'all') }),
    weight: 2,
  },
  // Forward past the decision's 30-day age, or back: the lease and the decision's age must cope.
  { arbitrary: fc.record({ kind: fc.constant('clock' as const), jumpMs: fc.constantFrom(HOUR, 31 * DAY, -HOUR, -DAY) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.constantFrom(50, 1500, 12_000, 40_000) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'restart' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('kill' as const), atAwait: fc.nat({ max: 12 }) }), weight: 1 },
);

/** A turn of an identity episode: a withdrawal and a new consent, a restart or a kill. */
const identityTurn: fc.Arbitrary<SoakCommand> = fc.oneof(
  fc.record({ kind: fc.constant('regrant' as const), via: fc.constantFrom<ConsentLevel>('off', 'none', 'session-only') }),
  fc.constant({ kind: 'restart' as const }),
  fc.record({ kind: fc.constant('kill' as const), atAwait: fc.nat({ max: 12 }) }),
);

/**
 * A grant in force and an event, then one to three turns (a withdrawal and a new consent, a
 * restart, a kill), each followed by an event: events at full on both sides of a withdrawal or a
 * start, which the re-link check compares. Single random steps seldom line these up: a start that
 * dropped the identity restored from storage passed 4,500 runs of single steps, and failed within
 * 50 runs with episodes among them.
 */
const identityEpisode: fc.Arbitrary<SoakCommand[]> = fc
  .array(identityTurn, { minLength: 1, maxLength: 3 })
  .map((turns) => [{ kind: 'set', level: 'full', settle: true }, { kind: 'track' }, ...turns.flatMap((turn): SoakCommand[] => [turn, { kind: 'track' }])]);

/** A run's commands: up to 10 steps, each a single command or, one time in 13, an identity episode. */
export const soakCommands: fc.Arbitrary<SoakCommand[]> = fc
  .array(fc.oneof({ arbitrary: soakCommand.map((command) => [command]), weight: 12 }, { arbitrary: identityEpisode, weight: 1 }), { minLength: 1, maxLength: 10 })
  .map((steps) => steps.flat());
