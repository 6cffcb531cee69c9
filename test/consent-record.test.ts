import { describe, expect, it } from 'vitest';
import type { ConsentRecord } from 'consent-tracker';
import { createRecordWriter } from '../src/consent-record.js';
import { faultyStorage, onDecision } from './helpers/faulty-storage.js';

/**
 * The writer of the stored decision after a failed write (the chart's `clearing`): the stored
 * decision is removed and the decision written again right behind, both made at once.
 */

const KEY = 'consent-tracker.decision';
const OFF: ConsentRecord = { level: 'off', decidedAt: 1000, policyVersion: '1', source: 'settings' };
const stored = (faults: ReturnType<typeof faultyStorage>) => faults.entries.get(KEY);
const decisionCalls = (faults: ReturnType<typeof faultyStorage>) => faults.calls.filter(onDecision()).map((call) => call.op);

describe('clearing the stored decision after a failed write', () => {
  it('removes it and writes the decision again, both made within the call: the decision is stored', async () => {
    const faults = faultyStorage();
    faults.entries.set(KEY, JSON.stringify({ ...OFF, level: 'full' }));
    const writer = createRecordWriter(faults.storage, KEY, 1000);
    const clearing = writer.clear(OFF);
    expect(decisionCalls(faults)).toEqual(['removeItem', 'setItem']);
    await expect(clearing).resolves.toBe('rewritten');
    expect(JSON.parse(stored(faults) ?? 'null')).toEqual(OFF);
  });

  it('a storage that refuses writes but takes removals: the grant is removed, and the write is left to a retry', async () => {
    const faults = faultyStorage();
    faults.entries.set(KEY, JSON.stringify({ ...OFF, level: 'full' }));
    faults.fail(onDecision('setItem'));
    await expect(createRecordWriter(faults.storage, KEY, 1000).clear(OFF)).resolves.toBe('removed');
    expect(stored(faults)).toBeUndefined();
  });

  it('neither landing rejects with STORAGE_FAILED, naming the removal', async () => {
    const faults = faultyStorage();
    faults.entries.set(KEY, JSON.stringify({ ...OFF, level: 'full' }));
    faults.fail(onDecision());
    await expect(createRecordWriter(faults.storage, KEY, 1000).clear(OFF)).rejects.toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringContaining('remove the stored decision') });
    expect(JSON.parse(stored(faults) ?? 'null')).toMatchObject({ level: 'full' });
  });

  it('does not wait for a write that hangs; a storage that then lands every call in order ends with the decision', async () => {
    const faults = faultyStorage();
    faults.entries.set(KEY, JSON.stringify({ ...OFF, level: 'full' }));
    const hung = faults.stall(onDecision());
    const writer = createRecordWriter(faults.storage, KEY, 20);
    await expect(writer.write(OFF)).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    const clearing = writer.clear(OFF);
    expect(decisionCalls(faults)).toEqual(['setItem', 'removeItem', 'setItem']);
    await expect(clearing).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    hung.release();
    // The calls land in one turn of the event loop: the write, the removal, the write again.
    await new Promise((resolve) => setImmediate(resolve));
    expect(JSON.parse(stored(faults) ?? 'null')).toEqual(OFF);
  });
});
