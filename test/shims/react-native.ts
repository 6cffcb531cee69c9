/**
 * The parts of `react-native` the React Native tracker touches, for running it under Node: app
 * state (with a way to change it), platform, dimensions, pixel ratio and locale settings.
 */
type AppStateListener = (state: string) => void;
const listeners = new Set<AppStateListener>();

export const AppState = {
  currentState: 'active',
  addEventListener(_type: string, listener: AppStateListener) {
    listeners.add(listener);
    return { remove: () => listeners.delete(listener) };
  },
  /** Test-only: moves the app to `state` and tells the listeners. */
  emit(state: string) {
    AppState.currentState = state;
    for (const listener of listeners) listener(state);
  },
};
export const Platform = {
  OS: 'ios',
  Version: '18.0',
  constants: { systemName: 'iOS', osVersion: '18.0' },
  isPad: false,
  isTV: false,
  isVision: false,
  isMacCatalyst: false,
};
export const Dimensions = { get: () => ({ width: 390, height: 844, scale: 3, fontScale: 1 }) };
export const PixelRatio = { get: () => 3 };
export const NativeModules = { SettingsManager: { settings: { AppleLocale: 'en_GB', AppleLanguages: ['en-GB'] } }, I18nManager: { localeIdentifier: 'en_GB' } };
export const Linking = { addEventListener: () => ({ remove: () => undefined }), getInitialURL: async () => null };
export default { AppState, Platform, Dimensions, PixelRatio, NativeModules, Linking };
