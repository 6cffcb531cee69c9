import type { ConsentLevel } from '../machines/levels.js';
import type { CollectedEvent } from '../src/testing/collected-event.js';

/** One event the collector received, with what the demo knows of it. */
export interface WireRow {
  readonly event: CollectedEvent;
  /** The name the demo gave it when it was tracked (`click #3`). */
  readonly label: string;
  /** The level in force when it was tracked (`undefined`: not tracked by the demo). */
  readonly capturedAt: ConsentLevel | undefined;
  /** The level in force when the collector received it. */
  readonly sentAt: ConsentLevel;
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
 * What the demo records beside a collector: the level at which each event was tracked, and the
 * level in force (and the withdrawals so far) as each event arrives, so that each one is checked
 * against the lower of the two.
 */
export function createWireLog(collector: { events(): CollectedEvent[] }, initial: ConsentLevel = 'off') {
  let level = initial;
  let period = 0;
  let tracked = 0;
  const waiting = new Set<() => void>();
  const captured = new Map<string, ConsentLevel>();
  const received = new Map<string, { sentAt: ConsentLevel; period: number }>();
  /** Notes the level in force for every event that arrived since the last look. */
  const sweep = () => {
    for (const [index, event] of collector.events().entries()) {
      const key = event.id ?? `#${index}`;
      if (!received.has(key)) received.set(key, { sentAt: level, period });
    }
  };
  return {
    level: () => level,
    /** The level in force changed (the same level again changes nothing). */
    setLevel(next: ConsentLevel) {
      sweep();
      if (level === 'full' && next !== 'full') period += 1;
      level = next;
      for (const wake of waiting) wake();
    },
    /** Resolves once `wanted` is the level in force. */
    whenLevel(wanted: ConsentLevel): Promise<void> {
      return new Promise((resolve) => {
        const wake = () => {
          if (level !== wanted) return;
          waiting.delete(wake);
          resolve();
        };
        waiting.add(wake);
        wake();
      });
    },
    /** An event is about to be tracked at `at`: returns its name. */
    track(action: string, at: ConsentLevel): string {
      tracked += 1;
      const label = `${action} #${tracked}`;
      captured.set(label, at);
      return label;
    },
    rows(): WireRow[] {
      sweep();
      return collector.events().map((event, index) => {
        const { sentAt, period: at } = received.get(event.id ?? `#${index}`) ?? { sentAt: level, period };
        return { event, label: labelOf(event), capturedAt: captured.get(labelOf(event)), sentAt, period: at };
      });
    },
  };
}

export type WireLog = ReturnType<typeof createWireLog>;
