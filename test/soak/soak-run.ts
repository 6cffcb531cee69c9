import { selectAwaitingDecision, selectOutcome, selectQuiescent, selectStoredDecisionUnread, type ConsentLevel, type DroppedEvent } from 'consent-tracker';
import { cookieJarFetch, type Collector } from 'consent-tracker/testing';
import type { AdapterHarness, Device } from '../helpers/adapter-harness.js';
import { DECISION, IDENTITY, launch, storedIdentity, storedLevel, storedReset } from '../helpers/launch.js';
import { checkRun, storedQueues } from './check-run.js';
import { faultableStorage, type FaultableStorage } from './faultable-storage.js';
import { RunRecord, type Launch, type StoredAtLaunch } from './run-record.js';
import { runThrough, runUntil } from './run-until.js';
import type { SimulatedClock } from './simulated-clock.js';
import { simulatedNetwork, type SimulatedNetwork } from './simulated-network.js';
import type { CollectorFault, SoakCommand } from './soak-command.js';
import type { SoakTally } from './soak-tally.js';

export { emptyTally, type SoakTally } from './soak-tally.js';

/** One device through a soak run: its storage, its network, and the app launched on it, again after each restart or kill. */
class SoakDevice {
  readonly device: Device;
  readonly storage: FaultableStorage;
  readonly network: SimulatedNetwork;
  current!: Launch;
  /** Changes asked for and not awaited yet. */
  changes: Array<Promise<unknown>> = [];
  /** A kill is armed: the process dies at an await point to come. */
  armed = false;

  constructor(
    readonly harness: AdapterHarness,
    readonly collector: Collector,
    readonly record: RunRecord,
    readonly tally: SoakTally,
    readonly clock: SimulatedClock,
  ) {
    this.device = harness.device();
    this.storage = faultableStorage(this.device.storage, (key, value) => {
      if (key === DECISION) record.stored(value);
      if (key === IDENTITY) record.identityStored(value);
    });
    this.network = simulatedNetwork(cookieJarFetch(), (send) => record.sending(send));
  }

  /** Runs the device until `work` settles, on the simulated clock. */
  run<T>(work: Promise<T>): Promise<T | undefined> {
    return runThrough(work, this.network, this.clock);
  }

  /**
   * Launches the app on the device, and follows its decisions into the record; `afterLoss`: the
   * last launch was killed, or stopped while storage refused writes (what it did not store is gone).
   */
  async start(afterLoss = false): Promise<void> {
    const drops: DroppedEvent[] = [];
    const dropsAfterDeath: DroppedEvent[] = [];
    const app = launch(this.harness, {
      endpoint: this.collector.url,
      device: this.device,
      network: this.network.fetch,
      options: { storage: this.storage.storage, applyTimeoutMs: 2000, maxAgeDays: 30, onError: () => undefined, onDrop: (drop) => (app.process.killed() ? dropsAfterDeath : drops).push(drop) },
    });
    const subscription = app.consent.actor.subscribe((s) => {
      // Until a decision is in force (booting, an unreadable decision, the change out of it) the
      // level stands in for one: it lowers no queued event (design.md, "A stored queue waits for the decision").
      if (app.process.killed()) return;
      if (!selectAwaitingDecision(s)) this.record.enforce(s.context.enforced);
      // A decision over a stored one that could not be read, made before the read failed (a retry
      // reads again) or after: what earlier launches tracked counts as withdrawn.
      if (selectStoredDecisionUnread(s) && this.record.decidedInLaunch()) this.record.decidedUnread();
    });
    this.current = { app, drops, dropsAfterDeath, killed: false, unsubscribe: () => subscription.unsubscribe() };
    this.record.launched(this.current, afterLoss, this.storedAtLaunch());
    await this.run(app.consent.ready);
  }

  /** The decision and the identity on the device, as a start reads them. */
  private storedAtLaunch(): StoredAtLaunch {
    const decision = storedReset(this.device) ? 'none' : (storedLevel(this.device) as ConsentLevel | undefined);
    return { decision, identity: storedIdentity(this.device)?.userId ?? 'own' };
  }

  /** `stop()` once what is under way has settled, and a new start (unless the process died meanwhile). */
  async restart(): Promise<void> {
    await this.settleChanges();
    const { app, unsubscribe } = this.current;
    if (app.process.killed()) return;
    for (const payload of (await this.run(app.consent.enforcement.eventStore.getAllPayloads())) ?? []) this.record.mayRepeat.add(String(payload.eid));
    unsubscribe();
    await this.run(app.consent.stop());
    // A request stop() stopped waiting for (its answer is slow) may still deliver what it counted as dropped.
    for (const id of this.network.inFlight()) this.record.mayRepeat.add(id);
    // An armed kill may come during stop(): the process then died there.
    if (app.process.killed()) await this.restartAfterKill();
    else await this.start(this.storage.refusesWrites());
  }

  /** The process died: what it held in memory only may be lost; the app starts again on the device. */
  async restartAfterKill(): Promise<void> {
    const dead = this.current;
    dead.killed = true;
    dead.unsubscribe();
    dead.app.kill();
    this.storage.abandonHung();
    this.network.killed();
    this.tally.kills += 1;
    this.record.killed(storedQueues(this.device.storage.entries), new Set(this.collector.events().map((e) => e.payload.se_ac)));
    this.changes = [];
    this.armed = false;
    await this.start(true);
  }

  /**
   * The user decides `level` (`null`: a reset, to the undecided level, none); the record holds
   * what was tracked to it from now on. Settles when the change does.
   */
  decide(level: ConsentLevel | null): Promise<unknown> {
    const { consent } = this.current.app;
    const snapshot = consent.actor.getSnapshot();
    // The chart takes no reset while undecided (there is no decision to forget): it decides nothing.
    if (level === null && snapshot.matches({ decision: 'undecided' })) return consent.reset().catch(() => undefined);
    if (level === null) this.record.reset();
    const change = (level === null ? consent.reset() : consent.setLevel(level, this.record.decide(level))).catch(() => undefined);
    this.record.decided(level ?? 'none');
    return change;
  }

  async settleChanges(): Promise<void> {
    await this.run(Promise.all(this.changes));
    this.changes = [];
  }

  setCollector(fault: CollectorFault): void {
    this.collector.failWith(fault.kind === 'status' ? fault.status : fault.kind === 'drop' ? 'drop' : undefined);
    this.network.slowBy(fault.kind === 'slow' ? fault.slowMs : 0);
  }
}

/** Plays one command on the device. */
async function step(d: SoakDevice, command: SoakCommand): Promise<void> {
  const { consent, control } = d.current.app;
  switch (command.kind) {
    case 'set':
      d.changes.push(d.decide(command.level));
      if (command.settle) await d.settleChanges();
      return;
    case 'reset':
      d.changes.push(d.decide(null));
      return;
    case 'retry':
      d.changes.push(consent.retry().catch(() => undefined));
      return;
    case 'regrant':
      await d.settleChanges();
      await d.run(d.decide(command.via));
      await d.run(d.decide('full'));
      return;
    case 'track':
      d.harness.track(consent.tracker, d.record.track(consent.getLevel(), consent.enforcement.identityInForce()));
      return;
    case 'flush':
      await d.run(control.adapter.flush());
      return;
    case 'collector':
      d.setCollector(command.fault);
      return;
    case 'storage':
      d.storage.setFault(command.fault, command.calls);
      d.record.storageFailed ||= command.fault !== 'none';
      return;
    case 'clock':
      d.clock.jump(command.jumpMs);
      return;
    case 'wait':
      await d.clock.advanceBy(command.ms);
      return;
    case 'restart':
      await d.restart();
      return;
    case 'kill':
      d.current.app.process.killAtAwaitPoint(d.current.app.process.awaitPoints() + command.atAwait);
      d.armed = true;
      return;
  }
}

/**
 * The end of a run: every fault lifted, an armed kill done, a new start (what a run could not
 * read is left for the next start), the user answering if the stored decision cannot be read,
 * lapsed slots taken over, and what is queued sent.
 */
async function finish(d: SoakDevice): Promise<void> {
  // A process already dead: its hung storage calls must not land when the faults are lifted.
  if (d.current.app.process.killed()) await d.restartAfterKill();
  d.setCollector({ kind: 'none' });
  d.storage.setFault('none');
  await d.settleChanges();
  if (d.armed || d.current.app.process.killed()) await d.restartAfterKill();
  await d.restart();
  const { consent, control } = d.current.app;
  // A stored decision that cannot be read (a clock set back makes it one from the future) is asked again.
  if (selectAwaitingDecision(consent.actor.getSnapshot())) await d.run(d.decide('none'));
  const idle = () => !d.network.onIo() && selectOutcome(consent.actor.getSnapshot()) !== 'pending' && selectQuiescent(consent.actor.getSnapshot());
  // A slot left by a kill is free once its lease lapses (30 s), and one that could not be read is
  // read again: the renewals (every 10 s) take them over. With no kill and no storage fault there
  // is no such slot (a slot left behind all the same fails the check that nothing stays stored).
  const slotsLeft = d.record.storageFailed || d.record.launches.some((launch) => launch.killed);
  for (let waited = 0; slotsLeft && waited <= 40_000; waited += 10_000) {
    await d.clock.advanceBy(10_000);
    await runUntil(idle, d.network, d.clock);
  }
  for (let round = 0; round < 20; round += 1) {
    await d.run(control.adapter.flush());
    await runUntil(idle, d.network, d.clock);
    if (idle() && (await consent.enforcement.eventStore.count()) === 0) return;
    await d.clock.advanceBy(11_000);
  }
}

/**
 * Runs `commands` against the harness's adapter on one new device, ends the run (see `finish`),
 * and checks what the collector received (see `checkRun`).
 */
export async function soakRun(harness: AdapterHarness, collector: Collector, commands: readonly SoakCommand[], tally: SoakTally, clock: SimulatedClock): Promise<void> {
  collector.reset();
  collector.failWith(undefined);
  const d = new SoakDevice(harness, collector, new RunRecord(`s${++tally.runs}`), tally, clock);
  await d.start();
  for (const command of commands) {
    if (d.current.app.process.killed()) await d.restartAfterKill();
    await step(d, command);
  }
  await finish(d);
  checkRun({ record: d.record, collector, network: d.network, device: d.device.storage.entries }, tally);
  await d.run(d.current.app.consent.stop());
  clock.clearAll();
}
