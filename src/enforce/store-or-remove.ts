import { removeStored, type KeyValueStorage } from '../storage.js';
import { withTimeout } from './with-timeout.js';

/**
 * Writes `value` under `key`; if that fails or does not answer in time, removes what is stored
 * there (unless `removeOnFailure` is false): it may hold what must not outlive the failure
 * (events at a level they may no longer carry, an identity withdrawn since). Each call is awaited
 * to its end even past the timeout, so that a slow one never lands after the next. Resolves with
 * the failure's cause, or `undefined`.
 */
export async function storeOrRemove(storage: KeyValueStorage, key: string, value: string, timeoutMs: number, { removeOnFailure = true } = {}): Promise<unknown> {
  const write = Promise.resolve().then(() => storage.setItem(key, value));
  try {
    await withTimeout(write, timeoutMs, 'storage.setItem');
    return undefined;
  } catch (cause) {
    await write.catch(() => undefined);
    if (removeOnFailure) {
      const remove = Promise.resolve().then(() => removeStored(storage, key));
      await withTimeout(remove, timeoutMs, 'storage.removeItem').catch(() => undefined);
      await remove.catch(() => undefined);
    }
    return cause ?? new Error('the write failed');
  }
}
