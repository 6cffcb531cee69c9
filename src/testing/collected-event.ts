import type { SelfDescribing } from '../tp2.js';

/**
 * One event as the test collector received it, with what a Snowplow collector and Enrich would
 * make of it (`networkUserId`, `ipAddress`).
 *
 * @example
 * ```ts
 * import { startCollector } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * const [first] = collector.events();
 * first?.anonymous; // whether the request carried SP-Anonymous
 * await collector.stop();
 * ```
 */
export interface CollectedEvent {
  /** The event id (`eid`). */
  readonly id: string | undefined;
  /** The tp2 fields as received (base64 fields still encoded). */
  readonly payload: Readonly<Record<string, string>>;
  /** The context entities, decoded from `co` or `cx`. */
  readonly contexts: readonly SelfDescribing[];
  /** The self-describing event, decoded from `ue_pr` or `ue_px`. */
  readonly selfDescribingEvent: SelfDescribing | undefined;
  /** Whether the request carried `SP-Anonymous`. */
  readonly anonymous: boolean;
  /** Whether the request carried the collector's `sp` cookie. */
  readonly cookieSent: boolean;
  /** The network user id the collector assigned: the null UUID with `SP-Anonymous`, else the `sp` cookie or a new one. */
  readonly collectorNetworkUserId: string;
  /** `network_userid` as Enrich would set it: the tracker's `tnuid`/`nuid` win over the collector's. */
  readonly networkUserId: string;
  /** `user_ipaddress` as Enrich would set it: the tracker's `ip`, else the request's, never with `SP-Anonymous`. */
  readonly ipAddress: string | undefined;
  /** `GET` (`/i`) or `POST` (tp2). */
  readonly method: 'GET' | 'POST';
  /** The index of the request in `requests()`. */
  readonly requestIndex: number;
}

/**
 * One HTTP request the test collector answered, good or bad.
 *
 * @example
 * ```ts
 * import { startCollector } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * collector.requests().filter((r) => r.bad !== undefined); // the rejected ones
 * await collector.stop();
 * ```
 */
export interface CollectedRequest {
  readonly index: number;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly anonymous: boolean;
  readonly status: number;
  /** The `Set-Cookie` the collector answered with, if any. */
  readonly setCookie: string | undefined;
  /** Ids of the events it carried. */
  readonly eventIds: readonly (string | undefined)[];
  /** Why the request (or an event in it) was rejected, if it was. */
  readonly bad: string | undefined;
}

/**
 * An event or request the collector could not accept, as Snowplow's bad rows record it.
 *
 * @example
 * ```ts
 * import { startCollector } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * collector.badEvents().map((b) => b.reason);
 * await collector.stop();
 * ```
 */
export interface BadEvent {
  readonly requestIndex: number;
  readonly reason: string;
  readonly payload: unknown;
}
