import type { Clock } from './enforce/clock.js';
import type { InspectionEvent, Observer } from 'xstate';
import type { ConsentLevel } from '../machines/levels.js';
import type { ConsentAdapter } from './consent-adapter.js';
import { ConsentError, assertConsentLevel, describe, positiveInteger } from './consent-error.js';
import type { FetchFunction } from './enforce/consent-fetch.js';
import type { DroppedEvent } from './enforce/enforcement-context.js';
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
  /**
   * How long the tracker may take to start (the stored queue read; on React Native, the
   * tracker's own stored session) before the chart goes on without it and reports
   * `APPLY_TIMEOUT`. Default: `applyTimeoutMs`.
   */
  readonly startTimeoutMs?: number;
  /** How long a storage call may take before it counts as failed. Default 3000 ms. */
  readonly storageTimeoutMs?: number;
  /** How long to wait before writing a decision again after a failed write. Default 1000 ms. */
  readonly storageRetryMs?: number;
  /** The privacy policy version; a stored decision for another version has expired. Default `'1'`. */
  readonly policyVersion?: string;
  /** A stored decision older than this has expired. */
  readonly maxAgeDays?: number;
  /** The identifier policy, or options to build it. */
  readonly policy?: PolicyOptions | PolicyTable;
  /** The fetch the network guard sends through. Default: the global `fetch`, read at each request. */
  readonly fetch?: FetchFunction;
  /**
   * Watches the chart, as `createActor` takes it: a function or an observer object (what
   * `@statelyai/inspect` gives), or `logTransitions()` from `consent-tracker/visualize`.
   */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** The clock of the chart's timeouts and the queue's lease renewals (XState's `SimulatedClock` in tests). Default: real timers. */
  readonly clock?: Clock;
  /**
   * After a withdrawal and a new consent, send the tracker's own device user id and sessions
   * again. Default `false`: `full` after a withdrawal is a new identity, unlinked to the old one.
   */
  readonly stitch?: boolean;
  /** Called for every problem: a failed change, an unreadable or expired stored decision, a storage failure. */
  readonly onError?: (error: ConsentError) => void;
  /** Called for every event that is not passed on. */
  readonly onDrop?: (drop: DroppedEvent) => void;
}

/** The options checked, with their defaults. */
export type ResolvedConsentOptions<Tracker extends object> = ReturnType<typeof resolveConsentOptions<Tracker>>;

/**
 * Checks the options of `createConsentTracker` and fills in the defaults.
 *
 * @throws {@link ConsentError} `INVALID_OPTION` or `INVALID_LEVEL`; nothing is created.
 */
export function resolveConsentOptions<Tracker extends object>(options: ConsentTrackerOptions<Tracker>) {
  if (typeof options !== 'object' || options === null || typeof options.adapter?.create !== 'function') {
    throw new ConsentError('INVALID_OPTION', 'createConsentTracker needs { adapter }');
  }
  const undecidedLevel = options.undecidedLevel ?? 'none';
  assertConsentLevel(undecidedLevel, 'undecidedLevel');
  if (options.maxAgeDays !== undefined && !(typeof options.maxAgeDays === 'number' && options.maxAgeDays > 0)) {
    throw new ConsentError('INVALID_OPTION', `maxAgeDays must be a positive number; got ${describe(options.maxAgeDays)}`);
  }
  const policyVersion = options.policyVersion ?? '1';
  if (typeof policyVersion !== 'string' || policyVersion === '') throw new ConsentError('INVALID_OPTION', 'policyVersion must be a non-empty string');
  for (const flag of ['stitch', 'holdUntilDecided'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new ConsentError('INVALID_OPTION', `${flag} must be a boolean; got ${describe(options[flag])}`);
  }
  const { onError } = options;
  return {
    ...options,
    undecidedLevel,
    policyVersion,
    bufferLimit: positiveInteger(options.bufferLimit, 'bufferLimit', 1000),
    applyTimeoutMs: positiveInteger(options.applyTimeoutMs, 'applyTimeoutMs', 10_000),
    startTimeoutMs: positiveInteger(options.startTimeoutMs, 'startTimeoutMs', options.applyTimeoutMs ?? 10_000),
    storageTimeoutMs: positiveInteger(options.storageTimeoutMs, 'storageTimeoutMs', 3000),
    storageRetryMs: positiveInteger(options.storageRetryMs, 'storageRetryMs', 1000),
    storage: options.storage ?? options.adapter.storage ?? memoryStorage(),
    /** No storage was given: the decision and the queue live in memory for this run only. */
    storageIsMemory: (options.storage ?? options.adapter.storage) === undefined,
    storageKey: options.storageKey ?? 'consent-tracker',
    holdUntilDecided: options.holdUntilDecided ?? false,
    /** Reports a problem; a throwing listener must not break consent handling. */
    report(error: ConsentError): void {
      try {
        onError?.(error);
      } catch {
        // ignored: see above
      }
    },
  };
}
