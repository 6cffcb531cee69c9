import type { ConsentAdapter } from './consent-adapter.js';
import { minLevel, type ConsentLevel } from '../machines/levels.js';

/**
 * What the gate counted: events held, released, and dropped past the cap. (Events held or
 * tracked when the consent tracker stopped are counted by the enforcement, as `stopped`.)
 *
 * @example
 * ```ts
 * import type { GateCounters } from 'consent-tracker';
 * const lost = (counters: GateCounters) => counters.dropped;
 * ```
 */
export interface GateCounters {
  readonly held: number;
  readonly released: number;
  readonly dropped: number;
}

/** What the gate needs to know of the chart, read from its selectors at every change. */
export interface GateView {
  /** Whether calls are held now. */
  readonly holding: boolean;
  /** Whether the tracker has started: calls that only ask for an answer need not wait longer. */
  readonly started: boolean;
  /** The most a call held now may be sent with; `undefined` while the level it was made at is not known yet. */
  readonly cap: ConsentLevel | undefined;
  /** The most calls held before their level was known may be sent with, once it is. */
  readonly bootCap: ConsentLevel | undefined;
  /** The level the tracker converges to (the user's decision, or the undecided level). */
  readonly target: ConsentLevel | null;
  /** The level enforced now. */
  readonly enforced: ConsentLevel;
}

interface HeldCall {
  readonly method: string;
  readonly args: unknown[];
  readonly timestamp: number;
  /** The most it may be sent with, lowered while it waits. */
  cap: ConsentLevel | undefined;
  /** Held before its level was known: once known, only decisions lower its cap, not the level enforced meanwhile. */
  readonly capFromDecisions: boolean;
  /** A `track*` call: counted, and dropped first past the cap. */
  readonly event: boolean;
  readonly answer?: { resolve(value: unknown): void };
  /** A step of the consent tracker's own, made in its place among the app's calls. */
  readonly step?: () => void;
}

/**
 * The gate between the app and the tracker: it holds every call made while the chart says so
 * (before the tracker exists, while a change is applied), counts what it holds, lowers the
 * level each held call may carry by every decision made while it waits, and releases the calls
 * in order through `adapter.replay`, each with that level. Past `limit` held events the oldest
 * is dropped and counted.
 */
export class Gate<Tracker extends object> {
  /** The tracker as the app sees it: `track*` calls and the adapter's ordered methods pass through the gate. */
  readonly facade: Tracker;
  private readonly held: HeldCall[] = [];
  private heldEvents = 0;
  private counts = { held: 0, released: 0, dropped: 0 };
  private view: GateView = { holding: true, started: false, cap: undefined, bootCap: undefined, target: null, enforced: 'off' };
  private stopped = false;

  constructor(
    private readonly adapter: ConsentAdapter<Tracker>,
    private readonly tracker: Tracker,
    private readonly limit: number,
    /** Counts events the gate drops because the consent tracker stopped. */
    private readonly dropStopped: (detail: string) => void,
  ) {
    const ordered = new Set(adapter.orderedMethods ?? []);
    const answers = new Set(adapter.asyncMethods ?? []);
    this.facade = new Proxy(tracker, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof property !== 'string' || typeof value !== 'function') return value;
        const event = property.startsWith('track');
        if (!event && !ordered.has(property)) return value;
        return (...args: unknown[]) => this.call(property, args, event, answers.has(property), () => (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
  }

  /** Takes note of the chart: lowers what held calls may carry, and releases them once it opens. */
  follow(view: GateView): void {
    const decided = view.target !== null && view.target !== this.view.target ? view.target : undefined;
    this.view = view;
    for (const call of this.held) {
      if (!call.capFromDecisions) call.cap = minLevel(call.cap ?? view.enforced, view.enforced);
      else if (call.cap === undefined) call.cap = view.bootCap;
      else if (decided !== undefined) call.cap = minLevel(call.cap, decided);
    }
    if (!view.holding) this.release();
  }

  counters(): GateCounters {
    return { ...this.counts };
  }

  /**
   * Makes `step` after the calls held so far, before any made from now on (at once if none is
   * held): a withdrawal's clearing of what the app set on the tracker comes after the app's
   * earlier setters, however long they are held.
   */
  inOrder(step: () => void): void {
    if (this.stopped || (!this.view.holding && this.held.length === 0)) step();
    else this.held.push({ method: '', args: [], timestamp: Date.now(), cap: undefined, capFromDecisions: false, event: false, step });
  }

  /** Drops what is held (counted), and every event tracked from now on; the consent tracker's own steps are still made. */
  stop(): void {
    this.stopped = true;
    for (const call of this.held.splice(0)) {
      if (call.event) this.dropStopped(`${call.method}: held when the consent tracker stopped`);
      call.step?.();
      call.answer?.resolve(undefined);
    }
    this.heldEvents = 0;
  }

  private call(method: string, args: unknown[], event: boolean, answered: boolean, direct: () => unknown): unknown {
    if (this.stopped) {
      if (event) this.dropStopped(`${method}: tracked after the consent tracker stopped`);
      return answered ? Promise.resolve(undefined) : undefined;
    }
    // A call that only asks for an answer waits for the tracker to exist, not for a decision.
    if ((!this.view.holding && this.held.length === 0) || (answered && this.view.started)) return direct();
    let answer: HeldCall['answer'];
    const promise = answered ? new Promise((resolve) => (answer = { resolve })) : undefined;
    const cap = this.view.cap;
    this.held.push({ method, args, timestamp: Date.now(), cap, capFromDecisions: cap === undefined, event, ...(answer && { answer }) });
    if (event) this.holdEvent();
    return promise;
  }

  private holdEvent(): void {
    this.heldEvents += 1;
    this.counts.held += 1;
    // Past the cap the oldest event goes; the calls that keep their place among events stay.
    if (this.heldEvents > this.limit) {
      this.held.splice(this.held.findIndex((c) => c.event), 1);
      this.heldEvents -= 1;
      this.counts.dropped += 1;
    }
  }

  private release(): void {
    while (this.held.length > 0 && !this.view.holding && !this.stopped) {
      const call = this.held.shift() as HeldCall;
      if (call.step) {
        call.step();
        continue;
      }
      const cap = call.cap ?? this.view.bootCap;
      const level = cap === undefined ? this.view.enforced : minLevel(cap, this.view.enforced);
      if (call.event) this.heldEvents -= 1;
      let result: unknown;
      try {
        result = this.adapter.replay(this.tracker, call.method, call.args, call.timestamp, level);
        if (call.event) this.counts.released += 1;
      } catch {
        // The tracker threw on the app's call: it was not sent, and is counted.
        if (call.event) this.counts.dropped += 1;
      }
      call.answer?.resolve(result);
    }
  }
}
