import { ConsentError } from './consent-error.js';
import { isConsentLevel } from '../machines/levels.js';
import { withTimeout } from './enforce/with-timeout.js';
import { removeStored, type KeyValueStorage } from './storage.js';
import type { ClearOutput, ConsentRecord, LoadOutput } from '../machines/consent.machine.js';

export type { ConsentRecord } from '../machines/consent.machine.js';

/**
 * How a stored decision is checked when it is read.
 *
 * @example
 * ```ts
 * import type { RecordRules } from 'consent-tracker';
 * const rules: RecordRules = { policyVersion: '2026-11', maxAgeDays: 365 };
 * ```
 */
export interface RecordRules {
  /** The policy version now in force; a decision for another version has expired. */
  readonly policyVersion: string;
  /** A decision older than this has expired. No limit when absent. */
  readonly maxAgeDays?: number | undefined;
  /** The current time in ms since the epoch; `Date.now()` when absent. */
  readonly now?: number | undefined;
}

const RECORD_KEYS = ['decidedAt', 'level', 'policyVersion', 'source'];
/** A reset is stored rather than the key removed, so that a later start knows the identity was withdrawn. */
const RESET_KEYS = ['decidedAt', 'reset'];

/** A stored reset: no decision, the identity withdrawn (`undefined` if it is not a valid one). */
function parseReset({ reset, decidedAt }: Record<string, unknown>, now: number): LoadOutput | undefined {
  const valid = reset === true && typeof decidedAt === 'number' && Number.isFinite(decidedAt) && decidedAt >= 0 && decidedAt <= now;
  return valid ? { record: null, reset: true } : undefined;
}
const DAY_MS = 86_400_000;

/**
 * Checks a stored decision. A stored reset (`{ reset: true, decidedAt }`) is no decision, with
 * `reset` set. A wrong shape, an unknown level, extra keys (prototype pollution
 * included) or a timestamp in the future mean no decision, reported as `STORED_DATA_UNREADABLE`;
 * another policy version or an age past `maxAgeDays` mean no decision, reported as
 * `STORED_DECISION_EXPIRED`. Absent data is simply no decision.
 *
 * @example
 * ```ts
 * import { parseConsentRecord } from 'consent-tracker';
 * const { record, problem } = parseConsentRecord(localStorage.getItem('consent'), { policyVersion: '1' });
 * ```
 */
export function parseConsentRecord(raw: unknown, rules: RecordRules): LoadOutput {
  if (raw === null || raw === undefined || raw === '') return { record: null };
  const unreadable = (message: string): LoadOutput => ({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message } });
  if (typeof raw !== 'string') return unreadable('the stored decision is not a string');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return unreadable('the stored decision is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
    return unreadable('the stored decision is not an object');
  }
  const keys = Object.getOwnPropertyNames(value).sort();
  const now = rules.now ?? Date.now();
  if (keys.join() === RESET_KEYS.join()) return parseReset(value as Record<string, unknown>, now) ?? unreadable('the stored reset has no valid decidedAt');
  if (keys.join() !== RECORD_KEYS.join()) return unreadable(`the stored decision has the keys ${keys.join(', ') || 'none'}`);
  const { level, decidedAt, policyVersion, source } = value as Record<string, unknown>;
  if (!isConsentLevel(level)) return unreadable('the stored decision has an unknown level');
  if (typeof decidedAt !== 'number' || !Number.isFinite(decidedAt) || decidedAt < 0) return unreadable('the stored decision has no valid decidedAt');
  if (typeof policyVersion !== 'string' || typeof source !== 'string' || source.length === 0) return unreadable('the stored decision has no valid policyVersion or source');
  if (decidedAt > now) return unreadable('the stored decision was taken in the future');
  const expired = (message: string): LoadOutput => ({ record: null, problem: { code: 'STORED_DECISION_EXPIRED', message }, expiredLevel: level });
  if (policyVersion !== rules.policyVersion) return expired(`the stored decision is for policy version '${policyVersion}', not '${rules.policyVersion}'`);
  if (rules.maxAgeDays !== undefined && now - decidedAt > rules.maxAgeDays * DAY_MS) return expired(`the stored decision is older than ${rules.maxAgeDays} days`);
  return { record: { level, decidedAt, policyVersion, source } };
}

/** Reads and checks the stored decision; a storage failure or timeout is reported as `STORAGE_FAILED`. */
export async function readConsentRecord(storage: KeyValueStorage, key: string, rules: RecordRules, timeoutMs = 3000): Promise<LoadOutput> {
  try {
    return parseConsentRecord(await withTimeout(storage.getItem(key), timeoutMs, 'storage.getItem'), rules);
  } catch (error) {
    return { record: null, problem: { code: 'STORAGE_FAILED', message: `could not read the stored decision: ${String(error)}` } };
  }
}

/** Writes and removals of the stored decision, one at a time and in the order asked. */
export interface RecordWriter {
  /** Stores `record`, or a reset for `null` (no decision; the identity before it was withdrawn). */
  write(record: ConsentRecord | null): Promise<void>;
  /**
   * After a failed write of `record`: removes the stored decision (it may be a grant) and writes
   * `record` again right behind the removal. Resolves `'rewritten'` if the second write landed,
   * `'removed'` if only the removal did; rejects if neither did.
   */
  clear(record: ConsentRecord | null): Promise<ClearOutput>;
}

/**
 * Stores decisions one at a time: each write starts only when the one before has ended, even one
 * that timed out, so a slow old decision never lands over a newer one; with nothing under way it
 * starts at once, within the call (a synchronous storage has it before the caller goes on). A
 * write that fails or takes longer than `timeoutMs` rejects with `STORAGE_FAILED`.
 */
export function createRecordWriter(storage: KeyValueStorage, key: string, timeoutMs: number): RecordWriter {
  let underWay = 0;
  let last: Promise<unknown> = Promise.resolve();
  /** Starts `operation` now, or after the operations under way when `inTurn`; later writes wait for it either way. */
  const run = (operation: () => Promise<void> | void, what: string, inTurn: boolean): Promise<void> => {
    const start = () => new Promise<void>((resolve) => resolve(operation()));
    const done = underWay === 0 || !inTurn ? start() : last.then(start);
    underWay += 1;
    last = Promise.all([last, done.catch(() => undefined)]).finally(() => (underWay -= 1));
    return withTimeout(done, timeoutMs, what).catch((cause: unknown) => {
      throw new ConsentError('STORAGE_FAILED', `could not ${what}: ${String(cause)}`, { cause });
    });
  };
  const store = (record: ConsentRecord | null) => () => storage.setItem(key, JSON.stringify(record ?? { reset: true, decidedAt: Date.now() }));
  return {
    write: (record) => run(store(record), 'store the decision', true),
    clear: async (record) => {
      // Neither waits for the write that failed: one that hangs must not keep the stored grant from
      // being removed. Both are started together, the removal first, so that a storage which lands
      // the hung write late lands the removal after it and this write last: no moment is left with
      // no decision stored, which a restart would read as the undecided level, perhaps above a
      // withdrawal (docs/design.md, "Stored decisions"). Later writes wait for both.
      const [removal, rewrite] = await Promise.allSettled([run(() => removeStored(storage, key), 'remove the stored decision', false), run(store(record), 'store the decision again', false)]);
      if (rewrite.status === 'fulfilled') return 'rewritten';
      if (removal.status === 'fulfilled') return 'removed';
      throw removal.reason;
    },
  };
}
