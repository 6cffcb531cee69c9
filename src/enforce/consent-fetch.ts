import { findForbiddenIdentifiers } from '../find-forbidden-identifiers.js';
import { compareLevels, minLevel, type ConsentLevel } from '../../machines/levels.js';
import { sanitizeEvent, type EventPayload } from '../sanitize.js';
import type { ConsentEventStore } from './consent-event-store.js';
import type { EnforcementContext } from './enforcement-context.js';
import { samePayload } from './same-payload.js';

/**
 * The fetch signature tracker-core's `customFetch` option takes.
 *
 * @example
 * ```ts
 * import { createEnforcement, type FetchFunction } from 'consent-tracker';
 * const logged: FetchFunction = (request, init) => {
 *   console.log(request.url);
 *   return fetch(request, init);
 * };
 * createEnforcement({ level: () => 'none', fetch: logged });
 * ```
 */
export type FetchFunction = (input: Request, init?: RequestInit) => Promise<Response>;

const PAYLOAD_DATA_PREFIX = 'iglu:com.snowplowanalytics.snowplow/payload_data/';

/** What the guard decided for one request's events. */
interface Verdict {
  events: EventPayload[];
  anonymous: boolean;
}

/**
 * The last enforcement point, at the network boundary. For every event in a request it applies
 * the min rule (`min(level recorded for the event, level now)`, an unknown event counting as
 * `none`) through `sanitizeEvent`, then checks the result; an event that still carries a
 * forbidden identifier is refused, counted and reported. A request with any event below `full`
 * gets `SP-Anonymous: *` and `credentials: 'omit'`. A request that is not a Snowplow event
 * request (a cookie extension service call) is only let through at `full`. While booting (no
 * decision in force yet) nothing is sent: the request fails, and the emitter keeps its events.
 */
/** The fetch guard, and a way to wait for the requests it has in flight. */
export type ConsentFetch = FetchFunction & { idle(): Promise<void> };

export function createConsentFetch(
  context: EnforcementContext,
  store: ConsentEventStore,
  baseFetch: () => FetchFunction,
  isStopped: () => boolean,
  /** Whether requests go without credentials (an identity was withdrawn on this device). */
  withoutCredentials: () => boolean,
): ConsentFetch {
  const { policy } = context;
  const inFlight = new Set<Promise<unknown>>();

  function judge(events: EventPayload[], now: ConsentLevel): Verdict {
    const kept: EventPayload[] = [];
    let anonymous = false;
    for (const event of events) {
      const eventId = typeof event.eid === 'string' ? event.eid : undefined;
      // Dropped from the queue (and counted) while its request was in flight: a retry of that request does not bring it back.
      if (eventId !== undefined && store.droppedBefore(eventId)) continue;
      // The body may hold the payload as it was before a downgrade: judge it by its capture level,
      // at no more than what the queue now allows. An event nobody recorded counts as none.
      const queued = eventId === undefined ? undefined : store.levelsOf(eventId);
      // As the queue holds it, at a level that still stands: the queue sanitised it at that level.
      if (queued && compareLevels(queued.allowed, now) <= 0 && samePayload(event, queued.payload, 'stm')) {
        anonymous ||= policy[queued.allowed].serverAnonymisation;
        kept.push(event);
        continue;
      }
      const capturedAt = queued?.capturedAt ?? (eventId !== undefined ? context.captured.get(eventId) : undefined) ?? 'none';
      const result = sanitizeEvent(event, queued ? minLevel(now, queued.allowed) : now, { policy, capturedAt });
      if (!result.kept) {
        context.drop(result.reason, 'fetch', eventId, result.detail);
        if (eventId !== undefined) store.settle(eventId, 'counted');
        continue;
      }
      const forbidden = findForbiddenIdentifiers(result.payload, result.level, policy);
      if (forbidden.length > 0) {
        const fields = forbidden.map((f) => f.field).join(', ');
        context.drop('forbidden-identifier', 'fetch', eventId, `refused to send ${fields} at '${result.level}'`);
        if (eventId !== undefined) store.settle(eventId, 'counted');
        continue;
      }
      anonymous ||= policy[result.level].serverAnonymisation;
      kept.push(result.payload);
    }
    return { events: kept, anonymous };
  }

  function nothingToSend(): Response {
    // A 2xx tells the emitter to remove these events from its queue: they were dropped and counted.
    return new Response(null, { status: 204, statusText: 'No Content' });
  }

  function rebuild(request: Request, verdict: Verdict, url: string, body?: string): Request {
    const headers = new Headers(request.headers);
    if (verdict.anonymous) headers.set('SP-Anonymous', '*');
    return new Request(url, {
      method: request.method,
      headers,
      ...(body !== undefined && { body }),
      // After a withdrawal and a new consent, the collector's old `sp` cookie must never be sent again.
      credentials: verdict.anonymous || withoutCredentials() ? 'omit' : request.credentials,
      keepalive: request.keepalive,
      signal: request.signal,
    });
  }

  async function send(request: Request, verdict: Verdict, url: string, body?: string): Promise<Response> {
    if (verdict.events.length === 0) return nothingToSend();
    context.counters.requests.sent += 1;
    if (verdict.anonymous) context.counters.requests.anonymous += 1;
    // Events the emitter sent outside the queue (larger than its maxPostBytes) are sent once:
    // if that fails, nothing retries them, so they are counted here.
    const outsideQueue = verdict.events.filter((event) => typeof event.eid === 'string' && !store.holds(event.eid));
    const settle = (outcome: 'delivered' | 'failed', status?: number) => {
      for (const event of verdict.events) if (typeof event.eid === 'string') store.settle(event.eid, outcome, status);
      if (outcome === 'delivered') return;
      for (const { eid } of outsideQueue) context.drop('too-large', 'fetch', eid, `larger than the emitter's maxPostBytes, it was sent once outside the queue, and that failed${status ? ` (HTTP ${status})` : ''}`);
    };
    let response: Response;
    // Stopped while the body was read: this request is not sent.
    if (isStopped()) {
      settle('failed');
      throw new TypeError('consent-tracker: this tracker was stopped');
    }
    try {
      response = await baseFetch()(rebuild(request, verdict, url, body));
    } catch (error) {
      settle('failed');
      throw error;
    }
    if (response.ok) settle('delivered');
    else settle('failed', response.status);
    return response;
  }

  /**
   * Refuses a whole request. A POST that may have held events it could not read counts as one
   * malformed drop (how many events it held is unknown); any other request is only counted as refused.
   */
  function refuse(detail: string, mayHoldEvents: boolean): Response {
    context.counters.requests.refused += 1;
    if (mayHoldEvents) context.drop('malformed', 'fetch', undefined, detail);
    return nothingToSend();
  }

  /** The event ids a request carries (none if it cannot be read). */
  async function eventIdsIn(request: Request): Promise<string[]> {
    if (request.method.toUpperCase() !== 'POST') return [new URL(request.url).searchParams.get('eid')].filter((id): id is string => id !== null);
    try {
      const { data } = JSON.parse(await request.text()) as { data?: unknown };
      return Array.isArray(data) ? data.map((event) => (event as { eid?: unknown } | null)?.eid).filter((id): id is string => typeof id === 'string') : [];
    } catch {
      return [];
    }
  }

  function customFetch(input: Request, init?: RequestInit): Promise<Response> {
    // A stopped tracker sends nothing more; its queue stays stored for the next start.
    if (isStopped()) return Promise.reject(new TypeError('consent-tracker: this tracker was stopped'));
    // In flight from the first instruction: a stop waits for it, body reading included.
    const handling = handle(input, init);
    inFlight.add(handling);
    void handling.then(
      () => inFlight.delete(handling),
      () => inFlight.delete(handling),
    );
    return handling;
  }

  async function handle(input: Request, init?: RequestInit): Promise<Response> {
    // While booting the level is a stand-in: the events wait in the queue (the emitter keeps what
    // a failed request held) for the decision, rather than be sent, or dropped, at the stand-in.
    const request = init === undefined && input instanceof Request ? input : new Request(input, init);
    if (context.awaitingDecision()) {
      // An event sent outside the queue (larger than maxPostBytes) is sent once: nothing keeps it, so it is counted.
      for (const eventId of await eventIdsIn(request)) {
        if (!store.holds(eventId)) context.drop('too-large', 'fetch', eventId, "larger than the emitter's maxPostBytes, it was sent once outside the queue while no decision was in force");
      }
      throw new TypeError('consent-tracker: no decision is in force yet; the events wait in the queue');
    }
    const method = request.method.toUpperCase();
    const url = new URL(request.url);

    if (method === 'POST') {
      const text = await request.text();
      let envelope: unknown;
      try {
        envelope = JSON.parse(text);
      } catch {
        envelope = undefined;
      }
      const { schema, data } = (envelope ?? {}) as { schema?: unknown; data?: unknown };
      if (typeof schema !== 'string' || !schema.startsWith(PAYLOAD_DATA_PREFIX) || !Array.isArray(data)) {
        return refuse(`refused a POST to ${url.pathname} that is not a Snowplow payload_data request`, true);
      }
      const verdict = judge(data as EventPayload[], context.readLevel());
      // Every event kept as it came: the body goes as it came.
      const unchanged = verdict.events.length === data.length && verdict.events.every((event, i) => event === data[i]);
      return send(request, verdict, request.url, unchanged ? text : JSON.stringify({ schema, data: verdict.events }));
    }

    if (method === 'GET' && url.searchParams.has('e')) {
      const event: EventPayload = {};
      for (const [key, value] of url.searchParams) if (key !== '__proto__') event[key] = value;
      const verdict = judge([event], context.readLevel());
      const sent = verdict.events[0];
      if (!sent) return nothingToSend();
      const query = Object.entries(sent)
        .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
        .join('&');
      return send(request, verdict, `${url.origin}${url.pathname}?${query}`);
    }

    // Anything else (a cookie extension service, say) exists to set or read identifiers.
    const level = context.readLevel();
    if (level !== 'full' || policy.full.serverAnonymisation) {
      return refuse(`refused a ${method} to ${url.pathname} at '${level}': it is not an event request`, false);
    }
    context.counters.requests.sent += 1;
    return baseFetch()(request);
  }

  return Object.assign(customFetch, {
    /** Resolves when the requests in flight now have settled (however they ended). */
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  });
}
