import { removeTracker } from '@snowplow/react-native-tracker';
import { afterEach, expect } from 'vitest';
import { createConsentTracker, selectOutcome, selectQuiescent, type ConsentTracker, type ConsentTrackerOptions, type FetchFunction } from 'consent-tracker';
import type { ReactNativeAdapterOptions } from 'consent-tracker/react-native';
import { cookieJarFetch, type CollectedEvent, type Collector } from 'consent-tracker/testing';
import type { AdapterHarness, Device } from './adapter-harness.js';
import type { HeldAdapter } from './held-adapter.js';
import { killSwitch } from './kill-switch.js';

/** One launch of the app: its consent tracker, the held adapter, and the process's kill switch. */
export interface App {
  readonly consent: ConsentTracker<object>;
  readonly control: HeldAdapter<object>;
  readonly process: ReturnType<typeof killSwitch>;
  /** Tracks a structured event with action `label`. */
  track(label: string): void;
  /** Abandons the process where it stands: its storage and network are cut off from now on. */
  kill(): void;
}

/** What a launch takes: the collector, the device (restarts share one), what to hold, the consent tracker's options. */
export interface LaunchOptions {
  readonly endpoint: string;
  readonly device: Device;
  readonly holdApply?: boolean;
  readonly holdForget?: boolean;
  readonly options?: Partial<ConsentTrackerOptions<object>>;
  /** For the React Native adapter only: tracker options over the test app's (a retriever, say). */
  readonly reactNative?: Partial<ReactNativeAdapterOptions>;
  /** The emitter's largest request, for both adapters. */
  readonly maxPostBytes?: number;
  /** Whether the app's network keeps cookies, as a device's does (Node's fetch does not). */
  readonly cookies?: boolean;
  /** The device's network, kept across launches (a `cookieJarFetch()` shared by restarts). */
  readonly network?: FetchFunction;
}

/**
 * Launches the app on a device with the harness's adapter: a consent tracker whose storage (the
 * device's, or `options.storage` over it) and network go through a kill switch.
 */
export function launch(harness: AdapterHarness, { endpoint, device, holdApply, holdForget, options = {}, reactNative, maxPostBytes, cookies, network }: LaunchOptions): App {
  const process = killSwitch(network ?? (cookies ? cookieJarFetch() : undefined));
  const storage = process.storage(options.storage ?? device.storage);
  const control = harness.held(endpoint, { device, storage, holdApply: holdApply ?? false, holdForget: holdForget ?? false, ...(reactNative && { reactNative }), ...(maxPostBytes && { maxPostBytes }) });
  const consent = createConsentTracker({ ...options, adapter: control.adapter, storage, fetch: process.fetch });
  return {
    consent,
    control,
    process,
    track: (label) => harness.track(consent.tracker, label),
    kill() {
      process.kill();
      // The tracker registry is the process's memory: the next launch starts without it.
      removeTracker(device.namespace);
    },
  };
}

/**
 * Launches apps for a test file's tests and ends them after each test (stopped, or killed if the
 * test killed them), so that nothing of one test reaches the collector in the next.
 */
export function useApps(endpoint: () => string) {
  const running: App[] = [];
  afterEach(() => {
    for (const app of running.splice(0)) {
      // Cut off at once; its stop then runs to its end in the background, unheard.
      app.kill();
      void app.consent.stop();
    }
  });
  return {
    launch(harness: AdapterHarness, options: Omit<LaunchOptions, 'endpoint'>): App {
      const app = launch(harness, { ...options, endpoint: endpoint() });
      running.push(app);
      return app;
    },
  };
}

/** Resolves once everything the app queued has been sent (or dropped) and the collector has answered. */
export async function drained(app: App): Promise<void> {
  await expect
    .poll(async () => {
      await app.control.adapter.flush();
      return app.consent.enforcement.eventStore.count();
    })
    .toBe(0);
}

/** Brings a launched app to full and tracks `label`: resolves once `received` (the collector's events) has it and the app's queue is empty. */
export async function sendingAtFull(app: App, label: string, received: () => readonly CollectedEvent[]): Promise<App> {
  await app.consent.ready;
  await app.consent.setLevel('full', 'banner');
  app.track(label);
  await expect.poll(() => received().some((e) => e.payload.se_ac === label)).toBe(true);
  await drained(app);
  return app;
}

/**
 * Tracks `label` while the collector is down, and resolves once it is stored in the app's queue
 * and its request has been refused: nothing of it is in flight from then on.
 */
export async function queuedWhileDown(app: App, label: string, collector: Pick<Collector, 'failWith' | 'requests'>): Promise<void> {
  collector.failWith(503);
  app.track(label);
  await app.control.adapter.flush();
  await app.consent.enforcement.eventStore.persisted();
  await expect.poll(() => collector.requests().length).toBeGreaterThan(0);
}

/**
 * Resolves once every decision made so far is settled (in force, or failed closed) and written,
 * and no clean-up is under way.
 */
export async function settled(app: App): Promise<void> {
  await expect
    .poll(() => {
      const snapshot = app.consent.actor.getSnapshot();
      return selectOutcome(snapshot) !== 'pending' && selectQuiescent(snapshot);
    }, { interval: 5 })
    .toBe(true);
}

/** The storage key of the decision. */
export const DECISION = 'consent-tracker.decision';

/** The storage key of the identity sent after a withdrawal and a new consent. */
export const IDENTITY = 'consent-tracker.identity';

/** A stored decision, as the consent tracker writes it. */
export const storedDecision = (level: string, decidedAt = Date.now() - 1000) => JSON.stringify({ level, decidedAt, policyVersion: '1', source: 'earlier' });

/** The level of the decision stored on the device, if any. */
export const storedLevel = (device: Device) => {
  const raw = device.storage.entries.get(DECISION);
  return raw ? (JSON.parse(raw) as { level?: string }).level : undefined;
};

/** Whether the device holds a reset in place of a decision (no decision; the identity before it withdrawn). */
export const storedReset = (device: Device) => (JSON.parse(device.storage.entries.get(DECISION) ?? 'null') as { reset?: unknown } | null)?.reset === true;

/** The identity stored on the device (what a withdrawal brought), parsed; `undefined` if none. */
export const storedIdentity = (device: Device) => {
  const raw = device.storage.entries.get(IDENTITY);
  return raw ? (JSON.parse(raw) as { userId: string; sessionCount: number; lastSessionId: string | null; used: boolean; withdrawn?: string[] }) : undefined;
};

/** The decision stored on the device, parsed; `undefined` if none. */
export const storedRecord = (device: Device) => {
  const raw = device.storage.entries.get(DECISION);
  return raw ? (JSON.parse(raw) as { level: string; decidedAt: number; policyVersion: string; source: string }) : undefined;
};

/* Reading the wire. */

/** The schema prefix of the session entity. */
export const SESSION = 'iglu:com.snowplowanalytics.snowplow/client_session/';
/** The schema prefix of the screen entity. */
export const SCREEN = 'iglu:com.snowplowanalytics.mobile/screen/';

/** The event with structured action `action`; throws if it did not reach the collector. */
export const event = (events: readonly CollectedEvent[], action: string): CollectedEvent => {
  const found = events.find((e) => e.payload.se_ac === action);
  if (!found) throw new Error(`no event '${action}' reached the collector`);
  return found;
};

/** The data of an event's entity whose schema starts with `prefix`. */
export const entity = (e: CollectedEvent, prefix: string) => e.contexts.find((c) => c.schema.startsWith(prefix))?.data as Record<string, unknown> | undefined;
