import { ConsentError } from '../consent-error.js';
import type { KeyValueStorage } from '../storage.js';
import { storeOrRemove } from './store-or-remove.js';
import { withTimeout } from './with-timeout.js';

/**
 * The identity a device sends at `full` after a withdrawal and a new consent, as stored so that
 * a restart keeps it: its device user id (also its network user id), how many sessions it has
 * had and the last one's id, so that the next run's first session continues the chain.
 */
export interface StoredIdentity {
  readonly userId: string;
  readonly sessionCount: number;
  readonly lastSessionId: string | null;
  /** Whether it may have been sent (it was in force at `full`); one made at a withdrawal and never used is not. */
  readonly used: boolean;
  /** The identities withdrawn before it (`own`: the tracker's own): an event queued with one of them is never sent at `full`. */
  readonly withdrawn?: readonly string[];
}

/** The most withdrawn identities a stored identity remembers (the oldest are forgotten first). */
const WITHDRAWN_KEPT = 32;

/** What a start found: an identity, none, or something that could not be read (reported). */
export type LoadedIdentity = StoredIdentity | 'none' | 'unreadable';

/** The stored identity of one consent tracker: read once at start, written whenever it changes. */
export interface IdentityStore {
  readonly loaded: Promise<LoadedIdentity>;
  /**
   * Stores `identity`, after the writes under way; the latest one always lands last. An `update`
   * (the same identity, used or in a new session) is written only where the stored one is still
   * it: another instance on the storage may have withdrawn it since.
   */
  save(identity: StoredIdentity, update: boolean): void;
  /**
   * `undefined` when the latest identity is stored (or there is none to store); otherwise a
   * promise that resolves once it is, or rejects with `STORAGE_FAILED` if it cannot be.
   */
  persisted(): Promise<void> | undefined;
}

function parseIdentity(raw: unknown): LoadedIdentity {
  if (raw === null || raw === undefined || raw === '') return 'none';
  try {
    const value = typeof raw === 'string' ? (JSON.parse(raw) as Partial<StoredIdentity> & { version?: unknown }) : undefined;
    const { userId, sessionCount, lastSessionId, used, withdrawn } = value ?? {};
    const valid =
      value?.version === 1 &&
      typeof userId === 'string' &&
      userId !== '' &&
      Number.isSafeInteger(sessionCount) &&
      (sessionCount as number) >= 0 &&
      (lastSessionId === null || typeof lastSessionId === 'string') &&
      (used === undefined || typeof used === 'boolean');
    // Without the flag, it counts as used: what cannot be told counts as sent.
    const withdrawnIds = Array.isArray(withdrawn) ? withdrawn.filter((id): id is string => typeof id === 'string').slice(-WITHDRAWN_KEPT) : [];
    return valid ? { userId, sessionCount: sessionCount as number, lastSessionId: lastSessionId as string | null, used: used !== false, withdrawn: withdrawnIds } : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/**
 * Keeps the identity under `key`. A stored identity that cannot be read, or a read that fails,
 * is reported and loads as `unreadable` (the caller then withdraws whatever identity was in use).
 * After a failed read nothing is written until a read succeeds, so what is stored is never
 * overwritten unseen; until then `persisted()` rejects.
 */
export function createIdentityStore(storage: KeyValueStorage | undefined, key: string, timeoutMs: number, report: (error: ConsentError) => void): IdentityStore {
  let writable = storage !== undefined;
  let latest: StoredIdentity | undefined;
  /** Whether the latest is an update of the identity stored, written only over that identity. */
  let latestIsUpdate = false;
  let dirty = false;
  let writing: Promise<void> = Promise.resolve();
  let failure: ConsentError | undefined;
  /** Nothing is waiting to be read or written, and the last write landed. */
  let upToDate = storage === undefined;

  const loaded: Promise<LoadedIdentity> = storage
    ? (async () => {
        try {
          const found = parseIdentity(await withTimeout(storage.getItem(key), timeoutMs, 'storage.getItem'));
          if (found === 'unreadable') report(new ConsentError('STORED_DATA_UNREADABLE', `the stored identity under '${key}' is unreadable; a new one replaces it`));
          upToDate = !dirty;
          return found;
        } catch (cause) {
          writable = false;
          report(new ConsentError('STORAGE_FAILED', `could not read the stored identity; it is left as it is and a new one is used in this run: ${String(cause)}`, { cause }));
          return 'unreadable';
        }
      })()
    : Promise.resolve('none');

  async function writeLatest(): Promise<void> {
    await loaded;
    while (dirty && writable && storage) {
      dirty = false;
      const value = JSON.stringify({ version: 1, ...latest, ...(latest?.withdrawn && { withdrawn: latest.withdrawn.slice(-WITHDRAWN_KEPT) }) });
      const update = latestIsUpdate;
      if (update && latest && !(await storedIs(latest.userId))) continue;
      // A failed write of a new identity removes what is stored: the identity it replaces was
      // withdrawn and must not come back at the next start. A failed update leaves the same
      // identity stored, a session behind: removing it would bring the tracker's own back.
      const cause = await storeOrRemove(storage, key, value, timeoutMs, { removeOnFailure: !update });
      failure = cause === undefined ? undefined : new ConsentError('STORAGE_FAILED', `could not store the identity: ${String(cause)}`, { cause });
      if (failure) report(failure);
    }
    upToDate = !dirty && writable && failure === undefined;
  }

  /** Whether the identity stored is `userId` (or none is): an update may be written over it. */
  async function storedIs(userId: string): Promise<boolean> {
    if (!storage) return false;
    const stored = parseIdentity(await withTimeout(storage.getItem(key), timeoutMs, 'storage.getItem').catch(() => undefined));
    return stored === 'none' || (stored !== 'unreadable' && stored.userId === userId);
  }

  function save(identity: StoredIdentity, update: boolean): void {
    // An update of an identity whose own first write has not started yet is part of that write.
    const partOfPendingNew = dirty && latest !== undefined && !latestIsUpdate && latest.userId === identity.userId;
    latestIsUpdate = update && !partOfPendingNew;
    latest = identity;
    upToDate = false;
    if (!writable) return;
    const idle = !dirty;
    dirty = true;
    if (idle) writing = writing.then(writeLatest);
  }

  return {
    loaded,
    save,
    persisted: () => (upToDate ? undefined : whenPersisted()),
  };

  async function whenPersisted(): Promise<void> {
      await loaded;
      // After a failed read, storage is tried again before anything is stored over what it holds.
      if (storage && !writable) {
        await withTimeout(storage.getItem(key), timeoutMs, 'storage.getItem').then(
          () => {
            writable = true;
            failure = undefined;
          },
          (cause: unknown) => (failure = new ConsentError('STORAGE_FAILED', `the stored identity still cannot be read: ${String(cause)}`, { cause })),
        );
        if (writable && latest) save(latest, latestIsUpdate);
      }
      // The last write failed: storage may have healed since, so the latest identity is written again.
      if (failure && writable && latest && !dirty) save(latest, latestIsUpdate);
      await writing;
      if (failure) throw failure;
  }
}
