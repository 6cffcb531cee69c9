import type { ConsentLevel } from './levels.js';

/**
 * A level's configuration in the shape of the React Native tracker v2 options (session entity,
 * user anonymisation, server-side anonymisation), so that each level reads as the v2 switches it
 * stands for.
 *
 * @example
 * ```ts
 * import { toTrackerConfiguration, type TrackerConfiguration } from 'consent-tracker';
 * const config: TrackerConfiguration = toTrackerConfiguration('none');
 * ```
 */
export interface TrackerConfiguration {
  readonly trackerConfig: { readonly sessionContext: boolean; readonly userAnonymisation: boolean };
  readonly emitterConfig: { readonly serverAnonymisation: boolean };
}

const configuration = (sessionContext: boolean, anonymous: boolean): TrackerConfiguration => ({
  trackerConfig: { sessionContext, userAnonymisation: anonymous },
  emitterConfig: { serverAnonymisation: anonymous },
});

/**
 * What each level means for a tracker under the default identifier policy: the `meta` of the
 * chart's level states, so that the drawn chart shows it. An instance's own policy may be
 * stricter; adapters apply that one.
 *
 * @example
 * ```ts
 * import { DEFAULT_TRACKER_CONFIGURATIONS } from 'consent-tracker';
 * DEFAULT_TRACKER_CONFIGURATIONS['session-only'].trackerConfig.sessionContext; // true
 * ```
 */
export const DEFAULT_TRACKER_CONFIGURATIONS: Readonly<Record<ConsentLevel, TrackerConfiguration>> = Object.freeze({
  off: configuration(false, true),
  none: configuration(false, true),
  'session-only': configuration(true, true),
  full: configuration(true, false),
});
