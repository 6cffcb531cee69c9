import { v4 as uuidv4 } from 'uuid';
import { compareLevels, isConsentLevel, type ConsentLevel } from '../../machines/levels.js';
import { removeStored, type KeyValueStorage } from '../storage.js';
import { withTimeout } from './with-timeout.js';

/** How many queues one storage key can hold: one per consent tracker running on it at once. */
export const QUEUE_SLOTS = 8;

/**
 * A slot's lease: which instance writes its queue, and until when it counts as running. `floor`
 * is the lowest level another instance decided while the lease stood: if its owner is gone, its
 * queue missed that decision. A renewal, by a live owner that follows decisions itself, drops it.
 */
interface Lease {
  readonly owner: string;
  readonly until: number;
  readonly floor?: ConsentLevel;
}

export interface QueueSlotsOptions {
  readonly storage: KeyValueStorage;
  /** The first slot's key; the others add `.2` to `.8`. Each lease is under `<slot key>.lease`. */
  readonly storageKey: string;
  readonly timeoutMs: number;
  /** How long a lease lasts without being renewed. */
  readonly leaseMs: number;
  readonly now: () => number;
}

/**
 * The queue slots of one storage key, as one instance sees them. Each running instance writes
 * its queue under a slot it leases and renews; a slot whose lease has lapsed (its instance was
 * killed) or was released (its instance stopped) is free: the next instance to start, or a
 * running one, takes it and adopts its events. See docs/design.md, "Queues of instances that
 * share a storage".
 */
export interface QueueSlots {
  /** This instance's id, as its leases record it. */
  readonly owner: string;
  /** Leases the first free slot; `undefined` when none is (all in use, or storage fails). */
  claim(): Promise<string | undefined>;
  /** Whether `key` is still this instance's: re-leased if its lease lapsed and nobody took it; yes if its lease cannot be read. */
  owns(key: string): Promise<boolean>;
  /** Renews this instance's lease on `key`. */
  renew(key: string): Promise<void>;
  /** Gives `key` up, its queue stored as this instance holds it: the next instance takes it at once. */
  release(key: string): Promise<void>;
  /**
   * Gives `key` up without having stored its queue (it could not be read, or was not stored here
   * in time): the slot keeps the floor it had when this instance took it, for whoever takes it next.
   */
  leave(key: string): Promise<void>;
  /** Leases every free slot but `except`, for adoption: their keys. */
  claimFree(except: string): Promise<string[]>;
  /** Removes an adopted slot's queue, then its lease. */
  discard(key: string): Promise<void>;
  /**
   * Records `level` as the floor of every slot another instance leases or leased (it may be gone),
   * and of every slot that holds a queue nobody leases; rejects if a slot could not be read or written.
   */
  lowerFloors(level: ConsentLevel): Promise<void>;
  /** The floor `key` had when this instance took it: its queue is lowered to it. */
  floorOf(key: string): ConsentLevel | undefined;
  /**
   * `key`'s queue is stored lowered to the floor this instance took it with: the lease is written
   * again without that floor, unless the slot is no longer this instance's, or another instance
   * has recorded a lower floor since (a decision this queue is not lowered to yet: it stays).
   */
  floorStored(key: string): Promise<void>;
}

export function createQueueSlots({ storage, storageKey, timeoutMs, leaseMs, now }: QueueSlotsOptions): QueueSlots {
  const owner = uuidv4();
  const slotKeys = Array.from({ length: QUEUE_SLOTS }, (_, i) => (i === 0 ? storageKey : `${storageKey}.${i + 1}`));
  const leaseKey = (key: string) => `${key}.lease`;
  /** The floors of the slots this instance took from another. */
  const floors = new Map<string, ConsentLevel>();
  const call = <T>(work: () => Promise<T> | T, what: string) => withTimeout(Promise.resolve().then(work), timeoutMs, what);

  async function leaseOf(key: string): Promise<Lease | undefined> {
    const raw = await call(() => storage.getItem(leaseKey(key)), 'storage.getItem');
    try {
      const lease = typeof raw === 'string' && raw !== '' ? (JSON.parse(raw) as Partial<Lease>) : undefined;
      if (typeof lease?.owner !== 'string' || typeof lease.until !== 'number') return undefined;
      // A floor that cannot be read counts as the lowest level.
      return lease.floor === undefined || isConsentLevel(lease.floor) ? (lease as Lease) : { owner: lease.owner, until: lease.until, floor: 'off' };
    } catch {
      return undefined;
    }
  }

  /** Free: no lease, or one that lapsed, or one too far ahead to be true (the clock was set back). */
  const isFree = (lease: Lease | undefined, at: number) => lease === undefined || lease.until < at || lease.until > at + 2 * leaseMs;
  const removeLease = async (key: string) => void (await call(() => removeStored(storage, leaseKey(key)), 'storage.removeItem'));
  const writeLease = (key: string, floor?: ConsentLevel) => call(() => storage.setItem(leaseKey(key), JSON.stringify({ owner, until: now() + leaseMs, ...(floor && { floor }) })), 'storage.setItem');

  /**
   * Writes this instance's lease and reads it back: another instance writing at the same time
   * wins or loses here. Without the storage's lock, the read back waits twice as long as the
   * write took, so that a write of another instance started as this one was (on the same
   * storage, as slow) lands before it.
   */
  async function take(key: string): Promise<boolean> {
    try {
      const lease = await leaseOf(key);
      if (lease?.owner !== owner && !isFree(lease, now())) return false;
      if (lease?.owner !== owner && lease?.floor !== undefined) floors.set(key, lease.floor);
      const started = Date.now();
      // The floor stays in the lease until this instance stores the slot's queue lowered to it: a kill before must not lose it.
      await writeLease(key, floors.get(key));
      if (!storage.lock) await new Promise((resolve) => setTimeout(resolve, 2 * (Date.now() - started)));
      return (await leaseOf(key))?.owner === owner;
    } catch {
      return false;
    }
  }

  /** Records `level` as `key`'s floor, unless the slot is this instance's, already as low, or empty and unleased. */
  async function lowerFloor(key: string, level: ConsentLevel): Promise<void> {
    const lease = await leaseOf(key);
    if (lease?.owner === owner || (lease?.floor !== undefined && compareLevels(lease.floor, level) <= 0)) return;
    // A slot nobody leases holds a queue nobody follows (left unread by a run that could not read it): it gets a lapsed lease that carries the floor.
    if (lease === undefined && !(await call(() => storage.getItem(key), 'storage.getItem'))) return;
    await call(() => storage.setItem(leaseKey(key), JSON.stringify({ ...(lease ?? { owner: '', until: 0 }), floor: level })), 'storage.setItem');
  }

  /** Runs `critical` alone among the instances on the storage, when the storage has a lock (Web Locks in a browser). */
  const exclusively = <T>(critical: () => Promise<T>): Promise<T> => (storage.lock ? storage.lock(`${storageKey}.slots`, critical) : critical());

  return {
    owner,
    claim: () =>
      exclusively(async () => {
        for (const key of slotKeys) if (await take(key)) return key;
        return undefined;
      }),
    async owns(key) {
      let lease: Lease | undefined;
      try {
        lease = await leaseOf(key);
      } catch {
        // No sign of a takeover (that leaves a readable lease of another owner): the slot stays
        // this instance's, or its stored copy would be left behind as it was.
        return true;
      }
      return lease?.owner === owner || take(key);
    },
    renew(key) {
      // A renewal drops the floor (this instance follows the decisions itself): a later re-take writes none either.
      floors.delete(key);
      return writeLease(key);
    },
    release: removeLease,
    async leave(key) {
      const floor = floors.get(key);
      floors.delete(key);
      if (floor === undefined) return removeLease(key);
      // A lapsed lease that carries the floor, as a slot nobody leases is given one (lowerFloor).
      await call(() => storage.setItem(leaseKey(key), JSON.stringify({ owner: '', until: 0, floor })), 'storage.setItem');
    },
    claimFree: (except) =>
      exclusively(async () => {
        const taken: string[] = [];
        for (const key of slotKeys) {
          if (key === except) continue;
          const stored = await call(() => storage.getItem(key), 'storage.getItem').catch(() => undefined);
          if (stored !== null && stored !== undefined && stored !== '' && (await take(key))) taken.push(key);
        }
        return taken;
      }),
    async discard(key) {
      await call(() => removeStored(storage, key), 'storage.removeItem');
      await call(() => removeStored(storage, leaseKey(key)), 'storage.removeItem');
      floors.delete(key);
    },
    async lowerFloors(level) {
      // Every slot is tried; one that cannot be read or written makes the whole call fail, to be tried again.
      let failure: unknown;
      for (const key of slotKeys) await lowerFloor(key, level).catch((error: unknown) => (failure ??= error));
      if (failure !== undefined) throw failure;
    },
    floorOf: (key) => floors.get(key),
    async floorStored(key) {
      const taken = floors.get(key);
      if (taken === undefined) return;
      const lease = await leaseOf(key);
      if (lease?.owner !== owner) return;
      floors.delete(key);
      await writeLease(key, lease.floor !== undefined && compareLevels(lease.floor, taken) < 0 ? lease.floor : undefined);
    },
  };
}
