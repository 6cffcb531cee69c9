import { findForbiddenIdentifiers } from '../find-forbidden-identifiers.js';
import type { ConsentLevel } from '../../machines/levels.js';
import { DEFAULT_POLICY, type PolicyTable } from '../policy.js';
import { NULL_UUID } from '../tp2.js';
import type { CollectedEvent } from './collected-event.js';

/**
 * One identifier that reached the collector beyond what its level allows.
 *
 * @example
 * ```ts
 * import type { Leak } from 'consent-tracker/testing';
 * const leak: Leak = { eventId: 'e1', level: 'none', field: 'uid', value: 'user-1' };
 * ```
 */
export interface Leak {
  readonly eventId: string | undefined;
  readonly level: ConsentLevel;
  /** A payload field (`uid`), an entity field (`client_session.userId`), or a request-level one (`SP-Anonymous`, `cookie`, `network_userid`, `user_ipaddress`). */
  readonly field: string;
  readonly value: unknown;
}

/**
 * Lists every identifier the collected events carry beyond the allowed level: payload fields and
 * entities (as `findForbiddenIdentifiers`), and what the request gave away: no `SP-Anonymous`
 * header, a cookie, a network user id or an IP address recorded. At `off`, every event is a leak.
 *
 * @param allowed - one level for every event, or a function giving each event's level.
 *
 * @example
 * ```ts
 * import { findLeaks, startCollector } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * // … track at 'none' …
 * if (findLeaks(collector.events(), 'none').length > 0) throw new Error('leak');
 * await collector.stop();
 * ```
 */
export function findLeaks(
  events: readonly CollectedEvent[],
  allowed: ConsentLevel | ((event: CollectedEvent) => ConsentLevel),
  policy: PolicyTable = DEFAULT_POLICY,
): Leak[] {
  const leaks: Leak[] = [];
  for (const event of events) {
    const level = typeof allowed === 'function' ? allowed(event) : allowed;
    const push = (field: string, value: unknown) => leaks.push({ eventId: event.id, level, field, value });
    for (const { field, value } of findForbiddenIdentifiers(event.payload, level, policy)) push(field, value);
    const rules = policy[level];
    if (rules.send && rules.serverAnonymisation) {
      if (!event.anonymous) push('SP-Anonymous', 'missing');
      if (event.cookieSent) push('cookie', 'sp');
      if (event.networkUserId !== NULL_UUID) push('network_userid', event.networkUserId);
      if (event.ipAddress !== undefined) push('user_ipaddress', event.ipAddress);
    }
  }
  return leaks;
}
