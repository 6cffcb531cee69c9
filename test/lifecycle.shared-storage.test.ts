import { SimulatedClock } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import type { KeyValueStorage } from 'consent-tracker';
import { cookieJarFetch, findLeaks } from 'consent-tracker/testing';
import { HARNESSES, type AdapterHarness, type Device } from './helpers/adapter-harness.js';
import { faultyStorage } from './helpers/faulty-storage.js';
import { drained, queuedWhileDown, storedDecision, storedIdentity, useApps, type App } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * Consent trackers running at once on one storage (two windows, two processes, two namespaces
 * on one AsyncStorage): each keeps a queue of its own, nothing is lost or sent twice, and the
 * queue of one that was killed is taken over by another once its hold on it lapses.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** The queue keys: the first slot's, and the others'. */
const QUEUE = 'consent-tracker.queue';

/** How long a killed instance's hold on its queue lasts (the library's lease), and a renewal's spacing. */
const LEASE_MS = 30_000;

/** A second app on the same storage: another namespace, as a second tracker or a second window has. */
const sameStorage = (device: Device, name: string): Device => ({ namespace: `${device.namespace}-${name}`, storage: device.storage });

/** The labels of what reached the collector, each as many times as it arrived. */
const arrived = () => collector.current.events().map((e) => e.payload.se_ac ?? '');

/** Every stored queue on the device, as text. */
const storedQueues = (device: Device) => [...device.storage.entries].filter(([key]) => key.startsWith(QUEUE) && !key.endsWith('.lease')).map(([, value]) => value);

async function launchAt(harness: AdapterHarness, device: Device, level: 'none' | 'full', clock?: SimulatedClock): Promise<App> {
  const app = apps.launch(harness, { device, options: clock ? { clock } : {} });
  await app.consent.ready;
  await app.consent.setLevel(level, 'banner');
  return app;
}

describe.each(HARNESSES)('two consent trackers on one storage, with the $name adapter', (harness) => {
  it('each stores its own queue: with the collector down, every event of both is on the device, and each arrives once', async () => {
    const device = harness.device();
    const left = await launchAt(harness, device, 'full');
    const right = await launchAt(harness, sameStorage(device, 'right'), 'full');
    collector.current.failWith(503);
    for (const i of [1, 2, 3]) {
      left.track(`left-${i}`);
      right.track(`right-${i}`);
    }
    await Promise.all([left, right].map((app) => app.control.adapter.flush()));
    await Promise.all([left, right].map((app) => app.consent.enforcement.eventStore.persisted()));
    const stored = storedQueues(device).join('\n');
    for (const label of ['left-1', 'left-2', 'left-3', 'right-1', 'right-2', 'right-3']) expect(stored).toContain(label);

    collector.current.failWith(undefined);
    await Promise.all([drained(left), drained(right)]);
    expect(arrived().sort()).toEqual(['left-1', 'left-2', 'left-3', 'right-1', 'right-2', 'right-3']);
  });

  it('a stopped one gives its queue up: the next start takes it over at once, and sends it once', async () => {
    const device = harness.device();
    const other = await launchAt(harness, sameStorage(device, 'other'), 'none');
    const first = await launchAt(harness, device, 'full');
    collector.current.failWith(503);
    first.track('queued-by-first');
    await first.control.adapter.flush();
    await first.consent.stop();
    collector.current.failWith(undefined);

    const next = await launchAt(harness, device, 'full');
    next.track('next');
    await Promise.all([drained(next), drained(other)]);
    expect(arrived().sort()).toEqual(['next', 'queued-by-first']);
  });

  it('a killed one: its queue is taken over once its hold lapses, sent at no more than the level of the one that adopts it, and once', async () => {
    const clock = new SimulatedClock();
    const device = harness.device();
    const survivor = await launchAt(harness, sameStorage(device, 'survivor'), 'none', clock);
    const killed = await launchAt(harness, device, 'full');
    // Its request has been answered (refused): nothing of it is in flight when it dies.
    await queuedWhileDown(killed, 'left-behind', collector.current);
    expect(collector.current.requests()).toHaveLength(1);
    killed.kill();
    collector.current.failWith(undefined);
    survivor.track('survivor');
    await drained(survivor);
    // Still held by the killed one: not taken over yet.
    expect(arrived()).toEqual(['survivor']);

    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + LEASE_MS + 1);
      clock.increment(LEASE_MS / 3);
      await expect.poll(async () => (await survivor.consent.enforcement.eventStore.getAllPayloads()).some((p) => p.se_ac === 'left-behind')).toBe(true);
    } finally {
      vi.useRealTimers();
    }
    await drained(survivor);
    expect(arrived().sort()).toEqual(['left-behind', 'survivor']);
    expect(findLeaks(collector.current.events(), 'none')).toEqual([]);
    // The slot it took over is gone from the device.
    await expect.poll(() => storedQueues(device).join('\n')).not.toContain('left-behind');
  });
});

describe.each(HARNESSES)('more consent trackers on one storage than it has queue slots, with the $name adapter', (harness) => {
  it('the ninth keeps its queue in memory: reported, and what is left of it at stop() is counted as dropped', async () => {
    const device = harness.device();
    const running = await Promise.all(Array.from({ length: 8 }, (_, i) => launchAt(harness, sameStorage(device, `n${i}`), 'none')));
    const errors: string[] = [];
    const ninth = apps.launch(harness, { device: sameStorage(device, 'ninth'), options: { onError: (error) => errors.push(error.message) } });
    await ninth.consent.ready;
    expect(errors.some((message) => message.includes('every queue slot'))).toBe(true);
    collector.current.failWith(503);
    ninth.track('in-memory');
    await ninth.control.adapter.flush();
    await ninth.consent.stop();
    expect(ninth.consent.stats().dropped.stopped).toBe(1);
    expect(running).toHaveLength(8);
  });
});

describe.each(HARNESSES)('a queue living in memory takes a slot at a later renewal, with the $name adapter', (harness) => {
  it('the ninth, once the killed instances holding every slot have lapsed: it sends their queues, once each, and stores its own from then on', async () => {
    const clock = new SimulatedClock();
    const device = harness.device();
    const killed = await Promise.all(Array.from({ length: 8 }, (_, i) => launchAt(harness, sameStorage(device, `k${i}`), 'full')));
    for (const [i, app] of killed.entries()) await queuedWhileDown(app, `left-${i}`, collector.current);
    for (const app of killed) app.kill();
    const ninth = apps.launch(harness, { device: sameStorage(device, 'ninth'), options: { clock, onError: () => undefined } });
    await ninth.consent.ready;
    await ninth.consent.setLevel('full', 'banner');
    ninth.track('ninth');
    await ninth.control.adapter.flush();
    expect(storedQueues(device).join('\n')).not.toContain('"ninth"');

    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + LEASE_MS + 1);
      clock.increment(LEASE_MS / 3);
      await expect.poll(() => storedQueues(device).join('\n')).toContain('"ninth"');
      await expect.poll(() => ninth.consent.enforcement.eventStore.count()).toBe(9);
    } finally {
      vi.useRealTimers();
    }
    collector.current.failWith(undefined);
    await drained(ninth);
    expect(arrived().sort()).toEqual([...killed.map((_, i) => `left-${i}`), 'ninth'].sort());
  });

  it('a run whose stored queue could not be read at start: once storage reads again, that queue is taken in and sent, and this run\'s is stored with it', async () => {
    const clock = new SimulatedClock();
    const device = harness.device();
    const first = await launchAt(harness, device, 'full');
    await queuedWhileDown(first, 'earlier', collector.current);
    await first.consent.stop();
    const faults = faultyStorage(device.storage);
    faults.fail((call) => call.op === 'getItem' && call.key === QUEUE, new Error('storage is locked'));
    const next = apps.launch(harness, { device, options: { storage: faults.storage, clock, onError: () => undefined } });
    await next.consent.ready;
    await next.consent.setLevel('full', 'banner');
    next.track('later');
    await next.control.adapter.flush();
    expect(storedQueues(device).join('\n')).not.toContain('"later"');

    faults.heal();
    clock.increment(LEASE_MS / 3);
    await expect.poll(() => storedQueues(device).join('\n')).toContain('"later"');
    expect(storedQueues(device).join('\n')).toContain('"earlier"');
    collector.current.failWith(undefined);
    await drained(next);
    expect(arrived().sort()).toEqual(['earlier', 'later']);
  });
});

describe.each(HARNESSES)('the identity on a storage two consent trackers share, with the $name adapter', (harness) => {
  it("one instance's sessions do not store back an identity the other has withdrawn", async () => {
    const device = harness.device();
    const network = cookieJarFetch();
    const a = apps.launch(harness, { device, network });
    await a.consent.ready;
    await a.consent.setLevel('full', 'banner');
    await a.consent.setLevel('none', 'settings');
    await a.consent.setLevel('full', 'again');
    a.track('a-first');
    await collector.current.waitForEvents(1);
    await drained(a);
    const first = storedIdentity(device)?.userId;
    const b = apps.launch(harness, { device: sameStorage(device, 'b'), network });
    await b.consent.ready;
    // The user withdraws in A: a new identity is stored beside the withdrawal.
    await a.consent.setLevel('none', 'withdraw');
    await expect.poll(() => storedIdentity(device)?.userId).not.toBe(first);
    // B, still at full with the first identity, starts a session of it: that is not stored over the new one.
    b.track('b-first');
    await collector.current.waitForEvents(2);
    await drained(b);
    await Promise.all([a.consent.stop(), b.consent.stop()]);
    expect(storedIdentity(device)?.userId).not.toBe(first);
    const before = collector.current.events().filter((e) => e.payload.se_ac === 'a-first');
    collector.current.reset();
    const next = apps.launch(harness, { device, network });
    await next.consent.ready;
    await next.consent.setLevel('full', 'again');
    next.track('after');
    const relinks = findLeaks([...before, ...(await collector.current.waitForEvents(1))], 'full', { relinks: { before, after: (e) => e.payload.se_ac === 'after' } });
    expect(relinks.filter((leak) => leak.field !== 'uid')).toEqual([]);
  });
});

/** One lock for every process on a device, as Web Locks are for the tabs of a browser. */
function deviceLock(): NonNullable<KeyValueStorage['lock']> {
  const tails = new Map<string, Promise<unknown>>();
  return (name, critical) => {
    const run = (tails.get(name) ?? Promise.resolve()).then(critical);
    tails.set(name, run.catch(() => undefined));
    return run;
  };
}

/** The device's storage as a second process sees it: its writes land `ms` later. */
const slowerWrites = (base: Device['storage'], ms: number, lock?: KeyValueStorage['lock']): KeyValueStorage => ({
  getItem: (key) => base.getItem(key),
  setItem: (key, value) => new Promise<void>((resolve) => setTimeout(() => resolve(base.setItem(key, value)), ms)),
  removeItem: (key) => base.removeItem?.(key),
  ...(lock && { lock }),
});

describe.each(HARNESSES)('two consent trackers starting at once, one on a slower view of the storage, with a lock, with the $name adapter', (harness) => {
  it("a stopped instance's queue is taken over by one of them, and sent once", async () => {
    const lock = deviceLock();
    const device = harness.device();
    const first = await launchAt(harness, device, 'full');
    collector.current.failWith(503);
    for (const label of ['q1', 'q2', 'q3']) first.track(label);
    await expect.poll(() => first.consent.enforcement.eventStore.count()).toBe(3);
    await first.consent.stop();
    collector.current.failWith(undefined);
    const fast = apps.launch(harness, { device, options: { storage: { ...device.storage, getItem: device.storage.getItem, setItem: device.storage.setItem, removeItem: device.storage.removeItem, lock } } });
    const slow = apps.launch(harness, { device: sameStorage(device, 'slow'), options: { storage: slowerWrites(device.storage, 20, lock) } });
    await Promise.all([fast.consent.ready, slow.consent.ready]);
    await Promise.all([drained(fast), drained(slow)]);
    expect(arrived().sort()).toEqual(['q1', 'q2', 'q3']);
  });
});

describe.each(HARNESSES)('a queue taken over from an instance that withdrew and consented again, with the $name adapter', (harness) => {
  it('is sent at full: its identity is the new one, not a withdrawn one', async () => {
    const clock = new SimulatedClock();
    const device = harness.device();
    device.storage.entries.set('consent-tracker.decision', storedDecision('full'));
    const drops: string[] = [];
    const other = apps.launch(harness, { device: sameStorage(device, 'other'), options: { clock, onDrop: (drop) => drops.push(drop.reason) } });
    await other.consent.ready;
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    await app.consent.setLevel('none', 'settings');
    await app.consent.setLevel('full', 'again');
    await queuedWhileDown(app, 'after-new-consent', collector.current);
    app.kill();
    collector.current.failWith(undefined);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + LEASE_MS + 1 });
    try {
      clock.increment(LEASE_MS / 3);
      await expect.poll(async () => (await other.consent.enforcement.eventStore.getAllPayloads()).some((payload) => payload.se_ac === 'after-new-consent')).toBe(true);
    } finally {
      vi.useRealTimers();
    }
    other.track('other');
    await drained(other);
    expect(arrived().sort()).toEqual(['after-new-consent', 'other']);
    expect(drops).toEqual([]);
  });
});
