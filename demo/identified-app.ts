/**
 * A tracker-core "app" that carries every identifier a real mobile tracker adds: a subject with
 * `uid`, `ip`, `nuid` and `duid`; a `client_session` entity added by a plugin through
 * `addContextEntity`, as the React Native tracker does; a `mobile_context` with ad ids. The demo,
 * the benchmarks and the tests all drive this same app.
 */
import { newEmitter, trackerCore, type CorePlugin, type EmitterConfiguration, type SelfDescribingJson, type TrackerCore } from '@snowplow/tracker-core';

export const SESSION_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2';
export const MOBILE_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3';

export interface SessionState {
  userId: string;
  sessionId: string;
  previousSessionId: string | null;
  eventIndex: number;
}

/** Adds a `client_session` entity to every event, as the React Native tracker's session plugin does. */
export function sessionPlugin(state: SessionState): CorePlugin {
  return {
    beforeTrack(pb) {
      state.eventIndex += 1;
      pb.addContextEntity({
        schema: SESSION_SCHEMA,
        data: {
          userId: state.userId,
          sessionId: state.sessionId,
          previousSessionId: state.previousSessionId,
          sessionIndex: 3,
          eventIndex: state.eventIndex,
          storageMechanism: 'LOCAL_STORAGE',
          firstEventId: 'first-event',
          firstEventTimestamp: '2026-01-01T00:00:00.000Z',
        },
      });
    },
  };
}

/** Adds a `mobile_context` with ad ids, as the React Native platform context plugin does. */
export function mobileContextPlugin(): CorePlugin {
  return {
    contexts: () => [
      {
        schema: MOBILE_SCHEMA,
        data: { osType: 'ios', osVersion: '18.0', deviceManufacturer: 'Apple', deviceModel: 'iPhone', appleIdfa: 'IDFA-1', appleIdfv: 'IDFV-1' },
      } as SelfDescribingJson,
    ],
  };
}

export interface IdentifiedApp {
  core: TrackerCore;
  flush(): Promise<void>;
  session: SessionState;
}

/**
 * Creates the app: `extraPlugins` go last (the enforcement plugin), `emitter` options are passed
 * through (the event store and the fetch guard).
 */
export function createIdentifiedApp(options: {
  endpoint: string;
  extraPlugins?: CorePlugin[];
  emitter?: Partial<EmitterConfiguration>;
  base64?: boolean;
}): IdentifiedApp {
  const session: SessionState = { userId: 'device-user-1', sessionId: 'real-session-1', previousSessionId: 'real-session-0', eventIndex: 0 };
  const emitter = newEmitter({ endpoint: options.endpoint, connectionTimeout: 2000, ...options.emitter });
  const core = trackerCore({
    base64: options.base64 ?? true,
    corePlugins: [sessionPlugin(session), mobileContextPlugin(), ...(options.extraPlugins ?? [])],
    callback: (pb) => void emitter.input(pb.build()),
  });
  core.setUserId('user-1');
  core.setIpAddress('203.0.113.9');
  core.addPayloadPair('nuid', 'tracker-nuid-1');
  core.addPayloadPair('duid', 'domain-user-1');
  core.setPlatform('mob');
  core.setTrackerVersion('core-4.10.1');
  return { core, flush: () => emitter.flush(), session };
}
