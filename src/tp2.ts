/**
 * Reading and writing the parts of a Snowplow tp2 event payload that carry identifiers. Internal:
 * shared by the sanitiser, the identifier check and the test collector so that all three read a
 * payload the same way.
 */
import { decodeBase64, encodeBase64Url } from './base64-url.js';

/**
 * The null UUID that anonymised session entities and the collector use in place of a user id.
 *
 * @example
 * ```ts
 * import { NULL_UUID } from 'consent-tracker';
 * NULL_UUID; // '00000000-0000-0000-0000-000000000000'
 * ```
 */
export const NULL_UUID = '00000000-0000-0000-0000-000000000000';

/** Payload fields that identify a user: removed below `full`. */
export const USER_IDENTIFIER_FIELDS = ['uid', 'duid', 'nuid', 'tnuid', 'ip'] as const;

/** Browser session fields: anonymised at `session-only`, removed at `none`. */
export const SESSION_FIELDS = ['sid', 'vid'] as const;

/** `mobile_context` fields that carry advertising or vendor ids: removed below `full`. */
export const AD_ID_FIELDS = ['appleIdfa', 'appleIdfv', 'androidIdfa', 'appSetId', 'appSetIdScope'] as const;

export const CLIENT_SESSION_SCHEMA_PREFIX = 'iglu:com.snowplowanalytics.snowplow/client_session/';
export const SCREEN_ENTITY_SCHEMA_PREFIX = 'iglu:com.snowplowanalytics.mobile/screen/';
export const SCREEN_VIEW_SCHEMA_PREFIX = 'iglu:com.snowplowanalytics.mobile/screen_view/';
/** The browser's context entity: its `tabId` follows one tab across page loads. */
export const BROWSER_CONTEXT_SCHEMA_PREFIX = 'iglu:com.snowplowanalytics.snowplow/browser_context/';
/** The browser's page view entity: its `id` groups the events of one page view. */
export const WEB_PAGE_SCHEMA_PREFIX = 'iglu:com.snowplowanalytics.snowplow/web_page/';
/** The fields of a screen view that name the screen viewed before it. */
export const PREVIOUS_VIEW_FIELDS = ['previousId', 'previousName', 'previousType'] as const;
export const MOBILE_CONTEXT_SCHEMA_PREFIX = 'iglu:com.snowplowanalytics.snowplow/mobile_context/';

/**
 * A self-describing JSON: `{ schema, data }`, as context entities and events are sent.
 *
 * @example
 * ```ts
 * import type { SelfDescribing } from 'consent-tracker';
 * const entity: SelfDescribing = { schema: 'iglu:com.acme/user/jsonschema/1-0-0', data: { plan: 'pro' } };
 * ```
 */
export interface SelfDescribing {
  schema: string;
  data: Record<string, unknown>;
}

/** Thrown by the readers below; the caller turns it into a dropped, counted event. */
export class MalformedPayloadError extends Error {
  override name = 'MalformedPayloadError';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses JSON, refusing a `__proto__` key: harmless in `JSON.parse` itself, but a trap for any
 * later copy by assignment, and never sent by a real tracker. Only text that could hold one (the
 * word itself, or an escape) pays for the key-by-key check.
 */
function parseJson(text: string, field: string): unknown {
  const suspicious = text.includes('__proto__') || text.includes('\\u');
  try {
    return suspicious
      ? JSON.parse(text, (key, value: unknown) => {
          if (key === '__proto__') throw new MalformedPayloadError(`${field} contains the forbidden key '__proto__'`);
          return value;
        })
      : JSON.parse(text);
  } catch (error) {
    if (error instanceof MalformedPayloadError) throw error;
    throw new MalformedPayloadError(`${field} is not valid JSON`);
  }
}

/** Decodes one JSON field of a payload, base64url or plain, and checks it is an object. */
export function readJsonField(payload: Record<string, unknown>, field: string, base64: boolean): Record<string, unknown> {
  const raw = payload[field];
  if (typeof raw !== 'string') throw new MalformedPayloadError(`${field} must be a string`);
  let text = raw;
  if (base64) {
    const decoded = decodeBase64(raw);
    if (decoded === undefined) throw new MalformedPayloadError(`${field} is not valid base64`);
    text = decoded;
  }
  const json = parseJson(text, field);
  if (!isPlainObject(json)) throw new MalformedPayloadError(`${field} must hold a JSON object`);
  return json;
}

/** Encodes a JSON field the way tracker-core does: base64url without padding, or plain JSON. */
export function writeJsonField(json: unknown, base64: boolean): string {
  const text = JSON.stringify(json);
  return base64 ? encodeBase64Url(text) : text;
}

/**
 * Turns the plain JSON fields of a payload (`co`, `ue_pr`) into their base64 forms (`cx`,
 * `ue_px`), in place, as tracker-core's processor would have. Their parsed forms are not cached:
 * the store and the guard keep the plugin's output without reading it again.
 */
export function encodeJsonFields(payload: Record<string, unknown>): void {
  for (const [plain, encoded] of [['co', 'cx'], ['ue_pr', 'ue_px']] as const) {
    const text = payload[plain];
    if (typeof text !== 'string') continue;
    delete payload[plain];
    payload[encoded] = encodeBase64Url(text);
  }
}

function checkSelfDescribing(value: unknown, where: string): SelfDescribing {
  if (!isPlainObject(value) || typeof value.schema !== 'string' || !isPlainObject(value.data)) {
    throw new MalformedPayloadError(`${where} must be a self-describing JSON { schema, data }`);
  }
  return value as unknown as SelfDescribing;
}

/**
 * The self-describing event of a payload is read twice per event (the plugin's screen-view check,
 * then the sanitiser). A small cache of parsed fields, keyed by the exact string, makes the second
 * read free. What it holds is shared, so the readers below never mutate what they return. Two
 * generations, the older dropped whole when the newer is full: no per-entry eviction, which is
 * costly in a `Map`. Contexts are not cached: each is read once on an event's way, and caching a
 * fresh string (hashing it, storing it) costs more than it saves.
 */
const CACHE_LIMIT = 256;
/** Per field name, keyed by the raw string itself, whose hash the engine keeps. */
type Generation = Map<string, Map<string, unknown>>;
let recent: Generation = new Map();
let older: Generation = new Map();
let recentSize = 0;

function cached<T>(field: string, raw: string, read: () => T): T {
  const hit = recent.get(field)?.get(raw) ?? older.get(field)?.get(raw);
  if (hit !== undefined) return hit as T;
  const value = read();
  remember(field, raw, value);
  return value;
}

function remember(field: string, raw: string, value: unknown): void {
  if (recentSize >= CACHE_LIMIT) {
    older = recent;
    recent = new Map();
    recentSize = 0;
  }
  let byValue = recent.get(field);
  if (!byValue) recent.set(field, (byValue = new Map()));
  byValue.set(raw, value);
  recentSize += 1;
}

/** The self-describing event envelope, checked; shared, never to be mutated. */
export function readSelfDescribingEventShared(payload: Record<string, unknown>, field: 'ue_pr' | 'ue_px'): { schema: string; data: SelfDescribing } {
  const raw = payload[field];
  return typeof raw === 'string' ? cached(field, raw, () => readSelfDescribingEvent(payload, field)) : readSelfDescribingEvent(payload, field);
}

/** The contexts envelope `{ schema, data: SelfDescribing[] }`, checked. */
export function readContexts(payload: Record<string, unknown>, field: 'co' | 'cx'): { schema: string; data: SelfDescribing[] } {
  const envelope = readJsonField(payload, field, field === 'cx');
  if (typeof envelope.schema !== 'string' || !Array.isArray(envelope.data)) {
    throw new MalformedPayloadError(`${field} must be a contexts envelope { schema, data: [] }`);
  }
  envelope.data.forEach((entity, i) => checkSelfDescribing(entity, `${field} entity ${i}`));
  return envelope as { schema: string; data: SelfDescribing[] };
}

/** The self-describing event envelope `{ schema, data: SelfDescribing }`, checked. */
export function readSelfDescribingEvent(payload: Record<string, unknown>, field: 'ue_pr' | 'ue_px'): { schema: string; data: SelfDescribing } {
  const envelope = readJsonField(payload, field, field === 'ue_px');
  if (typeof envelope.schema !== 'string') throw new MalformedPayloadError(`${field} must have a schema`);
  checkSelfDescribing(envelope.data, `${field} event`);
  return envelope as { schema: string; data: SelfDescribing };
}

/** Checks the top level of a payload: a plain object of primitive values. */
export function checkPayloadShape(payload: unknown): asserts payload is Record<string, string | number | boolean> {
  if (!isPlainObject(payload)) throw new MalformedPayloadError('the payload must be a plain object');
  for (const key of Object.keys(payload)) {
    if (key === '__proto__') throw new MalformedPayloadError("the payload contains the forbidden key '__proto__'");
    const type = typeof payload[key];
    if (type !== 'string' && type !== 'number' && type !== 'boolean') {
      throw new MalformedPayloadError(`payload field '${key}' must be a string, number or boolean; got ${payload[key] === null ? 'null' : type}`);
    }
  }
}
