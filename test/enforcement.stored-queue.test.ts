import { describe, expect, it, vi } from 'vitest';
import { memoryStorage, type ConsentError, type KeyValueStorage } from 'consent-tracker';
import { createTestTracker, type TestTracker } from './helpers/tracker.js';
import { faultyStorage } from './helpers/faulty-storage.js';
import { killSwitch } from './helpers/kill-switch.js';
import { storedQueue } from './helpers/stored-queue.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();
const QUEUE = 'consent-tracker.queue';
/** How many events a segment holds (the layout's constant, as documented). */
const SEGMENT = 20;

const segmentKeys = (entries: ReadonlyMap<string, string>, slot = QUEUE) => [...entries.keys()].filter((key) => key.startsWith(`${slot}.events.`)).sort();
const manifestOf = (entries: ReadonlyMap<string, string>, slot = QUEUE) => JSON.parse(entries.get(slot) ?? 'null') as { version: number; segments: number[]; loose: number[] } | null;
/** The ids of the events the stored queue holds, in order, read as the next start would. */
const storedIds = (entries: ReadonlyMap<string, string>, slot = QUEUE) =>
  (manifestOf(entries, slot)?.segments ?? []).flatMap((n) => (JSON.parse(entries.get(`${slot}.events.${n}`) ?? '[]') as Array<{ payload: { eid: string; se_ac?: string } }>).map((e) => e.payload.se_ac));

/** A tracker with the collector down, `count` events queued and stored. */
async function queued(count: number, storage: KeyValueStorage, options: Parameters<typeof createTestTracker>[1] = {}): Promise<TestTracker> {
  const t = createTestTracker(collector.current.url, { initial: 'full', storage, ...options });
  await t.enforcement.ready;
  collector.current.failWith(503);
  for (let i = 0; i < count; i++) t.trackStruct(`q${i}`);
  await t.enforcement.eventStore.persisted();
  return t;
}

describe('the stored queue is kept in segments', () => {
  it('an event writes its own segment only, whatever the queue holds', async () => {
    const written = async (alreadyQueued: number) => {
      const faults = faultyStorage();
      const t = await queued(alreadyQueued, faults.storage);
      const from = faults.calls.length;
      t.trackStruct('one-more');
      await t.enforcement.eventStore.persisted();
      const chars = faults.calls.slice(from).reduce((sum, call) => sum + (call.op === 'setItem' ? (call.value?.length ?? 0) : 0), 0);
      await t.enforcement.stop();
      return { chars, perEvent: (segmentKeys(faults.entries).map((k) => faults.entries.get(k) ?? '').join('').length / (alreadyQueued + 1)) };
    };
    const few = await written(5);
    const many = await written(300);
    // At worst a whole segment and the manifest: never the 300 events before it.
    expect(many.chars).toBeLessThanOrEqual(SEGMENT * many.perEvent + 200);
    expect(many.chars).toBeLessThan(30 * few.perEvent);
  });

  it('a restart reads every segment, in order, and sends each event once', async () => {
    const storage = memoryStorage();
    const before = await queued(2 * SEGMENT + 5, storage);
    expect(segmentKeys(storage.entries)).toHaveLength(3);
    await before.enforcement.stop();
    collector.current.failWith(undefined);
    const after = createTestTracker(collector.current.url, { initial: 'full', storage });
    await after.enforcement.ready;
    await after.drain();
    const events = await collector.current.waitForEvents(2 * SEGMENT + 5);
    expect(events.map((e) => e.payload.se_ac)).toEqual(Array.from({ length: 2 * SEGMENT + 5 }, (_, i) => `q${i}`));
    await after.enforcement.eventStore.persisted();
    expect(segmentKeys(storage.entries)).toEqual([]);
    expect(manifestOf(storage.entries)).toMatchObject({ version: 2, segments: [] });
  });

  it('a withdrawal rewrites every segment: none keeps an identifier', async () => {
    const storage = memoryStorage();
    const t = await queued(3 * SEGMENT, storage);
    expect(storedQueue(storage.entries)).toContain('user-1');
    await t.setLevel('none');
    await t.enforcement.eventStore.persisted();
    expect(segmentKeys(storage.entries)).toHaveLength(3);
    expect(storedQueue(storage.entries)).not.toContain('user-1');
    expect(storedQueue(storage.entries)).not.toContain('device-user-1');
  });

  it('an event sent while its segment is being written is not left in storage', async () => {
    const faults = faultyStorage();
    const t = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage });
    await t.enforcement.ready;
    // The manifest that lists the new segment hangs: the event is sent meanwhile.
    const manifest = faults.stall((call) => call.op === 'setItem' && call.key === QUEUE);
    t.trackStruct('sent-during-write');
    await expect.poll(() => manifest.started()).toBe(true);
    await collector.current.waitForEvents(1);
    await expect.poll(() => t.enforcement.eventStore.count()).toBe(0);
    manifest.release();
    await t.enforcement.eventStore.persisted();
    expect(storedQueue(faults.entries)).not.toContain('sent-during-write');
    expect(segmentKeys(faults.entries)).toEqual([]);
  });

  it('a kill at any storage call of a write leaves no segment key unlisted, and the next start reads each stored event once', async () => {
    /** One run: 25 events queued, 10 of them then delivered, killed as storage call `killAt` starts. */
    const run = async (killAt: number) => {
      const device = memoryStorage();
      const process = killSwitch();
      process.killAtStorageCall(killAt);
      const t = createTestTracker(collector.current.url, { initial: 'full', storage: process.storage(device), bufferSize: 10 });
      collector.current.failWith(503);
      for (let i = 0; i < SEGMENT + 5; i++) t.trackStruct(`q${i}`);
      collector.current.failWith(undefined);
      let settled = false;
      void t.flush().then(() => t.enforcement.eventStore.persisted()).then(() => (settled = true));
      // Until it is killed, or has sent and stored what it had to.
      await expect.poll(() => process.killed() || settled).toBe(true);
      return { device, process, t };
    };
    const whole = await run(Number.POSITIVE_INFINITY);
    const steps = whole.process.storageCalls();
    await whole.t.enforcement.stop();
    expect(steps).toBeGreaterThan(10);
    for (let killAt = 0; killAt <= steps; killAt += 1) {
      const { device, process } = await run(killAt);
      process.kill();
      const listed = manifestOf(device.entries);
      // Every segment key on the device is one the manifest lists, as part of the queue or to remove.
      for (const key of segmentKeys(device.entries)) expect([...(listed?.segments ?? []), ...(listed?.loose ?? [])].map((n) => `${QUEUE}.events.${n}`)).toContain(key);
      const ids = storedIds(device.entries);
      expect(new Set(ids).size).toBe(ids.length);
      // The next start, once the killed one's lease has lapsed, takes its slot and tidies what the kill left.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 31_000);
      const next = createTestTracker(collector.current.url, { initial: 'full', storage: device });
      await next.enforcement.ready;
      await next.enforcement.eventStore.persisted();
      vi.useRealTimers();
      expect(segmentKeys(device.entries)).toEqual((manifestOf(device.entries)?.segments ?? []).map((n) => `${QUEUE}.events.${n}`).sort());
      await next.enforcement.stop();
      collector.current.reset();
    }
  }, 60_000);
});

describe('a stored queue that cannot be read in part', () => {
  it('an unreadable segment is reported and counted; the other segments are sent', async () => {
    const storage = memoryStorage();
    const before = await queued(2 * SEGMENT, storage);
    await before.enforcement.stop();
    const [first] = manifestOf(storage.entries)?.segments ?? [];
    storage.entries.set(`${QUEUE}.events.${first}`, '[{not json');
    collector.current.failWith(undefined);
    const errors: ConsentError[] = [];
    const after = createTestTracker(collector.current.url, { initial: 'full', storage, onError: (e) => errors.push(e as ConsentError) });
    await after.enforcement.ready;
    await after.drain();
    const events = await collector.current.waitForEvents(SEGMENT);
    expect(events.map((e) => e.payload.se_ac)).toEqual(Array.from({ length: SEGMENT }, (_, i) => `q${SEGMENT + i}`));
    expect(errors.map((e) => e.code)).toContain('STORED_DATA_UNREADABLE');
    expect(after.enforcement.stats().dropped['unreadable-stored']).toBe(1);
    await after.enforcement.eventStore.persisted();
    expect(segmentKeys(storage.entries)).toEqual([]);
  });

  it('an unreadable manifest is reported, and every segment key it may have named is removed', async () => {
    const storage = memoryStorage();
    const before = await queued(2 * SEGMENT, storage);
    await before.enforcement.stop();
    expect(segmentKeys(storage.entries)).toHaveLength(2);
    storage.entries.set(QUEUE, '{"version":2,"segments":"broken"}');
    const errors: ConsentError[] = [];
    const after = createTestTracker(collector.current.url, { initial: 'full', storage, onError: (e) => errors.push(e as ConsentError) });
    await after.enforcement.ready;
    await after.enforcement.eventStore.persisted();
    expect(errors.map((e) => e.code)).toEqual(['STORED_DATA_UNREADABLE']);
    expect(segmentKeys(storage.entries)).toEqual([]);
    expect(await after.enforcement.eventStore.count()).toBe(0);
  });

  it('a queue stored whole (the first layout) is read, sent and stored in segments', async () => {
    const legacy = { version: 1, events: [{ payload: { e: 'se', eid: 'e-legacy', se_ca: 'c', se_ac: 'legacy', tv: 't', p: 'mob', dtm: '1' }, svrAnon: true, level: 'none' }] };
    const storage = memoryStorage({ [QUEUE]: JSON.stringify(legacy) });
    collector.current.failWith(503);
    const t = createTestTracker(collector.current.url, { initial: 'none', storage });
    await t.enforcement.ready;
    await t.enforcement.eventStore.persisted();
    expect(manifestOf(storage.entries)).toMatchObject({ version: 2, segments: [0] });
    expect(storedIds(storage.entries)).toEqual(['legacy']);
    collector.current.failWith(undefined);
    await t.drain();
    expect((await collector.current.waitForEvents(1)).map((e) => e.payload.se_ac)).toEqual(['legacy']);
  });
});
