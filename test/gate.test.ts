import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConsentAdapter, ConsentLevel } from 'consent-tracker';
import { Gate, type GateView } from '../src/gate.js';

/** A call the adapter replayed, with the level it was sent with. */
interface Replayed {
  readonly method: string;
  readonly args: unknown[];
  readonly timestamp: number;
  readonly level: ConsentLevel;
}

/** A tracker whose calls are recorded: `track*` events, an ordered setter, an ordered call with an answer, and a call of neither kind. */
function fakeTracker() {
  const direct: string[] = [];
  return {
    direct,
    name: 'fake',
    trackerVersion: 'fake-1',
    [Symbol.for('fake.method')]: () => 'symbol-keyed',
    trackEvent: (label: string) => void direct.push(`trackEvent ${label}`),
    setUserId: (id: string) => void direct.push(`setUserId ${id}`),
    getSessionId: (_reason?: string) => Promise.resolve('direct-session'),
    getDomainUserId: () => 'direct-duid',
  };
}

type FakeTracker = ReturnType<typeof fakeTracker>;

/**
 * A gate over a fake tracker and an adapter that records every replay (and throws for the
 * label `throws`), with `limit` held events at most. Its view starts holding, as the gate does.
 */
function gateOver(limit = 10) {
  const tracker = fakeTracker();
  const replayed: Replayed[] = [];
  const stopped: string[] = [];
  const adapter = {
    orderedMethods: ['setUserId', 'getSessionId'],
    asyncMethods: ['getSessionId'],
    replay: (_tracker: FakeTracker, method: string, args: unknown[], timestamp: number, level: ConsentLevel) => {
      if (args[0] === 'throws') throw new Error('the tracker threw');
      replayed.push({ method, args, timestamp, level });
      return `${method} replayed`;
    },
  } as unknown as ConsentAdapter<FakeTracker>;
  const gate = new Gate(adapter, tracker, limit, (detail) => stopped.push(detail));
  return { gate, tracker, replayed, stopped, app: gate.facade };
}

/** A view of the chart: open at `full` unless told otherwise. */
const view = (over: Partial<GateView> = {}): GateView => ({ holding: false, started: true, cap: 'full', bootCap: 'full', target: 'full', enforced: 'full', ...over });

afterEach(() => {
  vi.useRealTimers();
});

describe('what the gate lets through', () => {
  it('passes calls that are neither track* nor ordered straight to the tracker, even while holding', () => {
    const { app, tracker } = gateOver();
    expect(app.getDomainUserId()).toBe('direct-duid');
    expect(app.name).toBe('fake');
    expect(app.trackerVersion).toBe('fake-1');
    expect(app[Symbol.for('fake.method')]?.()).toBe('symbol-keyed');
    expect(Reflect.get(app, Symbol.toStringTag)).toBeUndefined();
    expect(tracker.direct).toEqual([]);
  });

  it('holds track* and ordered calls while the chart holds, and sends nothing of them', () => {
    const { app, tracker, replayed, gate } = gateOver();
    expect(app.trackEvent('a')).toBeUndefined();
    app.setUserId('u');
    gate.follow(view({ holding: true }));
    expect(tracker.direct).toEqual([]);
    expect(replayed).toEqual([]);
    expect(gate.counters()).toEqual({ held: 1, released: 0, dropped: 0 });
  });

  it('calls the tracker directly once open with nothing held', () => {
    const { app, tracker, replayed, gate } = gateOver();
    gate.follow(view());
    app.trackEvent('a');
    app.setUserId('u');
    expect(tracker.direct).toEqual(['trackEvent a', 'setUserId u']);
    expect(replayed).toEqual([]);
    expect(gate.counters()).toEqual({ held: 0, released: 0, dropped: 0 });
  });

  it('holds a call made while earlier calls are still held, keeping its place after them', () => {
    const { app, tracker, replayed, gate } = gateOver();
    app.trackEvent('a');
    gate.follow(view({ holding: true }));
    app.trackEvent('b');
    expect(tracker.direct).toEqual([]);
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['a', 'b']);
  });

  it('answers a call that asks for an answer at once once the tracker has started, even while holding', async () => {
    const { app, gate } = gateOver();
    gate.follow(view({ holding: true, started: true }));
    await expect(app.getSessionId()).resolves.toBe('direct-session');
  });

  it('holds a call that asks for an answer before the tracker has started, and answers it with the replay', async () => {
    const { app, gate, replayed } = gateOver();
    const answer = app.getSessionId();
    expect(answer).toBeInstanceOf(Promise);
    gate.follow(view());
    await expect(answer).resolves.toBe('getSessionId replayed');
    expect(replayed.map((r) => r.method)).toEqual(['getSessionId']);
  });

  it('answers a held setter with nothing (only calls that ask for an answer get a promise)', () => {
    const { app } = gateOver();
    expect(app.setUserId('u')).toBeUndefined();
  });
});

describe('releasing what was held', () => {
  it('replays held calls in order, with the arguments and the time they were made', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000);
    const { app, replayed, gate } = gateOver();
    app.trackEvent('a');
    vi.setSystemTime(2_000);
    app.setUserId('u');
    vi.setSystemTime(3_000);
    gate.follow(view());
    expect(replayed).toEqual([
      { method: 'trackEvent', args: ['a'], timestamp: 1_000, level: 'full' },
      { method: 'setUserId', args: ['u'], timestamp: 2_000, level: 'full' },
    ]);
    expect(gate.counters()).toEqual({ held: 1, released: 1, dropped: 0 });
  });

  it('counts an event the tracker threw on as dropped, and goes on with the rest', async () => {
    const { app, replayed, gate } = gateOver();
    app.trackEvent('throws');
    app.setUserId('throws');
    const answer = app.getSessionId('throws');
    app.trackEvent('b');
    gate.follow(view());
    await expect(answer).resolves.toBeUndefined();
    expect(replayed.map((r) => r.args[0])).toEqual(['b']);
    expect(gate.counters()).toEqual({ held: 2, released: 1, dropped: 1 });
  });

  it('stops releasing when the chart holds again during a replay', () => {
    const { app, replayed, gate } = gateOver();
    app.trackEvent('a');
    gate.inOrder(() => gate.follow(view({ holding: true })));
    app.trackEvent('b');
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['a']);
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['a', 'b']);
  });
});

describe('the level a held call is sent with', () => {
  it('is lowered by the level enforced while it waits, and never raised again', () => {
    const { app, replayed, gate } = gateOver();
    gate.follow(view({ holding: true, cap: 'full' }));
    app.trackEvent('a');
    gate.follow(view({ holding: true, cap: 'none', enforced: 'none', target: 'none' }));
    gate.follow(view({ holding: true, cap: 'full', enforced: 'full', target: 'full' }));
    gate.follow(view());
    expect(replayed.map((r) => r.level)).toEqual(['none']);
  });

  it('is lowered by the level enforced while a decision is applied, though the decision stays', () => {
    const { app, replayed, gate } = gateOver();
    gate.follow(view({ holding: true, cap: 'full', target: 'full' }));
    app.trackEvent('a');
    gate.follow(view({ holding: true, cap: 'none', target: 'full', enforced: 'none' }));
    gate.follow(view());
    expect(replayed.map((r) => r.level)).toEqual(['none']);
  });

  it('is at most the cap it was held under', () => {
    const { app, replayed, gate } = gateOver();
    gate.follow(view({ holding: true, cap: 'session-only', enforced: 'full' }));
    app.trackEvent('a');
    gate.follow(view());
    expect(replayed.map((r) => r.level)).toEqual(['session-only']);
  });

  it('is at most the level enforced when it is released', () => {
    const { app, replayed, gate } = gateOver();
    gate.follow(view({ holding: true, cap: 'full' }));
    app.trackEvent('a');
    gate.follow(view({ enforced: 'session-only', target: 'session-only' }));
    expect(replayed.map((r) => r.level)).toEqual(['session-only']);
  });

  it('held before its level was known, takes the boot cap once known, then only decisions lower it', () => {
    const { app, replayed, gate } = gateOver();
    app.trackEvent('a');
    gate.follow(view({ holding: true, cap: undefined, bootCap: undefined, target: null, enforced: 'off' }));
    gate.follow(view({ holding: true, bootCap: 'full', target: 'none', enforced: 'off' }));
    // The same target again is no new decision, and the level enforced meanwhile does not count.
    gate.follow(view({ holding: true, bootCap: 'none', target: 'none', enforced: 'off' }));
    gate.follow(view({ bootCap: 'none', target: 'none', enforced: 'full' }));
    expect(replayed.map((r) => r.level)).toEqual(['full']);
  });

  it('held before its level was known, is lowered by a decision made while it waits', () => {
    const { app, replayed, gate } = gateOver();
    app.trackEvent('a');
    gate.follow(view({ holding: true, bootCap: 'full', target: 'full', enforced: 'off' }));
    gate.follow(view({ holding: true, bootCap: 'full', target: 'session-only', enforced: 'off' }));
    gate.follow(view({ holding: true, bootCap: 'full', target: null, enforced: 'off' }));
    gate.follow(view({ bootCap: 'full', target: 'full', enforced: 'full' }));
    expect(replayed.map((r) => r.level)).toEqual(['session-only']);
  });

  it('held before its level was known and released with none known, is sent at the level enforced', () => {
    const { app, replayed, gate } = gateOver();
    app.trackEvent('a');
    gate.follow(view({ bootCap: undefined, target: null, enforced: 'none' }));
    expect(replayed.map((r) => r.level)).toEqual(['none']);
  });

  it('held during a release before its level was known, takes the boot cap', () => {
    const { app, replayed, gate } = gateOver();
    app.trackEvent('a');
    // A step of the release calls the app while 'b' is still held: the call is held after it.
    gate.inOrder(() => app.trackEvent('from-a-step'));
    app.trackEvent('b');
    gate.follow(view({ cap: undefined, bootCap: 'none', target: 'full', enforced: 'full' }));
    expect(replayed.map((r) => [r.args[0], r.level])).toEqual([
      ['a', 'none'],
      ['b', 'none'],
      ['from-a-step', 'none'],
    ]);
  });
});

describe('past the limit', () => {
  it('drops the oldest held event and counts it; calls that are not events keep their place', () => {
    const { app, replayed, gate } = gateOver(2);
    app.setUserId('u');
    app.trackEvent('a');
    app.trackEvent('b');
    app.trackEvent('c');
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['u', 'b', 'c']);
    expect(gate.counters()).toEqual({ held: 3, released: 2, dropped: 1 });
  });

  it('counts held events out as they are released, so that the limit applies to what is held now', () => {
    const { app, replayed, gate } = gateOver(1);
    app.trackEvent('a');
    gate.follow(view());
    gate.follow(view({ holding: true }));
    app.trackEvent('b');
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['a', 'b']);
    expect(gate.counters()).toEqual({ held: 2, released: 2, dropped: 0 });
  });

  it('counts from what is held now after events were dropped and released', () => {
    const { app, replayed, gate } = gateOver(2);
    for (const label of ['a', 'b', 'c']) app.trackEvent(label);
    gate.follow(view());
    gate.follow(view({ holding: true }));
    app.trackEvent('d');
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['b', 'c', 'd']);
  });

  it('counts only events, not the other calls released with them', () => {
    const { app, replayed, gate } = gateOver(1);
    app.setUserId('u');
    app.trackEvent('a');
    gate.follow(view());
    gate.follow(view({ holding: true }));
    app.trackEvent('b');
    app.trackEvent('c');
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['u', 'a', 'c']);
    expect(gate.counters().dropped).toBe(1);
  });
});

describe("the consent tracker's own steps", () => {
  it('are made at once when nothing is held and the chart is open', () => {
    const { gate } = gateOver();
    gate.follow(view());
    const step = vi.fn();
    gate.inOrder(step);
    expect(step).toHaveBeenCalledOnce();
  });

  it('wait while the chart holds, even with nothing held', () => {
    const { gate } = gateOver();
    gate.follow(view({ holding: true }));
    const step = vi.fn();
    gate.inOrder(step);
    expect(step).not.toHaveBeenCalled();
    gate.follow(view());
    expect(step).toHaveBeenCalledOnce();
  });

  it('come after the calls held before them, before those made after', () => {
    const { app, gate, replayed } = gateOver();
    const order: string[] = [];
    app.setUserId('before');
    gate.follow(view({ holding: true }));
    gate.inOrder(() => order.push(`step after ${replayed.map((r) => r.args[0]).join(',')}`));
    app.setUserId('after');
    gate.follow(view());
    expect(order).toEqual(['step after before']);
    expect(replayed.map((r) => r.args[0])).toEqual(['before', 'after']);
  });

  it('taken during a release, wait for the calls still held', () => {
    const { app, gate, replayed } = gateOver();
    const order: string[] = [];
    gate.inOrder(() => gate.inOrder(() => order.push(`step after ${replayed.map((r) => r.args[0]).join(',')}`)));
    app.setUserId('held');
    gate.follow(view());
    expect(order).toEqual(['step after held']);
  });

  it('are made at once after a stop', () => {
    const { gate } = gateOver();
    gate.stop();
    const step = vi.fn();
    gate.inOrder(step);
    expect(step).toHaveBeenCalledOnce();
  });
});

describe('a stop', () => {
  it('drops the held events (counted), makes the held steps and answers held calls with nothing', async () => {
    const { app, gate, replayed, stopped } = gateOver();
    app.trackEvent('a');
    app.setUserId('u');
    const answer = app.getSessionId();
    const step = vi.fn();
    gate.inOrder(step);
    gate.stop();
    expect(stopped).toEqual(['trackEvent: held when the consent tracker stopped']);
    expect(step).toHaveBeenCalledOnce();
    await expect(answer).resolves.toBeUndefined();
    gate.follow(view());
    expect(replayed).toEqual([]);
  });

  it('drops every event tracked after it (counted), and answers calls with nothing', async () => {
    const { app, gate, tracker, stopped } = gateOver();
    gate.follow(view());
    gate.stop();
    expect(app.trackEvent('a')).toBeUndefined();
    expect(app.setUserId('u')).toBeUndefined();
    await expect(app.getSessionId()).resolves.toBeUndefined();
    expect(tracker.direct).toEqual([]);
    expect(stopped).toEqual(['trackEvent: tracked after the consent tracker stopped']);
  });

  it('ends a release under way: nothing more is replayed', () => {
    const { app, gate, replayed } = gateOver();
    app.trackEvent('a');
    gate.inOrder(() => gate.stop());
    app.trackEvent('b');
    gate.follow(view());
    expect(replayed.map((r) => r.args[0])).toEqual(['a']);
  });
});
