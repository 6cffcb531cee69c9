import { findForbiddenIdentifiers } from '../find-forbidden-identifiers.js';
import type { ConsentLevel } from '../../machines/levels.js';
import { DEFAULT_POLICY, type PolicyTable } from '../policy.js';
import { NULL_UUID } from '../tp2.js';
import type { CollectedEvent } from './collected-event.js';
import { findRelinks } from './find-relinks.js';

/**
 * One identifier that reached the collector beyond what its level allows, or that links the
 * identity after a new consent to the one withdrawn.
 *
 * @example
 * ```ts
 * import type { Leak } from 'consent-tracker/testing';
 * const leak: Leak = { kind: 'identifier', eventId: 'e1', level: 'none', field: 'uid', value: 'user-1' };
 * ```
 */
export interface Leak {
  /** `identifier`: in the payload; `request`: what the request gave away; `relink`: seen before the withdrawal too. */
  readonly kind: 'identifier' | 'request' | 'relink';
  readonly eventId: string | undefined;
  readonly level: ConsentLevel;
  /** A payload field (`uid`), an entity field (`client_session.userId`), or a request-level one (`SP-Anonymous`, `cookie`, `network_userid`, `user_ipaddress`). */
  readonly field: string;
  readonly value: unknown;
  /** For a re-link: the id of an event before the withdrawal that carried the same value. */
  readonly linkedTo?: string | undefined;
}

/**
 * Which events {@link findLeaks} checks for re-linking: the events (or a test of each) sent
 * before a withdrawal, and those sent after the next consent.
 *
 * @example
 * ```ts
 * import type { FindLeaksOptions } from 'consent-tracker/testing';
 * const options: FindLeaksOptions = { relinks: { before: (e) => e.payload.se_ac === 'before', after: (e) => e.payload.se_ac === 'after' } };
 * ```
 */
export interface FindLeaksOptions {
  readonly policy?: PolicyTable;
  /** Any identifier seen in both is a leak (`kind: 'relink'`), unless the app asked for `stitch`. */
  readonly relinks?: { readonly before: EventSelection; readonly after: EventSelection };
}

/** Some of the collected events: a list, or a test of each. */
type EventSelection = readonly CollectedEvent[] | ((event: CollectedEvent) => boolean);

/**
 * Lists what the collector received beyond what each event's level allows: identifiers in the
 * payload and entities (as `findForbiddenIdentifiers`), and what a request below `full` gave away:
 * no `SP-Anonymous` header, a cookie (credentials), a network user id or an IP address recorded.
 * At `off`, every event is a leak. With `relinks`, it also lists every identifier the events
 * after a new consent share with those before the withdrawal (see {@link findRelinks}).
 *
 * @param wire - the collector (its events, as received), or a list of its events.
 * @param allowed - one level for every event, or a function giving each event's level.
 * @param options - the policy (the default one if absent), and the events to check for re-linking.
 *
 * @example
 * ```ts
 * import { findLeaks, startCollector } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * // … track at 'none' …
 * if (findLeaks(collector, 'none').length > 0) throw new Error('leak');
 * await collector.stop();
 * ```
 */
export function findLeaks(
  wire: readonly CollectedEvent[] | { events(): readonly CollectedEvent[] },
  allowed: ConsentLevel | ((event: CollectedEvent) => ConsentLevel),
  options: FindLeaksOptions | PolicyTable = {},
): Leak[] {
  const events = 'events' in wire && typeof wire.events === 'function' ? wire.events() : (wire as readonly CollectedEvent[]);
  const { policy = DEFAULT_POLICY, relinks } = isPolicyTable(options) ? { policy: options } : options;
  const levelOf = (event: CollectedEvent) => (typeof allowed === 'function' ? allowed(event) : allowed);
  const leaks: Leak[] = [];
  for (const event of events) {
    const level = levelOf(event);
    const push = (kind: Leak['kind'], field: string, value: unknown) => leaks.push({ kind, eventId: event.id, level, field, value });
    for (const { field, value } of findForbiddenIdentifiers(event.payload, level, policy)) push('identifier', field, value);
    const rules = policy[level];
    if (rules.send && rules.serverAnonymisation) {
      if (!event.anonymous) push('request', 'SP-Anonymous', 'missing');
      if (event.cookieSent) push('request', 'cookie', 'sp');
      if (event.networkUserId !== NULL_UUID) push('request', 'network_userid', event.networkUserId);
      if (event.ipAddress !== undefined) push('request', 'user_ipaddress', event.ipAddress);
    }
  }
  if (relinks) {
    const pick = (selection: EventSelection) => (typeof selection === 'function' ? events.filter(selection) : selection);
    const after = pick(relinks.after);
    const byId = new Map(after.map((event) => [event.id, event]));
    for (const relink of findRelinks(pick(relinks.before), after)) {
      const event = relink.after === undefined ? undefined : byId.get(relink.after);
      leaks.push({ kind: 'relink', eventId: relink.after, level: event ? levelOf(event) : 'full', field: relink.field, value: relink.value, linkedTo: relink.before });
    }
  }
  return leaks;
}

function isPolicyTable(value: FindLeaksOptions | PolicyTable): value is PolicyTable {
  return 'full' in value && 'off' in value;
}
