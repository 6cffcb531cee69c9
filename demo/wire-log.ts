import { minLevel, type ConsentLevel } from '../machines/levels.js';
import type { CollectedEvent } from '../src/testing/collected-event.js';

/** One event the collector received, with what the demo knows of it. */
export interface WireRow {
  readonly event: CollectedEvent;
  /** The name the demo gave it when it was tracked (`click #3`). */
  readonly label: string;
  /** The level in force when it was tracked (`undefined`: not known yet, or not tracked by the demo). */
  readonly capturedAt: ConsentLevel | undefined;
  /** The level in force when the collector received it. */
  readonly sentAt: ConsentLevel;
  /** The lowest level in force from its capture to its arrival: what it may carry at most. */
  readonly allowed: ConsentLevel | undefined;
  /** How many withdrawals (a level left `full` for a lower one) came before it was received. */
  readonly period: number;
}

/** The demo's name of an event: a structured event's action, a page view's title, a screen view's name. */
export function labelOf(event: CollectedEvent): string {
  if (event.payload.se_ac !== undefined) return event.payload.se_ac;
  if (event.payload.page !== undefined) return event.payload.page;
  const data = (event.selfDescribingEvent?.data ?? {}) as { name?: unknown };
  return typeof data.name === 'string' ? data.name : (event.payload.e ?? '?');
}

/**
 * What the demo records beside a collector: the level at which each event was tracked, the
 * levels in force until it arrived, and the level in force (and the withdrawals so far) as each
 * event arrives, so that each one is checked against the lowest of them, as the library treats it.
 */
export function createWireLog(collector: { events(): CollectedEvent[] }, initial: ConsentLevel = 'off') {
  let level = initial;
  let period = 0;
  let tracked = 0;
  const waiting = new Set<() => void>();
  /** Events tracked and not yet received, by name: the level they were tracked at, and the lowest since. */
  const captured = new Map<string, { at: ConsentLevel; lowest: ConsentLevel }>();
  const received = new Map<string, { sentAt: ConsentLevel; period: number }>();
  /** Notes the level in force for every event that arrived since the last look. */
  const sweep = () => {
    for (const [index, event] of collector.events().entries()) {
      const key = event.id ?? `#${index}`;
      if (!received.has(key)) received.set(key, { sentAt: level, period });
    }
  };
  /** Resolves once `done()` holds, looked at each time the log changes. */
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        if (!done()) return;
        waiting.delete(wake);
        resolve();
      };
      waiting.add(wake);
      wake();
    });
  const wakeAll = () => {
    for (const wake of [...waiting]) wake();
  };
  const arrived = () => new Set(collector.events().map(labelOf));
  return {
    level: () => level,
    /** The level in force changed (the same level again changes nothing). */
    setLevel(next: ConsentLevel) {
      sweep();
      const labels = arrived();
      for (const [label, record] of captured) if (!labels.has(label)) record.lowest = minLevel(record.lowest, next);
      if (level === 'full' && next !== 'full') period += 1;
      level = next;
      wakeAll();
    },
    /** Resolves once `wanted` is the level in force. */
    whenLevel: (wanted: ConsentLevel) => until(() => level === wanted),
    /** Resolves once the level `count` events were tracked at is known. */
    whenCaptured: (count: number) => until(() => captured.size >= count),
    /** Names an event about to be tracked; with `at`, also records the level it is tracked at. */
    track(action: string, at?: ConsentLevel): string {
      tracked += 1;
      const label = `${action} #${tracked}`;
      if (at !== undefined) captured.set(label, { at, lowest: at });
      wakeAll();
      return label;
    },
    /** Records the level an event named by `track` was tracked at. */
    capture(label: string, at: ConsentLevel) {
      captured.set(label, { at, lowest: at });
      wakeAll();
    },
    rows(): WireRow[] {
      sweep();
      return collector.events().map((event, index) => {
        const { sentAt, period: at } = received.get(event.id ?? `#${index}`) ?? { sentAt: level, period };
        const label = labelOf(event);
        const capture = captured.get(label);
        return { event, label, capturedAt: capture?.at, sentAt, allowed: capture && minLevel(capture.lowest, sentAt), period: at };
      });
    },
  };
}

export type WireLog = ReturnType<typeof createWireLog>;
