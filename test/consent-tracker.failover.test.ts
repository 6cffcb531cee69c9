/**
 * A change that fails or times out while forgetting, with a decision waiting: the decision goes
 * ahead, stays stored, and a retry never brings back a level above it; and the same decision
 * again after a failure is a new attempt. Found by a sixth review; each was a defect.
 */
import { describe, expect, it } from 'vitest';
import { createConsentTracker, memoryStorage } from 'consent-tracker';
import { heldAdapter } from './helpers/held-adapter.js';
import { storedLevel, tick } from './helpers/app-device.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();

describe('a decision made while forgetting, then the forgetting fails', () => {
  it('reset(), off while forgetting, forgetting fails: off stays stored and a retry does not bring back none', async () => {
    const storage = memoryStorage();
    const control = heldAdapter(collector.current.url);
    // Short: the waiting decision's own change is left held, and times out.
    const consent = createConsentTracker({ adapter: control.adapter, storage, applyTimeoutMs: 200, onError: () => undefined });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    control.setHold(true);
    const forget = consent.reset();
    const off = consent.setLevel('off', 'settings'); // the user's latest word: off, enforced and stored at once
    expect(consent.getLevel()).toBe('off');
    await tick();
    expect(storedLevel(storage)).toBe('off');
    control.failApply(); // the forgetting fails
    await Promise.allSettled([forget, off]);
    await tick();
    // The user's latest decision is off: a restart must not find "no decision" (none).
    expect.soft(storedLevel(storage)).toBe('off');
    control.setHold(false);
    consent.actor.send({ type: 'CONSENT.RETRY' });
    await tick(50);
    // A retry must not put a level above the user's latest decision in force.
    expect.soft(consent.getLevel()).toBe('off');
    await consent.stop();
  });

  it('reset(), off while forgetting, forgetting times out: setLevel(off) does not reject, off is stored', async () => {
    const storage = memoryStorage();
    const control = heldAdapter(collector.current.url);
    const consent = createConsentTracker({ adapter: control.adapter, storage, applyTimeoutMs: 100, onError: () => undefined });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    control.setHold(true);
    const forget = consent.reset().catch(() => undefined);
    const off = consent.setLevel('off', 'settings');
    // The forgetting times out (100 ms); off goes ahead, and its own change is let through.
    await expect.poll(() => consent.getStatus().target, { timeout: 2000 }).toBe('off');
    control.setHold(false);
    control.finishApply();
    const outcome = await off.then(() => 'resolved', (e: Error) => `rejected: ${e.message}`);
    await forget;
    // Like a change that fails while applying: the waiting decision goes ahead.
    expect(outcome).toBe('resolved');
    expect(consent.getStatus().target).toBe('off');
    expect(storedLevel(storage)).toBe('off');
    await consent.stop();
  });

  it('reset(), full while forgetting, forgetting fails: the grant is not lost', async () => {
    const storage = memoryStorage();
    const control = heldAdapter(collector.current.url);
    const consent = createConsentTracker({ adapter: control.adapter, storage, onError: () => undefined });
    await consent.ready;
    await consent.setLevel('full', 'banner');
    control.setHold(true);
    const forget = consent.reset().catch(() => undefined);
    const full = consent.setLevel('full', 'again').then(() => 'resolved', (e: Error) => `rejected: ${e.message}`);
    await tick();
    control.setHold(false);
    control.failApply();
    const outcome = await full;
    await forget;
    expect(outcome).toBe('resolved');
    expect(consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    expect(storedLevel(storage)).toBe('full');
    await consent.stop();
  });
});

describe('the same decision again after it failed', () => {
  it('setLevel(full) after setLevel(full) failed tries again rather than rejecting at once with the old error', async () => {
    const control = heldAdapter(collector.current.url);
    const consent = createConsentTracker({ adapter: control.adapter, storage: memoryStorage(), onError: () => undefined });
    await consent.ready;
    control.setHold(true);
    const first = consent.setLevel('full', 'banner');
    await Promise.resolve();
    control.setHold(false);
    control.failApply();
    await expect(first).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    // The user presses "Accept" again: the adapter now works.
    const second = consent.setLevel('full', 'banner').then(() => 'resolved', (e: Error) => `rejected: ${e.message}`);
    expect(await second).toBe('resolved');
    expect(consent.getStatus()).toMatchObject({ phase: 'active', level: 'full' });
    await consent.stop();
  });
});
