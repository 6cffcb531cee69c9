export { browserAdapter, type BrowserAdapterOptions, type BrowserConsentTracker } from './browser-adapter.js';
