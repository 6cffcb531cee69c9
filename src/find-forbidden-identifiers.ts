import type { ConsentLevel } from '../machines/levels.js';
import { DEFAULT_POLICY, type PolicyTable } from './policy.js';
import { schemaMatches } from './schema-pattern.js';
import type { EventPayload } from './sanitize.js';
import {
  AD_ID_FIELDS,
  CLIENT_SESSION_SCHEMA_PREFIX,
  MOBILE_CONTEXT_SCHEMA_PREFIX,
  WEB_PAGE_SCHEMA_PREFIX,
  BROWSER_CONTEXT_SCHEMA_PREFIX,
  MalformedPayloadError,
  NULL_UUID,
  SESSION_FIELDS,
  USER_IDENTIFIER_FIELDS,
  checkPayloadShape,
  readContexts,
  readSelfDescribingEventShared,
} from './tp2.js';

/**
 * An identifier found in a payload that its level forbids.
 *
 * @example
 * ```ts
 * import type { ForbiddenIdentifier } from 'consent-tracker';
 * const found: ForbiddenIdentifier = { field: 'uid', value: 'user-1' };
 * ```
 */
export interface ForbiddenIdentifier {
  /** Where it is: a payload field (`uid`), an entity field (`client_session.userId`), or `event` at `off`. */
  readonly field: string;
  /** What it holds. */
  readonly value: unknown;
}

/**
 * Lists every identifier a tp2 payload carries beyond what `level` allows: the check the fetch
 * guard runs after sanitising, and the test kit's `findLeaks` runs on what a collector received.
 * A payload that cannot be parsed cannot be checked, so it is reported as `payload`.
 *
 * @example
 * ```ts
 * import { findForbiddenIdentifiers } from 'consent-tracker';
 * findForbiddenIdentifiers({ e: 'pv', eid: 'e1', uid: 'user-1' }, 'none');
 * // [{ field: 'uid', value: 'user-1' }]
 * ```
 */
export function findForbiddenIdentifiers(payload: EventPayload, level: ConsentLevel, policy: PolicyTable = DEFAULT_POLICY): ForbiddenIdentifier[] {
  const rules = policy[level];
  if (!rules || !rules.send) return [{ field: 'event', value: payload.eid }];
  const found: ForbiddenIdentifier[] = [];
  const flag = (field: string, value: unknown) => found.push({ field, value });
  /** The app's own identifiers the policy removes (or nulls) for this schema, still there. */
  const flagEntityFields = (schema: string, data: Record<string, unknown>) => {
    for (const { schema: pattern, field, action } of rules.entityFields) {
      if (!(field in data) || !schemaMatches(pattern, schema)) continue;
      if (action === 'remove' || data[field] !== NULL_UUID) flag(`${schema}.${field}`, data[field]);
    }
  };
  try {
    checkPayloadShape(payload);
    if (!rules.userIdentifiers) {
      for (const field of USER_IDENTIFIER_FIELDS) if (field in payload) flag(field, payload[field]);
      for (const field of ['url', 'refr'] as const) if (typeof payload[field] === 'string' && /[?&]_sp=/.test(payload[field])) flag(`${field}._sp`, payload[field]);
    }
    for (const field of rules.removeFields) if (field in payload) flag(field, payload[field]);
    if (rules.session === 'removed') for (const field of SESSION_FIELDS) if (field in payload) flag(field, payload[field]);
    for (const key of ['co', 'cx'] as const) {
      if (!(key in payload)) continue;
      for (const { schema, data } of readContexts(payload, key).data) {
        if (rules.removeEntities.some((pattern) => schemaMatches(pattern, schema))) flag(schema, data);
        flagEntityFields(schema, data);
        if (schema.startsWith(CLIENT_SESSION_SCHEMA_PREFIX)) {
          if (rules.session === 'removed') flag('client_session', data.sessionId);
          else if (rules.session === 'anonymous') {
            if (data.userId !== NULL_UUID) flag('client_session.userId', data.userId);
            if (data.previousSessionId !== null && data.previousSessionId !== undefined) {
              flag('client_session.previousSessionId', data.previousSessionId);
            }
          }
        }
        if (!rules.userIdentifiers && schema.startsWith(BROWSER_CONTEXT_SCHEMA_PREFIX) && data.tabId !== null && data.tabId !== undefined) flag('browser_context.tabId', data.tabId);
        // Views do not chain at this level: a page view id would link its events.
        if (!rules.chainViews && schema.startsWith(WEB_PAGE_SCHEMA_PREFIX)) flag('web_page.id', data.id);
        if (!rules.adIdentifiers && schema.startsWith(MOBILE_CONTEXT_SCHEMA_PREFIX)) {
          for (const field of AD_ID_FIELDS) if (field in data) flag(`mobile_context.${field}`, data[field]);
        }
      }
    }
    for (const key of ['ue_pr', 'ue_px'] as const) {
      if (!(key in payload)) continue;
      const { schema, data } = readSelfDescribingEventShared(payload, key).data;
      flagEntityFields(schema, data);
    }
  } catch (error) {
    if (!(error instanceof MalformedPayloadError)) throw error;
    flag('payload', error.message);
  }
  return found;
}
