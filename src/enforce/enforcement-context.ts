import { ConsentError, describe } from '../consent-error.js';
import { isConsentLevel, minLevel, type ConsentLevel } from '../../machines/levels.js';
import type { PolicyTable } from '../policy.js';
import type { DropReason } from '../sanitize.js';

/**
 * Where an event was dropped: at track time, in the queue, at the network boundary, or by an
 * adapter (no tracker, or a tracker's own stored queue forgotten).
 *
 * @example
 * ```ts
 * import type { EnforcementPoint } from 'consent-tracker';
 * const where: EnforcementPoint = 'fetch';
 * ```
 */
export type EnforcementPoint = 'plugin' | 'eventStore' | 'fetch' | 'adapter';

/**
 * One event that was not passed on, as reported to `onDrop`.
 *
 * @example
 * ```ts
 * import { createEnforcement, type DroppedEvent } from 'consent-tracker';
 * const drops: DroppedEvent[] = [];
 * createEnforcement({ level: () => 'none', onDrop: (drop) => drops.push(drop) });
 * ```
 */
export interface DroppedEvent {
  readonly reason: DropReason;
  readonly where: EnforcementPoint;
  /** The event id, when the payload had a readable one. */
  readonly eventId: string | undefined;
  readonly detail: string;
}

/**
 * Counters of what the enforcement points did. Nothing is lost silently: every event that was
 * not passed on is counted here by reason.
 *
 * @example
 * ```ts
 * import { createEnforcement } from 'consent-tracker';
 * const { stats } = createEnforcement({ level: () => 'off' });
 * stats().dropped.off; // 0 until something is tracked
 * ```
 */
export interface EnforcementStats {
  /** Events the plugin let through at track time. */
  readonly tracked: number;
  /** Events dropped, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Queued events rewritten because the level went down after they were tracked. */
  readonly resanitized: number;
  /** Requests the fetch guard sent, and how many of them carried `SP-Anonymous: *`. */
  readonly requests: { readonly sent: number; readonly anonymous: number; readonly refused: number };
}

/** State shared by the three enforcement points of one `createEnforcement` call. */
export interface EnforcementContext {
  readonly policy: PolicyTable;
  /** Reads the level once; a throwing or invalid level function counts as `off` and is reported. */
  readLevel(): ConsentLevel;
  /** Whether the level is the stand-in of booting: no decision is in force yet. */
  awaitingDecision(): boolean;
  /**
   * The identity events at `full` carry now: the one given after the last withdrawal, or `own`
   * (the tracker's); `undefined` until what storage holds is known.
   */
  identityMarker(): string | undefined;
  /** Whether that identity (`own`, or a replacement's id) has been withdrawn since; `false` until what storage holds is known. */
  identityWithdrawn(identity: string): boolean;
  /**
   * Whether the decision storage held at start could not be read (and no later read succeeded):
   * it may have been a withdrawal that came after what an earlier run queued.
   */
  storedDecisionUnread(): boolean;
  /** The level an event tracked now gets: the level in force, under the ceiling if one is set. */
  capLevel(level: ConsentLevel): ConsentLevel;
  /** Capture levels recorded by the plugin, waiting for the event store (or the fetch guard). */
  readonly captured: Map<string, ConsentLevel>;
  /**
   * The payload the plugin produced last (the tracker's own object, and a copy of what it held
   * then) and the level it was sanitised at: the event store keeps it without sanitising it again
   * when it arrives unchanged and its level still stands.
   */
  vouched: { readonly payload: object; readonly fields: Readonly<Record<string, unknown>>; readonly level: ConsentLevel } | undefined;
  drop(reason: DropReason, where: EnforcementPoint, eventId: unknown, detail: string): void;
  error(error: ConsentError): void;
  readonly counters: {
    tracked: number;
    resanitized: number;
    dropped: Record<DropReason, number>;
    requests: { sent: number; anonymous: number; refused: number };
  };
}

/** The plugin's capture records are bounded: past this, the oldest is forgotten (and then counts as `none`). */
const MAX_CAPTURE_RECORDS = 10_000;

export function createEnforcementContext(options: {
  policy: PolicyTable;
  level: () => ConsentLevel;
  ceiling?: (() => ConsentLevel | undefined) | undefined;
  awaitingDecision?: (() => boolean) | undefined;
  identityMarker?: (() => string | undefined) | undefined;
  identityWithdrawn?: ((identity: string) => boolean) | undefined;
  storedDecisionUnread?: (() => boolean) | undefined;
  onDrop?: ((drop: DroppedEvent) => void) | undefined;
  onError?: ((error: ConsentError) => void) | undefined;
}): EnforcementContext {
  const counters: EnforcementContext['counters'] = {
    tracked: 0,
    resanitized: 0,
    dropped: { off: 0, malformed: 0, overflow: 0, 'forbidden-identifier': 0, 'unreadable-stored': 0, 'no-tracker': 0, forgotten: 0, rejected: 0, stopped: 0, 'too-large': 0 },
    requests: { sent: 0, anonymous: 0, refused: 0 },
  };
  const captured = new Map<string, ConsentLevel>();
  const notify = <T>(listener: ((value: T) => void) | undefined, value: T) => {
    try {
      listener?.(value);
    } catch {
      // A throwing listener must not stop enforcement; the counters still hold the truth.
    }
  };
  const context: EnforcementContext = {
    policy: options.policy,
    captured,
    counters,
    vouched: undefined,
    readLevel() {
      let level: unknown;
      try {
        level = options.level();
      } catch (cause) {
        context.error(new ConsentError('INVALID_LEVEL', 'the level function threw; enforcing off', { cause }));
        return 'off';
      }
      if (isConsentLevel(level)) return level;
      context.error(new ConsentError('INVALID_LEVEL', `the level function returned ${describe(level)}; enforcing off`));
      return 'off';
    },
    awaitingDecision() {
      try {
        return options.awaitingDecision?.() === true;
      } catch {
        return false;
      }
    },
    identityMarker: () => options.identityMarker?.(),
    identityWithdrawn: (identity) => options.identityWithdrawn?.(identity) === true,
    storedDecisionUnread: () => options.storedDecisionUnread?.() === true,
    capLevel(level) {
      let ceiling: unknown;
      try {
        ceiling = options.ceiling?.();
      } catch {
        return 'off';
      }
      if (ceiling === undefined) return level;
      return isConsentLevel(ceiling) ? minLevel(level, ceiling) : 'off';
    },
    drop(reason, where, eventId, detail) {
      counters.dropped[reason] += 1;
      notify(options.onDrop, { reason, where, eventId: typeof eventId === 'string' ? eventId : undefined, detail });
    },
    error(error) {
      notify(options.onError, error);
    },
  };
  const set = captured.set.bind(captured);
  captured.set = (eventId, level) => {
    if (captured.size >= MAX_CAPTURE_RECORDS) captured.delete(captured.keys().next().value as string);
    return set(eventId, level);
  };
  return context;
}
