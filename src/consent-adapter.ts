import type { Enforcement } from './enforce/create-enforcement.js';
import type { ConsentLevel } from '../machines/levels.js';
import type { KeyValueStorage } from './storage.js';

/**
 * What `createConsentTracker` needs from a tracker. An adapter only reconfigures a tracker:
 * create it once with the enforcement points, bring it to a level, forget what it keeps on the
 * device, flush its queue, and make a held call again. When each happens is the chart's business.
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
   * calls, rejects if it could not be created. The gate holds calls until then.
   */
  created?(): Promise<void>;
  /** Where `createConsentTracker` keeps the decision and the queue when it is given no storage. */
  readonly storage?: KeyValueStorage;
  /** Whether other consent trackers share that storage at once (tabs): decisions are then kept in step between them. */
  readonly syncsTabs?: boolean;
  /**
   * Reconfigures the live tracker for `level`. `from` is the level last in force (at start, the
   * stored decision's). Rejecting fails the change closed. `signal` is aborted when the change is
   * no longer wanted (a newer decision, a timeout, a stop): from then on, change nothing more.
   */
  apply(level: ConsentLevel, from: ConsentLevel, signal: AbortSignal): Promise<void>;
  /**
   * Clears what the tracker keeps on the device that `level` may not keep (stored session and
   * device user id, its own stored queue); on a `withdrawal` (the level the tracker may have been
   * at sent user identifiers that `level` does not allow), also the user identifiers the app set
   * on the live tracker (its subject), which the app sets again after a new consent: through
   * `inOrder`, so that it comes after the app's calls made before the withdrawal, even those the
   * gate still holds. No decision cancels it; `signal` is aborted only when it has timed out:
   * then remove nothing more.
   */
  forget(
    level: ConsentLevel,
    context: { readonly withdrawal: boolean; readonly signal: AbortSignal; readonly inOrder: (step: () => void) => void },
  ): Promise<void>;
  /** Sends what is queued. */
  flush(): Promise<void>;
  /**
   * Methods of the tracker, besides `track*`, that the gate holds with events while it holds
   * (subject setters, global contexts, calls made before the tracker exists), so that they keep
   * their order.
   */
  readonly orderedMethods?: readonly string[];
  /** Those of `orderedMethods` that return a promise: while held, the gate answers with a promise of the real answer. */
  readonly asyncMethods?: readonly string[];
  /** Lets go of the tracker when the consent tracker stops (for trackers kept in a registry); `stop()` waits for it. */
  stop?(): void | Promise<void>;
  /**
   * Makes a call the gate held: `track*` calls with the time they were first made (ms since the
   * epoch), sent with at most `level`; other calls as they were. Returns what the call returned.
   */
  replay(tracker: Tracker, method: string, args: unknown[], timestamp: number, level: ConsentLevel): unknown;
}
