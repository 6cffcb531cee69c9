import { v4 as uuidv4 } from 'uuid';
import type { AnonymousSession } from '../sanitize.js';

/**
 * Keeps the anonymous session that replaces the real one at `session-only`. A new anonymous
 * session starts on entering the level and whenever the tracker's own session changes (timeout),
 * so an anonymous session never spans two real ones, and never the time before a downgrade.
 */
export class AnonymousSessionKeeper {
  private current:
    | { sessionId: string; sessionIndex: number; eventCount: number; firstEventId: string | null; firstEventTimestamp: string | null; realSessionId: string | undefined }
    | undefined;
  private sessionCount = 0;

  /** Forget the current anonymous session: the next event starts a new one. */
  rotate(): void {
    this.current = undefined;
  }

  /** The anonymous session for the next event, advancing its event index. */
  next(eventId: string, timestampMs: number, realSessionId: string | undefined): AnonymousSession {
    if (this.current && realSessionId !== undefined && this.current.realSessionId !== undefined && realSessionId !== this.current.realSessionId) {
      this.current = undefined;
    }
    if (!this.current) {
      this.sessionCount += 1;
      this.current = {
        sessionId: uuidv4(),
        sessionIndex: this.sessionCount,
        eventCount: 0,
        firstEventId: eventId,
        // A timestamp out of Date's range (nanoseconds by mistake, say) is left out rather than thrown on.
        firstEventTimestamp: Number.isFinite(timestampMs) && Math.abs(timestampMs) <= 8.64e15 ? new Date(timestampMs).toISOString() : null,
        realSessionId,
      };
    }
    this.current.realSessionId ??= realSessionId;
    this.current.eventCount += 1;
    const { sessionId, sessionIndex, eventCount, firstEventId, firstEventTimestamp } = this.current;
    return { sessionId, sessionIndex, eventIndex: eventCount, firstEventId, firstEventTimestamp };
  }
}
