import type { InspectionEvent, StateValue } from 'xstate';

/**
 * Options of {@link logTransitions}.
 *
 * @example
 * ```ts
 * import type { LogTransitionsOptions } from 'consent-tracker/visualize';
 * const options: LogTransitionsOptions = { log: (line) => console.debug(line) };
 * ```
 */
export interface LogTransitionsOptions {
  /** Where lines go. Default: `console.log`. */
  readonly log?: (line: string) => void;
  /** Counts to add to each line (the gate's, say: `() => consent.stats().gate`). */
  readonly counts?: () => object | undefined;
}

/** The leaf states a value is in, as dotted paths. */
function leaves(value: StateValue, prefix = ''): string[] {
  if (typeof value === 'string') return [`${prefix}${value}`];
  return Object.entries(value).flatMap(([key, inner]) => (inner === undefined ? [`${prefix}${key}`] : leaves(inner, `${prefix}${key}.`)));
}

function describeEvent(event: { type: string } & Record<string, unknown>): string {
  const detail = ['level', 'to'].map((key) => event[key]).find((value) => typeof value === 'string');
  return detail === undefined ? event.type : `${event.type}(${detail as string})`;
}

/**
 * A small inspector for the `inspect` option of `createConsentTracker` (or XState's
 * `createActor`): one line each time the chart's states change, with the event that changed
 * them and, if asked, counts such as the gate's. For watching decisions and changes while the app
 * runs in development.
 *
 * @example
 * ```ts
 * import { createConsentTracker, trackerCoreAdapter, type ConsentTracker, type CoreTracker } from 'consent-tracker';
 * import { logTransitions } from 'consent-tracker/visualize';
 * let consent: ConsentTracker<CoreTracker> | undefined;
 * consent = createConsentTracker({
 *   adapter: trackerCoreAdapter({ endpoint: 'https://collector.example.com' }),
 *   inspect: logTransitions({ counts: () => consent?.stats().gate }),
 * });
 * // consent: CONSENT.SET(full) -> decision.full | tracker.applying.reconfiguring | … (held=0 released=0 dropped=0)
 * ```
 */
export function logTransitions(options: LogTransitionsOptions = {}): (inspection: InspectionEvent) => void {
  const log = options.log ?? ((line: string) => console.log(line));
  let last = '';
  return (inspection) => {
    if (inspection.type !== '@xstate.snapshot' || inspection.actorRef.sessionId !== inspection.rootId) return;
    const snapshot = inspection.snapshot as { value?: StateValue; machine?: { id: string } };
    if (snapshot.value === undefined) return;
    const states = leaves(snapshot.value).join(' | ');
    if (states === last) return;
    last = states;
    const counts = options.counts?.();
    const shown = counts ? ` (${Object.entries(counts).map(([key, value]) => `${key}=${value}`).join(' ')})` : '';
    log(`${snapshot.machine?.id ?? 'chart'}: ${describeEvent(inspection.event as { type: string })} -> ${states}${shown}`);
  };
}
