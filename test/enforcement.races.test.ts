import { buildStructEvent } from '@snowplow/tracker-core';
import { describe, expect, it } from 'vitest';
import { NULL_UUID, createEnforcement, type ConsentError, type ConsentLevel, type KeyValueStorage } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { SESSION_SCHEMA, createTestTracker } from './helpers/tracker.js';
import { deferred } from './helpers/deferred.js';
import { useCollector } from './helpers/use-collector.js';

const collectorRef = useCollector();

const PAYLOAD_DATA = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4';

describe('races and slow storage (found in review)', () => {
  it('a request built before a downgrade to session-only loses the real sid, vid and session', async () => {
    let level: ConsentLevel = 'full';
    const enforcement = createEnforcement({ level: () => level });
    const payload = { e: 'pv', eid: 'in-flight', tv: 't', p: 'web', sid: 'real-browser-session', vid: '7', uid: 'user-1' };
    await enforcement.eventStore.add({ payload, svrAnon: false });
    // The emitter has taken the payload for its next request...
    const handedOut = await enforcement.eventStore.iterator().next();
    // ...when consent drops.
    level = 'session-only';
    await enforcement.levelChanged();
    await enforcement.customFetch(
      new Request(`${collectorRef.current.url}/com.snowplowanalytics.snowplow/tp2`, { method: 'POST', body: JSON.stringify({ schema: PAYLOAD_DATA, data: [handedOut.value?.payload] }) }),
    );
    const events = await collectorRef.current.waitForEvents(1);
    expect(events[0]?.payload).not.toHaveProperty('sid');
    expect(events[0]?.payload).not.toHaveProperty('vid');
    expect(findLeaks(events, 'session-only')).toEqual([]);
  });

  it('a level made stricter with an anonymous session gets one, not the real session', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'full', policy: { overrides: { full: { session: 'anonymous' } } } });
    t.trackStruct('a');
    const events = await collectorRef.current.waitForEvents(1);
    const session = events[0]?.contexts.find((c) => c.schema === SESSION_SCHEMA)?.data;
    expect(session).toMatchObject({ userId: NULL_UUID, previousSessionId: null });
    expect(session?.sessionId).not.toBe('real-session-1');
    expect(events[0]?.payload.uid).toBe('user-1');
  });

  it('an out-of-range timestamp at session-only does not throw into the app', async () => {
    const t = createTestTracker(collectorRef.current.url, { initial: 'session-only' });
    expect(() => t.core.track(buildStructEvent({ category: 'c', action: 'future' }), undefined, { type: 'ttm', value: 1e17 })).not.toThrow();
    const events = await collectorRef.current.waitForEvents(1);
    expect(events[0]?.contexts.find((c) => c.schema === SESSION_SCHEMA)?.data).toMatchObject({ userId: NULL_UUID, firstEventTimestamp: null });
  });

  it('a slow write never lands after a newer one: identifiers do not come back after a withdrawal', async () => {
    const entries = new Map<string, string>();
    const slow = deferred();
    let slowNext = true;
    const storage: KeyValueStorage = {
      getItem: async (key) => entries.get(key) ?? null,
      setItem: (key, value) => {
        if (key !== 'consent-tracker.queue') return void entries.set(key, value);
        const wait = slowNext ? slow.promise : Promise.resolve();
        slowNext = false;
        return wait.then(() => void entries.set(key, value));
      },
    };
    const errors: ConsentError[] = [];
    const t = createTestTracker(collectorRef.current.url, { initial: 'full', storage, storageTimeoutMs: 20, onError: (e) => errors.push(e) });
    await t.enforcement.ready;
    collectorRef.current.failWith(503);
    t.trackStruct('queued');
    await t.flush();
    await t.setLevel('none');
    // The first write, at full, lands only now, long after it timed out: the newer one follows it.
    slow.resolve();
    await expect
      .poll(async () => {
        await t.enforcement.eventStore.persisted();
        return entries.get('consent-tracker.queue') ?? '';
      })
      .not.toContain('user-1');
    expect(errors.map((e) => e.code)).toContain('STORAGE_FAILED');
    collectorRef.current.failWith(undefined);
  });

  it('persisted() settles after stop(), even with a write in progress', async () => {
    const storage: KeyValueStorage = { getItem: async () => null, setItem: () => new Promise<void>((resolve) => setTimeout(resolve, 30)) };
    const enforcement = createEnforcement({ level: () => 'none', storage, storageTimeoutMs: 1000 });
    await enforcement.ready;
    await enforcement.eventStore.add({ payload: { e: 'pv', eid: 'a', tv: 't', p: 'web' }, svrAnon: true });
    await enforcement.eventStore.add({ payload: { e: 'pv', eid: 'b', tv: 't', p: 'web' }, svrAnon: true });
    enforcement.stop();
    await expect(enforcement.eventStore.persisted()).resolves.toBeUndefined();
  });

  it('a stored queue that cannot be read is left as it is, not overwritten', async () => {
    const stored = JSON.stringify({ version: 1, events: [{ payload: { e: 'pv', eid: 'old', tv: 't', p: 'web' }, svrAnon: true, level: 'none' }] });
    const entries = new Map([['consent-tracker.queue', stored]]);
    const storage: KeyValueStorage = { getItem: () => new Promise<string>(() => {}), setItem: async (key, value) => void entries.set(key, value) };
    const enforcement = createEnforcement({ level: () => 'none', storage, storageTimeoutMs: 20 });
    await enforcement.ready;
    await enforcement.eventStore.add({ payload: { e: 'pv', eid: 'new', tv: 't', p: 'web' }, svrAnon: true });
    await enforcement.eventStore.persisted();
    expect(entries.get('consent-tracker.queue')).toBe(stored);
  });
});
