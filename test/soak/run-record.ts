import { minLevel, type ConsentLevel, type DroppedEvent } from 'consent-tracker';
import type { App } from '../helpers/launch.js';

/** One launch of the app in a run, with the drops it reported: while it lived, and after a kill (which nothing outside its memory sees). */
export interface Launch {
  readonly app: App;
  readonly drops: DroppedEvent[];
  readonly dropsAfterDeath: DroppedEvent[];
  killed: boolean;
  unsubscribe(): void;
}

/** What the device's storage holds as a launch starts: the decision's level (`undefined`: none), and the identity (`own`: none stored). */
export interface StoredAtLaunch {
  readonly decision: ConsentLevel | undefined;
  readonly identity: string;
}

/**
 * What one soak run has seen, for its checks: each event tracked (by its action, `<run>-t<n>`),
 * the levels decided since, each request sent, and what may legitimately be lost or repeated.
 */
export class RunRecord {
  /** Per action: the level when it was tracked. */
  readonly capturedAt = new Map<string, ConsentLevel>();
  /**
   * Per action: the lowest level decided since it was tracked, by a launch still running or in a
   * decision that reached storage. A decision a launch made but never stored ends with it: the
   * next start cannot know of it (the limit docs/lifecycle.md states for a storage that refuses).
   */
  readonly lowestSince = new Map<string, ConsentLevel>();
  /** Per action: the lowest level any launch enforced since it was tracked, stored or not (a drop at off may follow from it). */
  readonly lowestEver = new Map<string, ConsentLevel>();
  /** Per action: the lowest level of the decisions stored since it was tracked. */
  private readonly lowestStored = new Map<string, ConsentLevel>();
  /** Per action: how many decisions had been asked for when it was tracked. */
  private readonly decisionsBefore = new Map<string, number>();
  /** Decisions asked for so far (each `setLevel` source is `soak-<n>`), and the number of the latest reset. */
  private decisions = 0;
  private latestReset = 0;
  /** Per action tracked at full: the identity period it was tracked in (a withdrawal from full starts the next). */
  readonly periodOf = new Map<string, number>();
  /** Per decision (by its number): its level (a reset has none). */
  private readonly levelOfDecision = new Map<number, ConsentLevel>();
  /** Per decision (by its number): the period it was made in. */
  private readonly periodOfDecision = new Map<number, number>();
  /** Per request sent: each action's lowest level from its capture to that send. */
  readonly levelsAtSend = new Map<number, Map<string, ConsentLevel>>();
  /** Ids that may arrive twice, or arrive and be counted: stored when a restart or kill came, or in flight when stop() stopped waiting. */
  readonly mayRepeat = new Set<string>();
  readonly launches: Launch[] = [];
  /** Events a kill caught neither stored nor sent: at most this many may be lost. */
  mayLose = 0;
  /** Whether storage failed in the run: a slot whose lease cannot be read is left with its events copied to a new one. */
  storageFailed = false;
  private period = 0;
  /** The highest period so far: a withdrawal starts a period never used before, even after a launch went back to an earlier one. */
  private highestPeriod = 0;
  /**
   * Per identity (the consent tracker's own marker: `own` or a device user id), the latest event
   * tracked with it at full: its period, and its step (periods are not in time order once a
   * launch has gone back to an earlier one; steps are).
   */
  private readonly lastUseOfIdentity = new Map<string, { period: number; step: number }>();
  /** Tracks and decisions so far, in the order they came. */
  private steps = 0;
  /** Per decision (by its number): its step. */
  private readonly stepOfDecision = new Map<number, number>();
  /** Identities whose withdrawal reached storage: a stored identity that lists them, or a decision below full stored after their use. */
  private readonly withdrawalStored = new Set<string>();
  /** How many decisions had been asked for before the current launch started. */
  private decisionsBeforeLaunch = 0;
  /** How many events were tracked before the current launch started. */
  private trackedBeforeLaunch = 0;
  private enforced: ConsentLevel | undefined;
  /** The period in which the decision storage holds now, a grant of full, was made (`undefined`: storage holds no full). */
  private storedFullPeriod: number | undefined;
  /**
   * In this launch, which could not read the stored decision: the first decision made over it, and
   * the events earlier launches tracked. They are held to off while it runs; after it, only if
   * one of its decisions reached storage (a start that reads an older one cannot know of it).
   */
  private heldOverUnread: { decision: number; actions: readonly string[] } | undefined;

  constructor(readonly runId: string) {}

  get tracked(): number {
    return this.capturedAt.size;
  }

  /** An event is tracked at `level`, with `identity` in force (as the consent tracker says): its action. */
  track(level: ConsentLevel, identity: string | undefined): string {
    const action = `${this.runId}-t${this.tracked + 1}`;
    this.capturedAt.set(action, level);
    this.lowestSince.set(action, level);
    this.lowestStored.set(action, level);
    this.lowestEver.set(action, level);
    this.decisionsBefore.set(action, this.decisions);
    if (level === 'full') this.periodOf.set(action, this.period);
    this.steps += 1;
    if (level === 'full' && identity !== undefined) this.lastUseOfIdentity.set(identity, { period: this.period, step: this.steps });
    return action;
  }

  /** A decision's level is enforced (a stand-in for one must not be passed here). */
  enforce(level: ConsentLevel): void {
    this.lowerAll(level);
    if (this.enforced === 'full' && level !== 'full') this.newPeriod();
    this.enforced = level;
  }

  /**
   * A decision is made (`setLevel`, or a reset to the undecided level, none), in force or not, and
   * while booting too: what was tracked before is held to it from now on. A grant comes into
   * force through the chart ({@link enforce}); a withdrawal from full starts a new period.
   */
  decided(level: ConsentLevel): void {
    this.lowerAll(level);
    if (level !== 'full' && this.enforced === 'full') {
      this.newPeriod();
      this.enforced = level;
    }
  }

  /**
   * A decision is made in a launch that could not read the stored decision: that one may have
   * been a withdrawal, so what earlier launches tracked counts as withdrawn (docs/design.md, "But
   * a decision never read counts as the lowest").
   */
  decidedUnread(): void {
    // Once a launch: its earlier events are already held to off.
    if (this.heldOverUnread) return;
    const earlier = [...this.capturedAt.keys()].slice(0, this.trackedBeforeLaunch);
    this.heldOverUnread = { decision: this.decisions, actions: earlier };
    for (const action of earlier) {
      this.lowestSince.set(action, 'off');
      this.lowestEver.set(action, 'off');
    }
  }

  /** Whether the current launch has asked for a decision or a reset (each written over an unread decision too). */
  decidedInLaunch(): boolean {
    return this.decisions > this.decisionsBeforeLaunch;
  }

  private newPeriod(): void {
    this.highestPeriod += 1;
    this.period = this.highestPeriod;
  }

  /** Every event tracked so far is held to `level` from now on. */
  private lowerAll(level: ConsentLevel): void {
    for (const [action, lowest] of this.lowestSince) this.lowestSince.set(action, minLevel(lowest, level));
    for (const [action, lowest] of this.lowestEver) this.lowestEver.set(action, minLevel(lowest, level));
  }

  /** The source of the next `setLevel`, to `level`: it numbers the decision, so that its stored record can be told apart. */
  decide(level: ConsentLevel): string {
    this.decisions += 1;
    this.periodOfDecision.set(this.decisions, this.period);
    this.steps += 1;
    this.stepOfDecision.set(this.decisions, this.steps);
    this.levelOfDecision.set(this.decisions, level);
    return `soak-${this.decisions}`;
  }

  /** A reset is asked for. */
  reset(): void {
    this.decisions += 1;
    this.latestReset = this.decisions;
  }

  /**
   * A decision's record reached storage (`{ reset: true }` for a reset, to the undecided level,
   * none): it lowers the events tracked before that decision was asked for.
   */
  stored(record: string): void {
    const { level, reset, source } = JSON.parse(record) as { level?: ConsentLevel; reset?: boolean; source?: string };
    const decided = reset === true ? 'none' : level;
    const number = reset === true || source === 'reset' ? this.latestReset : Number(/^soak-(\d+)$/.exec(source ?? '')?.[1] ?? Number.POSITIVE_INFINITY);
    if (decided === undefined) return;
    // Off stored in place of a decision over an unread one (docs/design.md, "A decision over one
    // that could not be read"): what the next start finds, no decision of the running launch.
    const standIn = decided === 'off' && (source === 'reset' || this.levelOfDecision.get(number) !== 'off');
    this.storedFullPeriod = decided === 'full' ? Math.min(this.period, this.periodOfDecision.get(number) ?? this.period) : undefined;
    // A withdrawal stored: every identity in use up to it counts as withdrawn for the next starts.
    const madeAt = this.stepOfDecision.get(number) ?? this.steps;
    if (decided !== 'full') for (const [identity, last] of this.lastUseOfIdentity) if (last.step < madeAt) this.withdrawalStored.add(identity);
    // Stored over the unread decision: its run held the earlier launches' events to off first.
    if (this.heldOverUnread && number >= this.heldOverUnread.decision) for (const action of this.heldOverUnread.actions) this.lowestStored.set(action, 'off');
    for (const [action, before] of this.decisionsBefore) {
      if (before >= number) continue;
      this.lowestStored.set(action, minLevel(this.lowestStored.get(action) ?? decided, decided));
      if (standIn) this.lowestEver.set(action, 'off');
      else this.lowestSince.set(action, minLevel(this.lowestSince.get(action) ?? decided, decided));
    }
  }

  /** An identity's record reached storage: those it lists as withdrawn count as such for the next starts. */
  identityStored(record: string): void {
    const { withdrawn } = JSON.parse(record) as { withdrawn?: readonly string[] };
    for (const identity of withdrawn ?? []) this.withdrawalStored.add(identity);
  }

  /**
   * A new launch starts, on a device holding `stored`: the level it boots at is no decision yet.
   * With `forgetUnstored` (the last one was killed, or stopped while storage refused writes), what
   * it decided without storing it is gone.
   */
  launched(launch: Launch, forgetUnstored: boolean, stored: StoredAtLaunch): void {
    this.launches.push(launch);
    this.trackedBeforeLaunch = this.tracked;
    this.decisionsBeforeLaunch = this.decisions;
    this.enforced = undefined;
    for (const action of this.heldOverUnread?.actions ?? []) this.lowestSince.set(action, this.lowestStored.get(action) ?? 'off');
    this.heldOverUnread = undefined;
    if (!forgetUnstored) return;
    for (const [action, lowest] of this.lowestStored) this.lowestSince.set(action, lowest);
    // A withdrawal that never reached storage is gone with it (the limit docs/lifecycle.md states):
    // the new launch goes on with the identity stored (the tracker's own if none), in the period
    // it was last used in, at the full stored or, with no decision stored, at the next grant.
    const goesOnWith = stored.decision === undefined || stored.decision === 'full' ? this.lastUseOfIdentity.get(stored.identity)?.period : undefined;
    if (goesOnWith !== undefined && !this.withdrawalStored.has(stored.identity)) this.period = goesOnWith;
    else if (this.storedFullPeriod !== undefined) this.period = this.storedFullPeriod;
  }

  /**
   * A request, numbered `send`, leaves the library's hands: each event it carries is held to the
   * lowest level decided from its capture to now (a decision made while the network reads the
   * body comes after the send). Tell the returned function the request's actions.
   */
  sending(send: number): (actions: readonly string[]) => void {
    const lowestNow = new Map(this.lowestSince);
    return (actions) => this.levelsAtSend.set(send, new Map(actions.map((a) => [a, lowestNow.get(a) ?? 'off'])));
  }

  /** A kill: `stored` is the device's queues as the next start reads them, `delivered` the actions the collector has. */
  killed(stored: string, delivered: ReadonlySet<string | undefined>): void {
    // What was stored may have been sent already: the next start sends it again (at least once).
    for (const [, id] of stored.matchAll(/\\?"eid\\?":\\?"([0-9a-f-]{36})/g)) this.mayRepeat.add(id as string);
    for (const action of this.capturedAt.keys()) if (!delivered.has(action) && !stored.includes(`"${action}"`)) this.mayLose += 1;
  }
}
