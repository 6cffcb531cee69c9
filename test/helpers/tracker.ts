import { expect, vi } from 'vitest';
import {
  buildSelfDescribingEvent,
  buildStructEvent,
  newEmitter,
  trackerCore,
  type CorePlugin,
  type SelfDescribingJson,
  type TrackerCore,
} from '@snowplow/tracker-core';
import { createEnforcement, type ConsentLevel, type Enforcement, type EnforcementOptions } from 'consent-tracker';

export const SESSION_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2';
export const MOBILE_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3';

/**
 * A tracker-core "app": the identifiers a real tracker adds (a subject with uid/ip/nuid/duid,
 * a client_session entity added by a plugin through addContextEntity, a mobile_context with ad ids
 * from a context plugin), the enforcement points, and a real emitter sending HTTP.
 */
export interface TestTracker {
  core: TrackerCore;
  enforcement: Enforcement;
  flush(): Promise<void>;
  trackStruct(action: string): void;
  setLevel(level: ConsentLevel): Promise<void>;
  level(): ConsentLevel;
  realSessionId: string;
  userId: string;
  /** Every request the guard passed to the network, as the network saw it. */
  sentRequests: Request[];
  /** Resolves when the queue is empty (every queued event sent or dropped). */
  drain(): Promise<void>;
}

export function sessionPlugin(state: { userId: string; sessionId: string; previousSessionId: string | null; index: number }): CorePlugin {
  return {
    beforeTrack(pb) {
      state.index += 1;
      pb.addContextEntity({
        schema: SESSION_SCHEMA,
        data: {
          userId: state.userId,
          sessionId: state.sessionId,
          previousSessionId: state.previousSessionId,
          sessionIndex: 3,
          eventIndex: state.index,
          storageMechanism: 'LOCAL_STORAGE',
          firstEventId: 'first-event',
          firstEventTimestamp: '2026-01-01T00:00:00.000Z',
        },
      });
    },
  };
}

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

export function createTestTracker(
  endpoint: string,
  options: Partial<EnforcementOptions> & { initial?: ConsentLevel; base64?: boolean; bufferSize?: number; eventMethod?: 'post' | 'get' } = {},
): TestTracker {
  let level: ConsentLevel = options.initial ?? 'full';
  const sentRequests: Request[] = [];
  const enforcement = createEnforcement({
    ...options,
    level: () => level,
    fetch: (request) => {
      sentRequests.push(request.clone());
      return fetch(request);
    },
  });
  const session = { userId: 'device-user-1', sessionId: 'real-session-1', previousSessionId: 'real-session-0', index: 0 };
  const emitter = newEmitter({
    endpoint,
    eventStore: enforcement.eventStore,
    customFetch: enforcement.customFetch,
    bufferSize: options.bufferSize ?? 1,
    eventMethod: options.eventMethod ?? 'post',
    connectionTimeout: 2000,
  });
  const core = trackerCore({
    base64: options.base64 ?? true,
    corePlugins: [sessionPlugin(session), mobileContextPlugin(), enforcement.plugin],
    callback: (pb) => void emitter.input(pb.build()),
  });
  core.setUserId('user-1');
  core.setIpAddress('203.0.113.9');
  core.addPayloadPair('nuid', 'tracker-nuid-1');
  core.addPayloadPair('duid', 'domain-user-1');
  core.setPlatform('mob');
  core.setTrackerVersion('core-4.10.1');
  return {
    core,
    enforcement,
    flush: () => emitter.flush(),
    trackStruct: (action) => void core.track(buildStructEvent({ category: 'test', action })),
    async setLevel(next) {
      level = next;
      await enforcement.levelChanged();
    },
    level: () => level,
    realSessionId: session.sessionId,
    userId: session.userId,
    sentRequests,
    async drain() {
      await vi.waitFor(
        async () => {
          await emitter.flush();
          expect(await enforcement.eventStore.count()).toBe(0);
        },
        { timeout: 5000, interval: 20 },
      );
    },
  };
}

export { buildSelfDescribingEvent };
