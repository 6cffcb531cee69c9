import { createElement, Fragment, type ReactElement, type ReactNode } from 'react';
import { compareLevels, ConsentError, isConsentLevel, selectConsentView, type ConsentLevel } from 'consent-tracker';
import { useConsentTracker } from './use-consent-tracker.js';

/**
 * Props of {@link ConsentGate}.
 *
 * @example
 * ```ts
 * import type { ConsentGateProps } from 'consent-tracker/react';
 * const props: ConsentGateProps = { atLeast: 'full', fallback: 'Accept cookies to watch this video', children: 'the video' };
 * ```
 */
export interface ConsentGateProps {
  /** The lowest level in force at which `children` are rendered. */
  readonly atLeast: ConsentLevel;
  /** Rendered below that level, and while booting (on the server too), whatever the level. */
  readonly fallback?: ReactNode;
  readonly children?: ReactNode;
}

/**
 * Renders its children only while the level in force is at least `atLeast` (an embedded
 * video, a chat widget), and `fallback` otherwise.
 *
 * @throws {@link ConsentError} `INVALID_LEVEL` for an unknown level; `NO_TRACKER` outside `<ConsentTrackerProvider>`.
 *
 * @example
 * ```ts
 * import { createElement } from 'react';
 * import { ConsentGate } from 'consent-tracker/react';
 * export const Video = () => createElement(ConsentGate, { atLeast: 'full', fallback: 'Accept cookies to watch' }, 'the player');
 * ```
 */
export function ConsentGate({ atLeast, fallback = null, children }: ConsentGateProps): ReactElement {
  if (!isConsentLevel(atLeast)) throw new ConsentError('INVALID_LEVEL', `<ConsentGate atLeast> must be one of off, none, session-only, full; got ${String(atLeast)}`);
  // Closed while booting (and on the server): the stored decision, perhaps off, is not known yet.
  const open = useConsentTracker((snapshot) => {
    const { phase, level } = selectConsentView(snapshot);
    return phase !== 'booting' && compareLevels(level, atLeast) >= 0;
  });
  return createElement(Fragment, null, open ? children : fallback);
}
