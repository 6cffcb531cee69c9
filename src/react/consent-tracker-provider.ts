import { createElement, useMemo, useState, useSyncExternalStore, type ReactElement, type ReactNode } from 'react';
import { ConsentError, type ConsentTracker } from 'consent-tracker';
import { BOOTING_SOURCE } from './booting-source.js';
import { ConsentTrackerContext } from './consent-tracker-context.js';

/**
 * Props of {@link ConsentTrackerProvider}: the consent tracker the app created once, outside
 * render, or a factory the provider calls once, on the client only (for apps rendered on the
 * server). Pass a factory defined outside the component, so it is the same function every render.
 *
 * @example
 * ```ts
 * import { createConsentTracker, trackerCoreAdapter } from 'consent-tracker';
 * import type { ConsentTrackerProviderProps } from 'consent-tracker/react';
 * const createConsent = () => createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: 'https://collector.example.com' }) });
 * const props: ConsentTrackerProviderProps = { create: createConsent };
 * ```
 */
export type ConsentTrackerProviderProps<Tracker extends object = object> = { readonly children?: ReactNode } & (
  | { readonly tracker: ConsentTracker<Tracker>; readonly create?: never }
  | { readonly create: () => ConsentTracker<Tracker>; readonly tracker?: never }
);

/** Consent trackers made by factories, so that StrictMode's double first render makes one. */
const created = new WeakMap<() => ConsentTracker<object>, ConsentTracker<object>>();
const subscribeToNothing = () => () => undefined;

function createOnce(create: () => ConsentTracker<object>): ConsentTracker<object> {
  let consent = created.get(create);
  if (!consent) {
    consent = create();
    created.set(create, consent);
  }
  return consent;
}

/**
 * Makes a consent tracker available to `useConsentTracker` and `<ConsentGate>` below it. While
 * rendering on the server, and in the first client render that hydrates it, the hooks report
 * `booting` and nothing is created, read or stored; the live state follows right after.
 *
 * @throws {@link ConsentError} `INVALID_OPTION` unless exactly one of `tracker` and `create` is given.
 *
 * @example
 * ```ts
 * import { createElement } from 'react';
 * import { createConsentTracker, trackerCoreAdapter } from 'consent-tracker';
 * import { ConsentTrackerProvider } from 'consent-tracker/react';
 * // Once, outside render:
 * const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: 'https://collector.example.com' }) });
 * export const App = () => createElement(ConsentTrackerProvider, { tracker: consent }, 'the app');
 * ```
 */
export function ConsentTrackerProvider<Tracker extends object>(props: ConsentTrackerProviderProps<Tracker>): ReactElement {
  const { tracker, create, children } = props as { tracker?: ConsentTracker<object>; create?: () => ConsentTracker<object>; children?: ReactNode };
  if ((tracker === undefined) === (create === undefined)) {
    throw new ConsentError('INVALID_OPTION', '<ConsentTrackerProvider> needs exactly one of tracker (created once, outside render) and create (a factory, called once on the client)');
  }
  // False on the server and while hydrating, true from then on (and at once in a client-only render).
  const onClient = useSyncExternalStore(subscribeToNothing, () => true, () => false);
  // The tracker a factory made is this provider's for good: a factory written inline is a new
  // function at every render, and must not make a new tracker each time.
  const [made] = useState<{ consent?: ConsentTracker<object> }>(() => ({}));
  if (onClient && !tracker) made.consent ??= createOnce(create as () => ConsentTracker<object>);
  const consent = onClient ? (tracker ?? made.consent) : undefined;
  const value = useMemo(() => ({ consent, source: consent?.actor ?? BOOTING_SOURCE }), [consent]);
  return createElement(ConsentTrackerContext.Provider, { value }, children);
}
