import { buildStructEvent, type TrackerCore } from '@snowplow/tracker-core';
import { expect, vi } from 'vitest';
import { createEnforcement, type ConsentLevel, type Enforcement, type EnforcementOptions } from 'consent-tracker';
import { createIdentifiedApp } from '../../demo/identified-app.js';

/**
 * The identified app of the demo, with the enforcement points: what every integration test drives.
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
  const app = createIdentifiedApp({
    endpoint,
    base64: options.base64 ?? true,
    extraPlugins: [enforcement.plugin],
    emitter: {
      eventStore: enforcement.eventStore,
      customFetch: enforcement.customFetch,
      bufferSize: options.bufferSize ?? 1,
      eventMethod: options.eventMethod ?? 'post',
    },
  });
  const { core, session } = app;
  return {
    core,
    enforcement,
    flush: app.flush,
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
          await app.flush();
          expect(await enforcement.eventStore.count()).toBe(0);
        },
        { timeout: 5000, interval: 20 },
      );
    },
  };
}

export { MOBILE_SCHEMA, SESSION_SCHEMA, mobileContextPlugin, sessionPlugin } from '../../demo/identified-app.js';
