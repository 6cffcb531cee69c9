import { useContext, useMemo } from 'react';
import { useSelector } from '@xstate/react';
import type { SnapshotFrom } from 'xstate';
import { ConsentError, selectConsentView, type ConsentLevel, type ConsentTracker, type ConsentView, type consentMachine } from 'consent-tracker';
import { ConsentTrackerContext, type ConsentTrackerContextValue } from './consent-tracker-context.js';

/**
 * A snapshot of the consent chart, as the selector form of `useConsentTracker` receives it.
 *
 * @example
 * ```ts
 * import { selectPhase } from 'consent-tracker';
 * import type { ConsentSnapshot } from 'consent-tracker/react';
 * const isBooting = (snapshot: ConsentSnapshot) => selectPhase(snapshot) === 'booting';
 * ```
 */
export type ConsentSnapshot = SnapshotFrom<typeof consentMachine>;

/**
 * What `useConsentTracker()` returns: the view of the lifecycle, the decisions, and the tracker
 * (`undefined` on the server and in the first client render that hydrates).
 *
 * @example
 * ```ts
 * import type { ConsentTrackerState } from 'consent-tracker/react';
 * const choose = (state: ConsentTrackerState) => void state.setLevel('full', 'banner');
 * ```
 */
export interface ConsentTrackerState<Tracker extends object = object> extends ConsentView {
  setLevel(level: ConsentLevel, source?: string): Promise<void>;
  reset(): Promise<void>;
  retry(): Promise<void>;
  readonly tracker: Tracker | undefined;
}

const sameView = (a: ConsentView, b: ConsentView) =>
  a.level === b.level && a.phase === b.phase && a.decided === b.decided && a.isApplying === b.isApplying && a.error === b.error;

const noTracker = () => Promise.reject(new ConsentError('NO_TRACKER', 'no consent tracker yet: it is created on the client, after the first render'));

function useConsentContext(): ConsentTrackerContextValue {
  const context = useContext(ConsentTrackerContext);
  if (!context) {
    throw new ConsentError(
      'NO_TRACKER',
      'useConsentTracker() and <ConsentGate> must be used inside <ConsentTrackerProvider>: create the consent tracker once, outside render, and wrap the app in <ConsentTrackerProvider tracker={consent}> (or create={factory} when rendering on the server)',
    );
  }
  return context;
}

/**
 * The consent lifecycle in a component: `{ level, phase, decided, isApplying, error, setLevel,
 * reset, retry, tracker }`, re-rendering when any of the first five changes. With a selector,
 * only what it picks from the chart's snapshot, re-rendering only when that changes (by
 * `compare`, `===` by default). Nothing on its path touches the DOM: it runs the same in React
 * Native.
 *
 * @throws {@link ConsentError} `NO_TRACKER` outside `<ConsentTrackerProvider>`.
 *
 * @example
 * ```ts
 * import { createElement } from 'react';
 * import { selectPhase } from 'consent-tracker';
 * import { useConsentTracker } from 'consent-tracker/react';
 * export function Banner() {
 *   const { decided, setLevel } = useConsentTracker();
 *   const phase = useConsentTracker(selectPhase);
 *   if (decided || phase === 'booting') return null;
 *   return createElement('button', { onClick: () => void setLevel('full', 'banner') }, 'Accept');
 * }
 * ```
 */
export function useConsentTracker<Tracker extends object = object>(): ConsentTrackerState<Tracker>;
export function useConsentTracker<T>(selector: (snapshot: ConsentSnapshot) => T, compare?: (a: T, b: T) => boolean): T;
export function useConsentTracker<T>(selector?: (snapshot: ConsentSnapshot) => T, compare?: (a: T, b: T) => boolean): ConsentTrackerState | T {
  const { consent, source } = useConsentContext();
  const picked = useSelector(source, (selector ?? selectConsentView) as (snapshot: unknown) => unknown, (selector ? compare : sameView) as (a: unknown, b: unknown) => boolean);
  const state = useMemo(() => (selector ? undefined : withActions(picked as ConsentView, consent)), [selector, picked, consent]);
  return state ?? (picked as T);
}

function withActions(view: ConsentView, consent: ConsentTracker<object> | undefined): ConsentTrackerState {
  if (!consent) return { ...view, setLevel: noTracker, reset: noTracker, retry: noTracker, tracker: undefined };
  return {
    ...view,
    setLevel: (level, source) => consent.setLevel(level, source),
    reset: () => consent.reset(),
    retry: () => consent.retry(),
    tracker: consent.tracker,
  };
}
