import fc from 'fast-check';
import { expect } from 'vitest';
import type { Collector } from 'consent-tracker/testing';
import type { AdapterHarness } from '../helpers/adapter-harness.js';
import { soakCommands, type SoakCommand } from './soak-command.js';
import { SimulatedClock } from './simulated-clock.js';
import { soakRun } from './soak-run.js';
import { emptyTally, type SoakTally } from './soak-tally.js';

/**
 * Sequences replayed first in every soak: each once broke the library or the soak's own checks
 * (named after what it caught), and one that the re-link check needs.
 */
export const SOAK_REGRESSIONS: ReadonlyArray<{ caught: string; commands: readonly SoakCommand[] }> = [
  {
    caught: 'nothing: events at full on both sides of a withdrawal, so that the re-link check always has a pair to check',
    commands: [{ kind: 'set', level: 'full', settle: true }, { kind: 'track' }, { kind: 'regrant', via: 'none' }, { kind: 'track' }],
  },
  {
    caught: 'events whose queue writes failed were lost uncounted at stop(), though storage worked again',
    commands: [{ kind: 'track' }, { kind: 'set', level: 'session-only', settle: false }, { kind: 'storage', fault: 'throw', calls: 'writes' }, { kind: 'track' }, { kind: 'wait', ms: 12_000 }, { kind: 'retry' }],
  },
  {
    caught: 'a withdrawal that storage refused reached the next start as the grant before it, though storage worked again at stop()',
    commands: [{ kind: 'track' }, { kind: 'collector', fault: { kind: 'status', status: 500 } }, { kind: 'regrant', via: 'none' }, { kind: 'storage', fault: 'quota', calls: 'all' }, { kind: 'set', level: 'off', settle: true }],
  },
  {
    caught: 'a slot whose lease could not be read was left with the events it held, sent again after a withdrawal in between',
    commands: [{ kind: 'track' }, { kind: 'flush' }, { kind: 'storage', fault: 'quota', calls: 'reads' }, { kind: 'regrant', via: 'off' }, { kind: 'set', level: 'none', settle: false }],
  },
  {
    caught: 'a withdrawal made while a killed instance still held its slot did not reach the events there',
    commands: [{ kind: 'track' }, { kind: 'kill', atAwait: 6 }, { kind: 'flush' }, { kind: 'set', level: 'off', settle: false }, { kind: 'flush' }, { kind: 'set', level: 'full', settle: false }],
  },
  {
    caught: "an unreadable stored decision dropped an earlier run's queue at the off that stands in for it",
    commands: [{ kind: 'track' }, { kind: 'collector', fault: { kind: 'drop' } }, { kind: 'storage', fault: 'hang', calls: 'reads' }, { kind: 'track' }, { kind: 'restart' }, { kind: 'track' }],
  },
  {
    caught: 'a reset right after a withdrawal was stored before the queue was lowered to it: a kill between let the queue out',
    commands: [{ kind: 'collector', fault: { kind: 'status', status: 500 } }, { kind: 'track' }, { kind: 'wait', ms: 50 }, { kind: 'set', level: 'off', settle: false }, { kind: 'track' }, { kind: 'kill', atAwait: 8 }, { kind: 'reset' }, { kind: 'set', level: 'none', settle: false }, { kind: 'collector', fault: { kind: 'none' } }],
  },
  {
    caught: 'a withdrawal whose floor could not be recorded on a killed instance\'s slot (its lease unreadable) was skipped',
    commands: [{ kind: 'track' }, { kind: 'kill', atAwait: 5 }, { kind: 'track' }, { kind: 'restart' }, { kind: 'storage', fault: 'throw', calls: 'reads' }, { kind: 'regrant', via: 'off' }],
  },
  {
    caught: 'a withdrawal did not reach a stored queue the run could not read, and a new consent let its events out',
    commands: [{ kind: 'track' }, { kind: 'storage', fault: 'throw', calls: 'reads' }, { kind: 'track' }, { kind: 'restart' }, { kind: 'regrant', via: 'off' }, { kind: 'retry' }],
  },
  {
    caught: 'a withdrawal below the undecided level whose write and removal hung, then landed in that order, left no decision stored: after a kill the next start sent the queue at the undecided level',
    commands: [{ kind: 'collector', fault: { kind: 'drop' } }, { kind: 'kill', atAwait: 12 }, { kind: 'track' }, { kind: 'flush' }, { kind: 'storage', fault: 'hang', calls: 'all' }, { kind: 'set', level: 'off', settle: true }],
  },
  {
    caught: "the soak's own record: a withdrawal made before the run's first decision was in force was not taken as a decision, so an event it dropped looked let through and lost (and a send above it would not have been a leak)",
    commands: [{ kind: 'storage', fault: 'hang', calls: 'writes' }, { kind: 'restart' }, { kind: 'track' }, { kind: 'regrant', via: 'off' }],
  },
  {
    caught: "the soak's own record: a withdrawal storage refused (every write and removal), which the next start cannot know of, still split the identity periods, so the next start's full looked like a re-link",
    commands: [{ kind: 'regrant', via: 'off' }, { kind: 'track' }, { kind: 'wait', ms: 50 }, { kind: 'storage', fault: 'throw', calls: 'writes' }, { kind: 'set', level: 'off', settle: false }, { kind: 'restart' }, { kind: 'track' }, { kind: 'regrant', via: 'off' }],
  },
  {
    caught: "a stop() that stopped waiting for its React Native tracker's creation removed, once the creation ended, the tracker of the next launch on the same namespace: its events went nowhere, uncounted",
    commands: [{ kind: 'storage', fault: 'hang', calls: 'reads' }, { kind: 'restart' }, { kind: 'restart' }, { kind: 'retry' }, { kind: 'track' }],
  },
  {
    caught: "a grant right after a withdrawal was stored before the withdrawal reached a killed instance's slot: a kill between let that slot's events out at their old level",
    commands: [{ kind: 'track' }, { kind: 'kill', atAwait: 5 }, { kind: 'track' }, { kind: 'regrant', via: 'off' }, { kind: 'set', level: 'off', settle: false }, { kind: 'kill', atAwait: 3 }, { kind: 'reset' }, { kind: 'track' }],
  },
  {
    caught: "a run that could not read the stored decision (a withdrawal) overwrote it with its own, and a later run took over the killed run's slot and sent its events at their old level",
    commands: [{ kind: 'track' }, { kind: 'wait', ms: 50 }, { kind: 'kill', atAwait: 6 }, { kind: 'storage', fault: 'throw', calls: 'reads' }, { kind: 'track' }, { kind: 'set', level: 'off', settle: true }, { kind: 'regrant', via: 'none' }],
  },
  {
    caught: "a run that could not read the stored decision stored its own decisions, none in force (React Native's apply waited on a hung read), then read the earlier run's queue and left it, at its old level, to the next start",
    commands: [{ kind: 'track' }, { kind: 'track' }, { kind: 'track' }, { kind: 'storage', fault: 'hang', calls: 'reads' }, { kind: 'restart' }, { kind: 'regrant', via: 'off' }, { kind: 'flush' }],
  },
  {
    caught: "the soak's own record: a reset while the stored decision could not be read was taken as a decision over it (what earlier launches tracked counted as withdrawn), though the chart takes no reset while undecided",
    commands: [{ kind: 'track' }, { kind: 'storage', fault: 'quota', calls: 'reads' }, { kind: 'collector', fault: { kind: 'drop' } }, { kind: 'kill', atAwait: 4 }, { kind: 'regrant', via: 'off' }, { kind: 'reset' }],
  },
  {
    caught: 'a withdrawal superseded by a grant before it came into force (its clean-up waited on storage that hung) did not reach an event queued before it: the next start sent it at the grant',
    commands: [{ kind: 'storage', fault: 'hang', calls: 'writes' }, { kind: 'restart' }, { kind: 'track' }, { kind: 'set', level: 'off', settle: false }, { kind: 'set', level: 'session-only', settle: false }, { kind: 'retry' }],
  },
  {
    caught: "the soak's own record: a decision made while a retry read the unreadable stored decision again, which failed again, was not taken as one over it (the library dropped what earlier launches tracked, as it must)",
    commands: [{ kind: 'storage', fault: 'throw', calls: 'reads' }, { kind: 'track' }, { kind: 'collector', fault: { kind: 'status', status: 500 } }, { kind: 'restart' }, { kind: 'retry' }, { kind: 'set', level: 'full', settle: false }, { kind: 'retry' }],
  },
  {
    caught: "the soak's own record: a decision over an unreadable stored one that never reached storage still held earlier launches' events to off after its launch ended (the next start read the decision before it)",
    commands: [{ kind: 'kill', atAwait: 8 }, { kind: 'track' }, { kind: 'reset' }, { kind: 'track' }, { kind: 'storage', fault: 'hang', calls: 'reads' }, { kind: 'set', level: 'full', settle: false }, { kind: 'regrant', via: 'off' }, { kind: 'set', level: 'full', settle: false }, { kind: 'restart' }, { kind: 'collector', fault: { kind: 'drop' } }],
  },
  {
    caught: "the soak's own record: off stored in place of a decision over an unread one (the queue slots' leases could not be read) was taken as a decision of the running launch, which sends at the level decided",
    commands: [{ kind: 'storage', fault: 'throw', calls: 'reads' }, { kind: 'restart' }, { kind: 'regrant', via: 'off' }, { kind: 'track' }, { kind: 'set', level: 'none', settle: true }, { kind: 'reset' }],
  },
  {
    caught: "the soak's own record: a reset made while a retry read the unreadable stored decision again, which failed again, was not taken as a decision over it (the library held what earlier launches tracked to off, as it must)",
    commands: [{ kind: 'track' }, { kind: 'storage', fault: 'quota', calls: 'reads' }, { kind: 'track' }, { kind: 'restart' }, { kind: 'retry' }, { kind: 'reset' }],
  },
  {
    caught: "a run that found every queue slot leased (its own lease writes had hung, then landed) kept its queue in memory for good: the killed run's slot, with an event in it, stayed on the device under a stored off",
    commands: [{ kind: 'track' }, { kind: 'kill', atAwait: 5 }, { kind: 'flush' }, { kind: 'storage', fault: 'hang', calls: 'writes' }, { kind: 'set', level: 'off', settle: false }, { kind: 'set', level: 'off', settle: true }, { kind: 'set', level: 'off', settle: true }, { kind: 'wait', ms: 12_000 }],
  },
  {
    caught: "a slot taken over whose queue was not stored before stop() was given up without the floor a decision over an unread one had recorded on it: the next start sent its event at its old level",
    commands: [{ kind: 'collector', fault: { kind: 'status', status: 500 } }, { kind: 'track' }, { kind: 'storage', fault: 'hang', calls: 'reads' }, { kind: 'restart' }, { kind: 'flush' }, { kind: 'set', level: 'session-only', settle: true }],
  },
  {
    caught: "a reload that went on with an older identity (a withdrawal and a new consent storage refused) sent the browser's tab id of the identity withdrawn since, linking the two",
    commands: [{ kind: 'regrant', via: 'off' }, { kind: 'storage', fault: 'quota', calls: 'writes' }, { kind: 'regrant', via: 'off' }, { kind: 'track' }, { kind: 'restart' }, { kind: 'track' }],
  },
  {
    caught: "a reload that went on at the tracker's own identity (a withdrawal and a new consent storage refused) went on with the browser tracker's session written meanwhile: its first event was one sent with the identity withdrawn since",
    commands: [{ kind: 'set', level: 'full', settle: true }, { kind: 'track' }, { kind: 'storage', fault: 'quota', calls: 'writes' }, { kind: 'regrant', via: 'off' }, { kind: 'track' }, { kind: 'restart' }, { kind: 'track' }],
  },
  {
    caught: "nothing: events at full on both sides of a withdrawal and a restart, so that the re-link check always covers the identity a start restores (a start that dropped it and went on with the tracker's own went unseen by 2,000 random runs)",
    commands: [{ kind: 'set', level: 'full', settle: true }, { kind: 'track' }, { kind: 'regrant', via: 'none' }, { kind: 'track' }, { kind: 'restart' }, { kind: 'track' }],
  },
  {
    caught: "the soak's own record: a withdrawal that storage refused, like the grant before it, still split the identity periods, though the next start finds no decision and goes on with the tracker's own identity, as the documented limit says",
    commands: [{ kind: 'storage', fault: 'quota', calls: 'writes' }, { kind: 'regrant', via: 'session-only' }, { kind: 'kill', atAwait: 2 }, { kind: 'track' }, { kind: 'regrant', via: 'off' }, { kind: 'regrant', via: 'session-only' }, { kind: 'track' }],
  },
  {
    caught: "a start at a stored withdrawal went on with the identity stored beside it as never used, though a grant storage refused (with that identity's use) had sent it before a withdrawal storage refused too: the next grant linked the two",
    commands: [{ kind: 'set', level: 'off', settle: true }, { kind: 'storage', fault: 'quota', calls: 'writes' }, { kind: 'regrant', via: 'off' }, { kind: 'kill', atAwait: 3 }, { kind: 'track' }, { kind: 'regrant', via: 'off' }, { kind: 'regrant', via: 'off' }, { kind: 'track' }],
  },
  {
    caught: "a slot taken over with a floor (a withdrawal a killed instance missed) kept the floor in its lease until the new owner's first renewal, 10 s on: killed before it, the new owner's own events at full were dropped as off by the next start",
    commands: [{ kind: 'set', level: 'full', settle: true }, { kind: 'track' }, { kind: 'kill', atAwait: 5 }, { kind: 'track' }, { kind: 'restart' }, { kind: 'track' }, { kind: 'clock', jumpMs: 3_600_000 }, { kind: 'set', level: 'off', settle: false }, { kind: 'set', level: 'full', settle: true }, { kind: 'track' }, { kind: 'kill', atAwait: 0 }, { kind: 'track' }, { kind: 'kill', atAwait: 2 }, { kind: 'track' }, { kind: 'kill', atAwait: 5 }],
  },
  {
    caught: "the soak's own record: a request the fetch guard let through at full, whose body the simulated network read only after a withdrawal to off, was taken as sent after the withdrawal (levels are now taken as the library hands a request to the network)",
    commands: [{ kind: 'set', level: 'full', settle: true }, { kind: 'track' }, { kind: 'kill', atAwait: 1 }, { kind: 'track' }, { kind: 'kill', atAwait: 0 }, { kind: 'track' }, { kind: 'kill', atAwait: 1 }, { kind: 'track' }, { kind: 'track' }, { kind: 'track' }, { kind: 'track' }, { kind: 'retry' }, { kind: 'retry' }, { kind: 'set', level: 'off', settle: true }],
  },
];

/** How a soak is asked for: `npm run soak` passes these through the environment. */
export interface SoakSettings {
  readonly runs: number;
  readonly seed: number;
  /** Print a line every this many runs (0: never). */
  readonly progressEvery: number;
}

/**
 * The seed of the short soak `npm test` runs: fixed, so that the suite is the same at every run.
 * `npm run soak` draws a new one each time, unless given one.
 */
const SUITE_SEED = 20_261_202;

/** How long one adapter's soak may take: a second per run, and at least 15 minutes (a long soak sets its own pace). */
export const SOAK_TIMEOUT_MS = Math.max(900_000, Number(process.env.SOAK_RUNS ?? 0) * 1000);

/** The settings from `SOAK_RUNS`, `SOAK_SEED` and `SOAK_PROGRESS`, or `runs` runs from the suite's seed, quietly. */
export function soakSettings(runs: number): SoakSettings {
  return {
    runs: Number(process.env.SOAK_RUNS ?? runs),
    seed: Number(process.env.SOAK_SEED ?? SUITE_SEED),
    progressEvery: Number(process.env.SOAK_PROGRESS ?? 0),
  };
}

/**
 * Random runs of decisions, resets, retries, tracks, flushes, collector and storage faults, clock
 * jumps, waits, restarts and kills against `harness`'s adapter, on a simulated clock, each checked
 * by {@link soakRun}. On a failure fast-check shrinks the run and the error names the seed (and
 * the path) that replays it.
 */
export async function runSoak(harness: AdapterHarness, collector: Collector, settings: SoakSettings): Promise<SoakTally> {
  const tally = emptyTally();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const progress = () => {
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`soak ${harness.name}: ${tally.runs}/${settings.runs} runs, ${seconds.toFixed(0)} s, ${tally.tracked} tracked, ${tally.delivered} delivered, ${tally.kills} kills (seed ${settings.seed})\n`);
  };
  // Timers and the date are simulated; setImmediate, nextTick and microtasks stay real, so that sockets work.
  const clock = new SimulatedClock();
  const uninstall = clock.install();
  const quiet = silenceTrackerLogs();
  try {
    await fc.assert(
      fc.asyncProperty(soakCommands, async (commands) => {
        await soakRun(harness, collector, commands, tally, clock);
        if (settings.progressEvery > 0 && tally.runs % settings.progressEvery === 0) progress();
      }),
      { numRuns: settings.runs, seed: settings.seed, examples: SOAK_REGRESSIONS.map(({ commands }) => [[...commands]]) },
    );
  } catch (error) {
    progress();
    const cause = (error as Error).cause;
    throw new Error(`The soak failed with the ${harness.name} adapter. Replay: npm run soak -- --adapters ${harness.name} --runs ${settings.runs} --seed ${settings.seed} --shards 1\n${String(error)}\n${cause instanceof Error ? cause.message : String(cause)}`, { cause: error });
  } finally {
    quiet();
    uninstall();
  }
  if (settings.progressEvery > 0 && tally.runs % settings.progressEvery !== 0) progress();
  expect(tally.delivered, 'a soak that delivers nothing proves nothing').toBeGreaterThan(settings.runs / 4);
  expect(tally.kills, 'the kill mode ran').toBeGreaterThan(0);
  expect(tally.periodPairs, 'the re-link check had periods to compare').toBeGreaterThan(0);
  // For npm run soak: the processor time the runs took (the collector's included), which other work
  // on the machine does not inflate as it does the time on the clock.
  const cpu = process.cpuUsage(cpuBefore);
  if (process.env.SOAK_RUNS !== undefined) process.stdout.write(`soak-summary ${JSON.stringify({ runs: tally.runs, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
  return tally;
}

/** The trackers log each request that times out or fails: thousands of lines over a soak. */
function silenceTrackerLogs(): () => void {
  const { error, warn } = console;
  console.error = () => undefined;
  console.warn = () => undefined;
  return () => {
    console.error = error;
    console.warn = warn;
  };
}
