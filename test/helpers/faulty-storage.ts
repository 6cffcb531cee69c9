import { memoryStorage, type KeyValueStorage } from 'consent-tracker';
import { deferred } from './deferred.js';

/** One call to a storage: what, on which key, with which value. */
export interface StorageCall {
  readonly op: 'getItem' | 'setItem' | 'removeItem';
  readonly key: string;
  readonly value?: string;
}

type Match = (call: StorageCall) => boolean;

/**
 * A storage whose calls the test can stall (until released) or fail, chosen by a predicate over
 * the call; every call is recorded. The data lives in a memory storage (`entries`).
 */
export function faultyStorage(base = memoryStorage()) {
  const rules: Array<{ match: Match; run: (call: StorageCall, next: () => Promise<unknown>) => Promise<unknown> }> = [];
  const calls: StorageCall[] = [];
  const perform = (call: StorageCall, next: () => Promise<unknown>) => {
    calls.push(call);
    const rule = rules.find((r) => r.match(call));
    return rule ? rule.run(call, next) : next();
  };
  const storage: KeyValueStorage = {
    getItem: (key) => perform({ op: 'getItem', key }, async () => base.getItem(key)) as Promise<string | null>,
    setItem: (key, value) => perform({ op: 'setItem', key, value }, async () => base.setItem(key, value)) as Promise<void>,
    removeItem: (key) => perform({ op: 'removeItem', key }, async () => base.removeItem?.(key)) as Promise<void>,
  };
  return {
    storage,
    entries: base.entries,
    calls,
    /** Calls matching `match` wait until `release()`; `started()` says whether one has come. */
    stall(match: Match) {
      const gate = deferred();
      let started = 0;
      rules.unshift({ match, run: async (_call, next) => (started++, await gate.promise, next()) });
      return { release: () => gate.resolve(), started: () => started > 0 };
    },
    /** Calls matching `match` reject with `error` (a full quota by default) and change nothing. */
    fail(match: Match, error: Error = new Error('QuotaExceededError: the quota has been exceeded')) {
      rules.unshift({ match, run: async () => Promise.reject(error) });
    },
    /** Lifts every stall (releasing the calls waiting) and failure set so far. */
    heal() {
      rules.length = 0;
    },
  };
}

/** Matches the calls on the stored decision (of `op`, if given). */
export const onDecision = (op?: StorageCall['op']): Match => (call) => call.key.endsWith('.decision') && (op === undefined || call.op === op);

/** The write of a reset in place of the stored decision. */
export const onResetWrite: Match = (call) => onDecision('setItem')(call) && call.value?.includes('"reset":true') === true;
