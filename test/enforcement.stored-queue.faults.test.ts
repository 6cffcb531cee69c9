import { describe, expect, it, vi } from 'vitest';
import { memoryStorage, type ConsentError, type ConsentLevel, type KeyValueStorage } from 'consent-tracker';
import { createTestTracker, type TestTracker } from './helpers/tracker.js';
import { faultyStorage, type StorageCall } from './helpers/faulty-storage.js';
import { killSwitch } from './helpers/kill-switch.js';
import { manifestOf, storedActions, storedQueue } from './helpers/stored-queue.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();
const QUEUE = 'consent-tracker.queue';

const segmentKeys = (entries: ReadonlyMap<string, string>, slot = QUEUE) => [...entries.keys()].filter((key) => key.startsWith(`${slot}.events.`));
/** Segment keys on the device that no manifest lists: nothing would ever remove them. */
const unlisted = (entries: ReadonlyMap<string, string>, slot = QUEUE) => {
  const manifest = manifestOf(entries, slot);
  const listed = [...(manifest?.segments ?? []), ...(manifest?.loose ?? [])].map((n) => `${slot}.events.${n}`);
  return segmentKeys(entries, slot).filter((key) => !listed.includes(key));
};
const droppedCount = (t: TestTracker) => Object.values(t.enforcement.stats().dropped).reduce((sum, n) => sum + n, 0);

/** The next start on `storage`, once a killed run's lease has lapsed. */
async function nextStart(storage: KeyValueStorage, options: Parameters<typeof createTestTracker>[1] = {}) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 31_000);
  const next = createTestTracker(collector.current.url, { initial: 'full', storage, ...options });
  await next.enforcement.ready;
  vi.useRealTimers();
  return next;
}

/** Instances on slots 1 to n, each with `count` events queued at full (the collector down). */
async function instancesOnSlots(storage: KeyValueStorage, n: number, count: number) {
  const instances: TestTracker[] = [];
  for (let i = 0; i < n; i++) {
    const t = createTestTracker(collector.current.url, { initial: 'full', storage });
    await t.enforcement.ready;
    instances.push(t);
  }
  collector.current.failWith(503);
  for (const [i, t] of instances.entries()) for (let j = 0; j < count; j++) t.trackStruct(`s${i + 1}-${j}`);
  for (const t of instances) await t.enforcement.eventStore.persisted();
  return instances;
}

/** A tracker (the collector down) whose first event's write of the slot's key hangs until `release()`: `more` events are tracked meanwhile. */
async function trackedDuringStalledWrite(more: number, options: Parameters<typeof createTestTracker>[1] = {}) {
  const faults = faultyStorage();
  const t = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage, ...options });
  await t.enforcement.ready;
  collector.current.failWith(503);
  const stalled = faults.stall((call) => call.op === 'setItem' && call.key === QUEUE);
  t.trackStruct('first');
  await expect.poll(() => stalled.started()).toBe(true);
  for (let i = 0; i < more; i++) t.trackStruct(`q${i}`);
  return { faults, t, release: stalled.release };
}

/** An instance at `level` that queues one event (the collector down) and is then killed, or stopped: its slot keeps the event. */
async function queuedThenGone(device: ReturnType<typeof memoryStorage>, how: 'killed' | 'stopped', level: ConsentLevel = 'session-only') {
  const process = killSwitch();
  const gone = createTestTracker(collector.current.url, { initial: level, storage: process.storage(device) });
  await gone.enforcement.ready;
  collector.current.failWith(503);
  gone.trackStruct('queued-before-withdrawal');
  await gone.enforcement.eventStore.persisted();
  if (how === 'killed') process.kill();
  else await gone.enforcement.stop();
}

/** A run on `device` at `level` that withdraws to off and consents again, with its storage calls matching `fault` failing from `faultFrom` on, then stops. */
async function withdrawsAndConsentsAgain(device: ReturnType<typeof memoryStorage>, fault?: (call: StorageCall) => boolean, { level = 'session-only', faultFrom = 'ready' }: { level?: ConsentLevel; faultFrom?: 'start' | 'ready' } = {}) {
  const faults = faultyStorage(device);
  if (fault && faultFrom === 'start') faults.fail(fault);
  const run = createTestTracker(collector.current.url, { initial: level, storage: faults.storage, onError: () => undefined });
  await run.enforcement.ready;
  if (fault && faultFrom === 'ready') faults.fail(fault);
  await run.setLevel('off');
  await run.setLevel('full');
  faults.heal();
  await run.enforcement.stop();
}

/** The start that takes the slot over drops the event queued before the withdrawal, and counts it: nothing stays on the device. */
async function expectDroppedAtTheMissedWithdrawal(device: ReturnType<typeof memoryStorage>) {
  collector.current.failWith(undefined);
  const later = await nextStart(device);
  expect(await later.enforcement.eventStore.count()).toBe(0);
  expect(later.enforcement.stats().dropped.off, 'dropped at the withdrawal it missed, and counted').toBe(1);
  await later.enforcement.eventStore.persisted();
  expect(storedActions(device.entries), 'and gone from the device').toEqual([]);
}

describe('writes that overlap', () => {
  it('a segment opened while a write is under way is listed before it is written, and removed once emptied', async () => {
    const { faults, t, release } = await trackedDuringStalledWrite(25);
    release();
    await t.enforcement.eventStore.persisted();
    expect(unlisted(faults.entries)).toEqual([]);
    // All of it sent: no segment is left behind.
    const iterator = t.enforcement.eventStore.iterator();
    let handedOut = 0;
    while (!(await iterator.next()).done) handedOut += 1;
    await t.enforcement.eventStore.removeHead(handedOut);
    await t.enforcement.eventStore.persisted();
    expect(segmentKeys(faults.entries)).toEqual([]);
  });

  it('events piling up during a slow write keep segment numbers low, within what a sweep removes', async () => {
    const { faults, t, release } = await trackedDuringStalledWrite(300, { maxQueueSize: 20 });
    release();
    await t.enforcement.eventStore.persisted();
    await t.enforcement.stop();
    faults.entries.set(QUEUE, '{broken');
    const next = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage, maxQueueSize: 20 });
    await next.enforcement.ready;
    await next.enforcement.eventStore.persisted();
    expect(segmentKeys(faults.entries)).toEqual([]);
  });

  it('a manifest write that answers after its timeout does not land over a newer one', async () => {
    const faults = faultyStorage();
    const errors: ConsentError[] = [];
    const t = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage, storageTimeoutMs: 100, onError: (e) => errors.push(e as ConsentError) });
    await t.enforcement.ready;
    collector.current.failWith(503);
    let first = true;
    const slow = faults.stall((call) => call.op === 'setItem' && call.key === QUEUE && first && !(first = false));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      t.trackStruct('a');
      await expect.poll(() => slow.started()).toBe(true);
      // Past the storage timeout: the write counts as failed, but it has not answered yet.
      await vi.advanceTimersByTimeAsync(150);
      t.trackStruct('b');
      await vi.advanceTimersByTimeAsync(150);
      // Nothing else was written to the slot's key meanwhile: the slow write lands first.
      expect(faults.calls.filter((call) => call.op === 'setItem' && call.key === QUEUE)).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
    slow.release();
    await t.enforcement.eventStore.persisted();
    expect(storedActions(faults.entries)).toEqual(['a', 'b']);
    expect(errors.map((e) => e.code)).toContain('STORAGE_FAILED');
  });
});

describe('a kill at any storage call', () => {
  it('a withdrawal that could not be recorded on a killed instance\'s slot (its lease unreadable) is recorded once storage answers: at stop at the latest', async () => {
    const device = memoryStorage();
    await queuedThenGone(device, 'killed');
    await withdrawsAndConsentsAgain(device, (call) => call.op === 'getItem' && call.key.endsWith('.lease'));
    await expectDroppedAtTheMissedWithdrawal(device);
  });

  it('a withdrawal made while a killed instance still held its slot reaches that slot: the start that takes it over lowers its events', async () => {
    const device = memoryStorage();
    await queuedThenGone(device, 'killed');
    await withdrawsAndConsentsAgain(device);
    await expectDroppedAtTheMissedWithdrawal(device);
  });

  it('an event a kill left in two segments is read once, sent once and counted once', async () => {
    /** 25 queued; 10 sent (as the emitter does), which joins segments; killed at the `step`-th storage call after. */
    const killedAt = async (step: number) => {
      const device = memoryStorage();
      const process = killSwitch();
      const t = createTestTracker(collector.current.url, { initial: 'full', storage: process.storage(device) });
      await t.enforcement.ready;
      collector.current.failWith(503);
      for (let i = 0; i < 25; i++) t.trackStruct(`q${i}`);
      await t.enforcement.eventStore.persisted();
      process.killAtStorageCall(process.storageCalls() + step);
      const iterator = t.enforcement.eventStore.iterator();
      for (let i = 0; i < 10; i++) await iterator.next();
      let settled = false;
      void t.enforcement.eventStore.removeHead(10).then(() => t.enforcement.eventStore.persisted()).then(() => (settled = true));
      await expect.poll(() => process.killed() || settled).toBe(true);
      process.kill();
      return { device, settled };
    };
    for (let step = 0; ; step += 1) {
      const { device, settled } = await killedAt(step);
      const next = await nextStart(device);
      const count = await next.enforcement.eventStore.count();
      expect(count === 15 || count === 25, `kill at +${step}: ${count} queued`).toBe(true);
      await next.setLevel('off');
      expect(droppedCount(next)).toBe(count);
      await next.enforcement.stop();
      collector.current.failWith(undefined);
      if (settled) break;
    }
  }, 60_000);

  it('a queue stored whole (the first layout) loses none of its events to a kill while it is put in segments', async () => {
    const legacy = (i: number) => ({ payload: { e: 'se', eid: `e-legacy-${i}`, se_ca: 'c', se_ac: `legacy${i}`, tv: 't', p: 'mob', dtm: '1' }, svrAnon: true, level: 'none' });
    for (let step = 0; ; step += 1) {
      const device = memoryStorage({ [QUEUE]: JSON.stringify({ version: 1, events: [legacy(0), legacy(1), legacy(2)] }) });
      const process = killSwitch();
      process.killAtStorageCall(step);
      collector.current.failWith(503);
      // A small queue: replacing the first layout sweeps every number it could have used, a storage call each.
      const t = createTestTracker(collector.current.url, { initial: 'none', storage: process.storage(device), maxQueueSize: 20 });
      let settled = false;
      void t.enforcement.ready.then(() => t.enforcement.eventStore.persisted()).then(() => (settled = true));
      await expect.poll(() => process.killed() || settled).toBe(true);
      process.kill();
      const next = await nextStart(device, { initial: 'none', maxQueueSize: 20 });
      expect(await next.enforcement.eventStore.count(), `kill at ${step}`).toBe(3);
      await next.enforcement.eventStore.persisted();
      expect(unlisted(device.entries)).toEqual([]);
      await next.enforcement.stop();
      if (settled) break;
    }
  }, 60_000);

  it('a queue moving to another slot keeps the events a stopped instance left there', async () => {
    for (let step = 0; ; step += 1) {
      const device = memoryStorage();
      const process = killSwitch();
      const a = createTestTracker(collector.current.url, { initial: 'full', storage: process.storage(device) });
      await a.enforcement.ready;
      const x = createTestTracker(collector.current.url, { initial: 'full', storage: device });
      await x.enforcement.ready;
      collector.current.failWith(503);
      for (let j = 0; j < 5; j++) x.trackStruct(`x-${j}`);
      await x.enforcement.eventStore.persisted();
      await x.enforcement.stop();
      // A was frozen past its lease: its slot is someone else's now, so its next write moves to slot 2.
      device.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + 30_000 }));
      process.killAtStorageCall(process.storageCalls() + step);
      let settled = false;
      a.trackStruct('a-after');
      void a.enforcement.eventStore.persisted().then(() => (settled = true));
      await expect.poll(() => process.killed() || settled).toBe(true);
      process.kill();
      expect(storedActions(device.entries, `${QUEUE}.2`).filter((action) => action.startsWith('x-')), `kill at +${step}`).toHaveLength(5);
      expect(unlisted(device.entries, `${QUEUE}.2`)).toEqual([]);
      if (settled) break;
    }
  }, 60_000);
});

describe('storage that fails', () => {
  it('a withdrawal reaches a stored queue this run could not read: the start that reads it lowers its events', async () => {
    const device = memoryStorage();
    await queuedThenGone(device, 'stopped', 'none');
    await withdrawsAndConsentsAgain(device, (call) => call.op === 'getItem' && call.key === QUEUE, { level: 'none', faultFrom: 'start' });
    await expectDroppedAtTheMissedWithdrawal(device);
  });

  it('a lease that cannot be read keeps the slot: an event sent meanwhile leaves its stored copy too', async () => {
    const faults = faultyStorage();
    const t = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage, onError: () => undefined });
    await t.enforcement.ready;
    collector.current.failWith(503);
    t.trackStruct('a');
    await t.enforcement.eventStore.persisted();
    expect(storedActions(faults.entries)).toEqual(['a']);
    faults.fail((call) => call.op === 'getItem' && call.key.endsWith('.lease'));
    collector.current.failWith(undefined);
    await t.flush();
    await expect.poll(() => collector.current.events().length).toBe(1);
    await t.enforcement.eventStore.persisted();
    expect(storedActions(faults.entries)).toEqual([]);
  });

  it('events whose writes failed are stored at stop once storage works again, or counted as stopped if it still fails', async () => {
    for (const healed of [true, false]) {
      const faults = faultyStorage();
      const t = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage, onError: () => undefined });
      await t.enforcement.ready;
      collector.current.failWith(503);
      faults.fail((call) => call.op === 'setItem' && call.key.startsWith(QUEUE) && !call.key.endsWith('.lease'));
      t.trackStruct('a');
      t.trackStruct('b');
      await t.enforcement.eventStore.persisted();
      if (healed) faults.heal();
      await t.enforcement.stop();
      if (healed) expect(storedActions(faults.entries)).toEqual(['a', 'b']);
      else expect(t.enforcement.stats().dropped.stopped, 'not stored, so counted').toBe(2);
    }
  });

  it('a slot that cannot be read is not written over when the queue moves: its events wait for a later start', async () => {
    const faults = faultyStorage();
    const [a, x] = await instancesOnSlots(faults.storage, 2, 5);
    await x?.enforcement.stop();
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + 30_000 }));
    let once = true;
    faults.fail((call) => call.op === 'getItem' && call.key === `${QUEUE}.2` && once && !(once = false));
    a?.trackStruct('a-after');
    await a?.enforcement.eventStore.persisted();
    expect(storedActions(faults.entries, `${QUEUE}.2`)).toEqual(['s2-0', 's2-1', 's2-2', 's2-3', 's2-4']);
  });

  it('a segment of an adopted slot that cannot be removed stays listed, and a later start removes it', async () => {
    const faults = faultyStorage();
    const [a, x1, x2] = await instancesOnSlots(faults.storage, 3, 5);
    await x1?.enforcement.stop();
    await x2?.enforcement.stop();
    faults.fail((call) => call.op === 'removeItem' && call.key === `${QUEUE}.3.events.0`);
    const c = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage });
    await c.enforcement.ready;
    await c.enforcement.eventStore.persisted();
    expect(unlisted(faults.entries, `${QUEUE}.3`)).toEqual([]);
    await c.enforcement.stop();
    await a?.enforcement.stop();
    faults.heal();
    const d = createTestTracker(collector.current.url, { initial: 'none', storage: faults.storage });
    await d.enforcement.ready;
    await d.enforcement.eventStore.persisted();
    expect(faults.entries.has(`${QUEUE}.3.events.0`)).toBe(false);
  });

  it('a stop during an adoption loses none of the adopted events: they are stored here, or left in their slot', async () => {
    const faults = faultyStorage();
    const [a, x1, x2] = await instancesOnSlots(faults.storage, 3, 5);
    await x1?.enforcement.stop();
    await x2?.enforcement.stop();
    const read = faults.stall((call) => call.op === 'getItem' && call.key === `${QUEUE}.3.events.0`);
    const c = createTestTracker(collector.current.url, { initial: 'full', storage: faults.storage });
    await expect.poll(() => read.started()).toBe(true);
    const stopping = c.enforcement.stop();
    read.release();
    await stopping;
    // The adoption ends with the slot's lease given up (or the slot removed, once its events are stored here).
    await expect.poll(() => faults.calls.some((call) => call.op === 'removeItem' && call.key === `${QUEUE}.3.lease`)).toBe(true);
    const adopted = [...storedActions(faults.entries, `${QUEUE}.2`), ...storedActions(faults.entries, `${QUEUE}.3`)].filter((action) => action.startsWith('s3-'));
    expect(adopted.sort()).toEqual(['s3-0', 's3-1', 's3-2', 's3-3', 's3-4']);
    await a?.enforcement.stop();
  });

  it('a segment that cannot be removed at a withdrawal is emptied: no identifier stays', async () => {
    const faults = faultyStorage();
    const [t] = await instancesOnSlots(faults.storage, 1, 25);
    faults.fail((call) => call.op === 'removeItem' && call.key.startsWith(`${QUEUE}.events.`));
    await t?.setLevel('off');
    await t?.enforcement.eventStore.persisted();
    expect(storedQueue(faults.entries)).not.toContain('user-1');
    expect(unlisted(faults.entries)).toEqual([]);
  });

  it('an unreadable manifest is replaced once, even with nothing queued', async () => {
    const storage = memoryStorage({ [QUEUE]: '{broken' });
    const unreadable: number[] = [];
    for (let run = 0; run < 3; run++) {
      const t = createTestTracker(collector.current.url, { initial: 'full', storage, onError: () => undefined });
      await t.enforcement.ready;
      await t.enforcement.eventStore.persisted();
      unreadable.push(t.enforcement.stats().dropped['unreadable-stored']);
      await t.enforcement.stop();
    }
    expect(unreadable).toEqual([1, 0, 0]);
  });
});
