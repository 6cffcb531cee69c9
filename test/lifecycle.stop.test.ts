import { buildStructEvent } from '@snowplow/tracker-core';
import { describe, expect, it } from 'vitest';
import { createConsentTracker, trackerCoreAdapter } from 'consent-tracker';
import { HARNESSES, reactNativeHarness, type AdapterHarness, type Device } from './helpers/adapter-harness.js';
import { deferred } from './helpers/deferred.js';
import { faultyStorage } from './helpers/faulty-storage.js';
import { drained, useApps, type App } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * stop(): requests in flight, a second stop(), a stop while booting, and a stop while a clean-up
 * waits on storage (bounded by the storage timeout); and that the next launch on the same
 * device sends nothing twice.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** Launches at full, with the queue as stored: ready to track the event a stop will cut short. */
async function atFull(harness: AdapterHarness): Promise<{ device: Device; app: App }> {
  const device = harness.device();
  const app = apps.launch(harness, { device });
  await app.consent.ready;
  await app.consent.setLevel('full', 'banner');
  await app.consent.enforcement.eventStore.persisted();
  return { device, app };
}

/** Launches again on the device, sends one more event and all that was queued, and checks `action` reached the collector exactly once. */
async function expectDeliveredOnceAfterRelaunch(harness: AdapterHarness, device: Device, action: string) {
  const next = apps.launch(harness, { device });
  await next.consent.ready;
  next.track('next');
  await expect.poll(() => collector.current.events().some((e) => e.payload.se_ac === 'next')).toBe(true);
  await drained(next);
  expect(collector.current.events().filter((e) => e.payload.se_ac === action)).toHaveLength(1);
}

describe.each(HARNESSES)('stop() with requests in flight, with the $name adapter', (harness) => {
  it('an event delivered as the app stops is not sent again by the next launch', async () => {
    const { device, app } = await atFull(harness);
    app.track('delivered-once');
    await collector.current.waitForEvents(1);
    // The app tears the tracker down (unmount, logout, reload) while the response is on its way.
    await app.consent.stop();
    await expectDeliveredOnceAfterRelaunch(harness, device, 'delivered-once');
  });

  it('a request whose body is being read when stop() is called is not sent; the next launch sends the event once', async () => {
    const { device, app } = await atFull(harness);
    let stopping: Promise<void> | undefined;
    const text = Request.prototype.text;
    Request.prototype.text = function (this: Request) {
      Request.prototype.text = text;
      // The app stops the tracker just as the emitter hands a request to the fetch guard.
      stopping = app.consent.stop();
      return text.call(this);
    };
    try {
      app.track('once');
      await expect.poll(() => stopping !== undefined).toBe(true);
      await stopping;
    } finally {
      Request.prototype.text = text;
    }
    // Not sent after stop() was called...
    expect(collector.current.events()).toEqual([]);
    // ...nor twice by the next launch.
    await expectDeliveredOnceAfterRelaunch(harness, device, 'once');
  });

  it('a second stop() resolves only once the request in flight has been answered: the next launch does not send it again', async () => {
    const { device, app } = await atFull(harness);
    // A slow network: the request is in flight until the test lets it through.
    const network = deferred();
    let answered = false;
    const realFetch = globalThis.fetch;
    globalThis.fetch = async (...args: Parameters<typeof fetch>) => {
      await network.promise;
      const response = await realFetch(...args);
      answered = true;
      return response;
    };
    try {
      app.track('once');
      await expect.poll(() => app.consent.stats().requests.sent).toBe(1);
      // e.g. an unmount clean-up and the app's own teardown both stop it.
      void app.consent.stop();
      const second = app.consent.stop().then(() => answered);
      network.resolve();
      expect(await second).toBe(true);
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(collector.current.events().filter((e) => e.payload.se_ac === 'once')).toHaveLength(1);
    await expectDeliveredOnceAfterRelaunch(harness, device, 'once');
  });
});

describe.each(HARNESSES)('stop() while booting, with the $name adapter', (harness) => {
  it('resolves ready rather than rejecting it (nobody may be listening), and rejects a pending decision with STOPPED', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const app = apps.launch(harness, { device: harness.device() });
      const decision = expect(app.consent.setLevel('full', 'banner')).rejects.toMatchObject({ code: 'STOPPED' });
      app.track('while-booting');
      expect(app.consent.getStatus().phase).toBe('booting');
      await app.consent.stop();
      await expect(app.consent.ready).resolves.toBeUndefined();
      await decision;
      // A turn of the event loop, for Node to report unhandled rejections.
      await new Promise((resolve) => setImmediate(resolve));
      expect(app.consent.stats().gate).toMatchObject({ held: 1, released: 0, dropped: 0 });
      expect(app.consent.stats().dropped.stopped).toBe(1);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(collector.current.events()).toEqual([]);
  });
});

describe.each(HARNESSES)('stop() while a clean-up is under way, with the $name adapter', (harness) => {
  it('waits for it at most the storage timeout', async () => {
    const app = apps.launch(harness, { device: harness.device(), holdForget: true, options: { storageTimeoutMs: 50 } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.control.setHold(true);
    const withdrawal = expect(app.consent.setLevel('none', 'settings')).rejects.toMatchObject({ code: 'STOPPED' });
    // The withdrawal's clean-up never ends.
    await expect.poll(() => app.control.pending()).toBe(1);
    expect(app.consent.getStatus().phase).toBe('forgetting');
    const started = performance.now();
    await app.consent.stop();
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(40);
    expect(elapsed).toBeLessThan(1000);
    await withdrawal;
  });
});

describe('stop() while a withdrawal’s clean-up waits on AsyncStorage, with the react-native adapter', () => {
  it('resolves within the storage timeout even if AsyncStorage never answers', async () => {
    const harness = reactNativeHarness;
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage, storageTimeoutMs: 50, onError: () => undefined } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const read = faults.stall((call) => call.op === 'getItem' && call.key === `snowplow_${device.namespace}_session`);
    void app.consent.setLevel('none', 'settings').catch(() => undefined);
    await expect.poll(read.started).toBe(true);
    expect(app.consent.getStatus().phase).toBe('forgetting');
    let stopped = false;
    void app.consent.stop().then(() => (stopped = true));
    // The docs: stop() waits for a clean-up under way at most storageTimeoutMs.
    await expect.poll(() => stopped, { timeout: 1000 }).toBe(true);
    expect(app.consent.actor.getSnapshot().status).toBe('stopped');
  });
});

describe('stop() while the React Native tracker is still being created', () => {
  it('leaves the tracker of a consent tracker started after it on the same device working: its events are sent', async () => {
    const device = reactNativeHarness.device();
    const faults = faultyStorage(device.storage);
    // The tracker is created once its stored session is read: that read waits.
    const creating = faults.stall((call) => call.op === 'getItem' && call.key === `snowplow_${device.namespace}_session`);
    const first = apps.launch(reactNativeHarness, { device, options: { storage: faults.storage, storageTimeoutMs: 50, onError: () => undefined } });
    await expect.poll(creating.started).toBe(true);
    await first.consent.stop();
    const second = apps.launch(reactNativeHarness, { device, options: { storage: faults.storage, onError: () => undefined } });
    // Both trackers come to exist now, on the same namespace; the first's stop() ends its work after that.
    creating.release();
    await second.consent.ready;
    await second.consent.setLevel('full', 'banner');
    second.track('after-the-first-stopped');
    const [event] = await collector.current.waitForEvents(1);
    expect(event?.payload.se_ac).toBe('after-the-first-stopped');
  });
});

describe.each(HARNESSES)('stop() with a queue that is not stored, with the $name adapter', (harness) => {
  it('counts what is still queued (its stored copy could not be read) as dropped (stopped)', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    faults.fail((call) => call.op === 'getItem' && call.key.endsWith('.queue'), new Error('storage is locked'));
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    await app.consent.ready;
    collector.current.failWith(503);
    app.track('queued-1');
    app.track('queued-2');
    await expect.poll(() => app.consent.enforcement.eventStore.count()).toBe(2);
    await app.consent.stop();
    expect(app.consent.stats().dropped.stopped).toBe(2);
  });
});

describe('stop() with no storage given (tracker-core keeps nothing on the device)', () => {
  it('counts what is still queued in memory as dropped (stopped)', async () => {
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }) });
    await consent.ready;
    collector.current.failWith(503);
    consent.tracker.track(buildStructEvent({ category: 'c', action: 'queued' }));
    await expect.poll(() => consent.enforcement.eventStore.count()).toBe(1);
    await consent.stop();
    expect(consent.stats().dropped.stopped).toBe(1);
    expect(collector.current.events()).toEqual([]);
  });
});

describe.each(HARNESSES)('stop() after storage refused the decision, with the $name adapter', (harness) => {
  it('writes the withdrawal once more: storage that works again at stop() keeps it for the next launch', async () => {
    const { device, app } = await atFull(harness);
    const faults = faultyStorage(device.storage);
    const refusing = apps.launch(harness, { device, options: { storage: faults.storage, storageRetryMs: 60_000, onError: () => undefined } });
    await app.consent.stop();
    await refusing.consent.ready;
    faults.fail((call) => call.key.endsWith('.decision') && call.op !== 'getItem');
    await refusing.consent.setLevel('off', 'withdraw');
    faults.heal();
    await refusing.consent.stop();
    const next = apps.launch(harness, { device });
    await next.consent.ready;
    expect(next.consent.getLevel()).toBe('off');
  });
});
