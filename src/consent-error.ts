import { isConsentLevel, type ConsentLevel } from '../machines/levels.js';

/**
 * What went wrong, as a stable machine-readable code.
 *
 * - `INVALID_LEVEL`: a value that is not a {@link ConsentLevel}.
 * - `INVALID_OPTION`: an option of the wrong type or out of range.
 * - `POLICY_WEAKENED`: a policy override that would send more than the default level allows.
 * - `STORAGE_FAILED`: the injected storage threw or rejected.
 * - `STORED_DATA_UNREADABLE`: stored data had the wrong shape; it was treated as absent.
 * - `STORED_DECISION_EXPIRED`: the stored decision is for another policy version, or too old.
 * - `STORAGE_REFUSED`: a decision could not be stored, nor the stored one removed: the one case
 *   where a restart may find an older decision (see the lifecycle docs).
 * - `STORED_DATA_UNREADABLE`, `STORAGE_FAILED` at start: the stored decision could not be read; the level is `off` until the user decides.
 * - `APPLY_FAILED`, `APPLY_TIMEOUT`: a consent change failed or took too long; the lower level stays enforced.
 * - `STOPPED`: the consent tracker was stopped before the call could take effect.
 * - `EVENTS_REJECTED`: the collector refused events with a status the emitter does not retry; they are counted as dropped (`rejected`).
 * - `NO_TRACKER`: a React hook found no consent tracker: it is used outside `<ConsentTrackerProvider>`, or asked to act while rendering on the server.
 *
 * @example
 * ```ts
 * import type { ConsentErrorCode } from 'consent-tracker';
 * const code: ConsentErrorCode = 'INVALID_LEVEL';
 * ```
 */
export type ConsentErrorCode =
  | 'INVALID_LEVEL'
  | 'INVALID_OPTION'
  | 'POLICY_WEAKENED'
  | 'STORAGE_FAILED'
  | 'STORED_DATA_UNREADABLE'
  | 'STORED_DECISION_EXPIRED'
  | 'APPLY_FAILED'
  | 'APPLY_TIMEOUT'
  | 'STORAGE_REFUSED'
  | 'STOPPED'
  | 'EVENTS_REJECTED'
  | 'NO_TRACKER';

/**
 * The one error type consent-tracker throws or reports. Bad input never changes state: when a
 * function throws a `ConsentError`, nothing it would have touched was changed.
 *
 * @example
 * ```ts
 * import { ConsentError, levelPolicy } from 'consent-tracker';
 * try {
 *   levelPolicy('everything' as never);
 * } catch (error) {
 *   if (error instanceof ConsentError && error.code === 'INVALID_LEVEL') console.warn(error.message);
 * }
 * ```
 */
export class ConsentError extends Error {
  /** The stable code; branch on it rather than on the message. */
  readonly code: ConsentErrorCode;

  constructor(code: ConsentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConsentError';
    this.code = code;
  }
}

/** Throws `INVALID_LEVEL` unless `value` is a level; `what` names the input in the message. */
export function assertConsentLevel(value: unknown, what: string): asserts value is ConsentLevel {
  if (!isConsentLevel(value)) {
    throw new ConsentError(
      'INVALID_LEVEL',
      `${what} must be one of 'off', 'none', 'session-only', 'full'; got ${describe(value)}`,
    );
  }
}

/** A short, safe description of an untrusted value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : String(value);
}

/** Returns `value`, or `fallback` when absent; throws `INVALID_OPTION` unless it is a positive integer. */
export function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConsentError('INVALID_OPTION', `${name} must be a positive integer; got ${describe(value)}`);
  }
  return value;
}
