/**
 * `npm run soak -- --runs 100000 --seed S [--adapters tracker-core,react-native,browser] [--shards N]`:
 * the soak of test/soak/ run long. Each adapter's runs are split into shards of at most
 * `--shard-runs` runs (by default 5,000 for the browser, 10,000 for the others), and at least `N`
 * (default: one per core), shard k drawing its runs from seed S + k. The shards run as vitest
 * processes of their own, as many at a time as there are cores, the adapters in turns. The
 * browser's heap grows with its runs (the browser tracker keeps every tracker a page load made,
 * and jsdom is one page for all of them), and its garbage collection slows with it: a new process
 * every 5,000 runs keeps each run as fast as the first. Under Node a run costs the same at the
 * 10,000th as at the first, and fewer shards start fewer processes (about 2 s of processor each). Prints
 * progress, the time each shard and the whole took, and on a failure the command that replays
 * the failing shard.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

/** The adapters, slowest first: their shards start first, so that the cores end together. */
const ADAPTERS = ['browser', 'react-native', 'tracker-core'] as const;

/** The most runs a shard of each adapter makes, unless `--shard-runs` says otherwise (see above). */
const SHARD_RUNS: Record<(typeof ADAPTERS)[number], number> = { browser: 5000, 'react-native': 10_000, 'tracker-core': 10_000 };

interface Shard {
  readonly adapter: string;
  readonly index: number;
  readonly runs: number;
  readonly seed: number;
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    adapters: { type: 'string', default: ADAPTERS.join(',') },
    shards: { type: 'string', default: String(availableParallelism()) },
    'shard-runs': { type: 'string' },
    /** Each shard prints a line every this many runs (default: only when it ends). */
    progress: { type: 'string' },
  },
});
const runs = Number(values.runs);
const shardRuns = values['shard-runs'] === undefined ? undefined : Number(values['shard-runs']);
const minShards = Number(values.shards);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const adapters = (values.adapters ?? '').split(',');
const unknown = adapters.filter((a) => !(ADAPTERS as readonly string[]).includes(a));
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || !Number.isInteger(minShards) || minShards < 1 || (shardRuns !== undefined && (!Number.isInteger(shardRuns) || shardRuns < 1)) || unknown.length > 0) {
  console.error(`usage: npm run soak -- --runs N --seed S [--adapters ${ADAPTERS.join(',')}] [--shards N] [--shard-runs N]${unknown.length > 0 ? `\nunknown adapter: ${unknown.join(', ')}` : ''}`);
  process.exit(2);
}

/** How many shards an adapter's runs are split into. */
const shardsOf = (adapter: (typeof ADAPTERS)[number]) => Math.min(runs, Math.max(minShards, Math.ceil(runs / (shardRuns ?? SHARD_RUNS[adapter]))));

/** Each adapter's runs in shards, taken in turns (the slowest adapter's first), so that a soak cut short has run every adapter alike. */
function planShards(): Shard[] {
  const ordered = ADAPTERS.filter((a) => adapters.includes(a));
  const rounds = Math.max(...ordered.map(shardsOf));
  return Array.from({ length: rounds }, (_, index) => index).flatMap((index) =>
    ordered.flatMap((adapter) => {
      const shards = shardsOf(adapter);
      return index < shards ? [{ adapter, index, runs: Math.floor(runs / shards) + (index < runs % shards ? 1 : 0), seed: seed + index }] : [];
    }),
  );
}

let shardsDone = 0;
/** Per adapter: the runs its shards made, and the processor time they took. */
const cpuByAdapter = new Map<string, { runs: number; cpuSeconds: number }>();

/** The `soak-summary` line a shard prints as it ends: its runs and the processor time they took. */
function readSummary(adapter: string, output: string): string {
  const match = /soak-summary (\{.*\})/.exec(output);
  if (match?.[1] === undefined) return '';
  const { runs: done, cpuSeconds } = JSON.parse(match[1]) as { runs: number; cpuSeconds: number };
  const total = cpuByAdapter.get(adapter) ?? { runs: 0, cpuSeconds: 0 };
  cpuByAdapter.set(adapter, { runs: total.runs + done, cpuSeconds: total.cpuSeconds + cpuSeconds });
  return `, ${((1000 * cpuSeconds) / Math.max(1, done)).toFixed(1)} ms of processor a run`;
}

/** Runs one shard in a vitest process of its own; resolves with whether it passed. */
function runShard(shard: Shard, of: number): Promise<boolean> {
  const started = performance.now();
  const vitest = spawn('npx', ['vitest', 'run', '--project', 'main', '--reporter=dot', `test/soak.${shard.adapter}.test.ts`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SOAK_RUNS: String(shard.runs), SOAK_SEED: String(shard.seed), SOAK_PROGRESS: values.progress ?? '0' },
  });
  // A shard's own output (vitest's, the progress lines) is shown as it comes only when asked for; a failing shard's always.
  let output = '';
  for (const stream of [vitest.stdout, vitest.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (values.progress !== undefined) process.stdout.write(chunk);
    });
  }
  return new Promise((resolve) => {
    vitest.on('exit', (code) => {
      if (code !== 0) process.stdout.write(output);
      const minutes = (performance.now() - started) / 60_000;
      shardsDone += 1;
      console.log(`soak ${shard.adapter}, shard ${shard.index + 1} (${shardsDone}/${of} done): ${code === 0 ? 'passed' : 'FAILED'}, ${shard.runs} runs in ${minutes.toFixed(1)} min${readSummary(shard.adapter, output)} (replay: npm run soak -- --adapters ${shard.adapter} --runs ${shard.runs} --seed ${shard.seed} --shards 1)`);
      resolve(code === 0);
    });
  });
}

/** Runs the shards, `slots` at a time; resolves with whether all passed. */
async function runAll(plan: Shard[], slots: number): Promise<boolean> {
  const queue = [...plan];
  let passed = true;
  const worker = async () => {
    for (let shard = queue.shift(); shard !== undefined; shard = queue.shift()) passed = (await runShard(shard, plan.length)) && passed;
  };
  await Promise.all(Array.from({ length: Math.min(slots, plan.length) }, worker));
  return passed;
}

const plan = planShards();
console.log(`soak: ${runs} runs per adapter (${adapters.join(', ')}), seed ${seed}, ${plan.length} shard(s), ${availableParallelism()} at a time`);
const started = performance.now();
const passed = await runAll(plan, availableParallelism());
console.log(`soak: ${passed ? 'passed' : 'FAILED'} in ${((performance.now() - started) / 60_000).toFixed(1)} min (seed ${seed})`);
// What the runs cost in processor time, and so how long they take on this many cores with nothing else running.
let cpuSeconds = 0;
for (const [adapter, total] of cpuByAdapter) {
  cpuSeconds += total.cpuSeconds;
  console.log(`soak ${adapter}: ${total.runs} runs, ${((1000 * total.cpuSeconds) / Math.max(1, total.runs)).toFixed(1)} ms of processor a run, ${(total.cpuSeconds / 60).toFixed(1)} min in all`);
}
console.log(`soak: ${(cpuSeconds / 60).toFixed(1)} min of processor in all: ${(cpuSeconds / 60 / availableParallelism()).toFixed(1)} min on ${availableParallelism()} cores with nothing else running, the shards spread over them`);
process.exit(passed ? 0 : 1);
