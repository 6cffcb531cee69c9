export { CONSENT_LEVELS, compareLevels, isConsentLevel, minLevel, type ConsentLevel } from '../machines/levels.js';
export { ConsentError, type ConsentErrorCode } from './consent-error.js';
export {
  DEFAULT_POLICY,
  definePolicy,
  levelPolicy,
  toTrackerConfiguration,
  type DeviceStorageRule,
  type EntityFieldRule,
  type LevelPolicy,
  type LevelPolicyOverride,
  type PolicyOptions,
  type PolicyTable,
  type SessionRule,
  type TrackerConfiguration,
} from './policy.js';
export {
  sanitizeEvent,
  type AnonymousSession,
  type DropReason,
  type ReplacementIdentity,
  type EventPayload,
  type SanitizeOptions,
  type SanitizeResult,
} from './sanitize.js';
export { schemaMatches } from './schema-pattern.js';
export type { Clock } from './enforce/clock.js';
export { findForbiddenIdentifiers, type ForbiddenIdentifier } from './find-forbidden-identifiers.js';
export { memoryStorage, type KeyValueStorage } from './storage.js';
export { createEnforcement, type Enforcement, type EnforcementOptions } from './enforce/create-enforcement.js';
export type { ConsentEventStore } from './enforce/consent-event-store.js';
export type { FetchFunction } from './enforce/consent-fetch.js';
export type { DroppedEvent, EnforcementPoint, EnforcementStats } from './enforce/enforcement-context.js';
export { NULL_UUID, type SelfDescribing } from './tp2.js';
export { webStorage } from './storage.js';
export { parseConsentRecord, type ConsentRecord, type RecordRules } from './consent-record.js';
export type { ConsentAdapter } from './consent-adapter.js';
export { trackerCoreAdapter, type CoreTracker, type TrackerCoreAdapterOptions } from './adapters/tracker-core-adapter.js';
export { createConsentTracker, type ConsentTracker } from './consent-tracker.js';
export type { ConsentTrackerOptions } from './consent-options.js';
export type { GateCounters } from './gate.js';
export {
  consentMachine,
  decisionProblem,
  CHART_ACTORS,
  LEVEL_STATES,
  type ApplyInput,
  type WriteInput,
  type ClearOutput,
  type ConsentContext,
  type ConsentEvent,
  type ConsentMachineInput,
  type ConsentProblem,
  type DecidedEvent,
  type StoredReadEvent,
  type SyncedDecision,
  type ForgetInput,
  type LoadOutput,
} from '../machines/consent.machine.js';
export {
  selectBootCap,
  selectDecision,
  selectDecidedLevel,
  selectConsentView,
  type ConsentView,
  selectAwaitingDecision,
  selectBooted,
  selectHoldCap,
  selectHolding,
  selectOutcome,
  selectPhase,
  selectQuiescent,
  selectStoredDecisionUnread,
  selectStarted,
  selectStatus,
  type ConsentPhase,
  type ConsentStatus,
} from '../machines/consent.selectors.js';
export { DEFAULT_TRACKER_CONFIGURATIONS } from '../machines/tracker-configuration.js';
