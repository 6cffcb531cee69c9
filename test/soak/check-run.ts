import { minLevel, type ConsentLevel, type EnforcementStats } from 'consent-tracker';
import { findLeaks, type CollectedEvent, type Collector } from 'consent-tracker/testing';
import type { RunRecord } from './run-record.js';
import { SEND_HEADER, type SimulatedNetwork } from './simulated-network.js';
import type { SoakTally } from './soak-tally.js';

const maxLevel = (a: ConsentLevel, b: ConsentLevel) => (minLevel(a, b) === a ? b : a);
const droppedTotal = (stats: EnforcementStats & { gate: { dropped: number } }) => Object.values(stats.dropped).reduce((a, b) => a + b, 0) + stats.gate.dropped;

/**
 * Fails the run with `message` unless `holds`: plain checks rather than `expect`, which costs a
 * few percent of a long soak's time at ten checks a run.
 */
function check(holds: boolean, message: string, actual?: unknown): void {
  if (!holds) throw new Error(actual === undefined ? message : `${message}: got ${JSON.stringify(actual)}`);
}

/** Fails the run with `message` unless `found` is empty. */
function none(found: readonly unknown[], message: string): void {
  check(found.length === 0, message, found);
}

/**
 * The stored queues as the next start reads them: each slot's manifest and the segments it lists
 * (a segment written but not listed yet, as a kill may leave it, holds nothing stored; one listed
 * as loose is on its way out), or a queue stored whole (the first layout).
 */
export function storedQueues(entries: ReadonlyMap<string, string>): string {
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

/** What a run's checks read: its record, and what the collector, the network and the device hold at its end. */
export interface RunOutcome {
  readonly record: RunRecord;
  readonly collector: Collector;
  readonly network: SimulatedNetwork;
  readonly device: ReadonlyMap<string, string>;
}

/**
 * Checks what the collector received in a run: nothing above the lowest level decided from
 * capture to send, no re-link across a withdrawal, each event delivered or counted once (twice
 * only with the same id, where the device could not know), but what a kill caught in memory, and
 * nothing of the run left stored. Adds the run to `tally`.
 */
export function checkRun(outcome: RunOutcome, tally: SoakTally): void {
  const events = outcome.collector.events().filter((e) => e.payload.se_ac?.startsWith(`${outcome.record.runId}-`));
  checkLeaks(outcome, events);
  checkRelinks(outcome.record, events, tally);
  const lost = checkAccounting(outcome, events, tally);
  tally.tracked += outcome.record.tracked;
  tally.delivered += new Set(events.map((e) => e.id)).size;
  tally.lostToKills += lost;
}

/** Each copy of each event, as its request carried it, within the lowest level decided from its capture to that send. */
function checkLeaks({ record, collector }: RunOutcome, events: readonly CollectedEvent[]): void {
  const requests = collector.requests();
  const sentAt = (e: CollectedEvent) => record.levelsAtSend.get(Number(requests[e.requestIndex]?.headers[SEND_HEADER]))?.get(e.payload.se_ac ?? '') ?? 'off';
  // A repeat of an event the collector already has (at least once) may carry what its first copy did, no more.
  const first = new Map<string | undefined, CollectedEvent>();
  for (const e of events) if (!first.has(e.id)) first.set(e.id, e);
  const allowed = (e: CollectedEvent) => {
    const earlier = first.get(e.id);
    return earlier === undefined || earlier === e ? sentAt(e) : maxLevel(sentAt(e), sentAt(earlier));
  };
  const leaks = findLeaks(events, allowed);
  const described = leaks.slice(0, 3).map((leak) => {
    const e = events.find((event) => event.id === leak.eventId);
    return { ...leak, action: e?.payload.se_ac, capturedAt: record.capturedAt.get(e?.payload.se_ac ?? ''), allowed: e && allowed(e) };
  });
  // The message describes the leaks already: no copy of them after it.
  check(leaks.length === 0, `sent above the lowest level decided from capture to send: ${JSON.stringify(described)}`);
}

/** Nothing links one period at full to another (but the app's own user id, which the test app sets at every launch). */
function checkRelinks(record: RunRecord, events: readonly CollectedEvent[], tally: SoakTally): void {
  const periodOf = (e: CollectedEvent) => record.periodOf.get(e.payload.se_ac ?? '');
  const periods = [...new Set(events.flatMap((e) => periodOf(e) ?? []))];
  if (periods.length > 1) tally.periodPairs += 1;
  const inPeriod = (p: number) => (e: CollectedEvent) => periodOf(e) === p;
  for (const [i, earlier] of periods.entries()) {
    for (const later of periods.slice(i + 1)) {
      const relinks = findLeaks(events, 'full', { relinks: { before: inPeriod(earlier), after: inPeriod(later) } }).filter((leak) => leak.field !== 'uid');
      none(relinks, `period ${later} re-links to period ${earlier}`);
    }
  }
}

/** Tracked = delivered + counted as dropped, each once, but what a kill caught in memory: how many that was. */
function checkAccounting({ record, network, device }: RunOutcome, events: readonly CollectedEvent[], tally: SoakTally): number {
  const drops = record.launches.flatMap((l) => l.drops);
  const droppedIds = drops.flatMap((drop) => (drop.eventId === undefined ? [] : [drop.eventId]));
  // Twice (sent twice, counted twice, or both) only with the same id, and only where an answer was
  // lost, a restart or kill caught it stored, or storage failed (a slot whose lease cannot be read
  // is left with its events copied to a new one).
  const ids = [...events.flatMap((e) => (e.id === undefined ? [] : [e.id])), ...droppedIds];
  const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
  tally.repeated += repeated.length;
  const twice = record.storageFailed ? [] : repeated.filter((id) => !network.unanswered().has(id) && !record.mayRepeat.has(id));
  none(twice, `sent or counted twice, without a lost answer: ${JSON.stringify(twice.map((id) => [events.find((e) => e.id === id)?.payload.se_ac, drops.filter((d) => d.eventId === id)]))}`);
  const actions = events.map((e) => e.payload.se_ac);
  const underTwoIds = actions.filter((action, i) => actions.indexOf(action) !== i && events.some((e) => e.payload.se_ac === action && e.id !== events[actions.indexOf(action)]?.id));
  none(underTwoIds, 'one event sent under two ids');
  const accounted = new Set([...events.map((e) => e.id), ...droppedIds]).size + drops.filter((drop) => drop.eventId === undefined).length;
  const lost = record.tracked - accounted;
  const summary = `${record.tracked} tracked, ${accounted} delivered or counted as dropped; a kill caught ${record.mayLose} in memory only`;
  check(lost >= 0 && lost <= record.mayLose, summary);
  const missing = [...record.lowestEver].filter(([action, level]) => level !== 'off' && !actions.includes(action));
  const otherDrops = drops.filter((drop) => drop.reason !== 'off').length;
  check(missing.length <= lost + otherDrops, `let through but not sent (${lost} lost, ${otherDrops} dropped below off): ${missing.map(([action]) => action).join(', ')}`);
  for (const l of record.launches) {
    const counted = droppedTotal(l.app.consent.stats());
    check(counted === l.drops.length + l.dropsAfterDeath.length, `the counters agree with the drops reported: ${counted} counted, ${l.drops.length + l.dropsAfterDeath.length} reported`);
  }
  const stored = storedQueues(device);
  none([...record.capturedAt.keys()].filter((action) => stored.includes(`"${action}"`)), 'left on the device, neither sent nor counted');
  return lost;
}
