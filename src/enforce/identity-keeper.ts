import { v4 as uuidv4 } from 'uuid';
import { compareLevels, type ConsentLevel } from '../../machines/levels.js';
import type { PolicyTable } from '../policy.js';
import type { AnonymousSession, ReplacementIdentity } from '../sanitize.js';
import type { LoadedIdentity, StoredIdentity } from './identity-store.js';
import { SessionKeeper } from './session-keeper.js';

/**
 * Follows the enforced level and keeps what depends on its history: the anonymous session of
 * `session-only` (new on entering the level), whether screen ids from before a change must be
 * reset (a downgrade, or a grant of user identifiers), and the identity sent after a re-consent.
 * Once the tracker's own identity has been withdrawn (a level that sends the session as is was
 * left for one that does not), a later `full` sends a new device user id with sessions of its
 * own, unless `stitch` is set. That new identity is handed to `save` when it is made, when it is
 * first used and when it starts a session, and restored at the next start (one stored as never
 * used only until the first grant). A start whose stored decision is a withdrawal (or
 * cannot be read) withdraws whatever identity may have been sent before it: the tracker's own if
 * none is stored, the stored one if it was used (docs/design.md, "The identity across restarts").
 */
export class IdentityKeeper {
  private readonly anonymous = new SessionKeeper(false);
  private replacement: { userId: string; sessions: SessionKeeper; used: boolean; restored: boolean } | undefined;
  private last: ConsentLevel | undefined;
  /** The identity in use (its ids may have been sent) since the last withdrawal. */
  private inUse = false;
  private followsDecisions = false;
  /** Whether a stored identity has been looked for, and found. */
  private storedIdentity: 'pending' | 'none' | 'found' = 'pending';
  /** The decision storage held at start does not send the session as is, or could not be read. */
  private storedWithdrawal = false;
  private stale = false;
  /** The identities withdrawn on this device (`own`: the tracker's own), as far as this run knows. */
  private readonly withdrawnIds = new Set<string>();
  /** The page view id events carry from a change until the next page view. */
  stalePageViewId = uuidv4();

  /** A change happened and no screen or page view has been tracked since. */
  get viewsStale(): boolean {
    return this.stale;
  }

  set viewsStale(stale: boolean) {
    // Each change starts a new view: events until the next page view get a new page view id.
    if (stale) this.stalePageViewId = uuidv4();
    this.stale = stale;
  }

  constructor(
    private readonly policy: PolicyTable,
    private readonly stitch: boolean,
    /** Stores the identity; `update` when it is the same identity as before (another instance may have replaced it). */
    private readonly saveIdentity: (identity: StoredIdentity, update: boolean) => void = () => undefined,
  ) {}

  /** Stores the identity with the identities withdrawn before it. */
  private save(identity: StoredIdentity, update: boolean): void {
    this.saveIdentity({ ...identity, withdrawn: [...this.withdrawnIds] }, update);
  }

  /** Whether the identity an event carries (`own`, or a replacement's id) has been withdrawn since. */
  isWithdrawn(identity: string): boolean {
    return this.withdrawnIds.has(identity);
  }

  /**
   * Takes note of the decision storage held at start (its level, `unreadable`, or `null` for
   * none), even if a decision made while booting wins over it: a withdrawal there means the
   * identity sent before it must not come back.
   */
  storedDecision(level: ConsentLevel | 'unreadable' | null): void {
    if (level === 'unreadable' || (level !== null && this.policy[level].session !== 'as-is')) this.storedWithdrawal = true;
    this.failClosed();
  }

  /** Takes what the start found in storage: the identity to continue, none, or one that cannot be read. */
  restore(found: LoadedIdentity): void {
    this.storedIdentity = found === 'none' ? 'none' : 'found';
    // A stored identity replaced the tracker's own at a withdrawal, and remembers those withdrawn before.
    if (typeof found === 'object') for (const id of ['own', ...(found.withdrawn ?? [])]) this.withdrawnIds.add(id);
    if (this.replacement) return; // A withdrawal in this run came first: its identity is newer.
    if (found === 'unreadable') this.forceWithdraw();
    else if (found !== 'none') this.replaceWith(found, 'restored');
    this.failClosed();
  }

  /** Takes note of the level in force; call with every level read. */
  observe(level: ConsentLevel): void {
    const last = this.last;
    this.last = level;
    if (this.policy[level].session === 'as-is') this.use();
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
      if (stored) this.use();
    } else {
      this.withdraw();
    }
  }

  /**
   * A grant is about to be stored: the identity it will send is stored as used first (the
   * store's `persisted()` then covers it), so that a restart never finds a grant beside an
   * identity that looks unused. Not yet a use: a withdrawal before the grant is in force
   * withdraws nothing that was sent.
   */
  granted(): void {
    this.renewRestoredUnused(true);
    this.markUsed();
  }

  /** The identity in force may be sent from now on: a used new identity is stored as such, before any grant is. */
  private use(): void {
    this.inUse = true;
    this.renewRestoredUnused(false);
    this.markUsed();
  }

  private markUsed(): void {
    const replacement = this.replacement;
    if (!replacement || replacement.used) return;
    replacement.used = true;
    this.save({ userId: replacement.userId, ...replacement.sessions.chain(), used: true }, true);
  }

  /**
   * An identity restored as never used may have been sent all the same: its use is stored before
   * the grant that uses it, so a storage that refused both (and the withdrawal after them) leaves
   * it looking unused. The first grant of this run (`atGrant`, or any use beside a stored
   * withdrawal) sends a new one, and it counts as withdrawn; the use of a stored grant goes on
   * with it (docs/design.md, "The identity across restarts").
   */
  private renewRestoredUnused(atGrant: boolean): void {
    const restored = this.replacement;
    if (!(atGrant || this.storedWithdrawal) || !restored?.restored || restored.used || this.stitch) return;
    this.replaceWithNew();
  }

  /**
   * A withdrawal stored at start withdrew whatever identity was sent before it: the tracker's own
   * when no identity is stored, the stored one when it had been used. Only one not used since it
   * was made (at that withdrawal) is kept, until the first grant (see `renewRestoredUnused`).
   */
  private failClosed(): void {
    if (!this.storedWithdrawal || this.storedIdentity === 'pending') return;
    const replacement = this.replacement;
    if (!replacement || (replacement.restored && replacement.used)) {
      this.forceWithdraw();
      // Once: the new identity is this run's, not the one the stored withdrawal withdrew.
      this.storedWithdrawal = false;
    }
  }

  /**
   * Withdraws the identity whether or not it was seen in use (it was found where it should not
   * be). One made at a withdrawal in this run and never used since has carried nothing: it stays,
   * so that a withdrawal reported twice (by the decision and by the adapter's clean-up) withdraws
   * one identity, and the list of withdrawn ones does not fill twice as fast.
   */
  forceWithdraw(): void {
    const replacement = this.replacement;
    if (replacement && !replacement.restored && !replacement.used) return;
    this.inUse = true;
    this.withdraw();
  }

  /** The identity in use is withdrawn: a later `full` gets a new one (unless stitched). */
  private withdraw(): void {
    if (this.inUse && !this.stitch) this.replaceWithNew();
    this.inUse = false;
  }

  /** The identity in force (the tracker's own if none replaced it) counts as withdrawn, and a new one, never used, replaces it. */
  private replaceWithNew(): void {
    this.withdrawnIds.add(this.replacement?.userId ?? 'own');
    this.replaceWith({ userId: uuidv4(), sessionCount: 0, lastSessionId: null, used: false }, 'new');
  }

  private replaceWith(identity: StoredIdentity, origin: 'new' | 'restored'): void {
    const { userId } = identity;
    // A session starts only with an event sent at full: the identity is used by then.
    const sessions = new SessionKeeper(true, (sessionCount, lastSessionId) => this.save({ userId, sessionCount, lastSessionId, used: true }, true));
    sessions.resume(identity.sessionCount, identity.lastSessionId);
    this.replacement = { userId, sessions, used: identity.used, restored: origin === 'restored' };
    if (origin === 'new') this.save(identity, false);
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
