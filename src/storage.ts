/**
 * The async key-value storage consent-tracker persists through: React Native's AsyncStorage,
 * a wrapper around `localStorage`, or {@link memoryStorage}. Either style works, sync or async.
 *
 * @example
 * ```ts
 * import AsyncStorage from '@react-native-async-storage/async-storage';
 * import type { KeyValueStorage } from 'consent-tracker';
 * const storage: KeyValueStorage = AsyncStorage;
 * ```
 */
export interface KeyValueStorage {
  getItem(key: string): Promise<string | null | undefined> | string | null | undefined;
  setItem(key: string, value: string): Promise<void> | void;
  removeItem?(key: string): Promise<void> | void;
  /**
   * Runs `critical` while no other holder of the lock `name` runs, across every instance that
   * shares the storage (tabs, processes). Optional: with it, consent trackers sharing the
   * storage take their queue slots one at a time; `webStorage` uses the browser's Web Locks.
   */
  lock?<T>(name: string, critical: () => Promise<T>): Promise<T>;
}

/**
 * An in-memory {@link KeyValueStorage}: nothing survives the process. Useful for tests, and for
 * integrators who must not store anything on the device.
 *
 * @example
 * ```ts
 * import { memoryStorage } from 'consent-tracker';
 * const storage = memoryStorage();
 * await storage.setItem('k', 'v');
 * await storage.getItem('k'); // 'v'
 * ```
 */
export function memoryStorage(initial: Record<string, string> = {}): KeyValueStorage & { readonly entries: Map<string, string> } {
  const entries = new Map(Object.entries(initial));
  return {
    entries,
    getItem: async (key) => entries.get(key) ?? null,
    setItem: async (key, value) => void entries.set(key, value),
    removeItem: async (key) => void entries.delete(key),
  };
}

/**
 * Wraps a Web Storage object (`localStorage`, `sessionStorage`) as a {@link KeyValueStorage}. A
 * storage that throws (a full quota, a privacy mode) rejects, so the caller reports it.
 *
 * @example
 * ```ts
 * import { webStorage } from 'consent-tracker';
 * const storage = webStorage(window.localStorage);
 * ```
 */
export function webStorage(storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>): KeyValueStorage {
  // Tabs share the storage: the browser's Web Locks make their queue slots exclusive.
  const locks = (globalThis as { navigator?: { locks?: { request<T>(name: string, critical: () => Promise<T>): Promise<T> } } }).navigator?.locks;
  return {
    getItem: async (key) => storage.getItem(key),
    setItem: async (key, value) => storage.setItem(key, value),
    removeItem: async (key) => storage.removeItem(key),
    ...(locks && { lock: <T>(name: string, critical: () => Promise<T>) => locks.request(name, critical) }),
  };
}

/**
 * Removes `key`, or blanks it where the storage has no `removeItem` (the React Native tracker's
 * own storage interface): readers treat `''` as absent.
 */
export function removeStored(storage: Pick<KeyValueStorage, 'setItem' | 'removeItem'>, key: string): Promise<void> | void {
  return storage.removeItem ? storage.removeItem(key) : storage.setItem(key, '');
}
