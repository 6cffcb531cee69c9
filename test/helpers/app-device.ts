import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { expect } from 'vitest';
import { createConsentTracker, memoryStorage, type ConsentTrackerOptions, type KeyValueStorage } from 'consent-tracker';
import { reactNativeAdapter, type ReactNativeAdapterOptions } from 'consent-tracker/react-native';
import type { CollectedEvent } from 'consent-tracker/testing';
import { rnTrackerOptions } from './react-native.js';

/** What the suites about an app's life share: one device, its launches, and reading the wire. */

export const SESSION = 'iglu:com.snowplowanalytics.snowplow/client_session/';
export const SCREEN = 'iglu:com.snowplowanalytics.mobile/screen/';
export const DECISION = 'consent-tracker.decision';

export const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise the test settles by hand. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The event with structured action `action`; throws if it did not reach the collector. */
export const event = (events: readonly CollectedEvent[], action: string) => {
  const found = events.find((e) => e.payload.se_ac === action);
  if (!found) throw new Error(`no event '${action}' reached the collector`);
  return found;
};

/** The data of an event's entity whose schema starts with `prefix`. */
export const entity = (e: CollectedEvent, prefix: string) => e.contexts.find((c) => c.schema.startsWith(prefix))?.data as Record<string, unknown> | undefined;

/** The level of the stored decision, if any. */
export const storedLevel = (storage: ReturnType<typeof memoryStorage>) => {
  const raw = storage.entries.get(DECISION);
  return raw ? (JSON.parse(raw) as { level?: string }).level : undefined;
};

/** A stored decision, as createConsentTracker writes it. */
export const storedDecision = (level: string) => JSON.stringify({ level, decidedAt: Date.now() - 1000, policyVersion: '1', source: 'earlier' });

/** Resolves when the decision read at start is in force (`ready` resolves while it is still being applied). */
export const inForce = (consent: { getStatus(): { phase: string } }) => expect.poll(() => consent.getStatus().phase).toBe('active');

/** One app install: the AsyncStorage that holds the tracker's keys, the decision and the queue, and a namespace. */
export function device() {
  const storage = memoryStorage();
  const namespace = rnTrackerOptions('http://unused').namespace;
  return { storage, namespace };
}

export type Device = ReturnType<typeof device>;

/** Launches the app on `device`: a consent tracker over the React Native adapter, sending to `endpoint`. */
export function launchOn(
  endpoint: string,
  dev: Device,
  overrides: Partial<ReactNativeAdapterOptions> = {},
  options: Partial<ConsentTrackerOptions<ReactNativeTracker>> = {},
) {
  const config = rnTrackerOptions(endpoint, { namespace: dev.namespace, asyncStorage: dev.storage as never, ...overrides });
  return createConsentTracker({ adapter: reactNativeAdapter(config), storage: dev.storage, ...options });
}

/** `launchOn` for the test file's collector, read when the app launches. */
export const launcher =
  (endpoint: () => string) =>
  (dev: Device, overrides: Partial<ReactNativeAdapterOptions> = {}, options: Partial<ConsentTrackerOptions<ReactNativeTracker>> = {}) =>
    launchOn(endpoint(), dev, overrides, options);

/**
 * `base` with the first write of a decision held until the test lets it go: of `level` only, or
 * of any level.
 */
export function holdDecisionWrite(base: ReturnType<typeof memoryStorage>, level?: string) {
  const gate = deferred();
  let started = false;
  const storage: KeyValueStorage = {
    getItem: (key) => base.getItem(key),
    removeItem: (key) => base.removeItem?.(key),
    setItem: async (key, value) => {
      if (key === DECISION && !started && (level === undefined || value.includes(`"level":"${level}"`))) {
        started = true;
        await gate.promise;
      }
      return base.setItem(key, value);
    },
  };
  return { storage, started: () => started, release: () => gate.resolve() };
}
