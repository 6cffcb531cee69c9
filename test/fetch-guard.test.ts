import { buildStructEvent, newEmitter, newInMemoryEventStore, trackerCore, type EventStorePayload } from '@snowplow/tracker-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEnforcement, type ConsentLevel, type DroppedEvent, type Enforcement, type EnforcementOptions, type EventPayload } from 'consent-tracker';
import { deferred } from './helpers/deferred.js';

const PAYLOAD_DATA = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4';
const TP2 = 'http://collector.test/com.snowplowanalytics.snowplow/tp2';

/** The guard over a network that answers with `respond` (200 unless told), at level `initial` until `setLevel`. */
function guard(initial: ConsentLevel, { respond = async () => new Response('ok'), ...options }: Partial<EnforcementOptions> & { respond?: (request: Request) => Promise<Response> } = {}) {
  let level = initial;
  const sent: Request[] = [];
  const drops: DroppedEvent[] = [];
  const enforcement = createEnforcement({
    ...options,
    level: () => level,
    onDrop: (d) => drops.push(d),
    fetch: async (request) => {
      sent.push(request);
      return respond(request);
    },
  });
  return { enforcement, sent, drops, setLevel: (next: ConsentLevel) => void (level = next) };
}

const post = (events: unknown[], init: RequestInit = {}) => new Request(TP2, { method: 'POST', body: JSON.stringify({ schema: PAYLOAD_DATA, data: events }), credentials: 'include', ...init });

/** Queues `payloads` at the level in force, and hands them out as the emitter takes them for a request. */
async function handedOut(enforcement: Enforcement, ...payloads: EventPayload[]): Promise<EventPayload[]> {
  for (const payload of payloads) await enforcement.eventStore.add({ payload, svrAnon: false });
  const iterator = enforcement.eventStore.iterator();
  const out: EventPayload[] = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) out.push((next.value as EventStorePayload).payload);
  return out;
}

/** The events of the request the guard sent. */
const sentEvents = async (request: Request | undefined) => (JSON.parse(await (request as Request).text()) as { data: EventPayload[] }).data;

afterEach(() => {
  vi.useRealTimers();
});

const pageView = (eid: string, fields: EventPayload = {}): EventPayload => ({ e: 'pv', eid, tv: 't', p: 'web', ...fields });

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
    expect(response.statusText).toBe('No Content');
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
    expect(enforcement.stats().dropped.malformed).toBe(0);
    setLevel('full');
    await enforcement.customFetch(new Request('http://collector.test/cookie-extension'));
    expect(sent).toHaveLength(1);
    expect(enforcement.stats().requests.sent).toBe(1);
  });

  it.each([
    ['a body that is not JSON', 'uid=u'],
    ['JSON that is not payload_data', JSON.stringify({ schema: 'iglu:com.acme/x/jsonschema/1-0-0', data: [{ uid: 'u' }] })],
    ['payload_data whose data is not a list', JSON.stringify({ schema: PAYLOAD_DATA, data: { uid: 'u' } })],
    ['a body that is JSON null', 'null'],
  ])('refuses a POST with %s, at any level', async (_name, body) => {
    const { enforcement, sent, drops } = guard('full');
    const response = await enforcement.customFetch(new Request('http://collector.test/com.snowplowanalytics.snowplow/tp2', { method: 'POST', body }));
    expect(response.status).toBe(204);
    expect(sent).toEqual([]);
    expect(enforcement.stats().dropped.malformed).toBe(1);
    expect(enforcement.stats().requests.refused).toBe(1);
    expect(drops).toEqual([{ reason: 'malformed', where: 'fetch', eventId: undefined, detail: 'refused a POST to /com.snowplowanalytics.snowplow/tp2 that is not a Snowplow payload_data request' }]);
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

describe('the fetch guard and the queue', () => {
  it('sends events as the queue holds them (with the stm the emitter adds) byte for byte, identified at full', async () => {
    const { enforcement, sent } = guard('full');
    await enforcement.ready;
    const events = await handedOut(enforcement, pageView('q1', { uid: 'u' }));
    const body = JSON.stringify({ schema: PAYLOAD_DATA, data: events.map((e) => ({ ...e, stm: '2' })) }, null, 2);
    await enforcement.customFetch(new Request(TP2, { method: 'POST', body, credentials: 'include' }));
    expect(await (sent[0] as Request).text()).toBe(body);
    expect(sent[0]?.headers.get('SP-Anonymous')).toBeNull();
    expect(sent[0]?.credentials).toBe('include');
    expect(enforcement.stats().requests).toEqual({ sent: 1, anonymous: 0, refused: 0 });
  });

  it('sends events queued at none as the queue holds them, anonymously', async () => {
    const { enforcement, sent } = guard('none');
    await enforcement.ready;
    const body = JSON.stringify({ schema: PAYLOAD_DATA, data: await handedOut(enforcement, pageView('q1')) }, null, 2);
    await enforcement.customFetch(new Request(TP2, { method: 'POST', body, credentials: 'include' }));
    expect(await (sent[0] as Request).text()).toBe(body);
    expect(sent[0]?.headers.get('SP-Anonymous')).toBe('*');
    expect(sent[0]?.credentials).toBe('omit');
    expect(enforcement.stats().requests).toEqual({ sent: 1, anonymous: 1, refused: 0 });
  });

  it('sends only the events it keeps when the last of a request is dropped', async () => {
    const { enforcement, sent } = guard('none');
    const events = await handedOut(enforcement, pageView('q1'));
    await enforcement.customFetch(post([...events, pageView('bad', { cx: '***' })]));
    expect(await sentEvents(sent[0])).toEqual([pageView('q1')]);
  });

  it('rewrites the body when any one of its events was rewritten', async () => {
    const { enforcement, sent } = guard('none');
    const events = await handedOut(enforcement, pageView('q1'));
    await enforcement.customFetch(post([...events, pageView('unknown', { uid: 'u' })]));
    expect(await sentEvents(sent[0])).toEqual([pageView('q1'), pageView('unknown')]);
  });

  it('sanitises an event queued at full that is sent after a downgrade nobody announced', async () => {
    const { enforcement, sent, setLevel } = guard('full');
    const events = await handedOut(enforcement, pageView('q1', { uid: 'u' }));
    setLevel('none');
    await enforcement.customFetch(post(events));
    expect(await sentEvents(sent[0])).toEqual([pageView('q1')]);
    expect(sent[0]?.headers.get('SP-Anonymous')).toBe('*');
  });

  it('sends an event lowered in the queue while in flight at the lowered level, even after a new grant', async () => {
    const { enforcement, sent, setLevel } = guard('full');
    const events = await handedOut(enforcement, pageView('q1', { uid: 'u' }));
    setLevel('none');
    await enforcement.levelChanged();
    setLevel('full');
    await enforcement.customFetch(post(events));
    expect(await sentEvents(sent[0])).toEqual([pageView('q1')]);
  });

  it('does not bring back an event the queue dropped while its request was in flight', async () => {
    const { enforcement, sent, setLevel } = guard('full');
    const events = await handedOut(enforcement, pageView('q1', { uid: 'u' }));
    setLevel('off');
    await enforcement.levelChanged();
    setLevel('full');
    const response = await enforcement.customFetch(post(events));
    expect(response.status).toBe(204);
    expect(sent).toEqual([]);
  });

  it('sends an event kept in a queue not its own with the level the plugin recorded when it was tracked', async () => {
    const { enforcement, sent } = guard('full');
    const emitter = newEmitter({ endpoint: 'http://collector.test', eventStore: newInMemoryEventStore({}), customFetch: enforcement.customFetch });
    const core = trackerCore({ corePlugins: [enforcement.plugin], callback: (pb) => void emitter.input(pb.build()) });
    core.setUserId('user-1');
    core.track(buildStructEvent({ category: 'c', action: 'a' }));
    await emitter.flush();
    expect((await sentEvents(sent[0]))[0]?.uid).toBe('user-1');
    expect(sent[0]?.headers.get('SP-Anonymous')).toBeNull();
  });
});

describe('how a request ends', () => {
  it('passes on the collector\'s answer and counts nothing for events the queue holds', async () => {
    const { enforcement, drops } = guard('none', { respond: async () => new Response(null, { status: 503 }) });
    const response = await enforcement.customFetch(post(await handedOut(enforcement, pageView('q1'))));
    expect(response.status).toBe(503);
    expect(drops).toEqual([]);
  });

  it('counts an event sent outside the queue (too large) when the collector refuses it, and not when it accepts it', async () => {
    let status = 200;
    const { enforcement, drops } = guard('none', { respond: async () => new Response(null, { status }) });
    await enforcement.customFetch(post([pageView('big')]));
    expect(drops).toEqual([]);
    status = 503;
    await enforcement.customFetch(post([pageView('bigger')]));
    expect(drops).toEqual([{ reason: 'too-large', where: 'fetch', eventId: 'bigger', detail: "larger than the emitter's maxPostBytes, it was sent once outside the queue, and that failed (HTTP 503)" }]);
  });

  it('counts no event without an id as sent outside the queue when its request fails', async () => {
    const { enforcement, drops } = guard('none', { respond: async () => new Response(null, { status: 503 }) });
    await enforcement.customFetch(post([{ e: 'pv', tv: 't', p: 'web' }]));
    expect(drops).toEqual([]);
  });

  it('counts a queued event as rejected once the emitter gives up on the status the collector refused it with', async () => {
    const { enforcement, drops } = guard('none', { respond: async () => new Response(null, { status: 400 }) });
    await enforcement.customFetch(post(await handedOut(enforcement, pageView('q1'))));
    await enforcement.eventStore.removeHead(1);
    expect(drops).toEqual([expect.objectContaining({ reason: 'rejected', eventId: 'q1' })]);
  });

  it('forgets the refusal of a queued event that a retry dropped, and counts it once', async () => {
    const { enforcement, drops, setLevel } = guard('full', { respond: async () => new Response(null, { status: 503 }) });
    await enforcement.customFetch(post(await handedOut(enforcement, pageView('q1', { uid: 'u' }))));
    const retried = await handedOut(enforcement);
    setLevel('off');
    await enforcement.customFetch(post(retried));
    await enforcement.eventStore.removeHead(1);
    expect(drops.map((d) => `${d.reason} at ${d.where}`)).toEqual(['off at fetch']);
  });

  it('counts a queued event dropped while its request was in flight when the network then fails', async () => {
    const offline = deferred<Response>();
    const { enforcement, drops, sent, setLevel } = guard('full', { respond: () => offline.promise });
    const sending = enforcement.customFetch(post(await handedOut(enforcement, pageView('q1', { uid: 'u' }))));
    await expect.poll(() => sent.length).toBe(1);
    setLevel('off');
    await enforcement.levelChanged();
    expect(drops).toEqual([]);
    offline.reject(new TypeError('offline'));
    await expect(sending).rejects.toThrow('offline');
    expect(drops).toEqual([expect.objectContaining({ reason: 'off', where: 'eventStore', eventId: 'q1' })]);
  });

  it('counts an event sent outside the queue when the network fails, and rethrows the failure', async () => {
    const offline = new TypeError('offline');
    const { enforcement, drops } = guard('none', { respond: () => Promise.reject(offline) });
    await expect(enforcement.customFetch(post([pageView('big')]))).rejects.toBe(offline);
    expect(drops).toEqual([{ reason: 'too-large', where: 'fetch', eventId: 'big', detail: "larger than the emitter's maxPostBytes, it was sent once outside the queue, and that failed" }]);
  });

  it('keeps the keepalive flag and the abort signal of the request', async () => {
    const { enforcement, sent } = guard('none');
    const controller = new AbortController();
    await enforcement.customFetch(post([pageView('a')], { keepalive: true, signal: controller.signal }));
    controller.abort();
    expect(sent[0]?.keepalive).toBe(true);
    expect(sent[0]?.signal.aborted).toBe(true);
  });

  it('reads a request given as a request and its init', async () => {
    const { enforcement, sent } = guard('none');
    await enforcement.customFetch(new Request(TP2), { method: 'POST', body: JSON.stringify({ schema: PAYLOAD_DATA, data: [pageView('a')] }) });
    expect(await sentEvents(sent[0])).toEqual([pageView('a')]);
  });
});

describe('the fetch guard and a stop', () => {
  it('sends nothing once stopped, event request or not', async () => {
    const { enforcement, sent } = guard('full');
    await enforcement.stop();
    await expect(enforcement.customFetch(post([pageView('a')]))).rejects.toThrow('consent-tracker: this tracker was stopped');
    await expect(enforcement.customFetch(new Request('http://collector.test/cookie-extension'))).rejects.toThrow('consent-tracker: this tracker was stopped');
    expect(sent).toEqual([]);
  });

  it('does not send a request whose body was being read when the stop came', async () => {
    const { enforcement, sent } = guard('none');
    const sending = enforcement.customFetch(post([pageView('a')]));
    void enforcement.stop();
    await expect(sending).rejects.toThrow('consent-tracker: this tracker was stopped');
    expect(sent).toEqual([]);
  });

  it('lets a stop wait for the request in flight', async () => {
    const answer = deferred<Response>();
    const { enforcement, sent } = guard('none', { respond: () => answer.promise });
    const sending = enforcement.customFetch(post([pageView('a')]));
    await expect.poll(() => sent.length).toBe(1);
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    let stopped = false;
    const stopping = enforcement.stop().then(() => void (stopped = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(stopped).toBe(false);
    answer.resolve(new Response('ok'));
    await vi.advanceTimersByTimeAsync(1000);
    await stopping;
    await expect(sending).resolves.toHaveProperty('status', 200);
  });
});

describe('while no decision is in force', () => {
  it('sends nothing, and counts the events it carries that no queue keeps', async () => {
    const { enforcement, sent, drops } = guard('none', { awaitingDecision: () => true });
    await enforcement.eventStore.add({ payload: pageView('queued'), svrAnon: true });
    const request = post([pageView('queued'), pageView('big'), null, { eid: 5 }]);
    await expect(enforcement.customFetch(request)).rejects.toThrow('consent-tracker: no decision is in force yet; the events wait in the queue');
    await expect(enforcement.customFetch(new Request('http://collector.test/i?e=pv&eid=big-get'))).rejects.toThrow(TypeError);
    expect(sent).toEqual([]);
    const detail = "larger than the emitter's maxPostBytes, it was sent once outside the queue while no decision was in force";
    expect(drops).toEqual([
      { reason: 'too-large', where: 'fetch', eventId: 'big', detail },
      { reason: 'too-large', where: 'fetch', eventId: 'big-get', detail },
    ]);
  });

  it.each([
    ['a body that is not JSON', 'eid=big'],
    ['payload_data whose data is not a list', JSON.stringify({ schema: PAYLOAD_DATA, data: pageView('big') })],
  ])('counts nothing for a POST with %s', async (_name, body) => {
    const { enforcement, drops } = guard('none', { awaitingDecision: () => true });
    await expect(enforcement.customFetch(new Request(TP2, { method: 'POST', body }))).rejects.toThrow('consent-tracker: no decision is in force yet');
    expect(drops).toEqual([]);
  });

  it('counts nothing for a GET without an event id', async () => {
    const { enforcement, drops } = guard('none', { awaitingDecision: () => true });
    await expect(enforcement.customFetch(new Request('http://collector.test/i?e=pv'))).rejects.toThrow('consent-tracker: no decision is in force yet');
    expect(drops).toEqual([]);
  });
});

describe('GET requests', () => {
  it('rebuilds the query of a GET event on the same path, encoded', async () => {
    const { enforcement, sent } = guard('none');
    await enforcement.customFetch(new Request('http://collector.test/i?e=se&eid=g&tv=t&p=web&se_ac=a%20b%26c'));
    expect(sent[0]?.url).toBe('http://collector.test/i?e=se&eid=g&tv=t&p=web&se_ac=a%20b%26c');
  });

  it('keeps a GET parameter without a name, as it keeps any the level allows', async () => {
    const { enforcement, sent } = guard('none');
    await enforcement.customFetch(new Request('http://collector.test/i?e=pv&eid=g&tv=t&p=web&=x'));
    expect(sent[0]?.url).toBe('http://collector.test/i?e=pv&eid=g&tv=t&p=web&=x');
  });

  it('sends nothing for a GET event dropped at off', async () => {
    const { enforcement, sent } = guard('off');
    const response = await enforcement.customFetch(new Request('http://collector.test/i?e=pv&eid=g&tv=t&p=web'));
    expect(response.status).toBe(204);
    expect(sent).toEqual([]);
  });

  it.each([
    ['a GET without an event', new Request('http://collector.test/i?eid=g&uid=u')],
    ['a PUT with an e parameter', new Request('http://collector.test/i?e=pv&eid=g&uid=u', { method: 'PUT' })],
  ])('passes %s at full as it came, as no event request', async (_name, request) => {
    const { enforcement, sent } = guard('full');
    await enforcement.customFetch(request);
    expect(sent).toEqual([request]);
  });

  it('refuses a non-event request at full when full is anonymised on the server', async () => {
    const { enforcement, sent } = guard('full', { policy: { overrides: { full: { serverAnonymisation: true } } } });
    const response = await enforcement.customFetch(new Request('http://collector.test/cookie-extension'));
    expect(response.status).toBe(204);
    expect(sent).toEqual([]);
  });
});
