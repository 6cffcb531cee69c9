import { buildStructEvent } from '@snowplow/tracker-core';
import { describe, expect, it } from 'vitest';
import { ConsentError, createConsentTracker, memoryStorage, type ConsentLevel, type CoreTracker, type KeyValueStorage } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { heldAdapter } from './helpers/held-adapter.js';
import { useCollector } from './helpers/use-collector.js';

const collectorRef = useCollector();

const adapter = () => heldAdapter(collectorRef.current.url);

const track = (consent: { tracker: CoreTracker }, action: string) => consent.tracker.track(buildStructEvent({ category: 'c', action }));
const levelOf = (levels: Record<string, ConsentLevel>) => (e: { payload: Record<string, string> }) => levels[e.payload.se_ac ?? ''] ?? 'off';

describe('createConsentTracker on the wire', () => {
  it('holds events while booting and releases them at the undecided level', async () => {
    const consent = createConsentTracker({ adapter: adapter().adapter, storage: memoryStorage() });
    track(consent, 'during-boot');
    expect(consent.getStatus().phase).toBe('booting');
    await consent.ready;
    const events = await collectorRef.current.waitForEvents(1);
    expect(findLeaks(events, 'none')).toEqual([]);
    expect(events[0]?.payload.ttm).toBeDefined();
    expect(consent.stats().gate).toMatchObject({ held: 1, released: 1, dropped: 0 });
  });

  it('never upgrades an event tracked while an upgrade is applied', async () => {
    const control = adapter();
    const consent = createConsentTracker({ adapter: control.adapter, storage: memoryStorage() });
    await consent.ready;
    control.setHold(true);
    const change = consent.setLevel('full', 'banner');
    await Promise.resolve();
    track(consent, 'during-upgrade');
    expect(consent.getLevel()).toBe('none');
    control.setHold(false);
    control.finishApply();
    await change;
    track(consent, 'after-upgrade');
    const events = await collectorRef.current.waitForEvents(2);
    expect(findLeaks(events, levelOf({ 'during-upgrade': 'none', 'after-upgrade': 'full' }))).toEqual([]);
    expect(events.find((e) => e.payload.se_ac === 'after-upgrade')?.payload.uid).toBe('user-1');
  });

  it('enforces a downgrade from its first instruction', async () => {
    const control = adapter();
    const storage = memoryStorage();
    const consent = createConsentTracker({ adapter: control.adapter, storage });
    await consent.setLevel('full', 'banner');
    control.setHold(true);
    const change = consent.setLevel('session-only', 'settings');
    expect(consent.getLevel()).toBe('session-only');
    track(consent, 'during-downgrade');
    control.setHold(false);
    control.finishApply();
    await change;
    const events = await collectorRef.current.waitForEvents(1);
    expect(findLeaks(events, 'session-only')).toEqual([]);
    expect(JSON.parse(storage.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'session-only', source: 'settings' });
  });

  it('boots into a stored decision and sends what was held during boot at that level', async () => {
    const storage = memoryStorage({ 'consent-tracker.decision': JSON.stringify({ level: 'full', decidedAt: Date.now() - 1000, policyVersion: '1', source: 'banner' }) });
    const consent = createConsentTracker({ adapter: adapter().adapter, storage });
    track(consent, 'during-boot');
    await consent.ready;
    await consent.setLevel('full');
    const events = await collectorRef.current.waitForEvents(1);
    expect(events[0]?.payload.uid).toBe('user-1');
    expect(consent.getStatus()).toMatchObject({ phase: 'active', level: 'full', record: { source: 'banner' } });
  });

  it.each([
    ['a wrong shape', JSON.stringify({ level: 'full' }), 'STORED_DATA_UNREADABLE'],
    ['an unknown level', JSON.stringify({ level: 'all', decidedAt: 1, policyVersion: '1', source: 's' }), 'STORED_DATA_UNREADABLE'],
    ['a prototype-polluting key', '{"level":"full","decidedAt":1,"policyVersion":"1","source":"s","__proto__":{"x":1}}', 'STORED_DATA_UNREADABLE'],
    ['a future timestamp', JSON.stringify({ level: 'full', decidedAt: Date.now() + 86_400_000, policyVersion: '1', source: 's' }), 'STORED_DATA_UNREADABLE'],
    ['another policy version', JSON.stringify({ level: 'full', decidedAt: 1, policyVersion: '0', source: 's' }), 'STORED_DECISION_EXPIRED'],
    ['an old decision', JSON.stringify({ level: 'full', decidedAt: Date.now() - 400 * 86_400_000, policyVersion: '1', source: 's' }), 'STORED_DECISION_EXPIRED'],
  ])('treats a stored decision with %s as no decision, and reports it', async (_name, stored, code) => {
    const errors: ConsentError[] = [];
    const consent = createConsentTracker({ adapter: adapter().adapter, storage: memoryStorage({ 'consent-tracker.decision': stored }), maxAgeDays: 365, onError: (e) => errors.push(e) });
    await consent.ready;
    expect(consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'none', record: null });
    expect(errors.map((e) => e.code)).toEqual([code]);
  });

  it('fails closed when the change fails, and says so', async () => {
    const control = adapter();
    const consent = createConsentTracker({ adapter: control.adapter, storage: memoryStorage() });
    await consent.ready;
    control.setHold(true);
    const change = consent.setLevel('full', 'banner');
    await Promise.resolve();
    control.setHold(false);
    control.failApply();
    await expect(change).rejects.toMatchObject({ name: 'ConsentError', code: 'APPLY_FAILED' });
    expect(consent.getStatus()).toMatchObject({ phase: 'failed', level: 'none' });
    track(consent, 'after-failure');
    const events = await collectorRef.current.waitForEvents(1);
    expect(findLeaks(events, 'none')).toEqual([]);
  });

  it('lets a decision made while a grant fails go ahead: a retry never brings the failed grant back', async () => {
    const control = adapter();
    const storage = memoryStorage();
    const errors: ConsentError[] = [];
    const consent = createConsentTracker({ adapter: control.adapter, storage, onError: (error) => errors.push(error) });
    await consent.ready;
    control.setHold(true);
    const grant = consent.setLevel('full', 'banner');
    await Promise.resolve();
    const withdrawal = consent.setLevel('session-only', 'settings');
    control.failApply();
    await expect.poll(() => control.pending()).toBe(1);
    control.setHold(false);
    control.finishApply();
    await Promise.allSettled([grant, withdrawal]);
    expect(consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only' });
    expect(errors.map((e) => e.code)).toContain('APPLY_FAILED');
    consent.actor.send({ type: 'CONSENT.RETRY' });
    expect(consent.getLevel()).toBe('session-only');
    expect(JSON.parse(storage.entries.get('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'session-only' });
  });

  it('rejects bad input with a typed error and changes nothing', async () => {
    const consent = createConsentTracker({ adapter: adapter().adapter, storage: memoryStorage() });
    await consent.ready;
    const before = consent.getStatus();
    await expect(consent.setLevel('everything' as ConsentLevel)).rejects.toBeInstanceOf(ConsentError);
    await expect(consent.setLevel('full', '')).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    expect(consent.getStatus()).toEqual(before);
    expect(() => createConsentTracker({ adapter: adapter().adapter, undecidedLevel: 'most' as ConsentLevel })).toThrow(ConsentError);
    expect(() => createConsentTracker({ adapter: adapter().adapter, bufferLimit: -1 })).toThrow(ConsentError);
  });

  it('bounds what it holds during a stuck change, dropping and counting the oldest', async () => {
    const control = adapter();
    const consent = createConsentTracker({ adapter: control.adapter, storage: memoryStorage(), bufferLimit: 3 });
    await consent.ready;
    control.setHold(true);
    const change = consent.setLevel('full', 'banner');
    for (let i = 0; i < 10; i++) track(consent, `e${i}`);
    expect(consent.stats().gate).toMatchObject({ held: 10, dropped: 7 });
    control.setHold(false);
    control.finishApply();
    await change;
    const events = await collectorRef.current.waitForEvents(3);
    expect(events.map((e) => e.payload.se_ac)).toEqual(['e7', 'e8', 'e9']);
  });

  it('forgets the decision on reset', async () => {
    const storage = memoryStorage();
    const consent = createConsentTracker({ adapter: adapter().adapter, storage });
    await consent.setLevel('full', 'banner');
    expect(storage.entries.has('consent-tracker.decision')).toBe(true);
    await consent.reset();
    expect(storage.entries.has('consent-tracker.decision')).toBe(false);
    expect(consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'none', record: null });
  });

  it('reports storage that throws and carries on undecided', async () => {
    const errors: ConsentError[] = [];
    const broken: KeyValueStorage = { getItem: () => Promise.reject(new Error('locked')), setItem: () => Promise.reject(new Error('locked')) };
    const consent = createConsentTracker({ adapter: adapter().adapter, storage: broken, onError: (e) => errors.push(e) });
    await consent.ready;
    expect(consent.getStatus().phase).toBe('undecided');
    await expect(consent.setLevel('full', 'banner')).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    expect(consent.getLevel()).toBe('none');
    expect(errors.map((e) => e.code)).toEqual(expect.arrayContaining(['STORAGE_FAILED', 'APPLY_FAILED']));
  });
});
