import { describe, expect, it } from 'vitest';
import { createEnforcement, type ConsentLevel, type DroppedEvent } from 'consent-tracker';

const PAYLOAD_DATA = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4';

function guard(initial: ConsentLevel) {
  let level = initial;
  const sent: Request[] = [];
  const drops: DroppedEvent[] = [];
  const enforcement = createEnforcement({
    level: () => level,
    onDrop: (d) => drops.push(d),
    fetch: async (request) => {
      sent.push(request);
      return new Response('ok');
    },
  });
  return { enforcement, sent, drops, setLevel: (next: ConsentLevel) => void (level = next) };
}

const post = (events: unknown[], init: RequestInit = {}) =>
  new Request('http://collector.test/com.snowplowanalytics.snowplow/tp2', { method: 'POST', body: JSON.stringify({ schema: PAYLOAD_DATA, data: events }), credentials: 'include', ...init });

describe('the fetch guard', () => {
  it('counts an event it has no record of as none', async () => {
    const { enforcement, sent } = guard('full');
    await enforcement.customFetch(post([{ e: 'pv', eid: 'unknown', tv: 't', p: 'web', uid: 'u', ip: '1.2.3.4' }]));
    const body = JSON.parse(await (sent[0] as Request).text()) as { data: Record<string, string>[] };
    expect(body.data[0]).toEqual({ e: 'pv', eid: 'unknown', tv: 't', p: 'web' });
    expect(sent[0]?.headers.get('SP-Anonymous')).toBe('*');
    expect(sent[0]?.credentials).toBe('omit');
  });

  it('rewrites a GET event request and adds the header', async () => {
    const { enforcement, sent } = guard('none');
    await enforcement.customFetch(new Request('http://collector.test/i?e=pv&eid=g&uid=u&tv=t&p=web&stm=1'));
    const url = new URL((sent[0] as Request).url);
    expect(url.searchParams.get('uid')).toBeNull();
    expect(url.searchParams.get('eid')).toBe('g');
    expect(sent[0]?.headers.get('SP-Anonymous')).toBe('*');
  });

  it('sends nothing at off, answering the emitter so that it drops the events', async () => {
    const { enforcement, sent, drops } = guard('off');
    const response = await enforcement.customFetch(post([{ e: 'pv', eid: 'a', tv: 't', p: 'web' }]));
    expect(response.status).toBe(204);
    expect(sent).toEqual([]);
    expect(drops).toEqual([expect.objectContaining({ reason: 'off', where: 'fetch', eventId: 'a' })]);
  });

  it('refuses a non-event request (a cookie extension service) below full, and passes it at full', async () => {
    const { enforcement, sent, setLevel } = guard('session-only');
    const response = await enforcement.customFetch(new Request('http://collector.test/cookie-extension'));
    expect(response.status).toBe(204);
    expect(sent).toEqual([]);
    expect(enforcement.stats().requests.refused).toBe(1);
    expect(enforcement.stats().dropped['forbidden-identifier']).toBe(0);
    setLevel('full');
    await enforcement.customFetch(new Request('http://collector.test/cookie-extension'));
    expect(sent).toHaveLength(1);
  });

  it.each([
    ['a body that is not JSON', 'uid=u'],
    ['JSON that is not payload_data', JSON.stringify({ schema: 'iglu:com.acme/x/jsonschema/1-0-0', data: [{ uid: 'u' }] })],
    ['payload_data whose data is not a list', JSON.stringify({ schema: PAYLOAD_DATA, data: { uid: 'u' } })],
  ])('refuses a POST with %s, at any level', async (_name, body) => {
    const { enforcement, sent } = guard('full');
    const response = await enforcement.customFetch(new Request('http://collector.test/com.snowplowanalytics.snowplow/tp2', { method: 'POST', body }));
    expect(response.status).toBe(204);
    expect(sent).toEqual([]);
    expect(enforcement.stats().dropped.malformed).toBe(1);
    expect(enforcement.stats().requests.refused).toBe(1);
  });

  it('drops only the malformed events of a request and sends the rest', async () => {
    const { enforcement, sent } = guard('none');
    await enforcement.customFetch(post([{ e: 'pv', eid: 'bad', tv: 't', p: 'web', cx: '***' }, { e: 'pv', eid: 'good', tv: 't', p: 'web' }]));
    const body = JSON.parse(await (sent[0] as Request).text()) as { data: Record<string, string>[] };
    expect(body.data.map((e) => e.eid)).toEqual(['good']);
    expect(enforcement.stats().dropped.malformed).toBe(1);
  });

  it('keeps an SP-Anonymous header the tracker set itself', async () => {
    const { enforcement, sent } = guard('full');
    const plugin = enforcement.plugin;
    expect(plugin.filter).toBeTypeOf('function');
    await enforcement.customFetch(post([{ e: 'pv', eid: 'x', tv: 't', p: 'web' }], { headers: { 'SP-Anonymous': '*' } }));
    expect(sent[0]?.headers.get('SP-Anonymous')).toBe('*');
  });

  it('rejects bad options with a typed error', () => {
    for (const options of [{}, { level: 'full' }, { level: () => 'full', maxQueueSize: 0 }, { level: () => 'full', storage: {} }, { level: () => 'full', storageKey: '' }, { level: () => 'full', policy: { overrides: { none: { userIdentifiers: true } } } }]) {
      expect(() => createEnforcement(options as never)).toThrow(expect.objectContaining({ name: 'ConsentError' }));
    }
  });
});
