import { minLevel, compareLevels, type ConsentLevel } from '../machines/levels.js';
import { DEFAULT_POLICY, type LevelPolicy, type PolicyTable } from './policy.js';
import { schemaMatches } from './schema-pattern.js';
import {
  AD_ID_FIELDS,
  CLIENT_SESSION_SCHEMA_PREFIX,
  PREVIOUS_VIEW_FIELDS,
  SCREEN_ENTITY_SCHEMA_PREFIX,
  SCREEN_VIEW_SCHEMA_PREFIX,
  WEB_PAGE_SCHEMA_PREFIX,
  BROWSER_CONTEXT_SCHEMA_PREFIX,
  MOBILE_CONTEXT_SCHEMA_PREFIX,
  MalformedPayloadError,
  NULL_UUID,
  SESSION_FIELDS,
  USER_IDENTIFIER_FIELDS,
  checkPayloadShape,
  readContexts,
  readSelfDescribingEventShared,
  writeJsonField,
  type SelfDescribing,
} from './tp2.js';

/**
 * One tp2 event payload, as tracker-core builds it and an `EventStore` holds it: field names to
 * strings (numbers and booleans are tolerated; the emitter turns them into strings).
 *
 * @example
 * ```ts
 * import type { EventPayload } from 'consent-tracker';
 * const payload: EventPayload = { e: 'se', eid: 'a1f1…', se_ca: 'shop', uid: 'user-1' };
 * ```
 */
export type EventPayload = Record<string, unknown>;

/**
 * The anonymous session that replaces the real one at `session-only`. The enforcement plugin
 * keeps one per session-only period and rotates it on entering the level; pass your own when
 * you call {@link sanitizeEvent} directly.
 *
 * @example
 * ```ts
 * import type { AnonymousSession } from 'consent-tracker';
 * const session: AnonymousSession = {
 *   sessionId: crypto.randomUUID(), sessionIndex: 1, eventIndex: 1,
 *   firstEventId: null, firstEventTimestamp: null,
 * };
 * ```
 */
export interface AnonymousSession {
  /** The anonymous session id: also sent as the browser `sid`. */
  readonly sessionId: string;
  /** The anonymous session's index: also sent as the browser `vid`. */
  readonly sessionIndex: number;
  /** This event's index within the anonymous session. */
  readonly eventIndex: number;
  /** The id of the anonymous session's first event. */
  readonly firstEventId: string | null;
  /** The timestamp (ISO 8601) of the anonymous session's first event. */
  readonly firstEventTimestamp: string | null;
}

/**
 * The identity that replaces the tracker's own at `full` after the user consented again: a new
 * device user id, and sessions of that identity, so nothing links the events to those sent before
 * the withdrawal. The enforcement plugin keeps one per re-consent.
 *
 * @example
 * ```ts
 * import type { ReplacementIdentity } from 'consent-tracker';
 * const identity: ReplacementIdentity = {
 *   userId: crypto.randomUUID(), previousSessionId: null,
 *   sessionId: crypto.randomUUID(), sessionIndex: 1, eventIndex: 1,
 *   firstEventId: null, firstEventTimestamp: null,
 * };
 * ```
 */
export interface ReplacementIdentity extends AnonymousSession {
  /** The device user id sent in `client_session.userId` (and the browser's `duid`) instead of the tracker's own. */
  readonly userId: string;
  /** The previous session of this identity, or `null` for its first. */
  readonly previousSessionId: string | null;
}

/**
 * Options of {@link sanitizeEvent}.
 *
 * @example
 * ```ts
 * import { sanitizeEvent, type SanitizeOptions } from 'consent-tracker';
 * const options: SanitizeOptions = { capturedAt: 'full' };
 * sanitizeEvent({ e: 'pv', eid: 'x', uid: 'u' }, 'none', options);
 * ```
 */
export interface SanitizeOptions {
  /** The policy table to apply (from `definePolicy`); the default table if absent. */
  readonly policy?: PolicyTable;
  /** The anonymous session to write into `client_session` and `sid`/`vid` at `session-only`. */
  readonly session?: AnonymousSession;
  /**
   * The level at which the event was tracked. The event is then sanitised at
   * `min(level, capturedAt)` (the min rule); if that is below `capturedAt`, its session
   * identifiers are removed, because any session it could be given would link it.
   */
  readonly capturedAt?: ConsentLevel;
  /** At a level whose session is sent as is: the identity to send instead of the tracker's own. */
  readonly identity?: ReplacementIdentity;
  /**
   * The event was tracked after a downgrade and before the next screen view: its `screen` entity
   * and a screen view's `previousId`/`previousName`/`previousType` refer to a screen viewed
   * before the downgrade, so they are removed.
   */
  readonly resetViews?: boolean;
  /**
   * With `resetViews`, at a level whose views chain: the page view id that replaces the one
   * before the change (a web page entity keeps its place, with a new id, until the next page
   * view). Without it, the web page entity is removed.
   */
  readonly pageViewId?: string;
}

/**
 * Why an event was not passed on. Every enforcement point counts drops by reason.
 *
 * - `off`: nothing is sent at the level; `malformed`: it could not be read; `overflow`: the queue
 *   or the hold buffer was full; `forbidden-identifier`: the fetch guard found an identifier the
 *   level forbids; `unreadable-stored`: a stored queue entry could not be read;
 * - `no-tracker`: the tracker could not be created, so there was nothing to track it with;
 * - `forgotten`: it was still waiting in a tracker's own stored queue when the user withdrew.
 * - `rejected`: the collector refused it with a status the emitter does not retry (a 400, say).
 * - `stopped`: it was held, or tracked, when the consent tracker had stopped.
 * - `too-large`: larger than the emitter's `maxPostBytes`, it was sent once outside the queue, and that send failed.
 *
 * @example
 * ```ts
 * import type { DropReason } from 'consent-tracker';
 * const reason: DropReason = 'malformed';
 * ```
 */
export type DropReason = 'off' | 'malformed' | 'overflow' | 'forbidden-identifier' | 'unreadable-stored' | 'no-tracker' | 'forgotten' | 'rejected' | 'stopped' | 'too-large';

/**
 * The result of {@link sanitizeEvent}: a new payload to send, or a drop with its reason.
 *
 * @example
 * ```ts
 * import { sanitizeEvent, type SanitizeResult } from 'consent-tracker';
 * const result: SanitizeResult = sanitizeEvent({ e: 'pv', eid: 'x' }, 'off');
 * if (!result.kept) console.log(result.reason); // 'off'
 * ```
 */
export type SanitizeResult =
  | { readonly kept: true; readonly level: ConsentLevel; readonly payload: EventPayload }
  | { readonly kept: false; readonly level: ConsentLevel; readonly reason: Extract<DropReason, 'off' | 'malformed'>; readonly detail: string };

function isAnonymisedSession(data: Record<string, unknown>): boolean {
  return data.userId === NULL_UUID && (data.previousSessionId === null || data.previousSessionId === undefined);
}

function withoutKeys(data: Record<string, unknown>, keys: ReadonlySet<string>): Record<string, unknown> | undefined {
  for (const key of keys) if (key in data) return copyWithout(data, keys);
  return undefined;
}

const AD_ID_KEYS: ReadonlySet<string> = new Set(AD_ID_FIELDS);
const PREVIOUS_VIEW_KEYS: ReadonlySet<string> = new Set(PREVIOUS_VIEW_FIELDS);

/** A copy of `data` without `keys`, built rather than deleted from (an object fields were deleted from is slow to read and serialise). */
function copyWithout<T extends Record<string, unknown>>(data: T, keys: ReadonlySet<string>): T {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(data)) if (!keys.has(key)) copy[key] = data[key];
  return copy as T;
}

/** The payload fields a level removes (its user identifiers, its own list, and the session's when it is removed), by level rules. */
const removedFieldsOf = new WeakMap<LevelPolicy, [withSession: Set<string>, withoutSession: Set<string>]>();

function removedFields(rules: LevelPolicy, sessionRemoved: boolean): Set<string> {
  let sets = removedFieldsOf.get(rules);
  if (!sets) {
    const fields = [...(rules.userIdentifiers ? [] : USER_IDENTIFIER_FIELDS), ...rules.removeFields];
    sets = [new Set(fields), new Set([...fields, ...SESSION_FIELDS])];
    // Kept only for rules that cannot change (`definePolicy` freezes them).
    if (Object.isFrozen(rules) && Object.isFrozen(rules.removeFields)) removedFieldsOf.set(rules, sets);
  }
  return sets[sessionRemoved ? 1 : 0];
}

/** How the session is treated for this event: kept, rewritten to `session`, or removed. */
type SessionTreatment =
  | { kind: 'as-is' }
  | { kind: 'removed' }
  | { kind: 'rewrite'; session: AnonymousSession }
  | { kind: 'replace'; identity: ReplacementIdentity }
  | { kind: 'keep-anonymised' };

function sessionTreatment(rules: LevelPolicy, downgraded: boolean, options: SanitizeOptions): SessionTreatment {
  const session = options.session;
  if (rules.session === 'as-is') return options.identity ? { kind: 'replace', identity: options.identity } : { kind: 'as-is' };
  if (rules.session === 'removed' || downgraded) return { kind: 'removed' };
  return session ? { kind: 'rewrite', session } : { kind: 'keep-anonymised' };
}

/** Applies the policy to one context entity: the same entity, a rewritten copy, or `undefined` to remove it. */
function sanitizeEntity(entity: SelfDescribing, rules: LevelPolicy, treatment: SessionTreatment, resetViews: boolean, pageViewId: string | undefined): SelfDescribing | undefined {
  const { schema } = entity;
  if (rules.removeEntities.some((pattern) => schemaMatches(pattern, schema))) return undefined;
  // A tab id follows the device across page loads, as a user identifier does.
  if (!rules.userIdentifiers && schema.startsWith(BROWSER_CONTEXT_SCHEMA_PREFIX) && entity.data.tabId !== null && entity.data.tabId !== undefined) {
    return { schema, data: { ...entity.data, tabId: null } };
  }
  // A view from before a change (a screen, a web page view) must not link events after it: a
  // page view keeps its place with a new id where views may chain.
  if (resetViews && schema.startsWith(WEB_PAGE_SCHEMA_PREFIX)) return rules.chainViews && pageViewId ? { schema, data: { ...entity.data, id: pageViewId } } : undefined;
  if (resetViews && schema.startsWith(SCREEN_ENTITY_SCHEMA_PREFIX)) return undefined;
  if (schema.startsWith(CLIENT_SESSION_SCHEMA_PREFIX)) {
    switch (treatment.kind) {
      case 'as-is':
        return entity;
      case 'removed':
        return undefined;
      case 'keep-anonymised':
        return isAnonymisedSession(entity.data) ? entity : undefined;
      case 'rewrite': {
        const { session } = treatment;
        return {
          schema,
          data: {
            ...entity.data,
            userId: NULL_UUID,
            previousSessionId: null,
            sessionId: session.sessionId,
            sessionIndex: session.sessionIndex,
            eventIndex: session.eventIndex,
            firstEventId: session.firstEventId,
            firstEventTimestamp: session.firstEventTimestamp,
          },
        };
      }
      case 'replace': {
        const { identity } = treatment;
        return {
          schema,
          data: {
            ...entity.data,
            userId: identity.userId,
            previousSessionId: identity.previousSessionId,
            sessionId: identity.sessionId,
            sessionIndex: identity.sessionIndex,
            eventIndex: identity.eventIndex,
            firstEventId: identity.firstEventId,
            firstEventTimestamp: identity.firstEventTimestamp,
          },
        };
      }
    }
  }
  if (!rules.adIdentifiers && schema.startsWith(MOBILE_CONTEXT_SCHEMA_PREFIX)) {
    const data = withoutKeys(entity.data, AD_ID_KEYS);
    return data ? { schema, data } : entity;
  }
  return withEntityFields(entity, rules);
}

/** The app's own entity (or event data) with the fields the policy names for its schema removed or nulled. */
function withEntityFields(entity: SelfDescribing, rules: LevelPolicy): SelfDescribing {
  const matching = rules.entityFields.filter((rule) => rule.field in entity.data && schemaMatches(rule.schema, entity.schema));
  if (matching.length === 0) return entity;
  const data = copyWithout(entity.data, new Set(matching.flatMap((rule) => (rule.action === 'remove' ? [rule.field] : []))));
  for (const { field, action } of matching) if (action !== 'remove') data[field] = NULL_UUID;
  return { schema: entity.schema, data };
}

/**
 * Applies the identifier policy of a consent level to one tp2 event payload. Pure: it returns a
 * new payload and never mutates its input. The single source of truth of the leak contract:
 * every enforcement point calls it.
 *
 * It reads the top-level fields (`uid`, `duid`, `nuid`, `tnuid`, `ip`, `sid`, `vid`), the
 * contexts in `co` or base64 `cx`, and the self-describing event in `ue_pr` or base64 `ue_px`.
 * Below `full` it removes user identifiers and ad ids; at `session-only` it rewrites the
 * `client_session` entity (null UUID `userId`, no `previousSessionId`, the anonymous session of
 * `options.session`); at `none` it removes the session. At `off`, or when any part of the payload
 * cannot be parsed (bad base64, bad JSON, wrong types), the event is dropped: the result says so
 * and why, and the caller counts it.
 *
 * Without `options.session`, a `client_session` entity at `session-only` is kept only if it is
 * already anonymised, so sanitising twice gives the same result (the function is idempotent).
 *
 * @example
 * ```ts
 * import { sanitizeEvent } from 'consent-tracker';
 * const result = sanitizeEvent({ e: 'se', eid: 'e1', se_ca: 'shop', uid: 'user-1', ip: '1.2.3.4' }, 'none');
 * if (result.kept) console.log(result.payload); // { e: 'se', eid: 'e1', se_ca: 'shop' }
 * ```
 */
export function sanitizeEvent(payload: EventPayload, level: ConsentLevel, options: SanitizeOptions = {}): SanitizeResult {
  const table = options.policy ?? DEFAULT_POLICY;
  const capturedAt = options.capturedAt;
  const effective = capturedAt === undefined ? level : minLevel(level, capturedAt);
  const rules = table[effective];
  if (!rules) return { kept: false, level: 'off', reason: 'malformed', detail: `unknown level ${String(effective)}` };
  if (!rules.send) return { kept: false, level: effective, reason: 'off', detail: `nothing is sent at '${effective}'` };
  try {
    checkPayloadShape(payload);
    const downgraded = capturedAt !== undefined && compareLevels(capturedAt, effective) > 0;
    const treatment = sessionTreatment(rules, downgraded, options);
    const out: EventPayload = copyWithout(payload, removedFields(rules, treatment.kind === 'removed'));
    // A level whose views may not link events resets them on every event.
    const resetViews = options.resetViews === true || !rules.chainViews;

    if (!rules.userIdentifiers) {
      // The cross-domain linker's parameter carries the device and session ids of another page.
      for (const field of ['url', 'refr'] as const) if (typeof out[field] === 'string') out[field] = withoutLinkerParameter(out[field]);
    }
    if (treatment.kind === 'rewrite' || treatment.kind === 'replace') {
      const session = treatment.kind === 'rewrite' ? treatment.session : treatment.identity;
      if ('sid' in out) out.sid = session.sessionId;
      if ('vid' in out) out.vid = String(session.sessionIndex);
      // Device and network ids the app set at launch are the withdrawn identity's too.
      if (treatment.kind === 'replace') for (const field of ['duid', 'nuid'] as const) if (field in out) out[field] = treatment.identity.userId;
      // The collector's network user id of the new identity (its old `sp` cookie is never sent again).
      if (treatment.kind === 'replace' && rules.userIdentifiers && !rules.removeFields.includes('tnuid')) out.tnuid = treatment.identity.userId;
    }

    for (const field of ['co', 'cx'] as const) {
      if (!(field in payload)) continue;
      const envelope = readContexts(payload, field);
      const entities: SelfDescribing[] = [];
      let changed = false;
      for (const entity of envelope.data) {
        const next = sanitizeEntity(entity, rules, treatment, resetViews, options.pageViewId);
        if (next !== entity) changed = true;
        if (next) entities.push(next);
      }
      if (!changed) continue;
      if (entities.length === 0) delete out[field];
      else out[field] = writeJsonField({ schema: envelope.schema, data: entities }, field === 'cx');
    }
    // Self-describing events carry no identifier the policy names, but an unreadable one is never
    // passed on; a screen view after a downgrade loses its link to the screen before it.
    for (const field of ['ue_pr', 'ue_px'] as const) {
      if (!(field in payload)) continue;
      const envelope = readSelfDescribingEventShared(payload, field);
      let event = withEntityFields(envelope.data, rules);
      if (resetViews && event.schema.startsWith(SCREEN_VIEW_SCHEMA_PREFIX)) {
        const data = withoutKeys(event.data, PREVIOUS_VIEW_KEYS);
        if (data) event = { schema: event.schema, data };
      }
      if (event !== envelope.data) out[field] = writeJsonField({ schema: envelope.schema, data: event }, field === 'ue_px');
    }

    return { kept: true, level: effective, payload: out };
  } catch (error) {
    if (error instanceof MalformedPayloadError) return { kept: false, level: effective, reason: 'malformed', detail: error.message };
    throw error;
  }
}

/** A URL without the cross-domain linker's `_sp` query parameter (left as it is if it is not a URL). */
function withoutLinkerParameter(url: string): string {
  if (!/[?&]_sp=/.test(url)) return url;
  try {
    const parsed = new URL(url);
    parsed.searchParams.delete('_sp');
    return parsed.toString();
  } catch {
    return url.replace(/([?&])_sp=[^&#]*&?/, '$1').replace(/[?&](#|$)/, '$1');
  }
}
