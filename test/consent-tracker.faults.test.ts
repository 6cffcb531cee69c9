import { buildStructEvent } from '@snowplow/tracker-core';
import { describe, expect, it } from 'vitest';
import { createConsentTracker, memoryStorage, type ConsentError, type KeyValueStorage } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { heldAdapter } from './helpers/held-adapter.js';
import { useCollector } from './helpers/use-collector.js';

const collectorRef = useCollector();

const silent: KeyValueStorage = { getItem: () => new Promise<string>(() => {}), setItem: () => new Promise<void>(() => {}) };

describe('faults', () => {
  it('storage that never answers: boots undecided after the timeout, reports it, and sends anonymously', async () => {
    const errors: ConsentError[] = [];
    const control = heldAdapter(collectorRef.current.url);
    const consent = createConsentTracker({ adapter: control.adapter, storage: silent, storageTimeoutMs: 50, onError: (e) => errors.push(e) });
    consent.tracker.track(buildStructEvent({ category: 'f', action: 'held-at-boot' }));
    await consent.ready;
    expect(consent.getStatus().phase).toBe('undecided');
    expect(errors.map((e) => e.code)).toContain('STORAGE_FAILED');
    const events = await collectorRef.current.waitForEvents(1);
    expect(findLeaks(events, 'none')).toEqual([]);
    // A decision cannot be stored either: the change fails closed.
    await expect(consent.setLevel('full', 'banner')).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    expect(consent.getLevel()).toBe('none');
    consent.stop();
  });

  it('a slow decision write never lands over a newer decision', async () => {
    const entries = new Map<string, string>();
    let slow = true;
    const storage: KeyValueStorage = {
      getItem: async (key) => entries.get(key) ?? null,
      setItem: (key, value) => {
        const delay = key.endsWith('.decision') && slow ? 80 : 0;
        if (key.endsWith('.decision')) slow = false;
        return new Promise<void>((resolve) => setTimeout(() => resolve(void entries.set(key, value)), delay));
      },
    };
    // The first write takes 80 ms against a 50 ms timeout; the next waits for it to end, then lands.
    const consent = createConsentTracker({ adapter: heldAdapter(collectorRef.current.url).adapter, storage, storageTimeoutMs: 50 });
    await expect(consent.setLevel('full', 'banner')).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    await consent.setLevel('none', 'settings');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(JSON.parse(entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'none', source: 'settings' });
    consent.stop();
  });

  it('an apply that hangs past the timeout fails closed at the lower level', async () => {
    const control = heldAdapter(collectorRef.current.url);
    const consent = createConsentTracker({ adapter: control.adapter, storage: memoryStorage(), applyTimeoutMs: 50 });
    await consent.setLevel('full', 'banner');
    control.setHold(true);
    await expect(consent.setLevel('session-only', 'settings')).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    expect(consent.getStatus()).toMatchObject({ phase: 'failed', level: 'session-only' });
    await expect(consent.setLevel('full', 'banner')).rejects.toMatchObject({ code: 'APPLY_TIMEOUT' });
    expect(consent.getLevel()).toBe('session-only');
    control.setHold(false);
    consent.actor.send({ type: 'CONSENT.RETRY' });
    await expect.poll(() => consent.getStatus().phase).toBe('active');
    expect(consent.getLevel()).toBe('full');
    consent.stop();
  });

  it('a burst of 10,000 events during a stuck change holds at most the cap and counts the overflow', async () => {
    const control = heldAdapter(collectorRef.current.url);
    const consent = createConsentTracker({ adapter: control.adapter, storage: memoryStorage(), applyTimeoutMs: 60_000 });
    await consent.ready;
    control.setHold(true);
    const change = consent.setLevel('full', 'banner');
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 10_000; i++) consent.tracker.track(buildStructEvent({ category: 'burst', action: `e${i}` }));
    expect(consent.stats().gate).toMatchObject({ held: 10_000, dropped: 9_000, released: 0 });
    // 1,000 held events are far below 10 MB; 10,000 unbounded ones with their builders would not be.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
    control.finishApply();
    await change;
    const events = await collectorRef.current.waitForEvents(1000, 10_000);
    expect(events[0]?.payload.se_ac).toBe('e9000');
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(consent.stats().gate.released).toBe(1000);
    consent.stop();
  });
});
