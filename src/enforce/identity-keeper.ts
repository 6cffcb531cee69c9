import { v4 as uuidv4 } from 'uuid';
import { compareLevels, type ConsentLevel } from '../../machines/levels.js';
import type { PolicyTable } from '../policy.js';
import type { AnonymousSession, ReplacementIdentity } from '../sanitize.js';
import type { LoadedIdentity, StoredIdentity } from './identity-store.js';
import { SessionKeeper } from './session-keeper.js';

/**
 * Follows the enforced level and keeps what depends on its history: the anonymous session of
 * `session-only` (new on entering the level), whether screen ids from before a change must be
 * reset (a downgrade, or a grant of user identifiers), and the identity sent after a re-consent. Once the tracker's own identity has been
 * withdrawn (a level that sends the session as is was left for one that does not), a later
 * `full` sends a new device user id with sessions of its own, unless `stitch` is set. That new
 * identity is handed to `save` whenever it changes, and restored at the next start; a start that
 * finds no stored identity but a stored decision below the level that sends sessions as they are
 * withdraws the tracker's own, as does one that cannot read it (docs/design.md, "The identity
 * across restarts").
 */
export class IdentityKeeper {
  private readonly anonymous = new SessionKeeper(false);
  private replacement: { userId: string; sessions: SessionKeeper } | undefined;
  private last: ConsentLevel | undefined;
  /** The identity in use (its ids may have been sent) since the last withdrawal. */
  private inUse = false;
  private followsDecisions = false;
  /** Whether a stored identity has been looked for, and found. */
  private storedIdentity: 'pending' | 'none' | 'found' = 'pending';
  /** A decision read from storage does not send the session as is. */
  private storedWithdrawal = false;
  /** A downgrade happened and no screen view has been tracked since. */
  viewsStale = false;

  constructor(
    private readonly policy: PolicyTable,
    private readonly stitch: boolean,
    private readonly save: (identity: StoredIdentity) => void = () => undefined,
  ) {}

  /** Takes what the start found in storage: the identity to continue, none, or one that cannot be read. */
  restore(found: LoadedIdentity): void {
    this.storedIdentity = found === 'none' ? 'none' : 'found';
    if (this.replacement) return; // A withdrawal in this run came first: its identity is newer.
    if (found === 'unreadable') this.forceWithdraw();
    else if (found !== 'none') this.replaceWith(found, false);
    this.failClosed();
  }

  /** Takes note of the level in force; call with every level read. */
  observe(level: ConsentLevel): void {
    const last = this.last;
    this.last = level;
    if (this.policy[level].session === 'as-is') this.inUse = true;
    else if (!this.followsDecisions) this.withdraw();
    if (last === undefined || last === level) return;
    const rules = this.policy[level];
    const before = this.policy[last];
    if (rules.session === 'anonymous') this.anonymous.rotate();
    // Screen ids seen at one level must not link it to another: after a downgrade (as the policy
    // says), and after a grant that brings user identifiers back.
    const upgrade = compareLevels(level, last) > 0;
    if (upgrade ? rules.userIdentifiers && !before.userIdentifiers : rules.resetViewsOnDowngrade) this.viewsStale = true;
  }

  /**
   * Takes note of the user's decision (in force, being applied or waiting). Once told, decisions
   * alone say when the identity is withdrawn: the level in force dips below a decision while it
   * is being applied, which is no withdrawal. A decision read from storage at start that sends
   * the session as is means the identity was in use in an earlier run.
   */
  decided(level: ConsentLevel, stored: boolean): void {
    this.followsDecisions = true;
    if (this.policy[level].session === 'as-is') {
      if (stored) this.inUse = true;
    } else {
      if (stored) this.storedWithdrawal = true;
      this.withdraw();
      this.failClosed();
    }
  }

  /** A stored withdrawal with no stored identity: the identity it withdrew is not known, so none is trusted. */
  private failClosed(): void {
    if (this.storedIdentity === 'none' && this.storedWithdrawal && !this.replacement) this.forceWithdraw();
  }

  /** Withdraws the identity whether or not it was seen in use (it was found where it should not be). */
  forceWithdraw(): void {
    this.inUse = true;
    this.withdraw();
  }

  /** The identity in use is withdrawn: a later `full` gets a new one (unless stitched). */
  private withdraw(): void {
    if (this.inUse && !this.stitch) this.replaceWith({ userId: uuidv4(), sessionCount: 0, lastSessionId: null }, true);
    this.inUse = false;
  }

  private replaceWith(identity: StoredIdentity, isNew: boolean): void {
    const { userId } = identity;
    const sessions = new SessionKeeper(true, (sessionCount, lastSessionId) => this.save({ userId, sessionCount, lastSessionId }));
    sessions.resume(identity.sessionCount, identity.lastSessionId);
    this.replacement = { userId, sessions };
    if (isNew) this.save(identity);
  }

  /** The anonymous session for the next event at `session-only`. */
  anonymousSession(eventId: string, timestampMs: number, realSessionId: string | undefined): AnonymousSession {
    return this.anonymous.next(eventId, timestampMs, realSessionId);
  }

  /** The identity to send instead of the tracker's own, if the user has withdrawn and consented again. */
  replacementIdentity(eventId: string, timestampMs: number, realSessionId: string | undefined): ReplacementIdentity | undefined {
    if (!this.replacement) return undefined;
    return { userId: this.replacement.userId, ...this.replacement.sessions.next(eventId, timestampMs, realSessionId) };
  }

  /** The device user id that replaces the tracker's own, while there is one. */
  deviceUserId(): string | undefined {
    return this.replacement?.userId;
  }

  /**
   * The session of the replacement identity: given the tracker's own session id, the one the next
   * event in it gets (started now if need be); else the current one, if one has started.
   */
  replacementSession(realSessionId?: string): { sessionId: string; sessionIndex: number } | undefined {
    const sessions = this.replacement?.sessions;
    if (realSessionId === undefined) return sessions?.currentSession();
    const session = sessions?.sessionFor(realSessionId);
    return session && { sessionId: session.sessionId, sessionIndex: session.sessionIndex };
  }
}
