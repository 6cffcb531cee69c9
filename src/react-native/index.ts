export { reactNativeAdapter, type ReactNativeAdapterOptions, type ReactNativeTrackerConfiguration } from './react-native-adapter.js';
export { createConsentAwareAsyncStorage, type ConsentAwareAsyncStorage } from './consent-aware-async-storage.js';
export { createConsentAwareRetriever } from './consent-aware-retriever.js';
export { levelFromV2Config, type V2Configuration, type V2EmitterConfig, type V2LevelMatch, type V2TrackerConfig } from './level-from-v2-config.js';
