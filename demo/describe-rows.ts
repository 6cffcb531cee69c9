import type { ConsentLevel } from '../machines/levels.js';
import type { CollectedEvent } from '../src/testing/collected-event.js';
import { findRowLeaks } from './find-row-leaks.js';
import type { WireRow } from './wire-log.js';

const NULL_UUID = '00000000-0000-0000-0000-000000000000';
const SESSION = 'iglu:com.snowplowanalytics.snowplow/client_session/';
const WEB_PAGE = 'iglu:com.snowplowanalytics.snowplow/web_page/';

/** A row of the demo's table, as the page and the terminal show it. */
export interface RowCells {
  readonly key: string;
  readonly event: string;
  readonly trackedAt: ConsentLevel | '…';
  readonly sentAt: ConsentLevel;
  /** A lower level in force between, when there was one: what the event was checked against. */
  readonly lowestBetween: ConsentLevel | undefined;
  readonly anonymous: 'yes' | 'no';
  readonly cookie: 'sent' | 'none';
  readonly networkUserId: string;
  /** Each identifier the event carries, by field, its value named (`id 3`). */
  readonly identifiers: ReadonlyArray<readonly [string, string]>;
  /** Why each leak the leak finder found in the event is one. */
  readonly leaks: readonly string[];
}

/** Each identifier an event carries, as `field → value`: payload fields, the session, the page view. */
function identifiersOf(event: CollectedEvent): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const add = (field: string, value: unknown) => typeof value === 'string' && value !== '' && value !== NULL_UUID && found.push([field, value]);
  for (const field of ['uid', 'duid', 'nuid', 'tnuid', 'sid']) add(field, event.payload[field]);
  for (const { schema, data } of event.contexts) {
    if (schema.startsWith(SESSION)) {
      add('session user', data.userId);
      add('session', data.sessionId);
    }
    if (schema.startsWith(WEB_PAGE)) add('page view', data.id);
  }
  return found;
}

/**
 * The demo's rows as cells: identifier values named by first appearance (`id 1`, `id 2`), so that
 * the same value has the same name and a re-link shows, and each leak with why it is one.
 */
export function describeRows(rows: readonly WireRow[]): RowCells[] {
  const leaks = findRowLeaks(rows);
  const names = new Map<string, string>();
  const nameOf = (value: string) => names.get(value) ?? (names.set(value, `id ${names.size + 1}`), `id ${names.size}`);
  return rows.map(({ event, label, capturedAt, sentAt, allowed }, index) => ({
    key: `${event.id ?? ''}#${index}`,
    event: label,
    trackedAt: capturedAt ?? '…',
    sentAt,
    lowestBetween: allowed !== undefined && allowed !== sentAt && allowed !== capturedAt ? allowed : undefined,
    anonymous: event.anonymous ? 'yes' : 'no',
    cookie: event.cookieSent ? 'sent' : 'none',
    networkUserId: event.networkUserId === NULL_UUID ? 'none' : nameOf(event.networkUserId),
    identifiers: identifiersOf(event).map(([field, value]) => [field, nameOf(value)] as const),
    leaks: leaks.filter((leak) => leak.eventId === event.id).map((leak) => leak.why),
  }));
}
