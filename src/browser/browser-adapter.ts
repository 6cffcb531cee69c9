import {
  addGlobalContexts,
  newTracker,
  setUserId,
  trackPageView,
  trackSelfDescribingEvent,
  trackStructEvent,
  type BrowserTracker,
  type TrackerConfiguration,
} from '@snowplow/browser-tracker';
import type { ConsentAdapter } from '../consent-adapter.js';
import type { Enforcement } from '../enforce/create-enforcement.js';
import type { ConsentLevel } from '../../machines/levels.js';
import { webStorage, type KeyValueStorage } from '../storage.js';
import { forgetBrowserState } from './forget-browser-state.js';
import { keepTabIdWith } from './keep-tab-id-with.js';
import { installLinkDecoration } from './link-decoration.js';

/**
 * Options of {@link browserAdapter}: the browser tracker's own configuration, but for what the
 * adapter owns (the event store, the fetch, anonymous tracking and the state storage, which
 * follow the level), and `stateStorageStrategy`, the one used at `full`.
 *
 * @example
 * ```ts
 * import type { BrowserAdapterOptions } from 'consent-tracker/browser';
 * const options: BrowserAdapterOptions = { namespace: 'web', endpoint: 'https://collector.example.com', appId: 'shop', contexts: { webPage: true, session: true } };
 * ```
 */
export type BrowserAdapterOptions = Omit<TrackerConfiguration, 'eventStore' | 'customFetch' | 'anonymousTracking' | 'useExtendedCrossDomainLinker'> & {
  readonly namespace: string;
  readonly endpoint: string;
};

/**
 * The tracker `browserAdapter` gives the app: the browser tracker's `track*` calls for its
 * namespace, passed through the gate, its subject and global contexts, and the tracker itself.
 *
 * @example
 * ```ts
 * import type { BrowserConsentTracker } from 'consent-tracker/browser';
 * const track = (tracker: BrowserConsentTracker) => tracker.trackPageView();
 * ```
 */
export interface BrowserConsentTracker {
  trackPageView(event?: Parameters<typeof trackPageView>[0]): void;
  trackStructEvent(event: Parameters<typeof trackStructEvent>[0]): void;
  trackSelfDescribingEvent(event: Parameters<typeof trackSelfDescribingEvent>[0]): void;
  setUserId(userId?: string | null): void;
  addGlobalContexts(contexts: Parameters<typeof addGlobalContexts>[0]): void;
  /** The browser tracker: calls on it bypass the gate. */
  readonly tracker: BrowserTracker | undefined;
}

/**
 * A reload or a navigation away hands the queue to the next page load at once; a page kept in the
 * back/forward cache keeps its slot, and stores its queue again when it is shown. Returns how to
 * stop listening.
 */
function handOffOnUnload(enforcement: Enforcement): () => void {
  if (typeof addEventListener !== 'function') return () => undefined;
  const onHide = (event: Event) => void ((event as PageTransitionEvent).persisted || enforcement.eventStore.handOff());
  const onShow = (event: Event) => void ((event as PageTransitionEvent).persisted && enforcement.eventStore.resume());
  addEventListener('pagehide', onHide);
  addEventListener('pageshow', onShow);
  return () => {
    removeEventListener('pagehide', onHide);
    removeEventListener('pageshow', onShow);
  };
}

/** The anonymous tracking and the state storage of each level: below `full`, nothing is stored. */
function settingsOf(level: ConsentLevel, fullStorage: TrackerConfiguration['stateStorageStrategy']) {
  if (level === 'full') return { anonymous: false as const, stateStorageStrategy: fullStorage };
  return { anonymous: { withSessionTracking: level === 'session-only', withServerAnonymisation: true }, stateStorageStrategy: 'none' as const };
}

/**
 * Drives `@snowplow/browser-tracker` 4.x: the tracker is created once, anonymous and storing
 * nothing until a level is in force, with the enforcement points; each level sets its anonymous
 * tracking and its state storage; a withdrawal clears what the tracker keeps in cookies, local
 * and session storage; links are decorated for cross-domain linking (`crossDomainLinker`) only
 * at `full`, by the adapter, link by link. Its default storage is `webStorage(localStorage)`.
 *
 * @example
 * ```ts
 * import { createConsentTracker } from 'consent-tracker';
 * import { browserAdapter } from 'consent-tracker/browser';
 * const consent = createConsentTracker({ adapter: browserAdapter({ namespace: 'web', endpoint: 'https://collector.example.com' }) });
 * consent.tracker.trackPageView();
 * ```
 */
export function browserAdapter(options: BrowserAdapterOptions): ConsentAdapter<BrowserConsentTracker> {
  // The linker is the adapter's, in its basic form: the extended one would carry the user and session ids.
  const { namespace, endpoint, stateStorageStrategy = 'cookieAndLocalStorage', crossDomainLinker, plugins = [], ...rest } = options;
  const configuration: typeof rest & Pick<TrackerConfiguration, 'useExtendedCrossDomainLinker'> = { ...rest };
  delete configuration.useExtendedCrossDomainLinker;
  const trackers = [namespace];
  let created: BrowserTracker | undefined;
  let enforcementInUse: Enforcement | undefined;
  let removeLinkDecoration: () => void = () => undefined;
  let removePageListeners: () => void = () => undefined;
  const atFull = () => enforcementInUse?.level() === 'full';
  const storage: KeyValueStorage | undefined = typeof localStorage === 'undefined' ? undefined : webStorage(localStorage);
  return {
    ...(storage && { storage }),
    // Tabs share localStorage: a decision in one reaches the others.
    syncsTabs: true,
    create(enforcement) {
      enforcementInUse = enforcement;
      created =
        newTracker(namespace, endpoint, {
          ...configuration,
          plugins: [...plugins, enforcement.plugin],
          eventStore: enforcement.eventStore,
          customFetch: enforcement.customFetch,
          // Until a level is in force: anonymous, and nothing written to cookies or storage.
          anonymousTracking: { withServerAnonymisation: true },
          stateStorageStrategy: 'none',
        }) ?? undefined;
      // Links are decorated only at full (with the identity in force), and only those the app asks
      // for; below full no decoration survives, not even one the raw tracker's linker made.
      const tracker = created;
      removePageListeners = handOffOnUnload(enforcement);
      removeLinkDecoration = installLinkDecoration({
        shouldDecorate: crossDomainLinker ?? (() => false),
        deviceUserId: () => (atFull() && tracker ? (enforcement.replacementIdentity()?.userId ?? tracker.getDomainUserId()) : undefined),
      });
      return {
        trackPageView: (event) => trackPageView(event, trackers),
        trackStructEvent: (event) => trackStructEvent(event, trackers),
        trackSelfDescribingEvent: (event) => trackSelfDescribingEvent(event, trackers),
        setUserId: (userId) => setUserId(userId, trackers),
        addGlobalContexts: (contexts) => addGlobalContexts(contexts, trackers),
        tracker: created,
      };
    },
    async apply(level, from) {
      if (!created) return;
      const settings = settingsOf(level, stateStorageStrategy);
      if (settings.anonymous === false) {
        // The tab id goes with the identity in force (the stored one is read before a level is
        // applied, unless the start stopped waiting for it); so do the tracker's own id and session
        // cookies, which this tab wrote while another identity was in force (docs/design.md,
        // "The identity across restarts").
        if (keepTabIdWith(enforcementInUse?.identityInForce())) created.clearUserData();
        created.disableAnonymousTracking({ stateStorageStrategy: settings.stateStorageStrategy });
        return;
      }
      created.enableAnonymousTracking({ options: settings.anonymous, stateStorageStrategy: settings.stateStorageStrategy });
      // An event tracked on the raw tracker between the clean-up and now may have written its ids again.
      if (from === 'full') created.clearUserData();
    },
    async forget(level, { withdrawal, inOrder }) {
      const tracker = created;
      if (!tracker || !enforcementInUse || enforcementInUse.policy[level].userIdentifiers) return;
      const enforcement = enforcementInUse;
      inOrder(() => {
        // The tracker's ids in cookies and local storage, its session, and on a withdrawal the app's user id.
        tracker.clearUserData();
        if (withdrawal) tracker.setUserId(null);
        forgetBrowserState(namespace, (count) => enforcement.drop('forgotten', undefined, `${count} event(s) in the browser tracker's own stored queue`));
      });
    },
    flush: async () => created?.flushBuffer(),
    stop: () => {
      removePageListeners();
      removeLinkDecoration();
    },
    orderedMethods: ['setUserId', 'addGlobalContexts'],
    replay(tracker, method, args, timestamp, level) {
      const call = (tracker as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
      if (!enforcementInUse || typeof call !== 'function') return undefined;
      if (!method.startsWith('track')) return call(...args);
      const [event] = args as [Record<string, unknown> | undefined];
      return enforcementInUse.trackAtMost(level, () => call({ ...event, timestamp: { type: 'ttm', value: timestamp } }));
    },
  };
}
