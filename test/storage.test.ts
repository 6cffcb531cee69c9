import { describe, expect, it } from 'vitest';
import { createConsentTracker, memoryStorage, parseConsentRecord, trackerCoreAdapter, webStorage } from 'consent-tracker';
import { fakeLocalStorage } from './helpers/local-storage.js';


describe('storage', () => {
  it('webStorage keeps the decision in a Web Storage object', async () => {
    const local = fakeLocalStorage();
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: 'http://127.0.0.1:9' }), storage: webStorage(local) });
    await consent.setLevel('session-only', 'banner');
    expect(JSON.parse(local.getItem('consent-tracker.decision') ?? '{}')).toMatchObject({ level: 'session-only', source: 'banner', policyVersion: '1' });
    await consent.reset();
    expect(JSON.parse(local.getItem('consent-tracker.decision') ?? '{}')).toMatchObject({ reset: true });
    consent.stop();
  });

  it('memoryStorage is an async key-value store', async () => {
    const storage = memoryStorage({ a: '1' });
    expect(await storage.getItem('a')).toBe('1');
    await storage.removeItem?.('a');
    expect(await storage.getItem('a')).toBeNull();
  });

  it('parseConsentRecord accepts a valid decision and nothing else', () => {
    const valid = { level: 'full', decidedAt: 1000, policyVersion: '2', source: 'banner' };
    expect(parseConsentRecord(JSON.stringify(valid), { policyVersion: '2', now: 2000 })).toEqual({ record: valid });
    expect(parseConsentRecord(null, { policyVersion: '2' })).toEqual({ record: null });
    expect(parseConsentRecord(JSON.stringify([valid]), { policyVersion: '2' }).problem?.code).toBe('STORED_DATA_UNREADABLE');
    expect(parseConsentRecord(JSON.stringify({ ...valid, decidedAt: 'yesterday' }), { policyVersion: '2' }).problem?.code).toBe('STORED_DATA_UNREADABLE');
    expect(parseConsentRecord(JSON.stringify(valid), { policyVersion: '2', maxAgeDays: 1, now: 1000 + 2 * 86_400_000 }).problem?.code).toBe('STORED_DECISION_EXPIRED');
  });

  it('parseConsentRecord reads a stored reset as no decision, and a malformed one as unreadable', () => {
    const rules = { policyVersion: '2', now: 2000 };
    expect(parseConsentRecord(JSON.stringify({ reset: true, decidedAt: 1000 }), rules)).toEqual({ record: null, reset: true });
    for (const bad of [{ reset: 'yes', decidedAt: 1000 }, { reset: true, decidedAt: 3000 }, { reset: true, decidedAt: -1 }, { reset: true, decidedAt: 1000, level: 'full' }]) {
      expect(parseConsentRecord(JSON.stringify(bad), rules)).toMatchObject({ record: null, problem: { code: 'STORED_DATA_UNREADABLE' } });
    }
  });

  it('passes the chart to an inspector', async () => {
    const seen: string[] = [];
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: 'http://127.0.0.1:9' }), inspect: (event) => seen.push(event.type) });
    await consent.setLevel('none', 'banner');
    expect(seen).toContain('@xstate.snapshot');
    expect(seen).toContain('@xstate.event');
    consent.stop();
  });
});
