import { newEmitter, trackerCore, type CorePlugin, type EmitterConfiguration, type PayloadBuilder, type SelfDescribingJson, type TrackerCore } from '@snowplow/tracker-core';
import type { Enforcement } from '../enforce/create-enforcement.js';
import type { ConsentAdapter } from '../consent-adapter.js';

/** The platform (`p`) events carry unless `configure` sets another: a general app. */
const DEFAULT_PLATFORM = 'app';
/** The tracker version (`tv`) events carry unless `configure` sets another. */
const TRACKER_VERSION = 'consent-tracker-core';

/**
 * A tracker built by {@link trackerCoreAdapter}: tracker-core's `track`, plus `flush`.
 *
 * @example
 * ```ts
 * import { buildStructEvent } from '@snowplow/tracker-core';
 * import type { CoreTracker } from 'consent-tracker';
 * const track = (tracker: CoreTracker) => tracker.track(buildStructEvent({ category: 'c', action: 'a' }));
 * ```
 */
export interface CoreTracker {
  track(event: PayloadBuilder, context?: SelfDescribingJson[]): void;
  /** The tracker-core instance, for subject setters (`setUserId`, …). Events tracked on it directly bypass the gate. */
  readonly core: TrackerCore;
}

/**
 * Options of {@link trackerCoreAdapter}: the emitter's own, plus tracker-core's plugins.
 *
 * @example
 * ```ts
 * import type { TrackerCoreAdapterOptions } from 'consent-tracker';
 * const options: TrackerCoreAdapterOptions = { endpoint: 'https://collector.example.com' };
 * ```
 */
export type TrackerCoreAdapterOptions = Omit<EmitterConfiguration, 'eventStore' | 'customFetch'> & {
  /** Plugins that add identifiers (sessions, subjects); the enforcement plugin runs after them. */
  readonly corePlugins?: CorePlugin[];
  readonly base64?: boolean;
  /**
   * Called with the tracker-core instance once, to set up the subject (and the platform and
   * tracker version, `app` and `consent-tracker-core` unless set here).
   */
  readonly configure?: (core: TrackerCore) => void;
};

/**
 * A small adapter over plain `@snowplow/tracker-core`, so that everything is testable without the
 * React Native or browser trackers: the tracker is created once with the enforcement points, and
 * a level change has nothing else to reconfigure.
 *
 * @example
 * ```ts
 * import { createConsentTracker, memoryStorage, trackerCoreAdapter } from 'consent-tracker';
 * const consent = createConsentTracker({
 *   adapter: trackerCoreAdapter({ endpoint: 'https://collector.example.com' }),
 *   storage: memoryStorage(),
 * });
 * ```
 */
export function trackerCoreAdapter(options: TrackerCoreAdapterOptions): ConsentAdapter<CoreTracker> {
  const { corePlugins = [], base64, configure, ...emitterOptions } = options;
  let flushEmitter: () => Promise<void> = async () => {};
  let enforcementInUse: Enforcement | undefined;
  let core: TrackerCore | undefined;
  return {
    create(enforcement: Enforcement): CoreTracker {
      enforcementInUse = enforcement;
      const emitter = newEmitter({ ...emitterOptions, eventStore: enforcement.eventStore, customFetch: enforcement.customFetch });
      flushEmitter = () => emitter.flush();
      const created = trackerCore({
        ...(base64 !== undefined && { base64 }),
        corePlugins: [...corePlugins, enforcement.plugin],
        callback: (pb) => void emitter.input(pb.build()),
      });
      core = created;
      // A collector refuses events without a platform and a tracker version: the app may set its own.
      created.setPlatform(DEFAULT_PLATFORM);
      created.setTrackerVersion(TRACKER_VERSION);
      configure?.(created);
      return { core: created, track: (event, context) => void created.track(event, context) };
    },
    async apply() {
      // tracker-core keeps no identifiers of its own: the enforcement points do all the work.
    },
    async forget(level, { withdrawal, inOrder }) {
      // Nothing is kept on the device but the queue, which the enforcement points keep in line;
      // what the app set on the subject goes on a withdrawal (set it again after a new consent).
      const subject = core;
      if (!withdrawal || !subject || enforcementInUse?.policy[level].userIdentifiers !== false) return;
      // Empty values are left out of every event: these setters really clear.
      inOrder(() => subject.addPayloadDict({ uid: '', ip: '', nuid: '', tnuid: '', duid: '' }));
    },
    flush: () => flushEmitter(),
    replay(tracker, method, args, timestamp, level) {
      if (method !== 'track' || !enforcementInUse) return undefined;
      const [event, context] = args as [PayloadBuilder, SelfDescribingJson[] | undefined];
      return enforcementInUse.trackAtMost(level, () => void tracker.core.track(event, context, { type: 'ttm', value: timestamp }));
    },
  };
}
