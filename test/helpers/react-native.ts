import { removeAllTrackers, type ReactNativeTracker } from '@snowplow/react-native-tracker';
import { afterEach } from 'vitest';
import { memoryStorage, type ConsentAdapter, type KeyValueStorage } from 'consent-tracker';
import { reactNativeAdapter, type ReactNativeAdapterOptions } from 'consent-tracker/react-native';

/** The identifiers the React Native test app sets: every one of them must be controlled by consent. */
export const RN_IDENTITY = {
  userId: 'user-1',
  ipAddress: '203.0.113.9',
  networkUserId: 'nuid-1',
  domainUserId: 'duid-1',
  appleIdfa: 'IDFA-1',
  appleIdfv: 'IDFV-1',
  androidIdfa: 'AAID-1',
  appSetId: 'APPSET-1',
  appSetIdScope: 'app',
} as const;

let namespaces = 0;

/** Trackers live in a module-wide registry: every test starts without any. */
afterEach(() => removeAllTrackers());

/**
 * The React Native tracker configuration of the test app: every identifier set (subject and
 * platform context ad ids), sent at once, to `endpoint`, in a namespace of its own.
 */
export function rnTrackerOptions(endpoint: string, overrides: Partial<ReactNativeAdapterOptions> = {}): ReactNativeAdapterOptions & { asyncStorage: KeyValueStorage & ReturnType<typeof memoryStorage> } {
  namespaces += 1;
  return {
    namespace: `rn${namespaces}`,
    endpoint,
    appId: 'rn-test',
    bufferSize: 1,
    installAutotracking: false,
    lifecycleAutotracking: false,
    screenEngagementAutotracking: false,
    userId: RN_IDENTITY.userId,
    ipAddress: RN_IDENTITY.ipAddress,
    networkUserId: RN_IDENTITY.networkUserId,
    domainUserId: RN_IDENTITY.domainUserId,
    platformContextRetriever: {
      getAppleIdfa: async () => RN_IDENTITY.appleIdfa,
      getAppleIdfv: async () => RN_IDENTITY.appleIdfv,
      getAndroidIdfa: async () => RN_IDENTITY.androidIdfa,
      getAppSetId: async () => RN_IDENTITY.appSetId,
      getAppSetIdScope: async () => RN_IDENTITY.appSetIdScope,
    },
    asyncStorage: memoryStorage() as ReturnType<typeof memoryStorage> & { getItem(key: string): Promise<string | null> },
    ...overrides,
  } as ReactNativeAdapterOptions & { asyncStorage: KeyValueStorage & ReturnType<typeof memoryStorage> };
}

/** Tracks a structured event named `action`, as the suites identify events. */
export const trackRn = (tracker: ReactNativeTracker, action: string) => tracker.trackStructuredEvent({ category: 'c', action });

/** The React Native adapter over the test app. */
export function rnAdapter(endpoint: string, overrides: Partial<ReactNativeAdapterOptions> = {}): ConsentAdapter<ReactNativeTracker> {
  return reactNativeAdapter(rnTrackerOptions(endpoint, overrides));
}
