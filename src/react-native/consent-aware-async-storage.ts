import type { AsyncStorage } from '@snowplow/react-native-tracker';
import { v4 as uuidv4 } from 'uuid';
import type { Enforcement } from '../enforce/create-enforcement.js';
import type { ConsentLevel } from '../../machines/levels.js';
import { removeStored } from '../storage.js';

/**
 * The tracker's `asyncStorage`, made consent-aware, plus what the adapter calls on a level change.
 *
 * @example
 * ```ts
 * import type { ConsentAwareAsyncStorage } from 'consent-tracker/react-native';
 * const forget = (storage: ConsentAwareAsyncStorage) => storage.forgetStored();
 * ```
 */
export interface ConsentAwareAsyncStorage extends AsyncStorage {
  /** The key the tracker stores its session (and device user id) under: `snowplow_<namespace>_session`. */
  readonly sessionKey: string;
  /**
   * Removes the stored session, so the next start has a new device user id, and the tracker's
   * own stored queue (`snowplow_<namespace>`: events it queued before consent-tracker was
   * adopted, with whatever identifiers they had), counting its events as `forgotten`. Resolves
   * `true` if a session was stored, and calls `sessionFound` before removing it (so that it is
   * withdrawn even if the removal fails). `stillWanted`, asked after the reads, lets the caller
   * call it off (nothing is then removed, and it resolves `false`).
   */
  forgetStored(stillWanted?: () => boolean, sessionFound?: () => void): Promise<boolean>;
  /**
   * If the level being applied keeps device storage, stores `session` (the tracker's session
   * now), or else the last session the tracker asked to store; below it, does nothing.
   */
  levelApplied(session?: { readonly userId: string; readonly sessionId: string; readonly sessionIndex: number }): Promise<void>;
}

/**
 * Wraps the React Native tracker's `asyncStorage` so that the session key (which holds the device
 * user id) is only written at a level whose policy keeps device storage (`full` by default):
 * the level in force, or the one `deviceLevel` says is being applied.
 * Below it, the tracker's writes are held in memory; the last one is written when such a level
 * is applied. After a withdrawal and a new consent, the device user id and session id written
 * are those of the new identity, so a restart does not bring the old one back. Other keys (the
 * install flag) pass through.
 *
 * @example
 * ```ts
 * import AsyncStorage from '@react-native-async-storage/async-storage';
 * import { createConsentAwareAsyncStorage } from 'consent-tracker/react-native';
 * import { createEnforcement } from 'consent-tracker';
 * const enforcement = createEnforcement({ level: () => 'none' });
 * const storage = createConsentAwareAsyncStorage(AsyncStorage, 'app', enforcement);
 * await storage.setItem(storage.sessionKey, '{"userId":"…"}'); // held in memory at none
 * await storage.forgetStored(); // what a withdrawal does
 * ```
 */
export function createConsentAwareAsyncStorage(
  storage: AsyncStorage & { removeItem?: (key: string) => Promise<void> },
  namespace: string,
  enforcement: Pick<Enforcement, 'level' | 'policy' | 'replacementIdentity' | 'drop'>,
  deviceLevel: () => ConsentLevel = enforcement.level,
): ConsentAwareAsyncStorage {
  const sessionKey = `snowplow_${namespace}_session`;
  const trackerQueueKey = `snowplow_${namespace}`;
  /** The tracker's last session write that has not reached storage. */
  let heldSession: string | undefined;
  const mayStore = () => enforcement.policy[deviceLevel()].deviceStorage === 'keep';

  /** The session as it may be stored now: the new identity's ids in place of the tracker's own. */
  function storable(value: string): string {
    if (value === '' || enforcement.replacementIdentity() === undefined) return value;
    try {
      const state = JSON.parse(value) as Record<string, unknown>;
      // The session the next event gets: the one stored is the one a restart continues from.
      const replacement = enforcement.replacementIdentity(typeof state.sessionId === 'string' ? state.sessionId : undefined);
      if (!replacement) return value;
      // The tracker's own session id and index may have been sent before the withdrawal: never store them.
      return JSON.stringify({
        ...state,
        userId: replacement.userId,
        sessionId: replacement.session?.sessionId ?? uuidv4(),
        sessionIndex: replacement.session?.sessionIndex ?? 1,
      });
    } catch {
      return '';
    }
  }

  return {
    sessionKey,
    getItem: (key) => storage.getItem(key),
    async setItem(key, value) {
      if (key !== sessionKey) return storage.setItem(key, value);
      if (!mayStore()) {
        heldSession = value;
        return;
      }
      heldSession = undefined;
      // The tracker does not handle a failed write of its session (an unhandled rejection in the
      // app): the session lives on in its memory, and a restart starts a new one.
      await Promise.resolve()
        .then(() => storage.setItem(key, storable(value)))
        .catch(() => undefined);
    },
    async forgetStored(stillWanted = () => true, sessionFound = () => undefined) {
      heldSession = undefined;
      const [session, queued] = await Promise.all([storage.getItem(sessionKey), storage.getItem(trackerQueueKey)]);
      // A read that took long: a newer change (a new grant storing its session) decides now.
      if (!stillWanted()) return false;
      const remove = (key: string) => removeStored(storage, key);
      const found = Boolean(session);
      if (found) sessionFound();
      await remove(sessionKey);
      if (!queued) return found;
      await remove(trackerQueueKey);
      let events: unknown[] = [{}];
      try {
        const parsed: unknown = JSON.parse(queued);
        if (Array.isArray(parsed)) events = parsed;
      } catch {
        // Unreadable: at least one event was there.
      }
      for (const event of events) {
        const eventId = (event as { payload?: { eid?: unknown } } | null)?.payload?.eid;
        enforcement.drop('forgotten', typeof eventId === 'string' ? eventId : undefined, `queued in ${trackerQueueKey} before consent-tracker, forgotten on a withdrawal`);
      }
      return found;
    },
    async levelApplied(session) {
      if (!mayStore()) return;
      const value = session ? JSON.stringify({ userId: session.userId, sessionId: session.sessionId, sessionIndex: session.sessionIndex }) : heldSession;
      heldSession = undefined;
      if (value !== undefined) await storage.setItem(sessionKey, storable(value));
    },
  };
}
