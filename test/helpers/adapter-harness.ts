import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { buildStructEvent } from '@snowplow/tracker-core';
import { memoryStorage, type CoreTracker, type KeyValueStorage } from 'consent-tracker';
import { reactNativeAdapter, type ReactNativeAdapterOptions } from 'consent-tracker/react-native';
import { browserAdapter, type BrowserConsentTracker } from 'consent-tracker/browser';
import { clearBrowser } from './browser-pages.js';
import { heldAdapter, holdApplies, type HeldAdapter } from './held-adapter.js';
import { rnTrackerOptions } from './react-native.js';

/** What the model-based and property-based suites need of an adapter, so that they run with each. */
export interface AdapterHarness {
  readonly name: string;
  /**
   * One tracker instance behind a held adapter. `device` is what the tracker keeps on the device
   * (its namespace and storage): instances given the same device are restarts of one app.
   */
  held(endpoint: string, options?: HeldOptions): HeldAdapter<object>;
  /** Tracks a structured event with action `label`. */
  track(tracker: object, label: string): void;
  /** A new device, for `held`. */
  device(): Device;
}

/** How `held` builds the adapter: which steps it holds, the device, and the storage the tracker sees (the device's by default). */
export interface HeldOptions {
  readonly holdApply?: boolean;
  readonly holdForget?: boolean;
  readonly device?: Device;
  readonly storage?: KeyValueStorage;
  /** For the React Native adapter only: tracker options over the test app's (a retriever, an AsyncStorage of its own). */
  readonly reactNative?: Partial<ReactNativeAdapterOptions>;
  /** The emitter's largest request, for both adapters. */
  readonly maxPostBytes?: number;
}

export interface Device {
  readonly namespace: string;
  readonly storage: ReturnType<typeof memoryStorage>;
}

export const trackerCoreHarness: AdapterHarness = {
  name: 'tracker-core',
  held: (endpoint, options) => heldAdapter(endpoint, options) as HeldAdapter<object>,
  track: (tracker, label) => (tracker as CoreTracker).track(buildStructEvent({ category: 'c', action: label })),
  device: () => ({ namespace: 'core', storage: memoryStorage() }),
};

export const reactNativeHarness: AdapterHarness = {
  name: 'react-native',
  held(endpoint, options = {}) {
    const device = options.device ?? this.device();
    const base = reactNativeAdapter(rnTrackerOptions(endpoint, { namespace: device.namespace, asyncStorage: (options.storage ?? device.storage) as never, ...(options.maxPostBytes && { maxPostBytes: options.maxPostBytes }), ...options.reactNative }));
    return holdApplies(base, options) as HeldAdapter<object>;
  },
  track: (tracker, label) => (tracker as ReactNativeTracker).trackStructuredEvent({ category: 'c', action: label }),
  device() {
    const { namespace, asyncStorage } = rnTrackerOptions('http://unused');
    return { namespace, storage: asyncStorage };
  },
};

let browserLaunches = 0;


/**
 * The browser adapter, in jsdom: each launch a tracker of its own namespace (a page load), with
 * the identifiers a web page sends (a user id, the web page, browser and session entities). Its
 * tabs are not kept in step here: one device's runs are one tab, and tabs have tests of their own.
 */
export const browserHarness: AdapterHarness = {
  name: 'browser',
  held(endpoint, options = {}) {
    browserLaunches += 1;
    const base = browserAdapter({
      namespace: `${options.device?.namespace ?? 'web'}-${browserLaunches}`,
      endpoint,
      appId: 'harness',
      cookieSecure: false,
      synchronousCookieWrite: true,
      discoverRootDomain: false,
      contexts: { webPage: true, browser: true, session: true },
      ...(options.maxPostBytes && { maxPostBytes: options.maxPostBytes }),
    });
    const adapter = {
      ...base,
      syncsTabs: false,
      create: (enforcement: Parameters<typeof base.create>[0]) => {
        const tracker = base.create(enforcement);
        tracker.setUserId('user-1');
        return tracker;
      },
    };
    return holdApplies(adapter, options) as HeldAdapter<object>;
  },
  track: (tracker, label) => (tracker as BrowserConsentTracker).trackStructEvent({ category: 'c', action: label }),
  device() {
    // A new device is a new browser.
    clearBrowser();
    browserLaunches += 1;
    return { namespace: `web${browserLaunches}`, storage: memoryStorage() };
  },
};

/**
 * The harnesses the suites run with: tracker-core and React Native under Node, the browser in
 * jsdom (a suite file run with the jsdom environment); `ADAPTERS=react-native` (comma-separated
 * names) narrows them.
 */
export const HARNESSES: readonly AdapterHarness[] = (typeof document === 'undefined' ? [trackerCoreHarness, reactNativeHarness] : [browserHarness]).filter(
  (h) => process.env.ADAPTERS === undefined || process.env.ADAPTERS.split(',').includes(h.name),
);
