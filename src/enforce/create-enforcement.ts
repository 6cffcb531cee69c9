import type { CorePlugin } from '@snowplow/tracker-core';
import { ConsentError, describe, positiveInteger } from '../consent-error.js';
import { minLevel, type ConsentLevel } from '../../machines/levels.js';
import { resolvePolicy, type PolicyOptions, type PolicyTable } from '../policy.js';
import type { KeyValueStorage } from '../storage.js';
import { IdentityKeeper } from './identity-keeper.js';
import { createIdentityStore } from './identity-store.js';
import { withTimeout } from './with-timeout.js';
import { REAL_CLOCK, type Clock } from './clock.js';
import { createConsentEventStore, type ConsentEventStore } from './consent-event-store.js';
import { createConsentFetch, type FetchFunction } from './consent-fetch.js';
import { createConsentPlugin } from './consent-plugin.js';
import { createEnforcementContext, type DroppedEvent, type EnforcementStats } from './enforcement-context.js';
import type { DropReason } from '../sanitize.js';

/** How long an instance's hold on its queue slot lasts unless renewed: a killed instance's queue is adopted after it. */
const QUEUE_LEASE_MS = 30_000;

/**
 * Options of {@link createEnforcement}.
 *
 * @example
 * ```ts
 * import { createEnforcement, memoryStorage, type EnforcementOptions } from 'consent-tracker';
 * let level: 'none' | 'full' = 'none';
 * const options: EnforcementOptions = { level: () => level, storage: memoryStorage() };
 * createEnforcement(options);
 * ```
 */
export interface EnforcementOptions {
  /** The level in force now. Read once per event and per request; a throwing or invalid answer counts as `off`. */
  readonly level: () => ConsentLevel;
  /**
   * Whether `level` answers a stand-in while the user's decision is not in force yet (booting).
   * Meanwhile the queue keeps what an earlier run stored at its own levels rather than lowering
   * it to the stand-in, and the fetch guard sends no event (the emitter keeps them for later);
   * `levelChanged(level)` then lowers the queue to the decision put in force. Default: never.
   */
  readonly awaitingDecision?: () => boolean;
  /**
   * Whether the decision storage held could not be read in this run (the consent chart's
   * `storedUnread`): it may have been a withdrawal, so what earlier runs queued is dropped (and
   * counted) once a decision is in force or written over it, and the floor left on other
   * instances' queues is `off`. Default: never.
   */
  readonly storedDecisionUnread?: () => boolean;
  /** Where the event queue is persisted (AsyncStorage, a `localStorage` wrapper); in memory only if absent. */
  readonly storage?: KeyValueStorage;
  /**
   * The storage key of the queue. Default `'consent-tracker.queue'`; use one per tracker
   * namespace. Instances running at once on one storage (two tabs, two processes) each write
   * their own queue under it (`.2` to `.8` after the first).
   */
  readonly storageKey?: string;
  /** The timers of the queue's lease renewals (XState's `SimulatedClock` in tests). Default: real timers. */
  readonly clock?: Clock;
  /**
   * The storage key of the identity sent after a withdrawal and a new consent. Default: the
   * queue's key with its `.queue` ending (if any) replaced by `.identity`.
   */
  readonly identityKey?: string;
  /** The policy table, or options to build it; the default table if absent. */
  readonly policy?: PolicyOptions | PolicyTable;
  /** The most events the queue holds; past it the oldest is dropped and counted. Default 1000. */
  readonly maxQueueSize?: number;
  /** How long a storage call may take before it counts as failed. Default 3000 ms. */
  readonly storageTimeoutMs?: number;
  /** The fetch the guard sends through. Default: the global `fetch`, read at each request. */
  readonly fetch?: FetchFunction;
  /** Called for every event that is not passed on. */
  readonly onDrop?: (drop: DroppedEvent) => void;
  /** Called for every error: an invalid level, a storage failure, an unreadable stored queue. */
  readonly onError?: (error: ConsentError) => void;
  /**
   * After a withdrawal and a new consent, send the tracker's own device user id and sessions
   * again, linking the new consent to the time before the withdrawal. Default `false`: `full`
   * after a withdrawal sends a new device user id and new sessions.
   */
  readonly stitch?: boolean;
}

/**
 * The three enforcement points, to spread into any tracker-core based tracker's configuration,
 * and what ties them together.
 *
 * @example
 * ```ts
 * import { newEmitter, trackerCore } from '@snowplow/tracker-core';
 * import { createEnforcement } from 'consent-tracker';
 * const enforcement = createEnforcement({ level: () => 'none' });
 * const emitter = newEmitter({ endpoint: 'http://127.0.0.1:9090', eventStore: enforcement.eventStore, customFetch: enforcement.customFetch });
 * const core = trackerCore({ corePlugins: [enforcement.plugin], callback: (pb) => void emitter.input(pb.build()) });
 * ```
 */
export interface Enforcement {
  /** The track-time point: a tracker-core plugin. Pass it last in `plugins` / `corePlugins`. */
  readonly plugin: CorePlugin;
  /** The queue: tracker-core's `EventStore`, consent-aware and persisted. Pass it as `eventStore`. */
  readonly eventStore: ConsentEventStore;
  /** The network boundary: pass it as `customFetch`. */
  readonly customFetch: FetchFunction;
  /** The policy table in force. */
  readonly policy: PolicyTable;
  /** Resolves when the persisted queue has been read. */
  readonly ready: Promise<void>;
  /** The level in force now, as the enforcement points read it. */
  level(): ConsentLevel;
  /**
   * The device user id (and its session) sent instead of the tracker's own after a withdrawal and
   * a new consent (see `stitch`), for adapters that store the session; `undefined` while the
   * tracker's own is sent. Given the tracker's own session id, the session is the one the next
   * event in that session gets (started now if need be), so that what is stored is what is sent.
   */
  replacementIdentity(realSessionId?: string): { readonly userId: string; readonly session: { readonly sessionId: string; readonly sessionIndex: number } | undefined } | undefined;
  /**
   * The identity events at `full` carry now: the device user id that replaced the tracker's own
   * (as `replacementIdentity`), or `'own'`; `undefined` until the stored identity has been read.
   * It notes nothing, so an adapter may ask at any time: the browser adapter keeps the tab id with it.
   */
  identityInForce(): string | undefined;
  /**
   * Takes note of the level in force at once (a new anonymous session on entering
   * `session-only`, screen ids reset, a withdrawal remembered), without touching the queue. Call
   * it whenever the level function's answer changes; `levelChanged` calls it too. With a
   * `decision` (the user's, in force or still being applied; `stored` if it was read from
   * storage at start), decisions alone say from then on when the identity was withdrawn, as
   * `createConsentTracker` does. With `decided` (the level of that decision, no stand-in: see
   * `selectDecidedLevel`) of `off`, what is queued, and what is on its way to the queue, is
   * dropped at once, in force or not.
   */
  followLevel(decision?: { readonly level: ConsentLevel; readonly stored: boolean }, decided?: ConsentLevel): void;
  /**
   * Call when the level function's answer has changed, or with the `level` being put in force
   * (when the level function does not answer it yet). Starts a new anonymous session when
   * `session-only` is entered, re-sanitises the queue after a downgrade (dropping it at `off`),
   * and resolves when the result is persisted. The track-time and send-time points follow the
   * level by themselves; this brings the queue at rest in line at once.
   */
  levelChanged(level?: ConsentLevel): Promise<void>;
  /**
   * The tracker's own identity must not be sent again (an adapter found it stored where a
   * withdrawal should have removed it): a later `full` sends a new one, unless `stitch` is set.
   */
  withdrawIdentity(): void;
  /**
   * Call as a grant is about to be stored: the identity it sends (after a withdrawal, a new one)
   * is stored as used. `undefined` when that is stored (or there is none to store); otherwise a
   * promise that resolves once it is, or rejects with `STORAGE_FAILED` if it cannot be. Store the
   * grant only after it, so that a restart never finds a grant without the identity it was given.
   */
  grantedIdentityPersisted(): Promise<void> | undefined;
  /**
   * Takes note of the decision storage held at start (its level, `unreadable`, or `null` for
   * none), even when a decision made while booting wins over it: a withdrawal stored there
   * withdraws the identity that may have been sent before it.
   */
  storedDecision(level: ConsentLevel | 'unreadable' | null): void;
  /**
   * Makes `call` (which tracks synchronously) with events sent with at most `level`: a held event
   * released after a change keeps the level it may carry. Not a level change.
   */
  trackAtMost<T>(level: ConsentLevel, call: () => T): T;
  /** Counts (and reports to `onDrop`) an event an adapter could not pass on. */
  drop(reason: DropReason, eventId: string | undefined, detail: string): void;
  /** Counters of what was tracked, dropped (by reason), rewritten and sent. */
  stats(): EnforcementStats;
  /**
   * Stops the enforcement points for good: nothing more is sent from this call on (requests fail
   * as if offline, so the emitter keeps its events). Requests already in flight may still settle,
   * and what they delivered is removed from the stored queue; then nothing more is written, so the
   * stored queue is what the next start finds. Resolves then (waiting at most the storage
   * timeout): start the next tracker on the same storage after it, or an event in flight at the
   * stop may be sent again (with the same event id).
   */
  stop(): Promise<void>;
}

/**
 * Creates the leak-contract enforcement for one tracker: a plugin at track time, an event store
 * for the queue, and a fetch guard at the network boundary, each calling `sanitizeEvent`. Each
 * point is sufficient on its own for the identifiers it sees; together they make sure an event
 * leaves with at most what `min(level when tracked, level when sent)` allows.
 *
 * @throws {@link ConsentError} `INVALID_OPTION` or a policy error, before anything is created.
 *
 * @example
 * ```ts
 * import { newEmitter, trackerCore, buildStructEvent } from '@snowplow/tracker-core';
 * import { createEnforcement, type ConsentLevel } from 'consent-tracker';
 *
 * let level: ConsentLevel = 'none';
 * const enforcement = createEnforcement({ level: () => level });
 * const emitter = newEmitter({
 *   endpoint: 'https://collector.example.com',
 *   eventStore: enforcement.eventStore,
 *   customFetch: enforcement.customFetch,
 * });
 * const core = trackerCore({ corePlugins: [enforcement.plugin], callback: (pb) => void emitter.input(pb.build()) });
 * core.track(buildStructEvent({ category: 'shop', action: 'view' })); // sent anonymously
 * level = 'full';
 * await enforcement.levelChanged();
 * ```
 */
export function createEnforcement(options: EnforcementOptions): Enforcement {
  if (typeof options !== 'object' || options === null || typeof options.level !== 'function') {
    throw new ConsentError('INVALID_OPTION', 'createEnforcement needs { level: () => ConsentLevel }');
  }
  const storage = options.storage;
  if (storage !== undefined && (typeof storage?.getItem !== 'function' || typeof storage?.setItem !== 'function')) {
    throw new ConsentError('INVALID_OPTION', 'storage must have getItem and setItem');
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new ConsentError('INVALID_OPTION', 'fetch must be a function');
  }
  const storageKey = options.storageKey ?? 'consent-tracker.queue';
  if (typeof storageKey !== 'string' || storageKey === '') {
    throw new ConsentError('INVALID_OPTION', `storageKey must be a non-empty string; got ${describe(storageKey)}`);
  }
  const maxSize = positiveInteger(options.maxQueueSize, 'maxQueueSize', 1000);
  const storageTimeoutMs = positiveInteger(options.storageTimeoutMs, 'storageTimeoutMs', 3000);
  const policy = resolvePolicy(options.policy);

  /** The cap of the call being replayed by `trackAtMost`, if any. */
  let ceiling: ConsentLevel | undefined;
  const context = createEnforcementContext({
    policy,
    level: options.level,
    ceiling: () => ceiling,
    awaitingDecision: options.awaitingDecision,
    // Events queued at full record the identity they carry, once the identity store is read.
    identityMarker: () => (identityKnown ? (identity.deviceUserId() ?? 'own') : undefined),
    identityWithdrawn: (marker) => identityKnown && identity.isWithdrawn(marker),
    storedDecisionUnread: options.storedDecisionUnread,
    onDrop: options.onDrop,
    onError: options.onError,
  });
  const identityKey = options.identityKey ?? `${storageKey.replace(/\.queue$/, '')}.identity`;
  const identityStore = createIdentityStore(storage, identityKey, storageTimeoutMs, context.error);
  const identity = new IdentityKeeper(policy, options.stitch === true, identityStore.save);
  let identityKnown = false;
  const identityRestored = identityStore.loaded.then((found) => {
    identity.restore(found);
    identityKnown = true;
  });
  const eventStore = createConsentEventStore(context, { storage, storageKey, maxSize, storageTimeoutMs, leaseMs: QUEUE_LEASE_MS, clock: options.clock ?? REAL_CLOCK });
  /**
   * A decision reaches events tracked before it that are still on their way to the queue (the
   * emitter may hand them over late): their capture level is lowered to it, so a decision that
   * raises the level again before they arrive does not lift them (docs/design.md, "A withdrawal
   * to `off` holds from the moment it is decided").
   */
  const lowerCaptured = (level: ConsentLevel) => {
    for (const [eventId, capturedAt] of context.captured) if (minLevel(capturedAt, level) !== capturedAt) context.captured.set(eventId, level);
  };
  const plugin = createConsentPlugin(context, identity);
  let stopped = false;
  // Once an identity has been withdrawn, the collector's old cookie is never sent again (in this
  // run or a later one); until the stored identity is read, that is not known, so none is sent.
  const withoutCredentials = () => !identityKnown || identity.deviceUserId() !== undefined;
  const customFetch = createConsentFetch(context, eventStore, () => options.fetch ?? globalThis.fetch, () => stopped, withoutCredentials);
  identity.observe(context.readLevel());
  const ready = Promise.all([eventStore.ready, identityRestored]).then(() => undefined);

  let stopping: Promise<void> | undefined;
  /** Sends nothing new; lets requests in flight settle and their removals be stored; then writes nothing more. */
  async function stopGracefully(): Promise<void> {
    stopped = true;
    try {
      await withTimeout(
        (async () => {
          await customFetch.idle();
          // The emitter removes what was delivered once the response is in: let it.
          await new Promise((resolve) => setTimeout(resolve, 0));
          await eventStore.persisted();
        })(),
        storageTimeoutMs,
        'stopping',
      );
    } catch {
      // A request or a write that does not end in time: stop anyway.
    } finally {
      await eventStore.stop();
    }
  }

  return {
    plugin,
    eventStore,
    customFetch,
    policy,
    ready,
    level: () => context.readLevel(),
    replacementIdentity: (realSessionId) => {
      // A withdrawal seen by no event yet still counts.
      identity.observe(context.readLevel());
      const userId = identity.deviceUserId();
      return userId === undefined ? undefined : { userId, session: identity.replacementSession(realSessionId) };
    },
    identityInForce: () => context.identityMarker(),
    drop(reason, eventId, detail) {
      context.drop(reason, 'adapter', eventId, detail);
    },
    trackAtMost(level, call) {
      const outer = ceiling;
      ceiling = outer === undefined ? level : minLevel(outer, level);
      try {
        return call();
      } finally {
        ceiling = outer;
      }
    },
    withdrawIdentity() {
      identity.forceWithdraw();
    },
    grantedIdentityPersisted() {
      const grant = () => {
        identity.granted();
        return identityStore.persisted();
      };
      // A grant made while booting: the identity it will send is known once the stored one is read.
      return identityKnown ? grant() : identityRestored.then(grant);
    },
    storedDecision(level) {
      identity.storedDecision(level);
    },
    followLevel(decision, decided) {
      identity.observe(context.readLevel());
      // Only a withdrawal to off: lowering to a level that still sends, before it is in force, can
      // catch an event on the wire (docs/design.md, "A withdrawal to `off` holds from the moment it is decided").
      if (decided === 'off') {
        lowerCaptured(decided);
        eventStore.followDecision(decided);
      }
      if (decision !== undefined) identity.decided(decision.level, decision.stored);
    },
    async levelChanged(level) {
      identity.observe(context.readLevel());
      await eventStore.reconcile(level);
    },
    stop() {
      stopping ??= stopGracefully();
      return stopping;
    },
    stats: () => ({
      tracked: context.counters.tracked,
      resanitized: context.counters.resanitized,
      dropped: { ...context.counters.dropped },
      requests: { ...context.counters.requests },
    }),
  };
}
