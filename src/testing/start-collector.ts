import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v4 as uuidv4 } from 'uuid';
import { MalformedPayloadError, NULL_UUID, readContexts, readSelfDescribingEvent, type SelfDescribing } from '../tp2.js';
import type { BadEvent, CollectedEvent, CollectedRequest } from './collected-event.js';

/**
 * Options of {@link startCollector}.
 *
 * @example
 * ```ts
 * import { startCollector, type CollectorOptions } from 'consent-tracker/testing';
 * const options: CollectorOptions = { port: 0 };
 * await (await startCollector(options)).stop();
 * ```
 */
export interface CollectorOptions {
  /** The port on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number;
  /** The largest body accepted, in bytes. Default 1 MB. */
  readonly maxBodyBytes?: number;
}

/**
 * A running test collector.
 *
 * @example
 * ```ts
 * import { startCollector } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * console.log(collector.url); // http://127.0.0.1:PORT
 * await collector.stop();
 * ```
 */
export interface Collector {
  /** `http://127.0.0.1:PORT`: pass it as the tracker's endpoint. */
  readonly url: string;
  /** Good events, in the order received. */
  events(): CollectedEvent[];
  /** Every request answered, good or bad. */
  requests(): CollectedRequest[];
  /** Events and requests that were rejected. */
  badEvents(): BadEvent[];
  /** Forgets everything received. */
  reset(): void;
  /** Resolves once this many good events have arrived (rejects after `timeoutMs`, default 5000). */
  waitForEvents(count: number, timeoutMs?: number): Promise<CollectedEvent[]>;
  /**
   * Makes the collector answer event requests with this status (503 for an outage), close their
   * connections without an answer (`'drop'`), or answer normally (`undefined`). Nothing is
   * accepted while it fails; each request is still listed by `requests()` (status 0 if dropped).
   */
  failWith(status: number | 'drop' | undefined): void;
  /** Closes the server and every open connection. */
  stop(): Promise<void>;
}

const TP2_PATH = '/com.snowplowanalytics.snowplow/tp2';
const PAYLOAD_DATA_PREFIX = 'iglu:com.snowplowanalytics.snowplow/payload_data/';
const COOKIE_NAME = 'sp';
const PIXEL = Uint8Array.from(atob('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7'), (c) => c.charCodeAt(0));

class BadRequest extends Error {}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.entries(value).every(([key, v]) => key !== '__proto__' && typeof v === 'string')
  );
}

function normaliseIp(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * Starts a local Snowplow-compatible collector on 127.0.0.1 for tests and demos. It accepts tp2
 * `POST /com.snowplowanalytics.snowplow/tp2` and `GET /i`, decodes every payload (base64 too),
 * answers CORS preflights (credentials and the `SP-Anonymous` header allowed), and follows the
 * collector's `SP-Anonymous` semantics: with the header, the network user id is the null UUID, no
 * IP is recorded, no cookie is set and an incoming `sp` cookie is left as it is; without it, the `sp`
 * cookie is read or set as the network user id and the IP is recorded. Snowplow Micro's
 * `GET /micro/all`, `/micro/good`, `/micro/bad` and `/micro/reset` are served too. Bad requests
 * (invalid JSON, the wrong schema, a body over 1 MB) get a 400 and are recorded as bad.
 *
 * @example
 * ```ts
 * import { startCollector, findLeaks } from 'consent-tracker/testing';
 * const collector = await startCollector();
 * // … point a tracker at collector.url and track …
 * const leaks = findLeaks(collector.events(), 'none');
 * await collector.stop();
 * ```
 */
export async function startCollector(options: CollectorOptions = {}): Promise<Collector> {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  let events: CollectedEvent[] = [];
  let requests: CollectedRequest[] = [];
  let bad: BadEvent[] = [];
  let failStatus: number | 'drop' | undefined;
  const waiters = new Set<() => void>();

  function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          reject(new BadRequest(`body larger than ${maxBodyBytes} bytes`));
          req.removeAllListeners('data');
          req.resume();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  function corsHeaders(req: IncomingMessage, res: ServerResponse) {
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
  }

  function decodeEvent(payload: Record<string, string>): { contexts: SelfDescribing[]; selfDescribingEvent: SelfDescribing | undefined } {
    const contexts = 'cx' in payload ? readContexts(payload, 'cx').data : 'co' in payload ? readContexts(payload, 'co').data : [];
    const ue = 'ue_px' in payload ? readSelfDescribingEvent(payload, 'ue_px') : 'ue_pr' in payload ? readSelfDescribingEvent(payload, 'ue_pr') : undefined;
    return { contexts, selfDescribingEvent: ue?.data };
  }

  function record(req: IncomingMessage, res: ServerResponse, method: 'GET' | 'POST', payloads: Record<string, string>[]): void {
    if (failStatus !== undefined) {
      // An outage: nothing is accepted, the tracker is expected to retry.
      requests.push({ index: requests.length, method, path: req.url ?? '', headers: { ...req.headers }, anonymous: req.headers['sp-anonymous'] !== undefined, status: failStatus === 'drop' ? 0 : failStatus, setCookie: undefined, eventIds: payloads.map((p) => p.eid), bad: undefined });
      if (failStatus === 'drop') res.socket?.destroy();
      return;
    }
    const anonymous = req.headers['sp-anonymous'] !== undefined;
    const incomingCookie = readCookie(req.headers.cookie, COOKIE_NAME);
    let collectorNetworkUserId: string;
    let setCookie: string | undefined;
    if (anonymous) {
      // As the real collector does: no cookie set, and the one sent is not expired either.
      collectorNetworkUserId = NULL_UUID;
    } else {
      collectorNetworkUserId = incomingCookie || uuidv4();
      setCookie = `${COOKIE_NAME}=${collectorNetworkUserId}; Path=/; Max-Age=31536000; SameSite=None; Secure; HttpOnly`;
    }
    if (setCookie) res.setHeader('Set-Cookie', setCookie);
    const requestIp = anonymous ? undefined : normaliseIp(req.socket.remoteAddress);
    const requestIndex = requests.length;
    for (const payload of payloads) {
      try {
        const decoded = decodeEvent(payload);
        events.push({
          id: payload.eid,
          payload,
          ...decoded,
          anonymous,
          cookieSent: incomingCookie !== undefined,
          collectorNetworkUserId,
          networkUserId: payload.tnuid ?? payload.nuid ?? collectorNetworkUserId,
          ipAddress: payload.ip ?? requestIp,
          method,
          requestIndex,
        });
      } catch (error) {
        if (!(error instanceof MalformedPayloadError)) throw error;
        bad.push({ requestIndex, reason: error.message, payload });
      }
    }
    requests.push({
      index: requestIndex,
      method,
      path: req.url ?? '',
      headers: { ...req.headers },
      anonymous,
      status: 200,
      setCookie,
      eventIds: payloads.map((p) => p.eid),
      bad: undefined,
    });
    for (const wake of waiters) wake();
  }

  function rejectRequest(req: IncomingMessage, res: ServerResponse, reason: string, payload: unknown) {
    const index = requests.length;
    bad.push({ requestIndex: index, reason, payload });
    requests.push({
      index,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: { ...req.headers },
      anonymous: req.headers['sp-anonymous'] !== undefined,
      status: 400,
      setCookie: undefined,
      eventIds: [],
      bad: reason,
    });
    res.statusCode = 400;
    res.setHeader('Connection', 'close');
    res.end(reason);
  }

  function json(res: ServerResponse, body: unknown) {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body));
  }

  function microGood() {
    return events.map((e) => ({
      eventType: e.payload.e,
      schema: e.selfDescribingEvent?.schema,
      contexts: e.contexts.map((c) => c.schema),
      event: {
        event_id: e.id,
        user_id: e.payload.uid,
        domain_userid: e.payload.duid,
        domain_sessionid: e.payload.sid,
        network_userid: e.networkUserId,
        user_ipaddress: e.ipAddress,
        contexts: e.contexts,
        unstruct_event: e.selfDescribingEvent,
      },
      rawEvent: { parameters: e.payload, context: { ipAddress: e.ipAddress, anonymous: e.anonymous } },
    }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    corsHeaders(req, res);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, SP-Anonymous');
      res.setHeader('Access-Control-Max-Age', '3600');
      res.statusCode = 200;
      res.end();
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/micro/')) {
      const counts = () => ({ total: events.length + bad.length, good: events.length, bad: bad.length });
      if (url.pathname === '/micro/all') return json(res, counts());
      if (url.pathname === '/micro/good') return json(res, microGood());
      if (url.pathname === '/micro/bad') return json(res, bad);
      if (url.pathname === '/micro/reset') {
        reset();
        return json(res, counts());
      }
    }
    if (req.method === 'POST' && url.pathname === TP2_PATH) {
      let body: string;
      try {
        body = await readBody(req);
      } catch (error) {
        if (error instanceof BadRequest) return rejectRequest(req, res, error.message, undefined);
        throw error;
      }
      let envelope: unknown;
      try {
        envelope = JSON.parse(body);
      } catch {
        return rejectRequest(req, res, 'invalid JSON', body.slice(0, 200));
      }
      const { schema, data } = (envelope ?? {}) as { schema?: unknown; data?: unknown };
      if (typeof schema !== 'string' || !schema.startsWith(PAYLOAD_DATA_PREFIX)) {
        return rejectRequest(req, res, 'not a payload_data envelope', envelope);
      }
      if (!Array.isArray(data) || data.length === 0 || !data.every(isStringRecord) || !data.every((e) => e.e && e.tv && e.p)) {
        return rejectRequest(req, res, 'payload_data must hold events of string fields with e, tv and p', envelope);
      }
      record(req, res, 'POST', data);
      if (failStatus === 'drop') return;
      res.statusCode = typeof failStatus === 'number' ? failStatus : 200;
      res.end('ok');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/i') {
      const payload: Record<string, string> = {};
      for (const [key, value] of url.searchParams) if (key !== '__proto__') payload[key] = value;
      if (!payload.e) return rejectRequest(req, res, 'GET /i without an event type', payload);
      record(req, res, 'GET', [payload]);
      if (failStatus === 'drop') return;
      res.statusCode = typeof failStatus === 'number' ? failStatus : 200;
      res.setHeader('Content-Type', 'image/gif');
      res.end(PIXEL);
      return;
    }
    res.statusCode = 404;
    res.end('not found');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) rejectRequest(req, res, `collector error: ${String(error)}`, undefined);
      else res.destroy();
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  function reset() {
    events = [];
    requests = [];
    bad = [];
  }

  return {
    url: `http://127.0.0.1:${port}`,
    events: () => events.slice(),
    requests: () => requests.slice(),
    badEvents: () => bad.slice(),
    reset,
    failWith: (status) => {
      failStatus = status;
    },
    waitForEvents(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (events.length < count) return;
          cleanup();
          resolve(events.slice());
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`expected ${count} events, the collector has ${events.length} after ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
