import { expect, vi } from 'vitest';
import { minLevel, selectAwaitingDecision, selectOutcome, selectQuiescent, type ConsentLevel, type DroppedEvent, type EnforcementStats } from 'consent-tracker';
import { cookieJarFetch, findLeaks, type CollectedEvent, type Collector } from 'consent-tracker/testing';
import type { AdapterHarness } from '../helpers/adapter-harness.js';
import { launch, type App } from '../helpers/launch.js';
import { faultableStorage } from './faultable-storage.js';
import { runThrough, runUntil } from './run-until.js';
import { SEND_HEADER, simulatedNetwork } from './simulated-network.js';
import type { CollectorFault, SoakCommand } from './soak-command.js';

/** What the soak has seen over its runs: a soak that delivers nothing, or never kills, proves little. */
export interface SoakTally {
  runs: number;
  tracked: number;
  delivered: number;
  kills: number;
  /** Events a kill caught in memory only (neither stored nor sent): a kill may lose these, and only these. */
  lostToKills: number;
  /** Runs with events at full in two identity periods or more: the re-link check bites only in these. */
  periodPairs: number;
  /** Events sent or counted a second time, with the same id (at least once, across a lost answer, a kill or a storage fault). */
  repeated: number;
}

export const emptyTally = (): SoakTally => ({ runs: 0, tracked: 0, delivered: 0, kills: 0, lostToKills: 0, periodPairs: 0, repeated: 0 });

/** One launch of the app in a run, with the drops it reported: while it lived, and after a kill (which nothing outside its memory sees). */
interface Launch {
  readonly app: App;
  readonly drops: DroppedEvent[];
  readonly dropsAfterDeath: DroppedEvent[];
  killed: boolean;
  unsubscribe(): void;
}

/**
 * The stored queues as the next start reads them: each slot's manifest and the segments it lists
 * (a segment written but not listed yet, as a kill may leave it, holds nothing stored), or a queue
 * stored whole (the first layout).
 */
function storedQueues(entries: ReadonlyMap<string, string>): string {
  const parts: string[] = [];
  for (const [key, value] of entries) {
    try {
      const manifest = JSON.parse(value) as { version?: unknown; segments?: unknown; events?: unknown };
      if (manifest.version === 1) parts.push(JSON.stringify(manifest.events));
      if (manifest.version === 2 && Array.isArray(manifest.segments)) for (const n of manifest.segments) parts.push(entries.get(`${key}.events.${String(n)}`) ?? '');
    } catch {
      // Not JSON: no queue.
    }
  }
  return parts.join('\n');
}

const maxLevel = (a: ConsentLevel, b: ConsentLevel) => (minLevel(a, b) === a ? b : a);

const droppedTotal = (stats: EnforcementStats & { gate: { dropped: number } }) => Object.values(stats.dropped).reduce((a, b) => a + b, 0) + stats.gate.dropped;

/**
 * Runs `commands` against the harness's adapter on one new device, then lifts every fault, lets
 * the last launch send what it can, and checks what the collector received: nothing above the
 * lowest level in force from capture to send, no re-link across a withdrawal, and each event
 * tracked delivered or counted as dropped once (twice only with the same event id, where a
 * request's answer was lost), but what a kill caught in memory.
 */
export async function soakRun(harness: AdapterHarness, collector: Collector, commands: readonly SoakCommand[], tally: SoakTally): Promise<void> {
  const runId = `s${++tally.runs}`;
  collector.reset();
  collector.failWith(undefined);
  const device = harness.device();
  const storage = faultableStorage(device.storage);
  /** Per request sent: each action's lowest level in force from its capture to that send. */
  const levelsAtSend = new Map<number, Map<string, ConsentLevel>>();
  const network = simulatedNetwork(cookieJarFetch(), (send, actions) => levelsAtSend.set(send, new Map(actions.map((a) => [a, lowestSince.get(a) ?? 'off']))));
  const run = <T>(work: Promise<T>) => runThrough(work, network);

  /** Per label: the level at capture, then the lowest in force since. */
  const lowestSince = new Map<string, ConsentLevel>();
  const allowed = new Map<string, ConsentLevel>();
  const periodOf = new Map<string, number>();
  let period = 0;
  const launches: Launch[] = [];
  /** Ids that may reach the collector twice, or arrive and be counted: queued when a restart or a kill came. */
  const queuedAtRestart = new Set<string>();
  let changes: Array<Promise<unknown>> = [];
  let tracked = 0;
  let mayLose = 0;
  let armed = false;
  let storageFailed = false;

  const start = async (): Promise<Launch> => {
    const drops: DroppedEvent[] = [];
    const dropsAfterDeath: DroppedEvent[] = [];
    const app = launch(harness, {
      endpoint: collector.url,
      device,
      network: network.fetch,
      options: { storage: storage.storage, applyTimeoutMs: 2000, maxAgeDays: 30, onError: () => undefined, onDrop: (drop) => (app.process.killed() ? dropsAfterDeath : drops).push(drop) },
    });
    let enforced = app.consent.actor.getSnapshot().context.enforced;
    const subscription = app.consent.actor.subscribe((s) => {
      if (process.env.SOAK_DEBUG) process.stdout.write(`DEBUG launch ${launches.length} ${JSON.stringify(s.value)} enforced=${s.context.enforced}\n`);
      // Until a decision is in force (booting, an unreadable decision, the change out of it) the
      // level stands in for one: it lowers no queued event (design.md, "A stored queue waits for the decision").
      if (app.process.killed() || selectAwaitingDecision(s)) return;
      for (const [label, level] of lowestSince) lowestSince.set(label, minLevel(level, s.context.enforced));
      if (enforced === 'full' && s.context.enforced !== 'full') period += 1;
      enforced = s.context.enforced;
    });
    const launched: Launch = { app, drops, dropsAfterDeath, killed: false, unsubscribe: () => subscription.unsubscribe() };
    launches.push(launched);
    await run(app.consent.ready);
    return launched;
  };

  /** The process died: what it held in memory only may be lost; the app starts again on the device. */
  const restartAfterKill = async (dead: Launch): Promise<Launch> => {
    dead.killed = true;
    dead.unsubscribe();
    dead.app.kill();
    network.killed();
    tally.kills += 1;
    const stored = storedQueues(device.storage.entries);
    // What was stored may have been sent already: the next start sends it again (at least once).
    for (const [, id] of stored.matchAll(/\\?"eid\\?":\\?"([0-9a-f-]{36})/g)) queuedAtRestart.add(id as string);
    const delivered = new Set(collector.events().map((e) => e.payload.se_ac));
    for (const label of allowed.keys()) if (!delivered.has(label) && !stored.includes(`"${label}"`)) mayLose += 1;
    changes = [];
    armed = false;
    return start();
  };

  /** `stop()` once what is under way has settled, and a new start on the device (unless the process died meanwhile). */
  const restart = async (running: Launch): Promise<Launch> => {
    await run(Promise.all(changes));
    changes = [];
    if (running.app.process.killed()) return running;
    for (const payload of (await run(running.app.consent.enforcement.eventStore.getAllPayloads())) ?? []) queuedAtRestart.add(String(payload.eid));
    running.unsubscribe();
    if (process.env.SOAK_DEBUG) process.stdout.write(`DEBUG before stop: ${await running.app.consent.enforcement.eventStore.count()} queued, stored ${JSON.stringify([...device.storage.entries.keys()])}\n`);
    await run(running.app.consent.stop());
    // A request stop() stopped waiting for (its answer is slow) may still deliver what it counted as dropped.
    for (const id of network.inFlight()) queuedAtRestart.add(id);
    if (process.env.SOAK_DEBUG) process.stdout.write(`DEBUG after stop: ${JSON.stringify(running.app.consent.stats().dropped)} stored ${JSON.stringify([...device.storage.entries.keys()])}\n`);
    return start();
  };

  const setCollector = (fault: CollectorFault) => {
    collector.failWith(fault.kind === 'status' ? fault.status : fault.kind === 'drop' ? 'drop' : undefined);
    network.slowBy(fault.kind === 'slow' ? fault.slowMs : 0);
  };

  let current = await start();
  for (const command of commands) {
    if (current.app.process.killed()) current = await restartAfterKill(current);
    const { consent } = current.app;
    switch (command.kind) {
      case 'set':
        changes.push(consent.setLevel(command.level, 'soak').catch(() => undefined));
        if (command.settle) {
          await run(Promise.all(changes));
          changes = [];
        }
        break;
      case 'reset':
        changes.push(consent.reset().catch(() => undefined));
        break;
      case 'retry':
        changes.push(consent.retry().catch(() => undefined));
        break;
      case 'regrant':
        await run(Promise.all(changes));
        await run(consent.setLevel(command.via, 'soak').catch(() => undefined));
        await run(consent.setLevel('full', 'soak').catch(() => undefined));
        changes = [];
        break;
      case 'track': {
        tracked += 1;
        const label = `${runId}-t${tracked}`;
        allowed.set(label, consent.getLevel());
        lowestSince.set(label, consent.getLevel());
        if (consent.getLevel() === 'full') periodOf.set(label, period);
        harness.track(consent.tracker, label);
        break;
      }
      case 'flush':
        await run(current.app.control.adapter.flush());
        break;
      case 'collector':
        setCollector(command.fault);
        break;
      case 'storage':
        storage.setFault(command.fault, command.calls);
        storageFailed ||= command.fault !== 'none';
        break;
      case 'clock':
        vi.setSystemTime(Date.now() + command.jumpMs);
        break;
      case 'wait':
        await vi.advanceTimersByTimeAsync(command.ms);
        break;
      case 'restart':
        current = await restart(current);
        break;
      case 'kill':
        current.app.process.killAtAwaitPoint(current.app.process.awaitPoints() + command.atAwait);
        armed = true;
        break;
    }
  }

  // The end of the run: every fault lifted, an armed kill done, a new start (what a run could not
  // read is left for the next start), and what is queued sent.
  setCollector({ kind: 'none' });
  storage.setFault('none');
  await run(Promise.all(changes));
  if (armed || current.app.process.killed()) current = await restartAfterKill(current);
  current = await restart(current);
  const { consent } = current.app;
  // A stored decision that cannot be read (a clock set back makes it one from the future) is asked
  // again: the user answers, and what waited for a decision goes at that level.
  await run(consent.ready);
  if (selectAwaitingDecision(consent.actor.getSnapshot())) await run(consent.setLevel('none', 'soak-end').catch(() => undefined));
  const idle = () => !network.onIo() && selectOutcome(consent.actor.getSnapshot()) !== 'pending' && selectQuiescent(consent.actor.getSnapshot());
  // A slot left by a kill is free once its lease lapses (30 s), and one that could not be read is
  // read again: the renewals (every 10 s) take them over.
  for (let waited = 0; waited <= 40_000; waited += 10_000) {
    await vi.advanceTimersByTimeAsync(10_000);
    await runUntil(idle, network);
    if (process.env.SOAK_DEBUG) process.stdout.write(`DEBUG waited ${waited}: ${await consent.enforcement.eventStore.count()} queued, stored ${JSON.stringify([...device.storage.entries.keys()])}\n`);
  }
  for (let round = 0; round < 20; round += 1) {
    await run(current.app.control.adapter.flush());
    await runUntil(idle, network);
    if (idle() && (await consent.enforcement.eventStore.count()) === 0) break;
    await vi.advanceTimersByTimeAsync(11_000);
  }
  await checkRun();
  await run(consent.stop());
  vi.clearAllTimers();

  async function checkRun() {
    const events = collector.events().filter((e) => e.payload.se_ac?.startsWith(`${runId}-`));
    const drops = launches.flatMap((l) => l.drops);
    if (process.env.SOAK_DEBUG) process.stdout.write(`DEBUG current queue ${JSON.stringify(await current.app.consent.enforcement.eventStore.getAllPayloads())}\n`);
    if (process.env.SOAK_DEBUG) process.stdout.write(`DEBUG requests ${JSON.stringify(collector.requests().map((r) => [r.status, r.eventIds.length, r.headers[SEND_HEADER]]))} stats ${JSON.stringify(launches.map((l) => l.app.consent.stats()))}\n`);
    if (process.env.SOAK_DEBUG) process.stdout.write(`DEBUG stored ${JSON.stringify([...device.storage.entries])}\nDEBUG drops ${JSON.stringify(drops)}\n`);
    const deliveredIds = new Set(events.map((e) => e.id));
    const droppedIds = drops.flatMap((drop) => (drop.eventId === undefined ? [] : [drop.eventId]));
    const requests = collector.requests();
    const sentAt = (e: CollectedEvent) => levelsAtSend.get(Number(requests[e.requestIndex]?.headers[SEND_HEADER]))?.get(e.payload.se_ac ?? '') ?? 'off';
    // A repeat of an event the collector already has (at least once) may carry what its first copy did, no more.
    const first = new Map<string | undefined, CollectedEvent>();
    for (const e of events) if (!first.has(e.id)) first.set(e.id, e);
    const levelAtSend = (e: CollectedEvent) => {
      const earlier = first.get(e.id);
      return earlier === undefined || earlier === e ? sentAt(e) : maxLevel(sentAt(e), sentAt(earlier));
    };
    const leaks = findLeaks(events, levelAtSend);
    if (process.env.SOAK_DEBUG) for (const e of events) process.stdout.write(`DEBUG ${e.payload.se_ac} send=${String(requests[e.requestIndex]?.headers[SEND_HEADER])} allowed=${levelAtSend(e)} captured=${allowed.get(e.payload.se_ac ?? '')} uid=${e.payload.uid} anon=${e.anonymous}\n`);
    expect(leaks, `sent above the lowest level in force from capture to send: ${JSON.stringify(leaks.slice(0, 3))}`).toEqual([]);
    checkRelinks(events);
    // Twice (sent twice, counted twice, or both) only with the same id, and only where an answer
    // was lost, a restart or kill caught it queued, or storage failed.
    const ids = [...events.flatMap((e) => (e.id === undefined ? [] : [e.id])), ...droppedIds];
    const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
    tally.repeated += repeated.length;
    // A slot whose lease cannot be read is left for a new one, with the queue copied (design.md, "Queues of instances").
    const twice = storageFailed ? [] : repeated.filter((id) => !network.unanswered().has(id) && !queuedAtRestart.has(id));
    expect(twice, `sent or counted twice, without a lost answer: ${JSON.stringify(twice.map((id) => [events.find((e) => e.id === id)?.payload.se_ac, drops.filter((d) => d.eventId === id)]))}`).toEqual([]);
    const labels = events.map((e) => e.payload.se_ac);
    expect(labels.filter((label, i) => labels.indexOf(label) !== i && events.filter((e) => e.payload.se_ac === label).some((e, _, all) => e.id !== all[0]?.id)), 'one event sent under two ids').toEqual([]);
    const accounted = new Set([...deliveredIds, ...droppedIds]).size + drops.filter((drop) => drop.eventId === undefined).length;
    const lost = tracked - accounted;
    expect(lost, `${tracked} tracked, ${accounted} delivered or counted as dropped; a kill caught ${mayLose} in memory only`).toBeGreaterThanOrEqual(0);
    expect(lost, `${tracked} tracked, ${accounted} delivered or counted as dropped; a kill caught ${mayLose} in memory only`).toBeLessThanOrEqual(mayLose);
    const missing = [...lowestSince].filter(([label, level]) => level !== 'off' && !labels.includes(label));
    const otherDrops = drops.filter((drop) => drop.reason !== 'off').length;
    expect(missing.length, `let through but not sent: ${missing.map(([l]) => l).join(', ')}`).toBeLessThanOrEqual(lost + otherDrops);
    for (const l of launches) expect(droppedTotal(l.app.consent.stats()), 'the counters agree with the drops reported').toBe(l.drops.length + l.dropsAfterDeath.length);
    // As the next start would read it (a segment listed loose is one to remove, written over at a withdrawal).
    const stored = storedQueues(device.storage.entries);
    expect([...allowed.keys()].filter((label) => stored.includes(`"${label}"`)), 'left on the device, neither sent nor counted').toEqual([]);
    tally.tracked += tracked;
    tally.delivered += deliveredIds.size;
    tally.lostToKills += lost;
  }

  /** Nothing links one period at full to another (but the app's own user id, which the test app sets at every launch). */
  function checkRelinks(events: readonly CollectedEvent[]) {
    const periods = [...new Set(events.flatMap((e) => periodOf.get(e.payload.se_ac ?? '') ?? []))];
    if (periods.length > 1) tally.periodPairs += 1;
    const inPeriod = (p: number) => (e: CollectedEvent) => periodOf.get(e.payload.se_ac ?? '') === p;
    for (const [i, earlier] of periods.entries()) {
      for (const later of periods.slice(i + 1)) {
        const relinks = findLeaks(events, 'full', { relinks: { before: inPeriod(earlier), after: inPeriod(later) } }).filter((leak) => leak.field !== 'uid');
        expect(relinks, `period ${later} re-links to period ${earlier}`).toEqual([]);
      }
    }
  }
}
