import { buildSelfDescribingEvent, newEmitter, newInMemoryEventStore, trackerCore } from '@snowplow/tracker-core';
import { describe, expect, it, vi } from 'vitest';
import { NULL_UUID, createEnforcement, memoryStorage, type ConsentError, type ConsentLevel, type DroppedEvent } from 'consent-tracker';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { MOBILE_SCHEMA, SESSION_SCHEMA, createTestTracker, mobileContextPlugin, sessionPlugin } from './helpers/tracker.js';
import { useCollector } from './helpers/use-collector.js';
import { storedQueue } from './helpers/stored-queue.js';

const collectorRef = useCollector();

const entityOf = (event: CollectedEvent, schema: string) => event.contexts.find((e) => e.schema === schema)?.data;
const AD_IDS = ['appleIdfa', 'appleIdfv', 'androidIdfa', 'appSetId', 'appSetIdScope'];

describe.each([
  { base64: true, eventMethod: 'post' as const },
  { base64: false, eventMethod: 'post' as const },
  { base64: true, eventMethod: 'get' as const },
])('each level on the wire (base64 $base64, $eventMethod)', ({ base64, eventMethod }) => {
  it('full: the collector receives every identifier, no SP-Anonymous, the cookie is set', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'full', base64, eventMethod });
    t.trackStruct('a');
    t.trackStruct('b');
    const events = await collectorRef.current.waitForEvents(2);
    for (const event of events) {
      expect(event.payload).toMatchObject({ uid: 'user-1', duid: 'domain-user-1', nuid: 'tracker-nuid-1', ip: '203.0.113.9' });
      expect(event.anonymous).toBe(false);
      expect(event.networkUserId).toBe('tracker-nuid-1');
      expect(event.collectorNetworkUserId).not.toBe(NULL_UUID);
      expect(entityOf(event, SESSION_SCHEMA)).toMatchObject({ userId: 'device-user-1', sessionId: 'real-session-1', previousSessionId: 'real-session-0' });
      expect(entityOf(event, MOBILE_SCHEMA)).toMatchObject({ appleIdfa: 'IDFA-1', appleIdfv: 'IDFV-1' });
    }
    expect(collectorRef.current.requests().every((r) => r.setCookie?.startsWith('sp=') && !r.anonymous)).toBe(true);
    expect(t.sentRequests.every((r) => r.credentials === 'include')).toBe(true);
    expect(findLeaks(events, 'full')).toEqual([]);
    expect(findLeaks(events, 'none').map((l) => l.field)).toEqual(expect.arrayContaining(['uid', 'duid', 'nuid', 'ip', 'client_session', 'SP-Anonymous', 'network_userid', 'user_ipaddress']));
  });

  it('session-only: an anonymous session, no user identifiers, SP-Anonymous, no cookie', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'session-only', base64, eventMethod });
    t.trackStruct('a');
    t.trackStruct('b');
    const events = await collectorRef.current.waitForEvents(2);
    const sessions = events.map((e) => entityOf(e, SESSION_SCHEMA));
    for (const [i, event] of events.entries()) {
      for (const field of ['uid', 'duid', 'nuid', 'tnuid', 'ip']) expect(event.payload).not.toHaveProperty(field);
      expect(event.anonymous).toBe(true);
      expect(event.networkUserId).toBe(NULL_UUID);
      expect(event.ipAddress).toBeUndefined();
      expect(sessions[i]).toMatchObject({ userId: NULL_UUID, previousSessionId: null, eventIndex: i + 1, firstEventId: events[0]?.id });
      expect(sessions[i]?.sessionId).not.toBe('real-session-1');
      for (const id of AD_IDS) expect(entityOf(event, MOBILE_SCHEMA)).not.toHaveProperty(id);
      expect(entityOf(event, MOBILE_SCHEMA)).toMatchObject({ osType: 'ios', deviceModel: 'iPhone' });
    }
    expect(sessions[0]?.sessionId).toBe(sessions[1]?.sessionId);
    expect(collectorRef.current.requests().every((r) => r.anonymous && r.setCookie === undefined)).toBe(true);
    expect(t.sentRequests.every((r) => r.credentials === 'omit' && r.headers.get('SP-Anonymous') === '*')).toBe(true);
    expect(findLeaks(events, 'session-only')).toEqual([]);
  });

  it('none: no session entity, no user identifiers, SP-Anonymous', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'none', base64, eventMethod });
    t.trackStruct('a');
    t.trackStruct('b');
    const events = await collectorRef.current.waitForEvents(2);
    for (const event of events) {
      expect(entityOf(event, SESSION_SCHEMA)).toBeUndefined();
      for (const field of ['uid', 'duid', 'nuid', 'tnuid', 'ip', 'sid', 'vid']) expect(event.payload).not.toHaveProperty(field);
      expect(event.anonymous).toBe(true);
      expect(event.networkUserId).toBe(NULL_UUID);
      expect(event.payload).toMatchObject({ e: 'se', se_ca: 'test', p: 'mob' });
    }
    expect(findLeaks(events, 'none')).toEqual([]);
  });
});

describe('the min rule', () => {
  it('off: nothing is sent, every event is counted', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'off' });
    t.trackStruct('a');
    t.trackStruct('b');
    await t.flush();
    expect(collectorRef.current.requests()).toEqual([]);
    expect(t.enforcement.stats().dropped.off).toBe(2);
    expect(await t.enforcement.eventStore.count()).toBe(0);
  });

  it.each(['none', 'session-only'] as const)('events queued at full while the collector is down go out anonymised after a downgrade to %s', async (downTo) => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'full' });
    collectorRef.current.failWith(503);
    t.trackStruct('queued-1');
    t.trackStruct('queued-2');
    await t.flush();
    expect(await t.enforcement.eventStore.count()).toBe(2);
    await t.setLevel(downTo);
    collectorRef.current.failWith(undefined);
    t.trackStruct('after');
    await t.drain();
    const events = await collectorRef.current.waitForEvents(3);
    expect(events.map((e) => e.payload.se_ac)).toEqual(['queued-1', 'queued-2', 'after']);
    expect(findLeaks(events, downTo)).toEqual([]);
    // Queued events tracked at full get no anonymous session: any session id would link them.
    expect(events.slice(0, 2).map((e) => entityOf(e, SESSION_SCHEMA))).toEqual([undefined, undefined]);
    if (downTo === 'session-only') expect(entityOf(events[2] as CollectedEvent, SESSION_SCHEMA)).toMatchObject({ userId: NULL_UUID });
    expect(t.enforcement.stats().resanitized).toBe(2);
  });

  it('the fetch guard alone applies the min rule when the queue is not ours', async () => {
    let level: ConsentLevel = 'full';
    const enforcement = createEnforcement({ level: () => level });
    const emitter = newEmitter({ endpoint: collectorRef.current.url, eventStore: newInMemoryEventStore({}), customFetch: enforcement.customFetch });
    const core = trackerCore({ corePlugins: [enforcement.plugin], callback: (pb) => void emitter.input(pb.build()) });
    core.setUserId('user-1');
    core.setTrackerVersion('t');
    core.setPlatform('web');
    collectorRef.current.failWith(503);
    core.track(buildSelfDescribingEvent({ event: { schema: 'iglu:com.acme/a/jsonschema/1-0-0', data: { n: 1 } } }));
    await emitter.flush();
    level = 'none'; // nobody announces it: only the fetch guard can notice
    collectorRef.current.failWith(undefined);
    await emitter.flush();
    const events = await collectorRef.current.waitForEvents(1);
    expect(events[0]?.payload.uid).toBeUndefined();
    expect(events[0]?.anonymous).toBe(true);
    expect(findLeaks(events, 'none')).toEqual([]);
  });

  it('no retroactive upgrade: events tracked at none stay anonymous when sent after a grant', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'none' });
    collectorRef.current.failWith(503);
    t.trackStruct('anonymous');
    await t.flush();
    await t.setLevel('full');
    collectorRef.current.failWith(undefined);
    t.trackStruct('identified');
    await t.drain();
    const events = await collectorRef.current.waitForEvents(2);
    expect(findLeaks([events[0] as CollectedEvent], 'none')).toEqual([]);
    expect(events[1]?.payload.uid).toBe('user-1');
    expect(events[1]?.anonymous).toBe(false);
  });

  it('a withdrawal to off drops what is queued, and counts it', async () => {
    const drops: DroppedEvent[] = [];
    const t = createTestTracker(collectorRef.current.url, { initial: 'full', onDrop: (d) => drops.push(d) });
    collectorRef.current.failWith(503);
    t.trackStruct('queued-1');
    t.trackStruct('queued-2');
    await t.flush();
    await t.setLevel('off');
    expect(await t.enforcement.eventStore.count()).toBe(0);
    collectorRef.current.failWith(undefined);
    await t.setLevel('full');
    t.trackStruct('later');
    await t.drain();
    const events = await collectorRef.current.waitForEvents(1);
    expect(events.map((e) => e.payload.se_ac)).toEqual(['later']);
    expect(t.enforcement.stats().dropped.off).toBe(2);
    expect(drops.filter((d) => d.reason === 'off').map((d) => d.where)).toEqual(['eventStore', 'eventStore']);
  });

  it('a session-only period gets a new anonymous session each time it is entered', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'session-only' });
    t.trackStruct('first-period');
    await t.drain();
    await t.setLevel('full');
    t.trackStruct('identified');
    await t.drain();
    await t.setLevel('session-only');
    t.trackStruct('second-period');
    const events = await collectorRef.current.waitForEvents(3);
    const [a, b, c] = events.map((e) => entityOf(e, SESSION_SCHEMA));
    expect(b?.sessionId).toBe('real-session-1');
    expect(a?.sessionId).not.toBe(c?.sessionId);
    expect(c?.sessionId).not.toBe('real-session-1');
    expect(findLeaks(events, (e) => (e.payload.se_ac === 'identified' ? 'full' : 'session-only'))).toEqual([]);
  });

  it('delivers every event exactly once', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'full', bufferSize: 3 });
    for (let i = 0; i < 10; i++) t.trackStruct(`e${i}`);
    await t.setLevel('session-only');
    for (let i = 10; i < 20; i++) t.trackStruct(`e${i}`);
    await t.drain();
    const events = await collectorRef.current.waitForEvents(20);
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(20);
    expect(events.map((e) => e.payload.se_ac).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`).sort());
  });
});

describe('a restart with a persisted queue', () => {
  it('after a withdrawal that was applied, nothing leaves with identifiers', async () => {
    const storage = memoryStorage();
    const before = createTestTracker(collectorRef.current.url, { initial: 'full', storage });
    collectorRef.current.failWith(503);
    for (const action of ['q1', 'q2', 'q3']) before.trackStruct(action);
    await before.flush();
    await before.enforcement.eventStore.persisted();
    expect(storedQueue(storage.entries)).toContain('user-1');
    await before.setLevel('none');
    expect(storedQueue(storage.entries)).not.toContain('user-1');
    await before.enforcement.stop();

    collectorRef.current.failWith(undefined);
    const after = createTestTracker(collectorRef.current.url, { initial: 'none', storage });
    await after.enforcement.ready;
    expect(await after.enforcement.eventStore.count()).toBe(3);
    after.trackStruct('after-restart');
    await after.drain();
    const events = await collectorRef.current.waitForEvents(4);
    expect(events.map((e) => e.payload.se_ac)).toEqual(['q1', 'q2', 'q3', 'after-restart']);
    expect(findLeaks(events, 'none')).toEqual([]);
  });

  it('after a withdrawal the app did not live to apply, the queue is anonymised on the way out', async () => {
    const storage = memoryStorage();
    const before = createTestTracker(collectorRef.current.url, { initial: 'full', storage });
    collectorRef.current.failWith(503);
    before.trackStruct('q1');
    await before.flush();
    await before.enforcement.eventStore.persisted();
    // The app dies: its hold on the stored queue lapses unrenewed, and the next start takes it over.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 31_000);

    collectorRef.current.failWith(undefined);
    const after = createTestTracker(collectorRef.current.url, { initial: 'none', storage });
    await after.enforcement.levelChanged();
    vi.useRealTimers();
    expect(storedQueue(storage.entries)).not.toContain('user-1');
    after.trackStruct('after-restart');
    await after.drain();
    const events = await collectorRef.current.waitForEvents(2);
    expect(findLeaks(events, 'none')).toEqual([]);
  });

  it('an unreadable stored queue counts as empty and is reported', async () => {
    const errors: ConsentError[] = [];
    for (const stored of ['{not json', JSON.stringify({ version: 9, events: [] }), JSON.stringify({ version: 1, events: [{ payload: { e: 'se', eid: 'x', co: '{' }, svrAnon: false, level: 'full' }, { level: 'root' }] })]) {
      const t = createTestTracker(collectorRef.current.url, { initial: 'full', storage: memoryStorage({ 'consent-tracker.queue': stored }), onError: (e) => errors.push(e) });
      await t.enforcement.ready;
      expect(await t.enforcement.eventStore.count()).toBe(0);
      expect(t.enforcement.stats().dropped['unreadable-stored']).toBeGreaterThan(0);
    }
    expect(errors.map((e) => e.code)).toEqual(['STORED_DATA_UNREADABLE', 'STORED_DATA_UNREADABLE']);
  });

  it('storage that throws or never answers is reported and tracking goes on in memory', async () => {
    const errors: ConsentError[] = [];
    const broken = { getItem: () => Promise.reject(new Error('disk full')), setItem: () => Promise.reject(new Error('disk full')) };
    const hanging = { getItem: () => new Promise<string>(() => {}), setItem: () => new Promise<void>(() => {}) };
    for (const storage of [broken, hanging]) {
      const t = createTestTracker(collectorRef.current.url, { initial: 'none', storage, storageTimeoutMs: 50, onError: (e) => errors.push(e) });
      await t.enforcement.ready;
      t.trackStruct('still-works');
      await t.drain();
    }
    const events = await collectorRef.current.waitForEvents(2);
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(errors.map((e) => e.code)).toEqual(expect.arrayContaining(['STORAGE_FAILED']));
  });
});

describe('bounded and fail-closed', () => {
  it('the queue holds at most maxQueueSize events; the oldest are dropped and counted', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'full', maxQueueSize: 3 });
    collectorRef.current.failWith(503);
    for (let i = 1; i <= 5; i++) t.trackStruct(`e${i}`);
    await t.flush();
    expect(await t.enforcement.eventStore.count()).toBe(3);
    expect(t.enforcement.stats().dropped.overflow).toBe(2);
    collectorRef.current.failWith(undefined);
    await t.drain();
    const events = await collectorRef.current.waitForEvents(3);
    expect(events.map((e) => e.payload.se_ac)).toEqual(['e3', 'e4', 'e5']);
  });

  it('a level function that throws or lies counts as off, and is reported', async () => {
    const errors: ConsentError[] = [];
    for (const level of [() => { throw new Error('boom'); }, () => 'everything' as ConsentLevel]) {
      const enforcement = createEnforcement({ level, onError: (e) => errors.push(e) });
      const emitter = newEmitter({ endpoint: collectorRef.current.url, eventStore: enforcement.eventStore, customFetch: enforcement.customFetch });
      const core = trackerCore({ corePlugins: [enforcement.plugin], callback: (pb) => void emitter.input(pb.build()) });
      core.setUserId('user-1');
      core.track(buildSelfDescribingEvent({ event: { schema: 'iglu:com.acme/a/jsonschema/1-0-0', data: {} } }));
      await emitter.flush();
      expect(enforcement.stats().dropped.off).toBe(1);
    }
    expect(collectorRef.current.requests()).toEqual([]);
    expect(errors.every((e) => e.code === 'INVALID_LEVEL')).toBe(true);
  });

  it('an event the plugin cannot read is dropped at track time and counted', async () => {
    const enforcement = createEnforcement({ level: () => 'full' });
    const emitter = newEmitter({ endpoint: collectorRef.current.url, eventStore: enforcement.eventStore, customFetch: enforcement.customFetch });
    const core = trackerCore({
      corePlugins: [
        { beforeTrack: (pb) => pb.add('co', '{"schema": broken') },
        sessionPlugin({ userId: 'u', sessionId: 's', previousSessionId: null, eventIndex: 0 }),
        mobileContextPlugin(),
        enforcement.plugin,
      ],
      base64: false,
      callback: (pb) => void emitter.input(pb.build()),
    });
    core.track(buildSelfDescribingEvent({ event: { schema: 'iglu:com.acme/a/jsonschema/1-0-0', data: {} } }));
    await emitter.flush();
    expect(enforcement.stats().dropped.malformed).toBe(1);
    expect(collectorRef.current.requests()).toEqual([]);
  });
});
