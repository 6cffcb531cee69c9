import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { NULL_UUID } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { CONTEXTS, SESSION, encode } from './helpers/payloads.js';
import { useCollector } from './helpers/use-collector.js';

const collectorRef = useCollector();

const TP2 = '/com.snowplowanalytics.snowplow/tp2';
const envelope = (...events: Record<string, string>[]) => JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data: events });
const event = (extra: Record<string, string> = {}) => ({ e: 'pv', eid: 'e1', tv: 't', p: 'web', ...extra });

function post(body: string, headers: Record<string, string> = {}) {
  return fetch(`${collectorRef.current.url}${TP2}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
}

describe('the test collector', () => {
  it('records a tp2 POST, decoding base64 contexts and self-describing events', async () => {
    const cx = encode({ schema: CONTEXTS, data: [{ schema: SESSION, data: { userId: 'u', sessionId: 's' } }] }, true);
    const ue_px = encode({ schema: 'x', data: { schema: 'iglu:com.acme/a/jsonschema/1-0-0', data: { n: 1 } } }, true);
    const response = await post(envelope(event({ cx, ue_px })));
    expect(response.status).toBe(200);
    const [received] = collectorRef.current.events();
    expect(received?.contexts).toEqual([{ schema: SESSION, data: { userId: 'u', sessionId: 's' } }]);
    expect(received?.selfDescribingEvent).toEqual({ schema: 'iglu:com.acme/a/jsonschema/1-0-0', data: { n: 1 } });
    expect(received?.method).toBe('POST');
  });

  it('records a GET /i and answers with a pixel', async () => {
    const response = await fetch(`${collectorRef.current.url}/i?e=se&eid=g1&tv=t&p=web&se_ca=c`);
    expect(response.headers.get('content-type')).toBe('image/gif');
    expect(collectorRef.current.events()[0]).toMatchObject({ id: 'g1', method: 'GET', payload: { se_ca: 'c' } });
  });

  it('without SP-Anonymous: sets the sp cookie, reads it back as network_userid, records the IP', async () => {
    const first = await post(envelope(event()));
    const cookie = first.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^sp=[0-9a-f-]{36};/);
    const id = cookie.slice(3, 39);
    await post(envelope(event({ eid: 'e2' })), { Cookie: `sp=${id}` });
    const [a, b] = collectorRef.current.events();
    expect(a?.collectorNetworkUserId).toBe(id);
    expect(b?.networkUserId).toBe(id);
    expect(b?.ipAddress).toBe('127.0.0.1');
    expect(findLeaks(collectorRef.current.events(), 'none').map((l) => l.field)).toEqual(expect.arrayContaining(['SP-Anonymous', 'network_userid', 'user_ipaddress', 'cookie']));
  });

  it('with SP-Anonymous: null UUID, no IP, no cookie set, and an incoming sp cookie left as it is (as the real collector does)', async () => {
    const plain = await post(envelope(event()), { 'SP-Anonymous': '*' });
    expect(plain.headers.get('set-cookie')).toBeNull();
    const withCookie = await post(envelope(event({ eid: 'e2' })), { 'SP-Anonymous': '*', Cookie: 'sp=old-id' });
    expect(withCookie.headers.get('set-cookie')).toBeNull();
    for (const received of collectorRef.current.events()) {
      expect(received.networkUserId).toBe(NULL_UUID);
      expect(received.ipAddress).toBeUndefined();
      expect(received.anonymous).toBe(true);
    }
    // The tracker's own nuid still wins in Enrich, which is why the client must strip it.
    await post(envelope(event({ eid: 'e3', nuid: 'tracker-set' })), { 'SP-Anonymous': '*' });
    expect(collectorRef.current.events()[2]?.networkUserId).toBe('tracker-set');
  });

  it('answers CORS preflights, allowing credentials and SP-Anonymous', async () => {
    const response = await fetch(`${collectorRef.current.url}${TP2}`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://app.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,sp-anonymous' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('http://app.test');
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-headers')).toMatch(/SP-Anonymous/);
    expect(collectorRef.current.requests()).toEqual([]);
  });

  it('serves the Micro endpoints', async () => {
    await post(envelope(event({ uid: 'u1' })));
    await post('{broken');
    expect(await (await fetch(`${collectorRef.current.url}/micro/all`)).json()).toEqual({ total: 2, good: 1, bad: 1 });
    const good = (await (await fetch(`${collectorRef.current.url}/micro/good`)).json()) as Array<{ event: Record<string, unknown> }>;
    expect(good[0]?.event).toMatchObject({ event_id: 'e1', user_id: 'u1', user_ipaddress: '127.0.0.1' });
    expect(await (await fetch(`${collectorRef.current.url}/micro/reset`)).json()).toEqual({ total: 0, good: 0, bad: 0 });
    expect(collectorRef.current.events()).toEqual([]);
  });

  it.each([
    ['invalid JSON', '{"schema":'],
    ['the wrong schema', JSON.stringify({ schema: 'iglu:com.acme/other/jsonschema/1-0-0', data: [event()] })],
    ['no events', envelope()],
    ['events with non-string fields', JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data: [{ ...event(), n: 1 }] })],
    ['events without e, tv and p', envelope({ eid: 'x' })],
    ['a prototype-polluting event', `{"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[{"e":"pv","tv":"t","p":"web","__proto__":"x"}]}`],
  ])('answers %s with a 400, records it as bad, and keeps serving', async (_name, body) => {
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(collectorRef.current.badEvents()).toHaveLength(1);
    expect(collectorRef.current.events()).toEqual([]);
    expect((await post(envelope(event()))).status).toBe(200);
  });

  it('answers a body over 1 MB with a 400 without reading it all', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${collectorRef.current.url}${TP2}`, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1024 * 1024 + 10, 'a'));
      req.end();
    });
    expect(status).toBe(400);
    expect(collectorRef.current.badEvents()[0]?.reason).toMatch(/larger than/);
    expect((await post(envelope(event()))).status).toBe(200);
  });

  it('records an event whose contexts cannot be decoded as bad, not good', async () => {
    await post(envelope(event({ cx: '!!!' }), event({ eid: 'ok' })));
    expect(collectorRef.current.events().map((e) => e.id)).toEqual(['ok']);
    expect(collectorRef.current.badEvents()[0]?.reason).toMatch(/base64/);
  });

  it('plays an outage with failWith and records nothing as received', async () => {
    collectorRef.current.failWith(503);
    expect((await post(envelope(event()))).status).toBe(503);
    collectorRef.current.failWith(undefined);
    expect(collectorRef.current.events()).toEqual([]);
    expect(collectorRef.current.requests()[0]?.status).toBe(503);
  });

  it('answers unknown paths with 404', async () => {
    expect((await fetch(`${collectorRef.current.url}/nothing`)).status).toBe(404);
  });
});

describe('findLeaks', () => {
  it('flags every event at off, and nothing at full', async () => {
    await post(envelope(event({ uid: 'u' })));
    expect(findLeaks(collectorRef.current.events(), 'off').map((l) => l.field)).toEqual(['event']);
    expect(findLeaks(collectorRef.current.events(), 'full')).toEqual([]);
  });
});
