/**
 * A consent level. Levels form a lattice, from the most private to the least:
 * `off < none < session-only < full`.
 *
 * - `off`: nothing is sent; events tracked are dropped and counted.
 * - `none`: fully anonymous: no session entity, no user identifiers, `SP-Anonymous: *`.
 * - `session-only`: anonymous with a session: the session entity stays, with the null UUID as
 *   `userId`, no `previousSessionId` and a session id rotated on entering the level.
 * - `full`: everything the tracker normally sends.
 *
 * @example
 * ```ts
 * import type { ConsentLevel } from 'consent-tracker';
 * const level: ConsentLevel = 'session-only';
 * ```
 */
export type ConsentLevel = 'off' | 'none' | 'session-only' | 'full';

/**
 * Every consent level, ordered from the most private (`off`) to the least (`full`).
 *
 * @example
 * ```ts
 * import { CONSENT_LEVELS } from 'consent-tracker';
 * CONSENT_LEVELS.indexOf('none'); // 1
 * ```
 */
export const CONSENT_LEVELS: readonly ConsentLevel[] = Object.freeze([
  'off',
  'none',
  'session-only',
  'full',
] as const);

const RANK: Readonly<Record<ConsentLevel, number>> = { off: 0, none: 1, 'session-only': 2, full: 3 };

/**
 * Runtime check for untrusted input (a stored record, a message from a consent banner).
 *
 * @example
 * ```ts
 * import { isConsentLevel } from 'consent-tracker';
 * isConsentLevel('full'); // true
 * isConsentLevel('FULL'); // false
 * isConsentLevel('__proto__'); // false
 * ```
 */
export function isConsentLevel(value: unknown): value is ConsentLevel {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(RANK, value);
}

/**
 * Orders two levels: negative when `a` is more private than `b`, zero when equal, positive
 * otherwise. Usable as an `Array.prototype.sort` comparator.
 *
 * @example
 * ```ts
 * import { compareLevels, type ConsentLevel } from 'consent-tracker';
 * compareLevels('none', 'full') < 0; // true
 * const levels: ConsentLevel[] = ['full', 'off', 'none'];
 * levels.sort(compareLevels); // ['off', 'none', 'full']
 * ```
 */
export function compareLevels(a: ConsentLevel, b: ConsentLevel): number {
  return RANK[a] - RANK[b];
}

/**
 * The most private of the given levels: the level an event may use when it was tracked under
 * one level and is sent under another (the min rule).
 *
 * @example
 * ```ts
 * import { minLevel } from 'consent-tracker';
 * minLevel('full', 'none'); // 'none'
 * minLevel('full', 'session-only', 'off'); // 'off'
 * ```
 */
export function minLevel(first: ConsentLevel, ...rest: ConsentLevel[]): ConsentLevel {
  let lowest = first;
  for (const level of rest) if (RANK[level] < RANK[lowest]) lowest = level;
  return lowest;
}
