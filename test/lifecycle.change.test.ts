import { describe, expect, it } from 'vitest';
import { ConsentError, createConsentTracker, type ConsentLevel } from 'consent-tracker';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { HARNESSES } from './helpers/adapter-harness.js';
import { DECISION, drained, entity, event, SESSION, storedDecision, storedRecord, storedReset, useApps } from './helpers/launch.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * A single change: an upgrade or a downgrade and the min rule while it is applied, the events
 * held meanwhile, the same level again, bad input, and reset().
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** The level each event may carry, by its action. */
const levelOf = (levels: Record<string, ConsentLevel>) => (e: CollectedEvent) => levels[e.payload.se_ac ?? ''] ?? 'off';

describe.each(HARNESSES)('an upgrade, with the $name adapter', (harness) => {
  it('raises the level only once it is in force: an event tracked meanwhile is held, then sent at the level before', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    await app.consent.ready;
    app.control.setHold(true);
    const change = app.consent.setLevel('full', 'banner');
    app.track('during-upgrade');
    expect(app.consent.getStatus()).toMatchObject({ phase: 'applying', level: 'none', target: 'full' });
    expect(app.consent.stats().gate).toMatchObject({ held: 1, released: 0 });
    await app.control.finishApply();
    await change;
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    app.track('after-upgrade');
    const events = await collector.current.waitForEvents(2);
    expect(findLeaks(events, levelOf({ 'during-upgrade': 'none', 'after-upgrade': 'full' }))).toEqual([]);
    // Held, then sent with the time it was tracked.
    expect(event(events, 'during-upgrade')).toMatchObject({ anonymous: true, payload: { ttm: expect.any(String) } });
    expect(event(events, 'after-upgrade')).toMatchObject({ anonymous: false, payload: { uid: 'user-1' } });
    expect(app.consent.stats().gate).toMatchObject({ held: 1, released: 1, dropped: 0 });
  });
});

describe.each(HARNESSES)('a downgrade, with the $name adapter', (harness) => {
  it('is enforced before setLevel returns, and stored with its source', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.control.setHold(true);
    const change = app.consent.setLevel('session-only', 'settings');
    expect(app.consent.getLevel()).toBe('session-only');
    app.track('during-downgrade');
    await app.control.finishApply();
    await change;
    const events = await collector.current.waitForEvents(1);
    expect(findLeaks(events, 'session-only')).toEqual([]);
    expect(storedRecord(device)).toMatchObject({ level: 'session-only', source: 'settings' });
  });
});

describe.each(HARNESSES)('the level already decided, with the $name adapter', (harness) => {
  it('is a new decision: the record is refreshed and written, with no error and no change', async () => {
    const device = harness.device();
    const decidedAt = Date.now() - 86_400_000;
    device.storage.entries.set(DECISION, storedDecision('full', decidedAt));
    const errors: ConsentError[] = [];
    const app = apps.launch(harness, { device, options: { onError: (e) => errors.push(e) } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'settings');
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'full', record: { level: 'full', source: 'settings' }, error: null });
    expect(app.consent.getStatus().record?.decidedAt).toBeGreaterThan(decidedAt);
    await expect.poll(() => storedRecord(device)?.source).toBe('settings');
    expect(storedRecord(device)?.decidedAt).toBeGreaterThan(decidedAt);
    expect(errors).toEqual([]);
    app.track('still-full');
    const [sent] = await collector.current.waitForEvents(1);
    expect(sent?.payload.uid).toBe('user-1');
  });
});

describe.each(HARNESSES)('bad input, with the $name adapter', (harness) => {
  it('is rejected with a typed error and changes nothing', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    await app.consent.ready;
    const before = app.consent.getStatus();
    await expect(app.consent.setLevel('everything' as ConsentLevel)).rejects.toMatchObject({ name: 'ConsentError', code: 'INVALID_LEVEL' });
    await expect(app.consent.setLevel('full', '')).rejects.toMatchObject({ name: 'ConsentError', code: 'INVALID_OPTION' });
    await expect(app.consent.setLevel('full', 'x'.repeat(201))).rejects.toMatchObject({ name: 'ConsentError', code: 'INVALID_OPTION' });
    await expect(app.consent.setLevel('full', 42 as never)).rejects.toMatchObject({ name: 'ConsentError', code: 'INVALID_OPTION' });
    expect(app.consent.getStatus()).toEqual(before);
    expect(app.consent.actor.getSnapshot().matches({ persistence: 'unwritten' })).toBe(true);
    // Bad options: nothing is created.
    const adapter = () => harness.held(collector.current.url).adapter;
    expect(() => createConsentTracker({ adapter: adapter(), undecidedLevel: 'most' as ConsentLevel })).toThrow(ConsentError);
    expect(() => createConsentTracker({ adapter: adapter(), bufferLimit: -1 })).toThrow(ConsentError);
    app.track('after-bad-input');
    expect(findLeaks(await collector.current.waitForEvents(1), 'none')).toEqual([]);
  });
});

describe.each(HARNESSES)('reset(), with the $name adapter', (harness) => {
  it('forgets the decision: a reset stored in its place, back to the undecided level', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    expect(device.storage.entries.has(DECISION)).toBe(true);
    await app.consent.reset();
    expect(storedReset(device)).toBe(true);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'none', target: 'none', record: null });
    app.track('after-reset');
    expect(findLeaks(await collector.current.waitForEvents(1), 'none')).toEqual([]);
  });

  it('while undecided does nothing, and resolves', async () => {
    const device = harness.device();
    const app = apps.launch(harness, { device, options: { undecidedLevel: 'off' } });
    await app.consent.ready;
    const before = app.consent.getStatus();
    expect(before).toMatchObject({ phase: 'undecided', level: 'off', target: 'off' });
    await app.consent.reset();
    expect(app.consent.getStatus()).toEqual(before);
    expect(device.storage.entries.has(DECISION)).toBe(false);
    app.track('while-undecided');
    await drained(app);
    expect(collector.current.events()).toEqual([]);
    expect(app.consent.stats().dropped.off).toBe(1);
  });
});

describe.each(HARNESSES)('reset() with undecidedLevel full, with the $name adapter', (harness) => {
  it('forgets the identity: the events after it carry neither the uid nor the device user id sent before it', async () => {
    const app = apps.launch(harness, { device: harness.device(), options: { undecidedLevel: 'full' } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.track('before');
    const before = event(await collector.current.waitForEvents(1), 'before');
    expect(entity(before, SESSION)?.userId).toEqual(expect.any(String));
    await app.consent.reset();
    app.track('after');
    const after = event(await collector.current.waitForEvents(2), 'after');
    expect(after.payload.uid).toBeUndefined();
    expect(entity(after, SESSION)?.userId).not.toBe(entity(before, SESSION)?.userId);
  });
});
