/**
 * `npm run soak -- --runs 100000 --seed S [--adapters tracker-core,react-native,browser] [--shards N]`:
 * the soak of test/soak/ run long. Each adapter's runs are split into `N` shards (default: one per
 * core), shard k drawing its runs from seed S + k; the shards run as vitest processes of their
 * own, as many at a time as there are cores, the slowest adapter first. Prints progress, the time
 * each shard and the whole took, and on a failure the command that replays the failing shard.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

/** The adapters, slowest first: their shards start first, so that the cores end together. */
const ADAPTERS = ['browser', 'react-native', 'tracker-core'] as const;

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
    progress: { type: 'string' },
  },
});
const runs = Number(values.runs);
const shards = Number(values.shards);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const adapters = (values.adapters ?? '').split(',');
const unknown = adapters.filter((a) => !(ADAPTERS as readonly string[]).includes(a));
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || !Number.isInteger(shards) || shards < 1 || unknown.length > 0) {
  console.error(`usage: npm run soak -- --runs N --seed S [--adapters ${ADAPTERS.join(',')}] [--shards N]${unknown.length > 0 ? `\nunknown adapter: ${unknown.join(', ')}` : ''}`);
  process.exit(2);
}

/** Each adapter's runs in `shards` parts, the slowest adapter's first. */
function planShards(): Shard[] {
  const ordered = ADAPTERS.filter((a) => adapters.includes(a));
  return ordered.flatMap((adapter) =>
    Array.from({ length: Math.min(shards, runs) }, (_, index) => {
      const count = Math.min(shards, runs);
      return { adapter, index, runs: Math.floor(runs / count) + (index < runs % count ? 1 : 0), seed: seed + index };
    }),
  );
}

/** Runs one shard in a vitest process of its own; resolves with whether it passed. */
function runShard(shard: Shard): Promise<boolean> {
  const started = performance.now();
  const progress = values.progress ?? String(Math.max(100, Math.round(shard.runs / 10)));
  const vitest = spawn('npx', ['vitest', 'run', '--project', 'main', '--reporter=dot', `test/soak.${shard.adapter}.test.ts`], {
    stdio: 'inherit',
    env: { ...process.env, SOAK_RUNS: String(shard.runs), SOAK_SEED: String(shard.seed), SOAK_PROGRESS: progress },
  });
  return new Promise((resolve) => {
    vitest.on('exit', (code) => {
      const minutes = (performance.now() - started) / 60_000;
      console.log(`soak ${shard.adapter}, shard ${shard.index + 1}: ${code === 0 ? 'passed' : 'FAILED'}, ${shard.runs} runs in ${minutes.toFixed(1)} min (replay: npm run soak -- --adapters ${shard.adapter} --runs ${shard.runs} --seed ${shard.seed} --shards 1)`);
      resolve(code === 0);
    });
  });
}

/** Runs the shards, `slots` at a time; resolves with whether all passed. */
async function runAll(plan: Shard[], slots: number): Promise<boolean> {
  const queue = [...plan];
  let passed = true;
  const worker = async () => {
    for (let shard = queue.shift(); shard !== undefined; shard = queue.shift()) passed = (await runShard(shard)) && passed;
  };
  await Promise.all(Array.from({ length: Math.min(slots, plan.length) }, worker));
  return passed;
}

const plan = planShards();
console.log(`soak: ${runs} runs per adapter (${adapters.join(', ')}), seed ${seed}, ${plan.length / adapters.length} shard(s) per adapter, ${availableParallelism()} at a time`);
const started = performance.now();
const passed = await runAll(plan, availableParallelism());
console.log(`soak: ${passed ? 'passed' : 'FAILED'} in ${((performance.now() - started) / 60_000).toFixed(1)} min (seed ${seed})`);
process.exit(passed ? 0 : 1);
