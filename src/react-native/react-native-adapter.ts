import DefaultAsyncStorage from '@react-native-async-storage/async-storage';
import { getTracker, newTracker, removeTracker, type ReactNativeTracker } from '@snowplow/react-native-tracker';
import type { CorePlugin } from '@snowplow/tracker-core';
import type { ConsentAdapter } from '../consent-adapter.js';
import { ConsentError, describe } from '../consent-error.js';
import type { Enforcement } from '../enforce/create-enforcement.js';
import type { ConsentLevel } from '../../machines/levels.js';
import type { KeyValueStorage } from '../storage.js';
import { createConsentAwareAsyncStorage } from './consent-aware-async-storage.js';
import { createConsentAwareRetriever } from './consent-aware-retriever.js';

/**
 * The React Native tracker's own `newTracker` configuration.
 *
 * @example
 * ```ts
 * import type { ReactNativeTrackerConfiguration } from 'consent-tracker/react-native';
 * const config: ReactNativeTrackerConfiguration = { namespace: 'app', endpoint: 'https://collector.example.com' };
 * ```
 */
export type ReactNativeTrackerConfiguration = Parameters<typeof newTracker>[0];

/**
 * Options of {@link reactNativeAdapter}: the tracker's own configuration, everything passed
 * through, except the three options the adapter owns (`eventStore`, `customFetch`, and the
 * `SP-Anonymous` header, which is decided per event). `serverAnonymization: true` is kept: it
 * adds the header at every level, `full` included.
 *
 * @example
 * ```ts
 * import type { ReactNativeAdapterOptions } from 'consent-tracker/react-native';
 * const options: ReactNativeAdapterOptions = {
 *   namespace: 'app',
 *   endpoint: 'https://collector.example.com',
 *   appId: 'my-app',
 *   platformContextRetriever: { getAppleIdfa: async () => undefined },
 * };
 * ```
 */
export type ReactNativeAdapterOptions = Omit<ReactNativeTrackerConfiguration, 'eventStore' | 'customFetch'>;

/** Every method of the tracker, so that the facade has them before the tracker exists. */
const TRACKER_METHODS = [
  'trackSelfDescribingEvent',
  'trackScreenViewEvent',
  'trackScrollChangedEvent',
  'trackListItemViewEvent',
  'trackStructuredEvent',
  'trackPageViewEvent',
  'trackTimingEvent',
  'trackDeepLinkReceivedEvent',
  'trackMessageNotificationEvent',
  'addGlobalContexts',
  'clearGlobalContexts',
  'removeGlobalContexts',
  'addPlugin',
  'flush',
  'setAppId',
  'setPlatform',
  'setUserId',
  'setNetworkUserId',
  'setDomainUserId',
  'setIpAddress',
  'setUseragent',
  'setTimezone',
  'setLanguage',
  'setScreenResolution',
  'setScreenViewport',
  'setColorDepth',
  'setSubjectData',
  'getSessionUserId',
  'getSessionId',
  'getSessionIndex',
  'getSessionState',
  'getIsInBackground',
  'getBackgroundIndex',
  'getForegroundIndex',
  'enablePlatformContext',
  'disablePlatformContext',
  'refreshPlatformContext',
] as const satisfies readonly (keyof ReactNativeTracker)[];

// A tracker method missing from the list above fails the build here.
type UnlistedMethod = Exclude<keyof ReactNativeTracker, (typeof TRACKER_METHODS)[number] | 'namespace'>;
const everyMethodListed: [UnlistedMethod] extends [never] ? true : UnlistedMethod = true;
void everyMethodListed;

type AnyMethod = (...args: unknown[]) => unknown;

/** The tracker's methods that return a promise. */
const ASYNC_METHODS: readonly string[] = ['flush', 'getSessionUserId', 'getSessionId', 'getSessionIndex', 'getSessionState', 'enablePlatformContext', 'refreshPlatformContext'] satisfies (keyof ReactNativeTracker)[];

/** Every call but `track*` keeps its order with events while the gate holds (and waits for the tracker to exist). */
const ORDERED_METHODS: readonly string[] = TRACKER_METHODS.filter((name) => !name.startsWith('track'));

/**
 * The consent adapter for `@snowplow/react-native-tracker` 4.x. It creates the tracker once, with
 * the enforcement plugin (after the tracker's own plugins), the consent-aware event store, the
 * fetch guard, a consent-aware `asyncStorage` and, if you pass one, a consent-aware
 * `platformContextRetriever`; it never re-creates it. On a level change it:
 *
 * - clears the stored session (`snowplow_<namespace>_session`, which holds the device user id)
 *   and the tracker's own stored queue (`snowplow_<namespace>`) on entering a level that does
 *   not keep device storage, and does not write the session again there; a session it finds
 *   stored then (left by a withdrawal cut short) is withdrawn, so a later `full` starts anew;
 * - clears the subject's `uid`, `ip`, `nuid` and `duid` on a withdrawal (leaving a level with user
 *   identifiers; set them again after a new consent, if you have them);
 * - refreshes the platform context, so advertising ids are asked for only at `full`;
 * - at a level that keeps device storage, stores the session as it is (the new identity's after
 *   a re-consent).
 *
 * The clearing of stored identifiers is the chart's clean-up (`forget`), which no later decision
 * cancels. The rest (session entity, identifiers, `SP-Anonymous: *`, screen ids, a new device
 * user id after a re-consent) is done per event by the enforcement points.
 *
 * `newTracker` is asynchronous, so the tracker exists once `consent.ready` has resolved. Until
 * then the gate holds every call, in order; the methods that return a promise answer once it
 * exists. If it cannot be created, the error is reported to `onError`, `track*` calls are
 * counted as dropped (`no-tracker`), and other calls do nothing. The getters report the
 * tracker's own state (its device user id, say), not what is sent.
 *
 * @throws {@link ConsentError} `INVALID_OPTION` without a namespace or an endpoint.
 *
 * @example
 * ```ts
 * import { createConsentTracker } from 'consent-tracker';
 * import { reactNativeAdapter } from 'consent-tracker/react-native';
 *
 * const consent = createConsentTracker({
 *   adapter: reactNativeAdapter({ namespace: 'app', endpoint: 'https://collector.example.com' }),
 * });
 * await consent.ready;
 * consent.tracker.trackScreenViewEvent({ name: 'home' }); // anonymous until the user decides
 * await consent.setLevel('full', 'banner');
 * ```
 */
export function reactNativeAdapter(options: ReactNativeAdapterOptions): ConsentAdapter<ReactNativeTracker> {
  if (typeof options !== 'object' || options === null) throw new ConsentError('INVALID_OPTION', `reactNativeAdapter needs the tracker's configuration; got ${describe(options)}`);
  const { namespace, endpoint } = options;
  if (typeof namespace !== 'string' || namespace === '') throw new ConsentError('INVALID_OPTION', `namespace must be a non-empty string; got ${describe(namespace)}`);
  if (typeof endpoint !== 'string' || endpoint === '') throw new ConsentError('INVALID_OPTION', `endpoint must be a non-empty string; got ${describe(endpoint)}`);
  const asyncStorage = options.asyncStorage ?? DefaultAsyncStorage;

  /** `newTracker`'s answer: rejects if the tracker could not be created. */
  let created: Promise<ReactNativeTracker> | undefined;
  /** The tracker once it exists; `undefined` if it could not be created. */
  let creation: Promise<ReactNativeTracker | undefined> | undefined;
  let real: ReactNativeTracker | undefined;
  let enforcementInUse: Enforcement | undefined;
  let storage: ReturnType<typeof createConsentAwareAsyncStorage> | undefined;
  /**
   * The level being applied: an upgrade is not in force until apply() has finished, but the
   * device state (ad ids fetched, session stored) must be ready for it by then. Events cannot
   * carry more than the level in force: the enforcement plugin sees to that.
   */
  let applying: ConsentLevel | undefined;
  /** The time a held event was first tracked, while the gate replays it. */
  let replayTimestamp: number | undefined;

  const timestampPlugin: CorePlugin = {
    beforeTrack(pb) {
      if (replayTimestamp !== undefined) pb.add('ttm', String(replayTimestamp));
    },
  };

  /** The tracker and what it was created with, once it exists; `undefined` if it could not be created. */
  const ready = async () => {
    const tracker = await creation;
    return tracker && storage && enforcementInUse ? { tracker, storage, enforcement: enforcementInUse } : undefined;
  };

  return {
    storage: asyncStorage as KeyValueStorage,
    orderedMethods: ORDERED_METHODS,
    asyncMethods: ASYNC_METHODS,
    create(enforcement) {
      if (creation) throw new ConsentError('INVALID_OPTION', 'a reactNativeAdapter creates one tracker: make one adapter per consent tracker');
      enforcementInUse = enforcement;
      const deviceLevel = () => applying ?? enforcement.level();
      storage = createConsentAwareAsyncStorage(asyncStorage, namespace, enforcement, deviceLevel);
      const retriever = options.platformContextRetriever && createConsentAwareRetriever(options.platformContextRetriever, enforcement, deviceLevel);
      created = newTracker({
        ...options,
        asyncStorage: storage,
        ...(retriever && { platformContextRetriever: retriever }),
        eventStore: enforcement.eventStore,
        customFetch: enforcement.customFetch,
        // The enforcement plugin runs last, after the tracker's own and the app's plugins.
        plugins: [...(options.plugins ?? []), timestampPlugin, enforcement.plugin],
      });
      creation = created.then((tracker) => (real = tracker), () => undefined);
      // Calls reach it through the gate, which holds them until it exists.
      const facade: Record<string, unknown> = { namespace };
      for (const name of TRACKER_METHODS) {
        facade[name] = (...args: unknown[]) => {
          if (real) return (real[name] as AnyMethod)(...args);
          if (name.startsWith('track')) enforcement.drop('no-tracker', undefined, `${name}: the tracker could not be created`);
          // Without a tracker, a method that answers with a promise still does, with nothing.
          return ASYNC_METHODS.includes(name) ? Promise.resolve(undefined) : undefined;
        };
      }
      return facade as ReactNativeTracker;
    },
    async created() {
      await created;
    },
    async apply(level, _from, signal) {
      const found = await ready();
      if (!found || signal.aborted) return;
      const { tracker, storage } = found;
      applying = level;
      const release = () => (applying = undefined);
      // Abandoned: the device level is the one in force again at once, so no ad id is asked for after a withdrawal.
      signal.addEventListener('abort', release);
      try {
        await tracker.refreshPlatformContext();
        if (signal.aborted) return;
        // Last, so that a change that failed earlier has stored nothing.
        const session = await tracker.getSessionState();
        if (!signal.aborted) await storage.levelApplied(session);
      } finally {
        signal.removeEventListener('abort', release);
        release();
      }
    },
    async forget(level, { withdrawal, signal, inOrder }) {
      const rules = enforcementInUse?.policy[level];
      // Only a withdrawal clears what the app set: a stored decision of none applied at start
      // leaves the subject for a later consent. In order now, before anything is awaited.
      if (withdrawal && rules?.userIdentifiers === false) inOrder(() => real && clearSubject(real));
      const found = await ready();
      if (!found || rules?.deviceStorage === 'keep') return;
      // A session found stored here was left by a withdrawal cut short (or is the one being
      // withdrawn): the tracker may hold it in memory, so it must not be sent again, even if
      // removing it fails.
      await found.storage.forgetStored(() => !signal.aborted, () => found.enforcement.withdrawIdentity());
    },
    async flush() {
      await (await creation)?.flush();
    },
    async stop() {
      // The emitter cannot be stopped (the enforcement points stop sending): the namespace is freed,
      // if it still names this tracker. A creation that ended late (stop() no longer waiting) may
      // find a later consent tracker's tracker there: removing that one would deactivate it, and
      // its events would go nowhere, uncounted.
      const tracker = await creation;
      if (tracker && getTracker(namespace) === tracker) removeTracker(namespace);
    },
    replay(tracker, method, args, timestamp, level) {
      const call = (tracker as unknown as Record<string, unknown>)[method];
      if (typeof call !== 'function') return undefined;
      if (!method.startsWith('track') || !enforcementInUse) return (call as AnyMethod)(...args);
      const enforcement = enforcementInUse;
      replayTimestamp = timestamp;
      try {
        return enforcement.trackAtMost(level, () => (call as AnyMethod)(...args));
      } finally {
        replayTimestamp = undefined;
      }
    },
  };
}

/** Clears the subject's identifiers with setters that really clear (`setSubjectData` cannot). */
function clearSubject(tracker: ReactNativeTracker): void {
  tracker.setUserId('');
  tracker.setIpAddress('');
  tracker.setNetworkUserId(undefined);
  tracker.setDomainUserId(undefined);
}
