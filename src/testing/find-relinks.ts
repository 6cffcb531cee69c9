import { NULL_UUID } from '../tp2.js';
import type { CollectedEvent } from './collected-event.js';

/**
 * One identifier the collector saw both before a withdrawal and after the next consent: it links
 * the new identity to the withdrawn one.
 *
 * @example
 * ```ts
 * import type { Relink } from 'consent-tracker/testing';
 * const relink: Relink = { field: 'network_userid', value: '6b1c…', before: 'e1', after: 'e9' };
 * ```
 */
export interface Relink {
  /** Where it was seen: a payload field (`duid`), `network_userid`, a session or a view id. */
  readonly field: string;
  readonly value: string;
  /** The ids of an event before and one after that carried it. */
  readonly before: string | undefined;
  readonly after: string | undefined;
}

const PAYLOAD_FIELDS = ['uid', 'duid', 'nuid', 'tnuid', 'sid'] as const;
const SESSION = 'iglu:com.snowplowanalytics.snowplow/client_session/';
const SCREEN = 'iglu:com.snowplowanalytics.mobile/screen/';
const WEB_PAGE = 'iglu:com.snowplowanalytics.snowplow/web_page/';
const BROWSER_CONTEXT = 'iglu:com.snowplowanalytics.snowplow/browser_context/';
const SCREEN_VIEW = 'iglu:com.snowplowanalytics.mobile/screen_view/';

/** Every identifier an event carries that could link it to another, as `field → value`. */
function identifiersOf(event: CollectedEvent): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const add = (field: string, value: unknown) => {
    if (typeof value === 'string' && value !== '' && value !== NULL_UUID) found.push([field, value]);
  };
  for (const field of PAYLOAD_FIELDS) add(field, event.payload[field]);
  add('network_userid', event.networkUserId);
  for (const { schema, data } of event.contexts) {
    if (schema.startsWith(SESSION)) for (const field of ['userId', 'sessionId', 'previousSessionId', 'firstEventId']) add(`client_session.${field}`, data[field]);
    if (schema.startsWith(SCREEN) || schema.startsWith(WEB_PAGE)) add(`${schema.startsWith(SCREEN) ? 'screen' : 'web_page'}.id`, data.id);
    if (schema.startsWith(BROWSER_CONTEXT)) add('browser_context.tabId', data.tabId);
  }
  const view = event.selfDescribingEvent;
  if (view?.schema.startsWith(SCREEN_VIEW)) for (const field of ['id', 'previousId']) add(`screen_view.${field}`, view.data[field]);
  return found;
}

/**
 * Lists every identifier seen both in `before` (events sent before a withdrawal) and in `after`
 * (events sent after the next consent): payload ids (`uid`, `duid`, `nuid`, `tnuid`, `sid`), the
 * `network_userid` the collector recorded, session ids, the first event id and the device user
 * id of the `client_session` entity (a first event id after that names an event before links the
 * two as well), screen and page view ids, and the browser's tab id, whatever field each turns up in. With
 * `stitch: true` the device user id and sessions are expected to come back; otherwise nothing
 * may link the two.
 *
 * @example
 * ```ts
 * import { findRelinks, startCollector } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * // … track at full, withdraw, consent again, track …
 * const [before, after] = [collector.events().slice(0, 2), collector.events().slice(2)];
 * if (findRelinks(before, after).length > 0) throw new Error('the new identity is linked to the withdrawn one');
 * await collector.stop();
 * ```
 */
export function findRelinks(before: readonly CollectedEvent[], after: readonly CollectedEvent[]): Relink[] {
  const seen = new Map<string, { field: string; event: string | undefined }>();
  for (const event of before) {
    // An event's own id too: a session's first event named by an event after (a late copy of the
    // same event is no link, so only the events before are indexed by their id).
    for (const [field, value] of [...identifiersOf(event), ['event id', event.id] as const]) if (value !== undefined && !seen.has(value)) seen.set(value, { field, event: event.id });
  }
  const relinks: Relink[] = [];
  const reported = new Set<string>();
  for (const event of after) {
    for (const [field, value] of identifiersOf(event)) {
      const earlier = seen.get(value);
      if (!earlier || reported.has(value)) continue;
      reported.add(value);
      relinks.push({ field: field === earlier.field ? field : `${earlier.field} → ${field}`, value, before: earlier.event, after: event.id });
    }
  }
  return relinks;
}
