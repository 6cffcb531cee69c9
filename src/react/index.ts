'use client';
export { ConsentTrackerProvider, type ConsentTrackerProviderProps } from './consent-tracker-provider.js';
export { useConsentTracker, type ConsentSnapshot, type ConsentTrackerState } from './use-consent-tracker.js';
export { ConsentGate, type ConsentGateProps } from './consent-gate.js';
