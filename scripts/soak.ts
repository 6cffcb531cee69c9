/**
 * `npm run soak -- --runs 100000 --seed S [--adapters tracker-core,react-native,browser]`: the
 * soak of test/soak/ run long, each adapter in a vitest worker of its own (two at a time on two
 * cores). Prints progress, the time each adapter took, and on a failure the seed that replays it.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

const ADAPTERS = ['tracker-core', 'react-native', 'browser'] as const;

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '10000' }, seed: { type: 'string' }, adapters: { type: 'string', default: ADAPTERS.join(',') }, progress: { type: 'string' } },
});
const runs = Number(values.runs);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const adapters = (values.adapters ?? '').split(',');
const unknown = adapters.filter((a) => !(ADAPTERS as readonly string[]).includes(a));
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || unknown.length > 0) {
  console.error(`usage: npm run soak -- --runs N --seed S [--adapters ${ADAPTERS.join(',')}]${unknown.length > 0 ? `\nunknown adapter: ${unknown.join(', ')}` : ''}`);
  process.exit(2);
}
const progress = values.progress ?? String(Math.max(100, Math.round(runs / 20)));
console.log(`soak: ${runs} runs per adapter (${adapters.join(', ')}), seed ${seed}`);

const started = performance.now();
const vitest = spawn(
  'npx',
  ['vitest', 'run', '--project', 'main', `--maxWorkers=${Math.max(1, Math.min(availableParallelism(), adapters.length))}`, '--reporter=dot', ...adapters.map((a) => `test/soak.${a}.test.ts`)],
  { stdio: 'inherit', env: { ...process.env, SOAK_RUNS: String(runs), SOAK_SEED: String(seed), SOAK_PROGRESS: progress } },
);
vitest.on('exit', (code) => {
  const minutes = (performance.now() - started) / 60_000;
  console.log(`soak: ${code === 0 ? 'passed' : 'FAILED'} in ${minutes.toFixed(1)} min (seed ${seed}; replay with npm run soak -- --runs ${runs} --seed ${seed} --adapters …)`);
  process.exit(code ?? 1);
});
