import type { KeyValueStorage, memoryStorage } from 'consent-tracker';

/** What a device's storage does wrong: nothing, throw, hang (the call lands once the fault is lifted), or refuse for a full quota. */
export type StorageFault = 'none' | 'throw' | 'hang' | 'quota';
/** Which calls a fault hits. */
export type StorageCalls = 'reads' | 'writes' | 'all';

/**
 * A device's storage whose faults the soak switches on and off. A hung call waits until the
 * fault changes and then lands, late, in the order the calls were made: the consent tracker
 * must have stopped waiting for it (its storage timeout) without trusting it either way. The
 * calls of a process killed meanwhile never land. `onWritten` hears each write as it lands.
 */
export function faultableStorage(base: ReturnType<typeof memoryStorage>, onWritten: (key: string, value: string) => void = () => undefined) {
  let fault: StorageFault = 'none';
  let hits: StorageCalls = 'all';
  let hung: Array<() => void> = [];
  const perform = async <T>(read: boolean, work: () => Promise<T> | T): Promise<T> => {
    if (fault === 'none' || (hits === 'reads' && !read) || (hits === 'writes' && read)) return work();
    if (fault === 'hang') {
      await new Promise<void>((land) => hung.push(land));
      return work();
    }
    throw new Error(fault === 'quota' ? 'QuotaExceededError: the quota has been exceeded' : 'the storage failed');
  };
  const storage: KeyValueStorage & { getItem(key: string): Promise<string | null> } = {
    getItem: (key) => perform(true, async () => (await base.getItem(key)) ?? null),
    setItem: (key, value) =>
      perform(false, () => {
        base.setItem(key, value);
        onWritten(key, value);
      }),
    removeItem: (key) => perform(false, () => base.removeItem?.(key)),
    ...(base.lock && { lock: base.lock.bind(base) }),
  };
  return {
    storage,
    entries: base.entries,
    /** Whether writes fail or hang now. */
    refusesWrites: () => fault !== 'none' && hits !== 'reads',
    /** The process that made the calls hung so far was killed: they never land (its memory is gone). */
    abandonHung(): void {
      hung = [];
    },
    /** Switches to `next` on `calls`; calls hung so far land now. */
    setFault(next: StorageFault, calls: StorageCalls = 'all'): void {
      fault = next;
      hits = calls;
      const landing = hung;
      hung = [];
      for (const land of landing) land();
    },
  };
}

export type FaultableStorage = ReturnType<typeof faultableStorage>;
