import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, waitFor } from 'xstate';
import { consentMachine, type ConsentMachineInput, type LoadOutput } from '../machines/consent.machine.js';
import { createControllableApply, loadsDecision } from './helpers/controllable-apply.js';

function start(load: LoadOutput = { record: null }, input: ConsentMachineInput = {}) {
  const apply = createControllableApply();
  const actor = createActor(consentMachine.provide({ actors: { apply: apply.logic, loadDecision: loadsDecision(load) } }), { input }).start();
  return { actor, apply, context: () => actor.getSnapshot().context, value: () => actor.getSnapshot().value };
}

const settle = async (actor: ReturnType<typeof start>['actor']) => waitFor(actor, (s) => !s.hasTag('busy'));
const record = (level: 'full' | 'none' | 'session-only' | 'off') => ({ level, decidedAt: 1, policyVersion: '1', source: 'test' });

afterEach(() => vi.useRealTimers());

describe('consent machine', () => {
  it('boots to undecided without a stored decision, enforcing the undecided level', async () => {
    const { actor, context, value } = start();
    expect(context().enforced).toBe('none');
    await waitFor(actor, (s) => s.matches('undecided'));
    expect(value()).toBe('undecided');
    expect(context().enforced).toBe('none');
  });

  it('never enforces more than none while booting, whatever the undecided level', () => {
    const { context } = start({ record: null }, { undecidedLevel: 'full' });
    expect(context().enforced).toBe('none');
  });

  it('boots into the stored level, raising it only once applied', async () => {
    const { actor, apply, context } = start({ record: record('full') });
    await waitFor(actor, (s) => s.matches({ full: 'applying' }));
    expect(context().enforced).toBe('none');
    apply.resolveNext();
    await settle(actor);
    expect(actor.getSnapshot().matches({ full: 'active' })).toBe(true);
    expect(context().enforced).toBe('full');
  });

  it('lowers the enforced level synchronously on a downgrade', async () => {
    const { actor, apply, context } = start({ record: record('full') });
    await waitFor(actor, (s) => s.matches({ full: 'applying' }));
    apply.resolveNext();
    await settle(actor);
    actor.send({ type: 'CONSENT.SET', level: 'none', source: 'banner' });
    expect(context().enforced).toBe('none');
    expect(actor.getSnapshot().matches({ none: 'applying' })).toBe(true);
    expect(apply.calls[0]?.input).toMatchObject({ level: 'none', from: 'none', record: { level: 'none', source: 'banner' } });
  });

  it('raises the enforced level only when an upgrade has been applied', async () => {
    const { actor, apply, context } = start();
    await waitFor(actor, (s) => s.matches('undecided'));
    actor.send({ type: 'CONSENT.SET', level: 'full', source: 'banner' });
    expect(context().enforced).toBe('none');
    apply.resolveNext();
    await settle(actor);
    expect(context().enforced).toBe('full');
    expect(context().record).toMatchObject({ level: 'full', source: 'banner', policyVersion: '1' });
  });

  it.each([
    [{ type: 'CONSENT.SET', level: 'everything', source: 'x' }, 'INVALID_LEVEL'],
    [{ type: 'CONSENT.SET', level: 'full' }, 'INVALID_EVENT'],
    [{ type: 'CONSENT.SET', level: 'full', source: '' }, 'INVALID_EVENT'],
    [{ type: 'CONSENT.SET', level: 'none', source: 'x' }, 'SAME_LEVEL'],
  ])('rejects %j with %s and leaves the state unchanged', async (event, code) => {
    const { actor, apply, context } = start({ record: record('none') });
    await waitFor(actor, (s) => s.matches({ none: 'applying' }));
    apply.resolveNext();
    await settle(actor);
    const before = actor.getSnapshot();
    actor.send(event as never);
    expect(actor.getSnapshot().value).toEqual(before.value);
    expect(context().enforced).toBe('none');
    expect(context().error?.code).toBe(code);
    expect(apply.calls).toHaveLength(0);
  });

  it('fails closed when apply fails, and leaves failed on retry', async () => {
    const { actor, apply, context } = start();
    await waitFor(actor, (s) => s.matches('undecided'));
    actor.send({ type: 'CONSENT.SET', level: 'full', source: 'x' });
    apply.rejectNext(new Error('tracker gone'));
    await waitFor(actor, (s) => s.matches('failed'));
    expect(context()).toMatchObject({ enforced: 'none', error: { code: 'APPLY_FAILED', message: 'tracker gone' } });
    actor.send({ type: 'CONSENT.RETRY' });
    expect(actor.getSnapshot().matches({ full: 'applying' })).toBe(true);
    apply.resolveNext();
    await settle(actor);
    expect(context()).toMatchObject({ enforced: 'full', error: null });
  });

  it('fails closed when apply hangs past the timeout', async () => {
    vi.useFakeTimers();
    const { actor, context } = start({ record: null }, { applyTimeoutMs: 500 });
    await vi.waitFor(() => expect(actor.getSnapshot().matches('undecided')).toBe(true));
    actor.send({ type: 'CONSENT.SET', level: 'session-only', source: 'x' });
    await vi.advanceTimersByTimeAsync(499);
    expect(actor.getSnapshot().matches({ sessionOnly: 'applying' })).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(actor.getSnapshot().matches('failed')).toBe(true);
    expect(context()).toMatchObject({ enforced: 'none', error: { code: 'APPLY_TIMEOUT' } });
    actor.send({ type: 'CONSENT.SET', level: 'off', source: 'x' });
    expect(context().enforced).toBe('off');
  });

  it('holds a change that arrives while applying, enforcing a downgrade at once', async () => {
    const { actor, apply, context } = start();
    await waitFor(actor, (s) => s.matches('undecided'));
    actor.send({ type: 'CONSENT.SET', level: 'full', source: 'x' });
    actor.send({ type: 'CONSENT.SET', level: 'off', source: 'y' });
    expect(context()).toMatchObject({ enforced: 'off', pending: { level: 'off', source: 'y' } });
    apply.resolveNext();
    await waitFor(actor, (s) => s.matches({ off: 'applying' }));
    expect(context().enforced).toBe('off');
    apply.resolveNext();
    await settle(actor);
    expect(context()).toMatchObject({ enforced: 'off', pending: null, record: { level: 'off', source: 'y' } });
  });

  it('forgets the decision on reset and goes back to undecided', async () => {
    const { actor, apply, context } = start({ record: record('full') });
    await waitFor(actor, (s) => s.matches({ full: 'applying' }));
    apply.resolveNext();
    await settle(actor);
    actor.send({ type: 'CONSENT.RESET' });
    expect(context().enforced).toBe('none');
    expect(apply.calls[0]?.input).toEqual({ level: 'none', from: 'none', record: null });
    apply.resolveNext();
    await waitFor(actor, (s) => s.matches('undecided'));
    expect(context()).toMatchObject({ record: null, enforced: 'none', target: null });
  });

  it('reports an unreadable stored decision and boots undecided', async () => {
    const { actor, context } = start({ record: null, problem: { code: 'STORED_DATA_UNREADABLE', message: 'bad shape' } });
    await waitFor(actor, (s) => s.matches('undecided'));
    expect(context().error).toEqual({ code: 'STORED_DATA_UNREADABLE', message: 'bad shape' });
  });

  it('counts what the gate held, released and dropped', async () => {
    const { actor, context } = start();
    actor.send({ type: 'GATE.COUNT', held: 3 });
    actor.send({ type: 'GATE.COUNT', released: 2, dropped: 1 });
    expect(context().counters).toEqual({ held: 3, released: 2, dropped: 1 });
  });
});
