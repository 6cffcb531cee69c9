import { v4 as uuidv4 } from 'uuid';
import type { AnonymousSession } from '../sanitize.js';

/** A kept session, with the session before it in the same chain. */
export type KeptSession = AnonymousSession & { readonly previousSessionId: string | null };

interface Current {
  sessionId: string;
  sessionIndex: number;
  eventCount: number;
  firstEventId: string | null;
  firstEventTimestamp: string | null;
  realSessionId: string | undefined;
}

/**
 * Keeps the sessions that replace the tracker's own: the anonymous session at `session-only`, and
 * the sessions of a new identity after a re-consent. A new session starts when `rotate()` is
 * called (on entering the level) and whenever the tracker's own session changes (timeout), so a
 * kept session never spans two real ones, nor the time before a level change. With `chained`
 * (a new identity), sessions count up and point to the one before; without (anonymous), every
 * session is a first one: index 1, nothing before it.
 */
export class SessionKeeper {
  private current: Current | undefined;
  private sessionCount = 0;
  /** The last session of this chain; `rotate()` ends the chain. */
  private previousSessionId: string | null = null;

  /** `onStart` is told of every new session (with the count so far and its id), to store the chain. */
  constructor(
    private readonly chained: boolean,
    private readonly onStart: (sessionCount: number, sessionId: string) => void = () => undefined,
  ) {}

  /** Continues a chain stored by an earlier run: its next session follows `lastSessionId`. */
  resume(sessionCount: number, lastSessionId: string | null): void {
    this.sessionCount = sessionCount;
    this.previousSessionId = lastSessionId;
    this.current = undefined;
  }

  /** Ends the current session and its chain: the next event starts a new, unlinked one. */
  rotate(): void {
    this.current = undefined;
    this.previousSessionId = null;
  }

  /** The session for the next event, advancing its event index. */
  next(eventId: string, timestampMs: number, realSessionId: string | undefined): KeptSession {
    const current = this.sessionFor(realSessionId);
    if (current.eventCount === 0) {
      current.firstEventId = eventId;
      // A timestamp out of Date's range (nanoseconds by mistake, say) is left out rather than thrown on.
      current.firstEventTimestamp = Number.isFinite(timestampMs) && Math.abs(timestampMs) <= 8.64e15 ? new Date(timestampMs).toISOString() : null;
    }
    current.eventCount += 1;
    const { sessionId, sessionIndex, eventCount, firstEventId, firstEventTimestamp } = current;
    return { sessionId, sessionIndex, eventIndex: eventCount, firstEventId, firstEventTimestamp, previousSessionId: this.previousSessionId };
  }

  /**
   * The session the next event with `realSessionId` gets, started now if there is none or the
   * tracker's own session has changed: what is stored for a restart is the session events get.
   */
  sessionFor(realSessionId: string | undefined): Current {
    const current = this.current;
    if (current && realSessionId !== undefined && current.realSessionId !== undefined && realSessionId !== current.realSessionId) {
      this.previousSessionId = this.chained ? current.sessionId : null;
      this.current = undefined;
    }
    if (!this.current) {
      this.sessionCount = this.chained ? this.sessionCount + 1 : 1;
      this.current = { sessionId: uuidv4(), sessionIndex: this.sessionCount, eventCount: 0, firstEventId: null, firstEventTimestamp: null, realSessionId };
      this.onStart(this.sessionCount, this.current.sessionId);
    }
    this.current.realSessionId ??= realSessionId;
    return this.current;
  }

  /** How many sessions the chain has had, and the last one's id: what a restart continues from. */
  chain(): { sessionCount: number; lastSessionId: string | null } {
    return { sessionCount: this.sessionCount, lastSessionId: this.current?.sessionId ?? this.previousSessionId };
  }

  /** The current session, if one has started. */
  currentSession(): { sessionId: string; sessionIndex: number } | undefined {
    return this.current && { sessionId: this.current.sessionId, sessionIndex: this.current.sessionIndex };
  }
}
