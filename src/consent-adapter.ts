import type { Enforcement } from './enforce/create-enforcement.js';
import type { ConsentLevel } from './levels.js';
import type { KeyValueStorage } from './storage.js';

/**
 * What `createConsentTracker` needs from a tracker: create it once with the enforcement points,
 * bring it to a level, forget its stored identifiers, flush its queue, and track a held event
 * again with its original timestamp.
 *
 * @example
 * ```ts
 * import { trackerCoreAdapter, type ConsentAdapter, type CoreTracker } from 'consent-tracker';
 * const adapter: ConsentAdapter<CoreTracker> = trackerCoreAdapter({ endpoint: 'https://collector.example.com' });
 * ```
 */
export interface ConsentAdapter<Tracker extends object> {
  /** Creates the tracker, once, wired to the three enforcement points. */
  create(enforcement: Enforcement): Tracker;
  /**
   * For trackers created asynchronously: resolves when the tracker `create` returned can take
   * calls, rejects if it could not be created. `createConsentTracker` holds events until then.
   */
  created?(): Promise<void>;
  /** Where `createConsentTracker` keeps the decision and the queue when it is given no storage. */
  readonly storage?: KeyValueStorage;
  /**
   * Reconfigures the live tracker for `level`. `from` is the level in force before this change
   * (the stored decision's at start, the undecided level before any). Rejecting fails the change closed.
   * `signal` is aborted when the change is abandoned (superseded, timed out, stopped): from then
   * on, change nothing more.
   */
  apply(level: ConsentLevel, from: ConsentLevel, signal?: AbortSignal): Promise<void>;
  /** Clears identifiers the tracker stores on the device. */
  forget(): Promise<void>;
  /** Sends what is queued. */
  flush(): Promise<void>;
  /**
   * Methods of the tracker, besides `track*`, whose calls must keep their order with events
   * (subject setters, global contexts): while the gate holds events, it holds these too.
   */
  readonly orderedMethods?: readonly string[];
  /** Lets go of the tracker when the consent tracker stops (for trackers kept in a registry); `stop()` waits for it. */
  stop?(): void | Promise<void>;
  /** Calls a held `track*` method again, with the time it was first called (ms since the epoch). */
  replay(tracker: Tracker, method: string, args: unknown[], timestamp: number): void;
}
