import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createEnforcement, memoryStorage, type ConsentError, type ConsentLevel, type DroppedEvent, type EnforcementOptions, type KeyValueStorage } from 'consent-tracker';
import { createTestTracker } from './helpers/tracker.js';
import { faultyStorage } from './helpers/faulty-storage.js';
import { killSwitch } from './helpers/kill-switch.js';
import { fullPayload } from './helpers/payloads.js';
import { manifestOf, storedActions, storedIds, storedQueue } from './helpers/stored-queue.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();
const QUEUE = 'consent-tracker.queue';
const LEASE_MS = 30_000;

/** A structured event as tracker-core builds it, with no identifier. */
const plainEvent = (eid: string, action = eid) => ({ e: 'se', eid, se_ca: 'c', se_ac: action, tv: 't', p: 'mob', dtm: '1' });
/** An event carrying every identifier the policy names. */
const identifiedEvent = (eid: string) => ({ ...fullPayload(false), eid });

const leaseOf = (entries: ReadonlyMap<string, string>, slot = QUEUE) => JSON.parse(entries.get(`${slot}.lease`) ?? 'null') as { owner: string; until: number; floor?: string } | null;

/** The enforcement points alone, driven as the emitter drives its event store; every drop and error recorded. */
function enforcementWith(options: Partial<EnforcementOptions> & { initial?: ConsentLevel } = {}) {
  let level: ConsentLevel = options.initial ?? 'full';
  const drops: DroppedEvent[] = [];
  const errors: ConsentError[] = [];
  const enforcement = createEnforcement({ ...options, level: () => level, onDrop: (d) => drops.push(d), onError: (e) => errors.push(e) });
  const store = enforcement.eventStore;
  return {
    enforcement,
    store,
    drops,
    errors,
    async setLevel(next: ConsentLevel) {
      level = next;
      await enforcement.levelChanged();
    },
    /** Hands out the whole queue as the emitter's next batch: the ids handed out. */
    async handOut() {
      const iterator = store.iterator();
      const ids: string[] = [];
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) ids.push(String(next.value?.payload.eid));
      return ids;
    },
  };
}

/** An instance on a faulty storage beside another one, still running, that holds the first slot. */
async function besideAnotherInstance() {
  const faults = faultyStorage();
  const other = enforcementWith({ storage: faults.storage });
  await other.enforcement.ready;
  const t = enforcementWith({ storage: faults.storage });
  await t.enforcement.ready;
  return { faults, t };
}

/**
 * An instance killed with `actions` queued at full (the collector down), and one started after it
 * on the same device with a simulated clock; `renewAfterLapse()` moves past the killed one's lease to
 * the survivor's next renewal.
 */
async function survivorOfKilled(actions: readonly string[]) {
  const device = memoryStorage();
  const process = killSwitch();
  const killed = createTestTracker(collector.current.url, { storage: process.storage(device) });
  await killed.enforcement.ready;
  collector.current.failWith(503);
  for (const action of actions) killed.trackStruct(action);
  await killed.enforcement.eventStore.persisted();
  process.kill();
  const clock = new SimulatedClock();
  const survivor = createTestTracker(collector.current.url, { storage: device, clock });
  await survivor.enforcement.ready;
  const renewAfterLapse = () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + LEASE_MS + 1);
    clock.increment(LEASE_MS / 3);
  };
  return { device, survivor, renewAfterLapse };
}

describe('what the queue holds', () => {
  it('hands out its events in order, with their payloads and anonymisation', async () => {
    const { store } = enforcementWith({ initial: 'none' });
    await store.add({ payload: plainEvent('e1') });
    await store.add({ payload: plainEvent('e2'), svrAnon: false });
    expect(await store.count()).toBe(2);
    expect((await store.getAllPayloads()).map((p) => p.eid)).toEqual(['e1', 'e2']);
    expect((await store.getAll()).map(({ payload, svrAnon }) => [payload.eid, svrAnon])).toEqual([
      ['e1', true],
      ['e2', true],
    ]);
  });

  it('an event the tracker sends anonymously stays anonymous at full', async () => {
    const { store } = enforcementWith({ initial: 'full' });
    await store.add({ payload: plainEvent('e1'), svrAnon: true });
    await store.add({ payload: plainEvent('e2') });
    expect((await store.getAll()).map(({ svrAnon }) => svrAnon)).toEqual([true, false]);
  });

  it('knows the level each event was tracked at and the most it may still carry', async () => {
    const t = enforcementWith({ initial: 'full' });
    await t.store.add({ payload: identifiedEvent('e1') });
    expect(t.store.levelsOf('e1')).toMatchObject({ capturedAt: 'full', allowed: 'full', payload: { uid: 'user-1' } });
    await t.setLevel('none');
    const levels = t.store.levelsOf('e1');
    expect(levels).toMatchObject({ capturedAt: 'full', allowed: 'none' });
    expect(levels?.payload).not.toHaveProperty('uid');
    expect(t.store.levelsOf('never-queued')).toBeUndefined();
    expect(t.store.holds('e1')).toBe(true);
    expect(t.store.holds('never-queued')).toBe(false);
  });

  it('removeHead without an iterator removes the head of the queue', async () => {
    const { store } = enforcementWith();
    for (const id of ['e1', 'e2', 'e3']) await store.add({ payload: plainEvent(id) });
    await store.removeHead(2);
    expect((await store.getAllPayloads()).map((p) => p.eid)).toEqual(['e3']);
    await store.removeHead(5);
    expect(await store.count()).toBe(0);
  });
});

describe('a decision not in force yet', () => {
  it('a withdrawal superseded before it came into force still drops what was queued before it', async () => {
    const t = enforcementWith({ initial: 'none' });
    await t.store.add({ payload: plainEvent('e1') });
    // The user withdraws to off, then grants session-only, while the level in force is still none.
    t.enforcement.followLevel({ level: 'off', stored: false }, 'off');
    t.enforcement.followLevel({ level: 'session-only', stored: false }, 'session-only');
    await t.setLevel('session-only');
    expect(await t.handOut()).toEqual([]);
    expect(t.drops.map((d) => d.eventId)).toEqual(['e1']);
  });

  it('a grant made but not in force yet lifts nothing: an event keeps the level it was queued at', async () => {
    const t = enforcementWith({ initial: 'none' });
    await t.store.add({ payload: plainEvent('e1') });
    t.enforcement.followLevel({ level: 'full', stored: false }, 'full');
    expect(t.store.levelsOf('e1')).toMatchObject({ capturedAt: 'none', allowed: 'none' });
  });
});

describe('events dropped while the emitter sends them', () => {
  it('are counted once nobody settles them before the next batch', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    expect(await t.handOut()).toEqual(['e1']);
    await t.setLevel('off');
    expect(t.enforcement.stats().dropped.off, 'not counted while in flight').toBe(0);
    expect(t.store.holds('e1')).toBe(true);
    await t.handOut();
    expect(t.enforcement.stats().dropped.off).toBe(1);
    expect(t.store.holds('e1')).toBe(false);
  });

  it('are not counted once the collector took them, and are counted once if it did not', async () => {
    for (const outcome of ['delivered', 'failed'] as const) {
      const t = enforcementWith();
      await t.store.add({ payload: plainEvent('e1') });
      await t.handOut();
      await t.setLevel('off');
      t.store.settle('e1', outcome);
      await t.handOut();
      await t.enforcement.stop();
      expect(t.enforcement.stats().dropped.off, outcome).toBe(outcome === 'delivered' ? 0 : 1);
    }
  });

  it('a retry that carries one again does not send it, and counts it as not delivered', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.handOut();
    await t.setLevel('off');
    expect(t.store.droppedBefore('e1')).toBe(true);
    expect(t.enforcement.stats().dropped.off).toBe(1);
    expect(t.store.droppedBefore('never-dropped')).toBe(false);
    // Settled once: a late report changes nothing.
    t.store.settle('e1', 'failed');
    await t.handOut();
    expect(t.enforcement.stats().dropped.off).toBe(1);
  });

  it('one dropped after the batch started, before it was handed out, is not handed out, and counted at once', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    const iterator = t.store.iterator();
    await t.setLevel('off');
    expect((await iterator.next()).done).toBe(true);
    expect(t.enforcement.stats().dropped.off).toBe(1);
  });

  it('are counted at stop if still unsettled', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.handOut();
    await t.setLevel('off');
    await t.enforcement.stop();
    expect(t.drops.map((d) => [d.reason, d.eventId])).toEqual([['off', 'e1']]);
  });

  it('the latest 10,000 dropped ids are remembered, the older are forgotten', async () => {
    const t = enforcementWith({ maxQueueSize: 1 });
    for (let i = 0; i <= 10_001; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    expect(t.enforcement.stats().dropped.overflow).toBe(10_001);
    expect(t.store.droppedBefore('e0')).toBe(false);
    expect(t.store.droppedBefore('e1')).toBe(true);
    expect(t.store.droppedBefore('e10000')).toBe(true);
    expect(t.store.droppedBefore('e10001')).toBe(false);
  });
});

describe('events the collector refused', () => {
  it('removed by the emitter after a refusal: counted as rejected and reported', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.add({ payload: plainEvent('e2') });
    await t.handOut();
    t.store.settle('e1', 'failed', 400);
    t.store.settle('e2', 'failed', 400);
    t.store.settle('e2', 'delivered');
    await t.store.removeHead(2);
    expect(t.drops.map((d) => [d.reason, d.eventId, d.detail])).toEqual([['rejected', 'e1', 'the collector refused it with HTTP 400, which the emitter does not retry']]);
    expect(t.errors.map((e) => [e.code, e.message])).toEqual([['EVENTS_REJECTED', 'the collector refused 1 event(s) for good; they are counted as dropped (rejected)']]);
  });

  it('a refused event the queue dropped while it was out (a downgrade) is counted once, when the emitter removes it', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.handOut();
    t.store.settle('e1', 'failed', 400);
    await t.setLevel('off');
    await t.store.removeHead(1);
    expect(t.drops.map((d) => [d.reason, d.eventId])).toEqual([['off', 'e1']]);
  });

  it('a refused event the queue dropped, and counted, first is not counted again', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.handOut();
    t.store.settle('e1', 'failed', 400);
    await t.setLevel('off');
    expect(t.store.droppedBefore('e1')).toBe(true);
    await t.store.removeHead(1);
    expect(t.drops.map((d) => d.reason)).toEqual(['off']);
    expect(t.errors).toEqual([]);
  });
});

describe('a queue that is not stored', () => {
  it('what is left of it at stop is counted as stopped', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.add({ payload: plainEvent('e2') });
    await t.store.removeHead(1);
    await t.enforcement.stop();
    expect(t.drops.map((d) => [d.reason, d.eventId, d.detail])).toEqual([['stopped', 'e2', 'still queued when the consent tracker stopped, in a queue that is not stored']]);
    expect(await t.store.count()).toBe(0);
  });
});

describe('the lease on the queue slot', () => {
  afterEach(() => vi.useRealTimers());

  it('is renewed a third of it apart, and no longer once stopped', async () => {
    const storage = memoryStorage();
    const clock = new SimulatedClock();
    const t = createTestTracker(collector.current.url, { storage, clock });
    await t.enforcement.ready;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + LEASE_MS / 3);
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => leaseOf(storage.entries)?.until).toBe(Date.now() + LEASE_MS);
    vi.setSystemTime(Date.now() + LEASE_MS / 3);
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => leaseOf(storage.entries)?.until, { message: 'and again' }).toBe(Date.now() + LEASE_MS);
    await t.enforcement.stop();
    expect(leaseOf(storage.entries)).toBeNull();
    clock.increment(LEASE_MS);
    expect(leaseOf(storage.entries)).toBeNull();
  });

  it("takes over a killed instance's queue at a renewal once that one's lease has lapsed, and removes its slot", async () => {
    const { device, survivor, renewAfterLapse } = await survivorOfKilled(['k1', 'k2']);
    expect(await survivor.enforcement.eventStore.count(), 'the lease still stands').toBe(0);
    renewAfterLapse();
    await expect.poll(() => device.entries.has(QUEUE)).toBe(false);
    expect(await survivor.enforcement.eventStore.count()).toBe(2);
    expect(storedActions(device.entries, `${QUEUE}.2`)).toEqual(['k1', 'k2']);
    expect(leaseOf(device.entries)).toBeNull();
    expect([...device.entries.keys()].filter((key) => key.startsWith(`${QUEUE}.events.`))).toEqual([]);
  });

  it("a killed instance's events taken over are lowered to the lowest level followed since start", async () => {
    const { survivor, renewAfterLapse } = await survivorOfKilled(['k1']);
    await survivor.setLevel('none');
    await survivor.setLevel('full');
    renewAfterLapse();
    await expect.poll(() => survivor.enforcement.eventStore.count()).toBe(1);
    const [adopted] = await survivor.enforcement.eventStore.getAllPayloads();
    expect(survivor.enforcement.eventStore.levelsOf(String(adopted?.eid))?.allowed).toBe('none');
    expect(adopted).not.toHaveProperty('uid');
  });

  it('a slot taken over by another instance meanwhile is not renewed: the queue moves to a new slot', async () => {
    const storage = memoryStorage();
    const clock = new SimulatedClock();
    const t = createTestTracker(collector.current.url, { storage, clock });
    await t.enforcement.ready;
    collector.current.failWith(503);
    t.trackStruct('a');
    await t.enforcement.eventStore.persisted();
    const other = JSON.stringify({ owner: 'someone-else', until: Date.now() + LEASE_MS });
    storage.entries.set(`${QUEUE}.lease`, other);
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => storedActions(storage.entries, `${QUEUE}.2`)).toEqual(['a']);
    expect(storage.entries.get(`${QUEUE}.lease`)).toBe(other);
    expect(leaseOf(storage.entries, `${QUEUE}.2`)?.owner).toBeDefined();
  });
});

describe('a page that goes away', () => {
  it('hands its slot over once its queue is stored: the next start takes the queue at once, and nothing is written after', async () => {
    const storage = memoryStorage();
    const t = createTestTracker(collector.current.url, { storage });
    await t.enforcement.ready;
    collector.current.failWith(503);
    t.trackStruct('before');
    await t.enforcement.eventStore.persisted();
    t.enforcement.eventStore.handOff();
    await expect.poll(() => leaseOf(storage.entries)).toBeNull();
    t.trackStruct('after');
    await t.enforcement.eventStore.persisted();
    const next = createTestTracker(collector.current.url, { storage });
    await next.enforcement.ready;
    expect((await next.enforcement.eventStore.getAllPayloads()).map((p) => p.se_ac)).toEqual(['before']);
    const taken = storage.entries.get(`${QUEUE}.lease`);
    await t.enforcement.stop();
    expect(storage.entries.get(`${QUEUE}.lease`), 'its stop leaves the slot to the next one').toBe(taken);
  });

  it('keeps its slot while a write is under way or due', async () => {
    const faults = faultyStorage();
    const t = createTestTracker(collector.current.url, { storage: faults.storage });
    await t.enforcement.ready;
    collector.current.failWith(503);
    const write = faults.stall((call) => call.op === 'setItem' && call.key === QUEUE);
    t.trackStruct('a');
    await expect.poll(() => write.started()).toBe(true);
    t.enforcement.eventStore.handOff();
    t.trackStruct('b');
    t.enforcement.eventStore.handOff();
    write.release();
    await t.enforcement.eventStore.persisted();
    expect(leaseOf(faults.entries)).not.toBeNull();
    expect(storedIds(faults.entries)).toHaveLength(2);
  });

  it('shown again, stores its queue again, in its slot if still free', async () => {
    const storage = memoryStorage();
    const t = createTestTracker(collector.current.url, { storage });
    await t.enforcement.ready;
    collector.current.failWith(503);
    t.enforcement.eventStore.handOff();
    await expect.poll(() => leaseOf(storage.entries)).toBeNull();
    t.trackStruct('hidden');
    t.enforcement.eventStore.resume();
    await t.enforcement.eventStore.persisted();
    expect(leaseOf(storage.entries)).not.toBeNull();
    expect(storedIds(storage.entries)).toHaveLength(1);
    t.enforcement.eventStore.resume();
    t.trackStruct('shown');
    await t.enforcement.eventStore.persisted();
    expect(storedIds(storage.entries)).toHaveLength(2);
  });
});

const QUOTA = 'Error: QuotaExceededError: the quota has been exceeded';
const reported = (errors: readonly ConsentError[]) => errors.map((e) => `${e.code}: ${e.message}`);

describe('what a storage that fails is reported as', () => {
  it('no queue slot to lease: the queue lives in memory, and what is left of it at stop is counted', async () => {
    const faults = faultyStorage();
    faults.fail((call) => call.key.endsWith('.lease'));
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('e1') });
    await t.enforcement.stop();
    expect(reported(t.errors)).toEqual([`STORAGE_FAILED: every queue slot under '${QUEUE}' is in use or cannot be read; this queue lives in memory`]);
    expect(t.drops.map((d) => [d.reason, d.detail])).toEqual([['stopped', 'still queued when the consent tracker stopped, in a queue that is not stored']]);
    expect(faults.calls.filter((call) => call.op === 'setItem' && !call.key.endsWith('.lease'))).toEqual([]);
  });

  it('a stored queue that cannot be read: left as it is, its slot given up, the queue lives in memory', async () => {
    const faults = faultyStorage(memoryStorage({ [QUEUE]: '{"version":2,"segments":[0],"loose":[]}' }));
    faults.fail((call) => call.op === 'getItem' && call.key === QUEUE);
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(reported(t.errors)).toEqual([`STORAGE_FAILED: could not read the stored event queue; it is left as it is and this queue lives in memory: ${QUOTA}`]);
    expect(leaseOf(faults.entries)).toBeNull();
    expect(faults.entries.get(QUEUE)).toBe('{"version":2,"segments":[0],"loose":[]}');
    await t.enforcement.stop();
    expect(t.drops.map((d) => [d.reason, d.detail])).toEqual([['stopped', 'still queued when the consent tracker stopped, in a queue that is not stored']]);
  });

  it('a write that fails is reported with its cause', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    faults.fail((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(reported(t.errors)).toEqual([`STORAGE_FAILED: could not persist the event queue: ${QUOTA}`]);
  });

  it('a write still failing at stop: reported, and what it held counted as stopped', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    faults.fail((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await t.enforcement.stop();
    expect(reported(t.errors)).toContain(`STORAGE_FAILED: could not persist the event queue at stop: ${QUOTA}`);
    expect(t.drops.map((d) => [d.reason, d.eventId, d.detail])).toEqual([['stopped', 'e1', 'still queued when the consent tracker stopped, and could not be stored']]);
  });

  it('a write that does not end in time: reported, and the slot is left to its lease', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage, storageTimeoutMs: 50 });
    await t.enforcement.ready;
    const write = faults.stall((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(reported(t.errors)).toEqual(['STORAGE_FAILED: the event queue was not persisted in time: Error: the event queue write did not answer within 50 ms']);
    await t.enforcement.stop();
    expect(reported(t.errors)).toContain('STORAGE_FAILED: could not persist the event queue at stop: did not end');
    expect(leaseOf(faults.entries)).not.toBeNull();
    expect(t.drops.map((d) => d.reason)).toEqual(['stopped']);
    write.release();
  });

  it('no slot left to move the queue to once its own was taken over', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + LEASE_MS }));
    faults.fail((call) => call.op === 'getItem' && call.key.endsWith('.lease') && call.key !== `${QUEUE}.lease`);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(reported(t.errors)).toEqual([`STORAGE_FAILED: every queue slot under '${QUEUE}' is in use or cannot be written; this queue lives in memory`]);
    await t.store.add({ payload: plainEvent('e2') });
    await t.enforcement.stop();
    expect(t.drops.map((d) => [d.reason, d.eventId])).toEqual([
      ['stopped', 'e1'],
      ['stopped', 'e2'],
    ]);
  });

  it('a decision that cannot be recorded on the slots of other instances', async () => {
    const { faults, t } = await besideAnotherInstance();
    faults.fail((call) => call.op === 'setItem' && call.key === `${QUEUE}.lease`);
    await t.setLevel('none');
    expect(reported(t.errors)).toEqual([`STORAGE_FAILED: could not record the decision on the other queue slots; tried again later: ${QUOTA}`]);
  });

  it('a lower decision that cannot be recorded while a higher one is being recorded stays pending: it is recorded at stop', async () => {
    const { faults, t } = await besideAnotherInstance();
    const onOthersLease = (call: { op: string; key: string }) => call.op === 'setItem' && call.key === `${QUEUE}.lease`;
    faults.fail(onOthersLease);
    let writes = 0;
    const first = faults.stall((call) => onOthersLease(call) && writes++ === 0);
    const higher = t.setLevel('session-only');
    await expect.poll(() => first.started()).toBe(true);
    await t.setLevel('none');
    first.release();
    await higher;
    expect(leaseOf(faults.entries)?.floor).toBe('session-only');
    faults.heal();
    await t.enforcement.stop();
    expect(leaseOf(faults.entries)?.floor).toBe('none');
  });
});

/** A device whose stored queue holds these segments (0, 1, …), as an earlier run left it. */
const deviceWith = (...segments: unknown[][]) =>
  memoryStorage({ [QUEUE]: JSON.stringify({ version: 2, segments: segments.map((_, i) => i), loose: [] }), ...Object.fromEntries(segments.map((events, i) => [`${QUEUE}.events.${i}`, JSON.stringify(events)])) });

describe('a stored queue read at start', () => {
  it('events of the wrong shape are dropped and counted, one by one; the others are kept', async () => {
    const good = { payload: plainEvent('good'), svrAnon: true, level: 'none' };
    const storage = deviceWith(
      [
        null,
        { ...good, payload: plainEvent('bad-level'), level: 'most' },
        { ...good, payload: plainEvent('bad-anon'), svrAnon: 'yes' },
        { ...good, payload: undefined },
        { ...good, payload: { ...plainEvent('bad-context'), co: '{broken' } },
        good,
      ],
      [{ ...good, payload: plainEvent('last') }],
    );
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    expect((await t.store.getAllPayloads()).map((p) => p.eid)).toEqual(['good', 'last']);
    const detail = 'a stored event has the wrong shape';
    expect(t.drops.slice(0, 4).map((d) => [d.reason, d.eventId, d.detail])).toEqual([
      ['unreadable-stored', undefined, detail],
      ['unreadable-stored', 'bad-level', detail],
      ['unreadable-stored', 'bad-anon', detail],
      ['unreadable-stored', undefined, detail],
    ]);
    expect(t.drops[4]).toMatchObject({ reason: 'unreadable-stored', eventId: 'bad-context', detail: 'co is not valid JSON' });
    await t.store.add({ payload: plainEvent('new') });
    await t.store.persisted();
    expect(storedIds(storage.entries), 'what was dropped is gone from the device at the next write').toEqual(['good', 'last', 'new']);
  });

  it('each event keeps the level it was tracked at, never below the one it may carry', async () => {
    const stored = (eid: string, level: string, capturedAt?: unknown) => ({ payload: plainEvent(eid), svrAnon: true, level, capturedAt });
    const t = enforcementWith({ storage: deviceWith([stored('lowered', 'none', 'full'), stored('below', 'session-only', 'none'), stored('unknown', 'none', 'most'), stored('older', 'session-only')]) });
    await t.enforcement.ready;
    expect(['lowered', 'below', 'unknown', 'older'].map((id) => t.store.levelsOf(id)?.capturedAt)).toEqual(['full', 'session-only', 'none', 'session-only']);
    expect(t.store.levelsOf('lowered')?.allowed).toBe('none');
  });

  it('an unreadable manifest or segment is reported by name', async () => {
    const storage = deviceWith([]);
    storage.entries.set(`${QUEUE}.events.0`, '{broken');
    const first = enforcementWith({ storage });
    await first.enforcement.ready;
    await first.enforcement.stop();
    storage.entries.set(QUEUE, '{broken');
    const second = enforcementWith({ storage });
    await second.enforcement.ready;
    const segment = `a segment of the stored event queue under '${QUEUE}' is unreadable; it was discarded`;
    const manifest = `the stored event queue under '${QUEUE}' is unreadable; it was discarded`;
    expect([...reported(first.errors), ...reported(second.errors)]).toEqual([`STORED_DATA_UNREADABLE: ${segment}`, `STORED_DATA_UNREADABLE: ${manifest}`]);
    expect([...first.drops, ...second.drops].map((d) => [d.reason, d.detail])).toEqual([
      ['unreadable-stored', segment],
      ['unreadable-stored', manifest],
    ]);
  });
});

describe('an earlier queue under a stored decision this run could not read', () => {
  const earlier = () => deviceWith([{ payload: plainEvent('earlier'), svrAnon: false, level: 'full' }]);

  it('is dropped (unreadable-stored) once a decision is in force: the unread one may have been a withdrawal', async () => {
    const t = enforcementWith({ storage: earlier(), storedDecisionUnread: () => true });
    await t.enforcement.ready;
    await t.enforcement.levelChanged('full');
    expect(t.drops.map((d) => [d.reason, d.eventId])).toEqual([['unreadable-stored', 'earlier']]);
    expect(await t.handOut()).toEqual([]);
  });

  it('read only after a decision was stored over the unread one, is dropped as it arrives', async () => {
    const faults = faultyStorage(earlier());
    const read = faults.stall((call) => call.op === 'getItem' && call.key === QUEUE);
    const t = enforcementWith({ storage: faults.storage, storageTimeoutMs: 30 });
    await t.store.decidedOverUnread();
    read.release();
    await t.enforcement.ready;
    expect(t.drops.map((d) => [d.reason, d.eventId])).toEqual([['unreadable-stored', 'earlier']]);
    expect(await t.handOut()).toEqual([]);
    expect(await t.store.count(), 'nothing of it stays queued').toBe(0);
  });

  it("is dropped from storage too before a decision stored over the unread one resolves; this run's own events stay", async () => {
    const storage = earlier();
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('own') });
    await t.store.persisted();
    await t.store.decidedOverUnread();
    expect(storedIds(storage.entries)).toEqual(['own']);
    expect(dropped(t.drops)).toEqual([['unreadable-stored', 'eventStore', 'earlier', 'queued by an earlier run whose last decision could not be read: it may have been a withdrawal']]);
    expect(await t.handOut()).toEqual(['own']);
  });
});

describe('what is stored of each event', () => {
  it('its payload, anonymisation and levels, and at full the identity it carries', async () => {
    const storage = memoryStorage();
    const t = enforcementWith({ storage, initial: 'full' });
    await t.enforcement.ready;
    await t.store.add({ payload: identifiedEvent('at-full') });
    await t.setLevel('none');
    await t.store.add({ payload: plainEvent('at-none') });
    await t.store.persisted();
    const [lowered, anonymous] = JSON.parse(storage.entries.get(`${QUEUE}.events.0`) ?? '[]') as Array<Record<string, unknown>>;
    expect(lowered).toMatchObject({ svrAnon: true, level: 'none', capturedAt: 'full' });
    expect(lowered).not.toHaveProperty('identity');
    expect(anonymous).toMatchObject({ payload: plainEvent('at-none'), svrAnon: true, level: 'none', capturedAt: 'none' });
    await t.setLevel('full');
    await t.store.add({ payload: identifiedEvent('again-at-full') });
    await t.store.persisted();
    const stored = JSON.parse(storage.entries.get(`${QUEUE}.events.0`) ?? '[]') as Array<Record<string, unknown>>;
    expect(stored[2]).toMatchObject({ svrAnon: false, level: 'full', capturedAt: 'full', identity: expect.any(String) });
  });
});

describe('a downgrade', () => {
  it('nobody announced is noticed before the emitter reads the queue: what it hands out and what is stored are lowered', async () => {
    let level: ConsentLevel = 'full';
    const storage = memoryStorage();
    const enforcement = createEnforcement({ level: () => level, storage });
    await enforcement.ready;
    await enforcement.eventStore.add({ payload: identifiedEvent('e1') });
    level = 'none';
    const first = await enforcement.eventStore.iterator().next();
    expect(first.value?.payload).not.toHaveProperty('uid');
    expect(first.value?.svrAnon).toBe(true);
    await enforcement.eventStore.persisted();
    expect(storedQueue(storage.entries)).not.toContain('user-1');
    expect(enforcement.stats().resanitized).toBe(1);
    level = 'full';
    await enforcement.eventStore.add({ payload: identifiedEvent('e2') });
    expect(enforcement.eventStore.levelsOf('e1')?.allowed, 'an upgrade raises nothing').toBe('none');
    expect(enforcement.eventStore.levelsOf('e2')?.allowed).toBe('full');
  });

  it('to a level that forbids an event drops it, counted with the reason', async () => {
    const t = enforcementWith({ initial: 'full' });
    await t.store.add({ payload: identifiedEvent('e1') });
    await t.setLevel('off');
    expect(t.drops.map((d) => [d.reason, d.eventId, d.detail.startsWith('queued event: ')])).toEqual([['off', 'e1', true]]);
    expect(await t.store.count()).toBe(0);
  });
});

describe('an event queued at full before a withdrawal whose rewrite of the stored queue never landed', () => {
  it('is forgotten, and counted, once the next run puts full in force', async () => {
    const storage = memoryStorage();
    const first = enforcementWith({ storage, initial: 'full' });
    await first.enforcement.ready;
    await first.store.add({ payload: identifiedEvent('with-marker') });
    await first.store.add({ payload: identifiedEvent('without-marker') });
    await first.store.persisted();
    const segment = JSON.parse(storage.entries.get(`${QUEUE}.events.0`) ?? '[]') as Array<Record<string, unknown>>;
    expect(segment[0]).toHaveProperty('identity', 'own');
    delete segment[1]?.identity;
    segment.push({ ...segment[0], payload: { ...(segment[0]?.payload as object), eid: 'odd-marker' }, identity: 5 });
    await first.setLevel('none');
    await first.setLevel('full');
    await first.enforcement.stop();
    // As if the rewrite of the withdrawal never landed.
    storage.entries.set(QUEUE, JSON.stringify({ version: 2, segments: [0], loose: [] }));
    storage.entries.set(`${QUEUE}.events.0`, JSON.stringify(segment));
    const next = enforcementWith({ storage, initial: 'full' });
    await next.enforcement.ready;
    await next.setLevel('full');
    expect(next.drops.map((d) => [d.reason, d.eventId, d.detail])).toEqual([
      ['forgotten', 'with-marker', 'queued at full before a withdrawal: its identity was withdrawn'],
      ['forgotten', 'without-marker', 'queued at full before a withdrawal: its identity was withdrawn'],
      ['forgotten', 'odd-marker', 'queued at full before a withdrawal: its identity was withdrawn'],
    ]);
    expect(await next.store.count()).toBe(0);
    expect(storedIds(storage.entries)).toEqual([]);
  });
});

describe('more stored than the queue may hold', () => {
  it('the oldest are dropped at start, counted as overflow', async () => {
    const storage = deviceWith(['a', 'b', 'c'].map((eid) => ({ payload: plainEvent(eid), svrAnon: true, level: 'none' })));
    const t = enforcementWith({ storage, maxQueueSize: 2 });
    await t.enforcement.ready;
    expect((await t.store.getAllPayloads()).map((p) => p.eid)).toEqual(['b', 'c']);
    expect(t.drops.map((d) => [d.reason, d.eventId, d.detail])).toEqual([['overflow', 'a', 'the queue holds at most 2 events; the oldest was dropped']]);
  });
});

describe('while a decision is awaited', () => {
  /** A queue stored at full by an earlier run, read while the level function answers a stand-in. */
  async function booting(standIn: ConsentLevel) {
    let level = standIn;
    let awaiting = true;
    const storage = deviceWith([{ payload: identifiedEvent('stored'), svrAnon: false, level: 'full', capturedAt: 'full' }]);
    const enforcement = createEnforcement({ level: () => level, awaitingDecision: () => awaiting, storage });
    await enforcement.ready;
    return {
      enforcement,
      standIn(next: ConsentLevel) {
        level = next;
      },
      decide(next: ConsentLevel) {
        level = next;
        awaiting = false;
      },
    };
  }

  it('the stored queue is held at its levels, and lowered to the decision put in force', async () => {
    const { enforcement, standIn, decide } = await booting('full');
    standIn('off');
    await enforcement.eventStore.iterator().next();
    await enforcement.levelChanged();
    expect(enforcement.eventStore.levelsOf('stored')?.allowed, 'the stand-in is no decision').toBe('full');
    await enforcement.levelChanged('session-only');
    expect(enforcement.eventStore.levelsOf('stored')?.allowed).toBe('session-only');
    decide('none');
    await enforcement.levelChanged('full');
    expect(enforcement.eventStore.levelsOf('stored')?.allowed, 'no more than the level function answers').toBe('none');
  });

  it('an event tracked meanwhile is queued at the stand-in', async () => {
    const { enforcement } = await booting('none');
    await enforcement.eventStore.add({ payload: identifiedEvent('meanwhile') });
    expect(enforcement.eventStore.levelsOf('meanwhile')).toMatchObject({ capturedAt: 'none', allowed: 'none' });
    expect(enforcement.eventStore.levelsOf('stored')?.allowed).toBe('full');
  });
});

/** Instances on slots 1 to 3, the collector down, each with two events queued; those on 2 and 3 stopped. */
async function stoppedOnSlots2And3(storage: KeyValueStorage) {
  const instances = [];
  for (let i = 0; i < 3; i++) {
    const t = createTestTracker(collector.current.url, { storage });
    await t.enforcement.ready;
    instances.push(t);
  }
  collector.current.failWith(503);
  for (const [i, t] of instances.entries()) {
    t.trackStruct(`s${i + 1}-a`);
    t.trackStruct(`s${i + 1}-b`);
    await t.enforcement.eventStore.persisted();
  }
  await instances[1]?.enforcement.stop();
  await instances[2]?.enforcement.stop();
  return instances[0];
}

describe('queues of stopped instances taken over at start', () => {
  it('one that cannot be read is left as it is, for a later start', async () => {
    const faults = faultyStorage();
    await stoppedOnSlots2And3(faults.storage);
    let reads = 0;
    // The first read tells the slot holds a queue; the next, of the queue itself, fails.
    faults.fail((call) => call.op === 'getItem' && call.key === `${QUEUE}.3` && reads++ === 1);
    const t = createTestTracker(collector.current.url, { storage: faults.storage });
    await t.enforcement.ready;
    await t.enforcement.eventStore.persisted();
    expect((await t.enforcement.eventStore.getAllPayloads()).map((p) => p.se_ac)).toEqual(['s2-a', 's2-b']);
    expect(storedActions(faults.entries, `${QUEUE}.3`)).toEqual(['s3-a', 's3-b']);
    expect(leaseOf(faults.entries, `${QUEUE}.3`)).toBeNull();
    await t.enforcement.stop();
    const later = createTestTracker(collector.current.url, { storage: faults.storage });
    await later.enforcement.ready;
    expect((await later.enforcement.eventStore.getAllPayloads()).map((p) => p.se_ac)).toEqual(['s3-a', 's3-b', 's2-a', 's2-b']);
  });
});

describe('the segments of the stored queue', () => {
  /** `count` events queued and stored, the collector down: a store driven as the emitter drives it. */
  async function storedQueueOf(count: number) {
    const storage = memoryStorage();
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    for (let i = 0; i < count; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    await t.store.persisted();
    return { storage, t };
  }
  const segmentKeys = (entries: ReadonlyMap<string, string>) => [...entries.keys()].filter((key) => key.startsWith(`${QUEUE}.events.`)).sort();

  it('a segment emptied by a send is joined with its neighbour when one holds both', async () => {
    const { storage, t } = await storedQueueOf(25);
    expect(manifestOf(storage.entries)?.segments).toEqual([0, 1]);
    await t.store.removeHead(5);
    await t.store.persisted();
    expect(manifestOf(storage.entries)?.segments).toEqual([0]);
    expect(segmentKeys(storage.entries)).toEqual([`${QUEUE}.events.0`]);
    expect(storedIds(storage.entries)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i + 5}`));
  });

  it('segments that did not change are not joined, nor written again', async () => {
    const stored = (eid: string) => ({ payload: plainEvent(eid), svrAnon: true, level: 'none' });
    // A kill between two writes left `a` in two segments: the later copy is dropped, which changes the last segment.
    const faults = faultyStorage(deviceWith([stored('a')], [stored('b')], [stored('c'), stored('a')]));
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('new') });
    await t.store.persisted();
    expect(manifestOf(faults.entries)?.segments).toEqual([0, 1]);
    expect(storedIds(faults.entries)).toEqual(['a', 'b', 'c', 'new']);
    expect(faults.calls.filter((call) => call.op === 'setItem' && call.key === `${QUEUE}.events.0`)).toEqual([]);
  });

  it('events queued after each of several starts go in the last stored segment while it has room: segments do not pile up across restarts', async () => {
    const storage = memoryStorage();
    for (let start = 0; start < 5; start++) {
      const t = enforcementWith({ storage });
      await t.enforcement.ready;
      await t.store.add({ payload: plainEvent(`start${start}`) });
      await t.store.persisted();
      await t.enforcement.stop();
    }
    expect(manifestOf(storage.entries)).toEqual({ version: 2, segments: [0], loose: [] });
    expect(segmentKeys(storage.entries)).toEqual([`${QUEUE}.events.0`]);
    expect(storedIds(storage.entries)).toEqual(['start0', 'start1', 'start2', 'start3', 'start4']);
  });

  it('segments given up give their numbers back: a new one takes the lowest free', async () => {
    const { storage, t } = await storedQueueOf(45);
    await t.store.removeHead(40);
    await t.store.persisted();
    for (let i = 45; i < 61; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    await t.store.persisted();
    expect(manifestOf(storage.entries)).toEqual({ version: 2, segments: [2, 0], loose: [] });
    expect(segmentKeys(storage.entries)).toEqual([`${QUEUE}.events.0`, `${QUEUE}.events.2`]);
    expect(storedIds(storage.entries)).toEqual(Array.from({ length: 21 }, (_, i) => `e${i + 40}`));
  });
});

describe('writes of the stored queue', () => {
  it('an event queued before the stored queue is read is stored behind it', async () => {
    const faults = faultyStorage(deviceWith([{ payload: plainEvent('stored'), svrAnon: true, level: 'none' }]));
    const read = faults.stall((call) => call.op === 'getItem' && call.key === QUEUE);
    const t = enforcementWith({ storage: faults.storage });
    await t.store.add({ payload: plainEvent('early') });
    read.release();
    await t.store.persisted();
    expect(storedIds(faults.entries)).toEqual(['stored', 'early']);
  });

  it('an event queued while the last write was under way is stored at stop', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    const write = faults.stall((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await expect.poll(() => write.started()).toBe(true);
    await t.store.add({ payload: plainEvent('e2') });
    const stopping = t.enforcement.stop();
    write.release();
    await stopping;
    expect(storedIds(faults.entries)).toEqual(['e1', 'e2']);
    expect(t.drops).toEqual([]);
  });

  it('a decision at full is recorded on no other slot', async () => {
    const storage = memoryStorage();
    const other = enforcementWith({ storage });
    await other.enforcement.ready;
    const t = enforcementWith({ storage, initial: 'none' });
    await t.enforcement.ready;
    const before = storage.entries.get(`${QUEUE}.lease`);
    await t.setLevel('full');
    expect(storage.entries.get(`${QUEUE}.lease`)).toBe(before);
    await t.setLevel('session-only');
    expect(leaseOf(storage.entries)?.floor).toBe('session-only');
  });

  it('adopted events whose write fails are left in their slot, for a later start', async () => {
    const faults = faultyStorage();
    await stoppedOnSlots2And3(faults.storage);
    faults.fail((call) => call.op === 'setItem' && call.key.startsWith(`${QUEUE}.2.events.`));
    const t = createTestTracker(collector.current.url, { storage: faults.storage, onError: () => undefined });
    await t.enforcement.ready;
    await t.enforcement.eventStore.persisted();
    expect(await t.enforcement.eventStore.count()).toBe(4);
    expect(storedActions(faults.entries, `${QUEUE}.3`)).toEqual(['s3-a', 's3-b']);
    expect(leaseOf(faults.entries, `${QUEUE}.3`)).toBeNull();
  });
});

/** Every drop as `[reason, where, eventId, detail]`. */
const dropped = (drops: readonly DroppedEvent[]) => drops.map((d) => [d.reason, d.where, d.eventId, d.detail]);

/** Puts a queue in `slot` as an instance that stopped (its slot released) would have left it. */
function leaveQueueIn(entries: Map<string, string>, slot: string, events: unknown[]) {
  entries.set(slot, JSON.stringify({ version: 2, segments: [0], loose: [] }));
  entries.set(`${slot}.events.0`, JSON.stringify(events));
}

/** A structured event with no event id (`eid` absent), or with one that is not a string. */
function eventWithId(eid: unknown, action = 'no-id') {
  const rest: Record<string, unknown> = plainEvent('x', action);
  delete rest.eid;
  return (eid === undefined ? rest : { ...rest, eid }) as ReturnType<typeof plainEvent>;
}

describe('drops the queue makes are reported as its own', () => {
  it('an event a downgrade forbids, at rest: counted at once, by the event store, with the reason the sanitiser gave', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.setLevel('off');
    expect(dropped(t.drops)).toEqual([['off', 'eventStore', 'e1', "queued event: nothing is sent at 'off'"]]);
  });

  it('one dropped while in flight and never settled: counted by the event store at the next batch', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.handOut();
    await t.setLevel('off');
    await t.handOut();
    expect(dropped(t.drops)).toEqual([['off', 'eventStore', 'e1', "queued event: nothing is sent at 'off'"]]);
  });

  it('overflow, a refusal and a stop are the event store\'s too', async () => {
    const t = enforcementWith({ maxQueueSize: 2 });
    for (const id of ['e1', 'e2', 'e3']) await t.store.add({ payload: plainEvent(id) });
    await t.handOut();
    t.store.settle('e2', 'failed', 400);
    await t.store.removeHead(1);
    await t.enforcement.stop();
    expect(dropped(t.drops)).toEqual([
      ['overflow', 'eventStore', 'e1', 'the queue holds at most 2 events; the oldest was dropped'],
      ['rejected', 'eventStore', 'e2', 'the collector refused it with HTTP 400, which the emitter does not retry'],
      ['stopped', 'eventStore', 'e3', 'still queued when the consent tracker stopped, in a queue that is not stored'],
    ]);
  });

  it('an event tracked at a level that forbids it is counted by the event store', async () => {
    const t = enforcementWith({ initial: 'off' });
    expect(await t.store.add({ payload: plainEvent('e1') })).toBe(0);
    expect(dropped(t.drops)).toEqual([['off', 'eventStore', 'e1', "nothing is sent at 'off'"]]);
  });
});

describe('payloads without an event id', () => {
  it('one dropped while the emitter sends it is counted at once: nothing could settle it', async () => {
    for (const eid of [undefined, 42]) {
      const t = enforcementWith();
      await t.store.add({ payload: eventWithId(eid) });
      expect(await t.handOut()).toEqual([String(eid)]);
      await t.setLevel('off');
      expect(dropped(t.drops), String(eid)).toEqual([['off', 'eventStore', undefined, "queued event: nothing is sent at 'off'"]]);
    }
  });

  it('one dropped takes no place among the 10,000 ids remembered', async () => {
    const t = enforcementWith({ maxQueueSize: 1 });
    for (let i = 1; i <= 10_000; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    await t.store.add({ payload: eventWithId(undefined) });
    await t.store.add({ payload: plainEvent('last') });
    expect(t.enforcement.stats().dropped.overflow).toBe(10_001);
    expect(t.store.droppedBefore('e1')).toBe(true);
  });
});

describe('an event id queued twice', () => {
  it('removing the first copy leaves the second known by its id', async () => {
    const t = enforcementWith({ initial: 'full' });
    await t.store.add({ payload: plainEvent('dup', 'first') });
    await t.store.add({ payload: plainEvent('dup', 'second') });
    await t.store.removeHead(1);
    expect(t.store.holds('dup')).toBe(true);
    expect(t.store.levelsOf('dup')?.payload.se_ac).toBe('second');
  });
});

describe('a level change that lowers nothing', () => {
  it('re-sanitises nothing and touches no storage', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage, initial: 'full' });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    const before = faults.calls.length;
    await t.enforcement.levelChanged();
    expect(faults.calls.slice(before)).toEqual([]);
    await t.setLevel('none');
    expect(t.enforcement.stats().resanitized).toBe(1);
    await t.enforcement.levelChanged();
    await t.enforcement.levelChanged('full');
    expect(t.enforcement.stats().resanitized).toBe(1);
    expect(t.store.levelsOf('e1')).toMatchObject({ capturedAt: 'full', allowed: 'none' });
  });

  it('a batch handed out with no downgrade touches no storage', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    const before = faults.calls.length;
    expect(await t.handOut()).toEqual(['e1']);
    await t.store.persisted();
    expect(faults.calls.slice(before)).toEqual([]);
  });

  it('a downgrade nobody announced, noticed after the last write ended, is stored', async () => {
    let level: ConsentLevel = 'full';
    const storage = memoryStorage();
    const enforcement = createEnforcement({ level: () => level, storage });
    await enforcement.ready;
    await enforcement.eventStore.add({ payload: identifiedEvent('e1') });
    await enforcement.eventStore.persisted();
    expect(storedQueue(storage.entries)).toContain('user-1');
    level = 'none';
    enforcement.eventStore.iterator();
    await enforcement.eventStore.persisted();
    expect(storedQueue(storage.entries)).not.toContain('user-1');
  });
});

describe('queued events lowered', () => {
  it('by the policy in force, at the level they were captured at', async () => {
    const t = enforcementWith({ initial: 'full', policy: { overrides: { none: { removeFields: ['ua'] } } } });
    await t.store.add({ payload: identifiedEvent('e1') });
    expect(t.store.levelsOf('e1')?.payload).toHaveProperty('ua');
    await t.setLevel('none');
    expect(t.store.levelsOf('e1')?.payload).not.toHaveProperty('ua');
  });
});

/** A running event store at full, on a memory storage and a simulated clock. */
async function runningAtFull() {
  const storage = memoryStorage();
  const clock = new SimulatedClock();
  const t = enforcementWith({ storage, clock, initial: 'full' });
  await t.enforcement.ready;
  return { storage, clock, t };
}

/** Another instance left a queue of one event at full (`left`) in slot 2; the next renewal takes it over. */
async function takeOverLeftQueue(storage: ReturnType<typeof memoryStorage>, clock: SimulatedClock, t: Awaited<ReturnType<typeof runningAtFull>>['t']) {
  leaveQueueIn(storage.entries, `${QUEUE}.2`, [atFull('left')]);
  clock.increment(LEASE_MS / 3);
  await expect.poll(() => t.store.count()).toBe(1);
}

/** A stored event at full, as a queue of another instance holds it. */
const atFull = (eid: string) => ({ payload: identifiedEvent(eid), svrAnon: false, level: 'full', capturedAt: 'full' });

describe('queues of other instances taken over while running', () => {
  afterEach(() => vi.useRealTimers());

  it('are lowered to a downgrade followed without being announced', async () => {
    const { storage, clock, t } = await runningAtFull();
    const setLevelQuietly = (level: ConsentLevel) => void t.setLevel(level);
    setLevelQuietly('none');
    t.store.iterator();
    await t.setLevel('full');
    await takeOverLeftQueue(storage, clock, t);
    expect(t.store.levelsOf('left')?.allowed).toBe('none');
  });

  it('keep their level when nothing lower was followed since start', async () => {
    const { storage, clock, t } = await runningAtFull();
    await takeOverLeftQueue(storage, clock, t);
    expect(t.store.levelsOf('left')).toMatchObject({ capturedAt: 'full', allowed: 'full' });
  });

  it('a level followed before the own stored queue was read does not lower them', async () => {
    const faults = faultyStorage();
    leaveQueueIn(faults.entries, `${QUEUE}.2`, [atFull('left')]);
    const read = faults.stall((call) => call.op === 'getItem' && call.key === QUEUE);
    const t = enforcementWith({ storage: faults.storage, initial: 'none' });
    await t.store.add({ payload: plainEvent('early') });
    void t.setLevel('full');
    read.release();
    await t.enforcement.ready;
    expect(t.store.levelsOf('left')).toMatchObject({ capturedAt: 'full', allowed: 'full' });
  });
});

describe('the segments of a stored queue as events come and go', () => {
  const atNone = (eid: string) => ({ payload: plainEvent(eid), svrAnon: true, level: 'none' });

  it('an event queued after a start goes in the last segment read, the one segment written again: the others are neither joined nor written', async () => {
    const faults = faultyStorage(deviceWith([atNone('a')], [atNone('b')]));
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('new') });
    await t.store.persisted();
    expect(manifestOf(faults.entries)).toEqual({ version: 2, segments: [0, 1], loose: [] });
    expect(storedIds(faults.entries)).toEqual(['a', 'b', 'new']);
    expect(faults.calls.filter((call) => call.op === 'setItem' && !call.key.endsWith('.lease')).map((call) => call.key)).toEqual([`${QUEUE}.events.1`]);
  });

  it('a segment opened and emptied between two writes gives its number back at once', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    for (let i = 0; i < 20; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    await t.store.persisted();
    const write = faults.stall((call) => call.op === 'getItem' && call.key === `${QUEUE}.lease`);
    for (let i = 20; i < 40; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    await t.store.removeHead(40);
    await t.store.add({ payload: plainEvent('e40') });
    write.release();
    await t.store.persisted();
    expect(manifestOf(faults.entries)?.segments).toEqual([1]);
    expect(storedIds(faults.entries)).toEqual(['e40']);
  });

  it('a full segment that lost an event to a send keeps the others when the next event opens a new one', async () => {
    const storage = memoryStorage();
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    for (let i = 0; i < 20; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    await t.store.persisted();
    await t.store.removeHead(1);
    await t.store.add({ payload: plainEvent('e20') });
    await t.store.persisted();
    expect(storedIds(storage.entries)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i + 1}`));
  });
});

describe('the segments of a stored queue as events come and go, after a compaction', () => {
  const atNone = (eid: string) => ({ payload: plainEvent(eid), svrAnon: true, level: 'none' });

  it('two neighbours that would not fit in one are not joined', async () => {
    const storage = memoryStorage();
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    for (let i = 0; i < 25; i++) await t.store.add({ payload: plainEvent(`e${i}`) });
    await t.store.persisted();
    await t.store.removeHead(1);
    await t.store.persisted();
    expect(manifestOf(storage.entries)?.segments).toEqual([0, 1]);
    expect(JSON.parse(storage.entries.get(`${QUEUE}.events.0`) ?? '[]')).toHaveLength(19);
    expect(storedIds(storage.entries)).toEqual(Array.from({ length: 24 }, (_, i) => `e${i + 1}`));
  });

  it('segments are joined only in the write after a removal, not in later ones', async () => {
    const storage = deviceWith([atNone('a')], [atNone('b')], [atNone('c')]);
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('n1') });
    await t.store.persisted();
    await t.store.removeHead(1);
    await t.store.persisted();
    expect(manifestOf(storage.entries)?.segments).toEqual([1, 2]);
    await t.store.add({ payload: plainEvent('n2') });
    await t.store.persisted();
    expect(manifestOf(storage.entries)?.segments).toEqual([1, 2]);
    expect(storedIds(storage.entries)).toEqual(['b', 'c', 'n1', 'n2']);
  });

  it('a downgrade rewrites the segment it changed, and nothing else', async () => {
    const faults = faultyStorage(deviceWith([{ payload: identifiedEvent('e1'), svrAnon: false, level: 'full', capturedAt: 'full' }]));
    const t = enforcementWith({ storage: faults.storage, initial: 'full' });
    await t.enforcement.ready;
    await t.store.persisted();
    const before = faults.calls.length;
    await t.setLevel('none');
    expect(faults.calls.slice(before).filter((call) => call.op !== 'getItem' && call.key.startsWith(QUEUE) && !call.key.endsWith('.lease')).map((call) => call.key)).toEqual([`${QUEUE}.events.0`]);
    expect(storedQueue(faults.entries)).not.toContain('user-1');
  });
});

describe('stored events read at start, further', () => {
  it('events without an event id are each kept', async () => {
    const stored = (action: string) => ({ payload: eventWithId(undefined, action), svrAnon: true, level: 'none' });
    const t = enforcementWith({ storage: deviceWith([stored('first'), stored('second')]) });
    await t.enforcement.ready;
    expect((await t.store.getAllPayloads()).map((p) => p.se_ac)).toEqual(['first', 'second']);
  });

  it('are sanitised again by the policy in force', async () => {
    const t = enforcementWith({ storage: deviceWith([{ payload: { ...plainEvent('e1'), ua: 'Mozilla/5.0' }, svrAnon: true, level: 'none' }]), policy: { overrides: { none: { removeFields: ['ua'] } } } });
    await t.enforcement.ready;
    expect(t.store.levelsOf('e1')?.payload).not.toHaveProperty('ua');
  });

  it('a drop or an unreadable part is reported as the event store\'s', async () => {
    const storage = deviceWith([{ payload: plainEvent('bad'), svrAnon: 'yes', level: 'none' }]);
    storage.entries.set(`${QUEUE}.events.1`, '{broken');
    storage.entries.set(QUEUE, JSON.stringify({ version: 2, segments: [0, 1], loose: [] }));
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    expect(dropped(t.drops)).toEqual([
      ['unreadable-stored', 'eventStore', 'bad', 'a stored event has the wrong shape'],
      ['unreadable-stored', 'eventStore', undefined, `a segment of the stored event queue under '${QUEUE}' is unreadable; it was discarded`],
    ]);
  });

  it('an identity is kept at full only, and only as text', async () => {
    const storage = deviceWith([
      { payload: plainEvent('removed'), svrAnon: true, level: 'none' },
      { payload: plainEvent('lowered'), svrAnon: true, level: 'none', capturedAt: 'full', identity: 'own' },
    ]);
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    await t.store.removeHead(1);
    await t.store.add({ payload: plainEvent('new') });
    await t.store.persisted();
    const [lowered] = JSON.parse(storage.entries.get(`${QUEUE}.events.0`) ?? '[]') as Array<Record<string, unknown>>;
    expect(lowered).toEqual({ payload: plainEvent('lowered'), svrAnon: true, level: 'none', capturedAt: 'full' });
  });
});

describe('a queue whose slot was taken over while it ran', () => {
  it('once it lives in memory, it reports that once and reads no key outside its own', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + LEASE_MS }));
    faults.fail((call) => call.op === 'getItem' && call.key.endsWith('.lease') && call.key !== `${QUEUE}.lease`);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    await t.store.add({ payload: plainEvent('e2') });
    await t.store.persisted();
    expect(reported(t.errors)).toEqual([`STORAGE_FAILED: every queue slot under '${QUEUE}' is in use or cannot be written; this queue lives in memory`]);
    expect(faults.calls.filter((call) => !call.key.startsWith('consent-tracker.'))).toEqual([]);
  });

  it('a new slot whose queue cannot be read is given up and left as it is: the queue lives in memory', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + LEASE_MS }));
    faults.entries.set(`${QUEUE}.2`, '{"version":2,"segments":[],"loose":[]}');
    faults.fail((call) => call.op === 'getItem' && call.key === `${QUEUE}.2`);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(reported(t.errors)).toEqual([`STORAGE_FAILED: every queue slot under '${QUEUE}' is in use or cannot be written; this queue lives in memory`]);
    expect(leaseOf(faults.entries, `${QUEUE}.2`)).toBeNull();
    expect(faults.entries.get(`${QUEUE}.2`)).toBe('{"version":2,"segments":[],"loose":[]}');
    await t.enforcement.stop();
    expect(dropped(t.drops)).toEqual([['stopped', 'eventStore', 'e1', 'still queued when the consent tracker stopped, in a queue that is not stored']]);
  });
});

describe('a queue living in memory, at its next renewal', () => {
  it('takes a slot once one can be leased again, and stores its queue there', async () => {
    const faults = faultyStorage();
    const clock = new SimulatedClock();
    const t = enforcementWith({ storage: faults.storage, clock });
    await t.enforcement.ready;
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + LEASE_MS }));
    faults.fail((call) => call.op === 'getItem' && call.key.endsWith('.lease') && call.key !== `${QUEUE}.lease`);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(storedIds(faults.entries, `${QUEUE}.2`)).toEqual([]);
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => faults.calls.filter((call) => call.key === `${QUEUE}.8.lease`).length, { message: 'a renewal tried every slot again' }).toBe(2);
    expect(reported(t.errors), 'reported once').toEqual([`STORAGE_FAILED: every queue slot under '${QUEUE}' is in use or cannot be written; this queue lives in memory`]);
    expect(faults.calls.filter((call) => !call.key.startsWith('consent-tracker.')), 'no key outside its own').toEqual([]);
    faults.heal();
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => storedIds(faults.entries, `${QUEUE}.2`)).toEqual(['e1']);
    await t.store.add({ payload: plainEvent('e2') });
    await t.store.persisted();
    expect(storedIds(faults.entries, `${QUEUE}.2`)).toEqual(['e1', 'e2']);
    await t.enforcement.stop();
    expect(t.drops).toEqual([]);
  });

  it('stays in memory while storage still refuses, and tries again at the renewal after', async () => {
    const faults = faultyStorage(memoryStorage({ [QUEUE]: '{"version":2,"segments":[],"loose":[]}' }));
    const clock = new SimulatedClock();
    faults.fail((call) => call.op === 'getItem' && call.key === QUEUE);
    const t = enforcementWith({ storage: faults.storage, clock });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('e1') });
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => faults.calls.filter((call) => call.op === 'getItem' && call.key === QUEUE).length).toBe(2);
    expect(storedIds(faults.entries)).toEqual([]);
    faults.heal();
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => storedIds(faults.entries)).toEqual(['e1']);
  });

  it('stopped while it takes a slot: the slot is given up at once, as it is stored', async () => {
    const faults = faultyStorage(memoryStorage({ [QUEUE]: '{"version":2,"segments":[],"loose":[]}' }));
    const clock = new SimulatedClock();
    faults.fail((call) => call.op === 'getItem' && call.key === QUEUE);
    const t = enforcementWith({ storage: faults.storage, clock });
    await t.enforcement.ready;
    faults.heal();
    const leaseRead = faults.stall((call) => call.op === 'getItem' && call.key === `${QUEUE}.lease`);
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => leaseRead.started()).toBe(true);
    await t.enforcement.stop();
    leaseRead.release();
    const released = () => faults.calls.filter((call) => call.op === 'removeItem' && call.key === `${QUEUE}.lease`).length;
    await expect.poll(released, { message: 'released at start (unread), then once taken after stop()' }).toBe(2);
    expect(leaseOf(faults.entries)).toBeNull();
    expect(faults.entries.get(QUEUE)).toBe('{"version":2,"segments":[],"loose":[]}');
  });
});

describe('a queue moved to a slot a withdrawal reached while nobody held it', () => {
  it("lowers the events left there to the slot's floor", async () => {
    const storage = memoryStorage();
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    const gone = enforcementWith({ storage });
    await gone.enforcement.ready;
    await gone.store.add({ payload: identifiedEvent('left') });
    await gone.enforcement.stop();
    storage.entries.set(`${QUEUE}.2.lease`, JSON.stringify({ owner: '', until: 0, floor: 'none' }));
    storage.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + LEASE_MS }));
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(storedIds(storage.entries, `${QUEUE}.2`)).toEqual(['left', 'e1']);
    expect(t.store.levelsOf('left')?.allowed).toBe('none');
    expect(storedQueue(storage.entries, `${QUEUE}.2`)).not.toContain('user-1');
  });

  it('that cannot be read is left with its floor, for whoever takes it next', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage, onError: () => undefined });
    await t.enforcement.ready;
    faults.entries.set(`${QUEUE}.2`, '{"version":2,"segments":[],"loose":[]}');
    faults.entries.set(`${QUEUE}.2.lease`, JSON.stringify({ owner: '', until: 0, floor: 'none' }));
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: 'someone-else', until: Date.now() + LEASE_MS }));
    faults.fail((call) => call.op === 'getItem' && call.key === `${QUEUE}.2`);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(faults.calls.some((call) => call.op === 'getItem' && call.key === `${QUEUE}.2`), 'it tried the slot').toBe(true);
    expect(leaseOf(faults.entries, `${QUEUE}.2`)).toEqual({ owner: '', until: 0, floor: 'none' });
  });
});

describe('a slot taken with a floor', () => {
  /** A device whose stored queue holds 'left', tracked at full, in a slot whose lapsed lease carries `floor`. */
  function slotWithFloor(floor: ConsentLevel) {
    const faults = faultyStorage(deviceWith([{ payload: identifiedEvent('left'), svrAnon: false, level: 'full' }]));
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ owner: '', until: 0, floor }));
    return faults;
  }

  it('keeps the floor in its lease until its queue is stored lowered to it: a kill in between does not lose it', async () => {
    const faults = slotWithFloor('none');
    const write = faults.stall((call) => call.op === 'setItem' && call.key.startsWith(`${QUEUE}.events.`));
    const t = enforcementWith({ storage: faults.storage });
    await expect.poll(() => write.started()).toBe(true);
    expect(leaseOf(faults.entries)).toMatchObject({ owner: expect.any(String), floor: 'none' });
    expect(leaseOf(faults.entries)?.owner).not.toBe('');
    expect(t.store.levelsOf('left')?.allowed).toBe('none');
    write.release();
  });

  it('drops the floor from its lease once its queue is stored lowered to it: its own later events are not held to it', async () => {
    const faults = slotWithFloor('none');
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    await t.store.persisted();
    await expect.poll(() => leaseOf(faults.entries)?.floor).toBeUndefined();
    expect(leaseOf(faults.entries)?.owner).not.toBe('');
    expect(storedQueue(faults.entries)).not.toContain('user-1');
  });

  it('keeps a lower floor another instance recorded after it took the slot', async () => {
    const faults = slotWithFloor('session-only');
    const write = faults.stall((call) => call.op === 'setItem' && call.key.startsWith(`${QUEUE}.events.`));
    const t = enforcementWith({ storage: faults.storage });
    await expect.poll(() => write.started()).toBe(true);
    // Another instance withdraws to off meanwhile: it records the floor on this slot (lowerFloor).
    faults.entries.set(`${QUEUE}.lease`, JSON.stringify({ ...leaseOf(faults.entries), floor: 'off' }));
    write.release();
    await t.store.persisted();
    await expect.poll(() => faults.calls.filter((call) => call.op === 'setItem' && call.key === `${QUEUE}.lease`).length).toBeGreaterThan(1);
    expect(leaseOf(faults.entries)?.floor).toBe('off');
  });
});

describe('the event store stopped', () => {
  it('stores an event queued after the last write had read its segment', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    const write = faults.stall((call) => call.op === 'setItem' && call.key === `${QUEUE}.events.0`);
    await t.store.add({ payload: plainEvent('e1') });
    await expect.poll(() => write.started()).toBe(true);
    await t.store.add({ payload: plainEvent('e2') });
    const stopping = t.store.stop();
    write.release();
    await stopping;
    expect(storedIds(faults.entries)).toEqual(['e1', 'e2']);
    expect(leaseOf(faults.entries)).toBeNull();
    expect(t.drops).toEqual([]);
  });

  it('after a failed write, writes the queue once more: stored, nothing reported, and the slot released', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    faults.fail((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]?.cause).toEqual(new Error('QuotaExceededError: the quota has been exceeded'));
    faults.heal();
    await t.store.stop();
    expect(t.errors).toHaveLength(1);
    expect(t.drops).toEqual([]);
    expect(storedIds(faults.entries)).toEqual(['e1']);
    expect(leaseOf(faults.entries)).toBeNull();
  });

  it('a write at stop that does not end in time: reported with its cause, and what the queue held counted as stopped', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage, storageTimeoutMs: 50 });
    await t.enforcement.ready;
    faults.fail((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    faults.heal();
    const write = faults.stall((call) => call.op === 'setItem' && call.key.startsWith(QUEUE));
    await t.store.stop();
    expect(reported(t.errors).slice(1)).toEqual(['STORAGE_FAILED: could not persist the event queue at stop: Error: the event queue write did not answer within 50 ms']);
    expect(t.errors[1]?.cause).toEqual(new Error('the event queue write did not answer within 50 ms'));
    expect(dropped(t.drops)).toEqual([['stopped', 'eventStore', 'e1', 'still queued when the consent tracker stopped, and could not be stored']]);
    expect(await t.store.count()).toBe(0);
    expect(await t.store.getAll()).toEqual([]);
    write.release();
  });

  it('before its slot is claimed: what it queued is counted as stopped at once, as a queue that is not stored', async () => {
    const faults = faultyStorage();
    const claim = faults.stall((call) => call.key.endsWith('.lease'));
    const t = enforcementWith({ storage: faults.storage, storageTimeoutMs: 50 });
    await expect.poll(() => claim.started()).toBe(true);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.stop();
    expect(dropped(t.drops)).toEqual([['stopped', 'eventStore', 'e1', 'still queued when the consent tracker stopped, in a queue that is not stored']]);
    expect(reported(t.errors).filter((error) => error.includes('at stop'))).toEqual([]);
    claim.release();
    await t.enforcement.ready;
    expect(storedIds(faults.entries)).toEqual([]);
  });

  it('a write that fails at stop is reported with its cause', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    faults.fail((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.stop();
    expect(t.errors.at(-1)?.cause).toEqual(new Error('QuotaExceededError: the quota has been exceeded'));
    expect(await t.store.count()).toBe(0);
  });

  it('a persist that does not end in time is reported with its cause', async () => {
    const faults = faultyStorage();
    const t = enforcementWith({ storage: faults.storage, storageTimeoutMs: 50 });
    await t.enforcement.ready;
    const write = faults.stall((call) => call.op === 'setItem' && call.key === QUEUE);
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(t.errors[0]?.cause).toEqual(new Error('the event queue write did not answer within 50 ms'));
    write.release();
  });
});

describe('a queue taken over while running, as events are queued', () => {
  afterEach(() => vi.useRealTimers());

  it('events queued while it is taken in go at the end of the last segment', async () => {
    const faults = faultyStorage();
    const clock = new SimulatedClock();
    const t = enforcementWith({ storage: faults.storage, clock });
    await t.enforcement.ready;
    for (const id of ['o1', 'o2', 'o3']) await t.store.add({ payload: plainEvent(id) });
    await t.store.persisted();
    leaveQueueIn(faults.entries, `${QUEUE}.2`, [{ payload: plainEvent('a1'), svrAnon: true, level: 'none' }]);
    let leaseReads = 0;
    // The renewal reads this instance's lease first; the write of what it took in, next.
    const write = faults.stall((call) => call.op === 'getItem' && call.key === `${QUEUE}.lease` && ++leaseReads === 2);
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => write.started()).toBe(true);
    await t.store.add({ payload: plainEvent('o4') });
    write.release();
    await expect.poll(() => faults.entries.has(`${QUEUE}.2`)).toBe(false);
    await t.store.persisted();
    expect(manifestOf(faults.entries)?.segments).toEqual([1, 0]);
    expect(storedIds(faults.entries)).toEqual(['a1', 'o1', 'o2', 'o3', 'o4']);
  });
});

describe('what add answers and holds', () => {
  it('an event dropped as it is added leaves the queue as it was, and add answers its length', async () => {
    const t = enforcementWith({ initial: 'none' });
    await t.store.add({ payload: plainEvent('e1') });
    expect(await t.store.add({ payload: { ...plainEvent('bad'), co: '{broken' } })).toBe(1);
    expect(dropped(t.drops)).toEqual([['malformed', 'eventStore', 'bad', 'co is not valid JSON']]);
  });

  it('a batch after a partial removal hands out, and removes, only what is left', async () => {
    const t = enforcementWith();
    for (const id of ['e1', 'e2']) await t.store.add({ payload: plainEvent(id) });
    expect(await t.handOut()).toEqual(['e1', 'e2']);
    await t.store.removeHead(1);
    await t.store.add({ payload: plainEvent('e3') });
    expect(await t.handOut()).toEqual(['e2', 'e3']);
    await t.store.removeHead(2);
    expect(await t.store.count()).toBe(0);
  });
});

describe('storeLowered', () => {
  it('stores the queue lowered to the level enforced now', async () => {
    let level: ConsentLevel = 'full';
    const storage = memoryStorage();
    const enforcement = createEnforcement({ level: () => level, storage });
    await enforcement.ready;
    await enforcement.eventStore.add({ payload: identifiedEvent('e1') });
    await enforcement.eventStore.persisted();
    level = 'none';
    await enforcement.eventStore.storeLowered();
    expect(storedQueue(storage.entries)).not.toContain('user-1');
  });

  it('does nothing while a decision is awaited', async () => {
    const storage = deviceWith([{ payload: identifiedEvent('stored'), svrAnon: false, level: 'full', capturedAt: 'full' }]);
    const enforcement = createEnforcement({ level: () => 'off', awaitingDecision: () => true, storage });
    await enforcement.ready;
    await enforcement.eventStore.storeLowered();
    expect(enforcement.eventStore.levelsOf('stored')?.allowed).toBe('full');
    expect(storedQueue(storage.entries)).toContain('user-1');
  });
});

describe('queues of other instances taken over, further', () => {
  afterEach(() => vi.useRealTimers());

  it('are lowered to a decision announced since start, even one taken back', async () => {
    const { storage, clock, t } = await runningAtFull();
    await t.setLevel('session-only');
    await t.setLevel('full');
    await takeOverLeftQueue(storage, clock, t);
    expect(t.store.levelsOf('left')?.allowed).toBe('session-only');
  });

  it('while a decision is awaited, are held at their levels', async () => {
    const storage = memoryStorage();
    leaveQueueIn(storage.entries, `${QUEUE}.2`, [atFull('left')]);
    const enforcement = createEnforcement({ level: () => 'none', awaitingDecision: () => true, storage });
    await enforcement.ready;
    expect(enforcement.eventStore.levelsOf('left')?.allowed).toBe('full');
  });

  it('at off, are dropped and counted, and their slot removed', async () => {
    const storage = memoryStorage();
    leaveQueueIn(storage.entries, `${QUEUE}.2`, [atFull('left')]);
    const t = enforcementWith({ storage, initial: 'off' });
    await t.enforcement.ready;
    expect(await t.store.count()).toBe(0);
    expect(dropped(t.drops)).toEqual([['off', 'eventStore', 'left', "queued event: nothing is sent at 'off'"]]);
    expect(storage.entries.has(`${QUEUE}.2`)).toBe(false);
  });

  it('a segment of theirs that cannot be removed stays listed, as loose, and the slot is released', async () => {
    const faults = faultyStorage();
    leaveQueueIn(faults.entries, `${QUEUE}.2`, [atFull('left')]);
    faults.fail((call) => call.op === 'removeItem' && call.key === `${QUEUE}.2.events.0`);
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    expect(await t.store.count()).toBe(1);
    expect(manifestOf(faults.entries, `${QUEUE}.2`)).toEqual({ version: 2, segments: [], loose: [0] });
    expect(leaseOf(faults.entries, `${QUEUE}.2`)).toBeNull();
    expect(storedIds(faults.entries)).toEqual(['left']);
  });

  it('one taken in as the event store stops is left in its slot, for a later start', async () => {
    const faults = faultyStorage();
    leaveQueueIn(faults.entries, `${QUEUE}.2`, [atFull('left')]);
    const write = faults.stall((call) => call.op === 'setItem' && call.key === `${QUEUE}.events.0`);
    const t = enforcementWith({ storage: faults.storage });
    await expect.poll(() => write.started()).toBe(true);
    const stopping = t.store.stop();
    write.release();
    await stopping;
    await t.enforcement.ready;
    expect(storedIds(faults.entries, `${QUEUE}.2`)).toEqual(['left']);
    expect(leaseOf(faults.entries, `${QUEUE}.2`)).toBeNull();
  });

  it('a queue that lives in memory takes over none', async () => {
    const faults = faultyStorage(memoryStorage({ [QUEUE]: '{"version":2,"segments":[0],"loose":[]}' }));
    leaveQueueIn(faults.entries, `${QUEUE}.3`, [atFull('left')]);
    faults.fail((call) => call.op === 'getItem' && call.key === QUEUE);
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    expect(await t.store.count()).toBe(0);
    expect(storedIds(faults.entries, `${QUEUE}.3`)).toEqual(['left']);
    expect(leaseOf(faults.entries, `${QUEUE}.3`)).toBeNull();
  });
});

describe('what an earlier run left is tidied at start', () => {
  it('loose segment keys are removed', async () => {
    const storage = deviceWith([{ payload: plainEvent('a'), svrAnon: true, level: 'none' }]);
    storage.entries.set(QUEUE, JSON.stringify({ version: 2, segments: [0], loose: [3] }));
    storage.entries.set(`${QUEUE}.events.3`, '[]');
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    await t.store.persisted();
    expect(storage.entries.has(`${QUEUE}.events.3`)).toBe(false);
    expect(manifestOf(storage.entries)?.segments).toEqual([0]);
  });

  it('an unreadable manifest is replaced', async () => {
    const storage = memoryStorage({ [QUEUE]: '{broken' });
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    await t.store.persisted();
    expect(manifestOf(storage.entries)?.segments).toEqual([]);
  });

  it('a queue stored whole by an earlier version is put in segments', async () => {
    const storage = memoryStorage({ [QUEUE]: JSON.stringify({ version: 1, events: [{ payload: plainEvent('old'), svrAnon: true, level: 'none' }] }) });
    const t = enforcementWith({ storage });
    await t.enforcement.ready;
    await t.store.persisted();
    expect(manifestOf(storage.entries)?.version).toBe(2);
    expect(storedIds(storage.entries)).toEqual(['old']);
  });
});

/**
 * Two instances on one storage; the second withdraws to none while the first's lease cannot be
 * written (its floor stays pending), then storage heals.
 */
async function withdrawalNotRecorded() {
  const { faults, t } = await besideAnotherInstance();
  faults.fail((call) => call.op === 'setItem' && call.key === `${QUEUE}.lease`);
  await t.setLevel('none');
  faults.heal();
  return { faults, t };
}

describe('a decision that could not be recorded on the other slots', () => {
  afterEach(() => vi.useRealTimers());

  it('is recorded at stop, with any lower one still pending', async () => {
    const { faults, t } = await withdrawalNotRecorded();
    await t.store.stop();
    expect(leaseOf(faults.entries)?.floor).toBe('none');
  });

  it('a later, higher one records the lowest still pending', async () => {
    const { faults, t } = await withdrawalNotRecorded();
    await t.setLevel('session-only');
    expect(leaseOf(faults.entries)?.floor).toBe('none');
  });

  it('over a decision this run could not read: earlier runs stay unheld until off is recorded on their slots', async () => {
    const faults = faultyStorage();
    const other = enforcementWith({ storage: faults.storage });
    await other.enforcement.ready;
    const t = enforcementWith({ storage: faults.storage, storedDecisionUnread: () => true });
    await t.enforcement.ready;
    expect(t.store.earlierRunsUnheld(), 'nothing decided over the unread decision yet').toBe(false);
    faults.fail((call) => call.op === 'setItem' && call.key === `${QUEUE}.lease`);
    await t.store.decidedOverUnread();
    expect(t.store.earlierRunsUnheld()).toBe(true);
    faults.heal();
    await t.store.decidedOverUnread();
    expect(t.store.earlierRunsUnheld()).toBe(false);
    expect(leaseOf(faults.entries)?.floor).toBe('off');
  });

  it('a withdrawal not recorded there holds back no decision: nothing was decided over an unread one', async () => {
    const { t } = await withdrawalNotRecorded();
    expect(t.store.earlierRunsUnheld()).toBe(false);
  });

  it('is recorded at the next renewal', async () => {
    const faults = faultyStorage();
    const other = enforcementWith({ storage: faults.storage });
    await other.enforcement.ready;
    const clock = new SimulatedClock();
    const t = enforcementWith({ storage: faults.storage, clock });
    await t.enforcement.ready;
    faults.fail((call) => call.op === 'setItem' && call.key === `${QUEUE}.lease`);
    await t.setLevel('none');
    faults.heal();
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => leaseOf(faults.entries)?.floor).toBe('none');
  });
});

describe('a page shown again', () => {
  afterEach(() => vi.useRealTimers());

  it('renews its lease again', async () => {
    const storage = memoryStorage();
    const clock = new SimulatedClock();
    const t = enforcementWith({ storage, clock });
    await t.enforcement.ready;
    t.store.handOff();
    await expect.poll(() => leaseOf(storage.entries)).toBeNull();
    t.store.resume();
    await t.store.persisted();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + LEASE_MS / 3);
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => leaseOf(storage.entries)?.until).toBe(Date.now() + LEASE_MS);
  });

  it('kept whole while hidden (never handed over): renews its lease once a period, as before, and writes nothing more', async () => {
    const faults = faultyStorage();
    const clock = new SimulatedClock();
    const t = enforcementWith({ storage: faults.storage, clock });
    await t.enforcement.ready;
    const writes = () => faults.calls.filter((call) => call.op === 'setItem').map((call) => call.key);
    const before = writes().length;
    t.store.resume();
    for (let period = 1; period <= 2; period++) {
      clock.increment(LEASE_MS / 3);
      await expect.poll(() => writes().slice(before)).toEqual(Array.from({ length: period }, () => `${QUEUE}.lease`));
    }
  });
});

describe('an event as it is queued, further', () => {
  it('is sanitised by the policy in force', async () => {
    const t = enforcementWith({ initial: 'none', policy: { overrides: { none: { removeFields: ['ua'] } } } });
    await t.store.add({ payload: { ...plainEvent('e1'), ua: 'Mozilla/5.0' } });
    expect(t.store.levelsOf('e1')?.payload).not.toHaveProperty('ua');
  });

  it('below full, is stored with no identity', async () => {
    const storage = memoryStorage();
    const t = enforcementWith({ storage, initial: 'none' });
    await t.enforcement.ready;
    await t.store.add({ payload: plainEvent('e1') });
    await t.store.persisted();
    expect(JSON.parse(storage.entries.get(`${QUEUE}.events.0`) ?? '[]')).toEqual([{ payload: plainEvent('e1'), svrAnon: true, level: 'none', capturedAt: 'none' }]);
  });

  it('tracked under a cap, keeps the capped level it was captured at', async () => {
    const t = createTestTracker(collector.current.url, {});
    await t.enforcement.ready;
    collector.current.failWith(503);
    t.enforcement.trackAtMost('none', () => t.trackStruct('capped'));
    const [payload] = await t.enforcement.eventStore.getAllPayloads();
    expect(t.enforcement.eventStore.levelsOf(String(payload?.eid))).toMatchObject({ capturedAt: 'none', allowed: 'none' });
  });
});

describe('a batch and its settling, further', () => {
  it('hands out only what was queued when it started', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    const iterator = t.store.iterator();
    await t.store.add({ payload: plainEvent('e2') });
    expect((await iterator.next()).value?.payload.eid).toBe('e1');
    expect((await iterator.next()).done).toBe(true);
  });

  it('one dropped in flight that the emitter then removes as delivered is not counted', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.handOut();
    await t.setLevel('off');
    await t.store.removeHead(1);
    await t.handOut();
    expect(t.drops).toEqual([]);
  });

  it('one refused and then delivered is not counted as rejected, whatever status came with the delivery', async () => {
    const t = enforcementWith();
    await t.store.add({ payload: plainEvent('e1') });
    await t.handOut();
    t.store.settle('e1', 'failed', 400);
    t.store.settle('e1', 'delivered', 200);
    await t.store.removeHead(1);
    expect(t.drops).toEqual([]);
    expect(t.errors).toEqual([]);
  });
});

describe('a queue kept in memory only', () => {
  it('goes away and comes back without storage: nothing breaks', async () => {
    const t = enforcementWith();
    t.store.handOff();
    t.store.resume();
    await t.store.add({ payload: plainEvent('e1') });
    expect(await t.store.count()).toBe(1);
  });
});

describe('storage failures, further', () => {
  it('a failure to record a decision, and a stored queue that cannot be read, carry their causes', async () => {
    const { faults, t } = await besideAnotherInstance();
    faults.fail((call) => call.op === 'setItem' && call.key === `${QUEUE}.lease`);
    await t.setLevel('none');
    expect(t.errors[0]?.cause).toEqual(new Error('QuotaExceededError: the quota has been exceeded'));
    const unreadable = faultyStorage(memoryStorage({ [QUEUE]: '{"version":2,"segments":[0],"loose":[]}' }));
    unreadable.fail((call) => call.op === 'getItem' && call.key === QUEUE);
    const next = enforcementWith({ storage: unreadable.storage });
    await next.enforcement.ready;
    expect(next.errors[0]?.cause).toEqual(new Error('QuotaExceededError: the quota has been exceeded'));
  });

  it('a queue taken over whose new manifest cannot be written is left in its slot', async () => {
    const faults = faultyStorage();
    leaveQueueIn(faults.entries, `${QUEUE}.2`, [{ payload: plainEvent('left'), svrAnon: true, level: 'none' }]);
    let manifestWrites = 0;
    // The first write lists the new segment; the second, which would list it as the queue's, fails.
    faults.fail((call) => call.op === 'setItem' && call.key === QUEUE && ++manifestWrites === 2);
    const t = enforcementWith({ storage: faults.storage });
    await t.enforcement.ready;
    expect(await t.store.count()).toBe(1);
    expect(storedIds(faults.entries, `${QUEUE}.2`)).toEqual(['left']);
    expect(leaseOf(faults.entries, `${QUEUE}.2`)).toBeNull();
  });

  it('an event store stopped before it is ready takes over no queue', async () => {
    const storage = memoryStorage();
    leaveQueueIn(storage.entries, `${QUEUE}.2`, [{ payload: plainEvent('left'), svrAnon: true, level: 'none' }]);
    const t = enforcementWith({ storage });
    await t.store.stop();
    await t.enforcement.ready;
    expect(await t.store.count()).toBe(0);
    expect(storedIds(storage.entries, `${QUEUE}.2`)).toEqual(['left']);
  });
});
