/**
 * `npm run bench`: events per second through raw tracker-core and through tracker-core with the
 * enforcement points at each level, then the same for the React Native tracker with and without
 * its adapter, and the browser tracker with and without its adapter, all measured in the same run
 * and printed as ratios; the cost of a level change;
 * and the size of each entry (minified + gzip, peers external).
 */
import { buildStructEvent } from '@snowplow/tracker-core';
import { createIdentifiedApp } from '../demo/identified-app.js';
import { createConsentTracker, createEnforcement, memoryStorage, trackerCoreAdapter, type ConsentLevel } from '../src/index.js';
import { bundleSize, sizeOnTopOfCore } from './bundle-size.js';
import { FIRST_COUNTED_ROUND, median, printGoals, recordFigure } from './goals.js';
import { persistenceGrowth } from './persistence.js';
import { instantFetch } from './instant-fetch.js';
import { browserThroughput } from './browser.js';
import { reactNativeLevelChange, reactNativeThroughput } from './react-native.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);


async function run(level: ConsentLevel | 'raw'): Promise<number> {
  const enforcement = level === 'raw' ? undefined : createEnforcement({ level: () => level, fetch: instantFetch });
  const { core, flush } = createIdentifiedApp({
    endpoint: 'http://127.0.0.1:1',
    extraPlugins: enforcement ? [enforcement.plugin] : [],
    emitter: { bufferSize: 10, customFetch: enforcement?.customFetch ?? instantFetch, ...(enforcement && { eventStore: enforcement.eventStore }) },
  });
  const start = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    core.track(buildStructEvent({ category: 'bench', action: 'tap', label: String(i) }));
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
  }
  await flush();
  return EVENTS / ((performance.now() - start) / 1000);
}

async function throughput() {
  const variants = ['raw', 'full', 'session-only', 'none', 'off'] as const;
  const rates = Object.fromEntries(variants.map((v) => [v, [] as number[]])) as Record<(typeof variants)[number], number[]>;
  for (let round = FIRST_COUNTED_ROUND; round < ROUNDS; round++) {
    // Interleaved rounds: the machine's noise hits every variant alike; ratios are taken within a round.
    for (const variant of variants) {
      const rate = await run(variant);
      if (round >= 0) rates[variant].push(rate);
    }
  }
  const ratios = (variant: (typeof variants)[number]) => rates[variant].map((rate, round) => rate / (rates.raw[round] as number));
  console.log(`\nThroughput: ${EVENTS} struct events per round, median of ${ROUNDS} rounds, base64 on, session + mobile entities`);
  console.log('variant                  events/s   ratio to raw tracker-core');
  for (const variant of variants) {
    const label = variant === 'raw' ? 'raw tracker-core' : `enforced ${variant}`;
    console.log(`${label.padEnd(22)} ${Math.round(median(rates[variant])).toString().padStart(9)}   ${median(ratios(variant)).toFixed(2)}`);
  }
  recordFigure({ figure: 'per event at full, vs raw tracker-core', kind: 'min', value: 0.95 }, ratios('full'));
  recordFigure({ figure: 'per event at session-only, vs raw tracker-core', kind: 'min', value: 0.85 }, ratios('session-only'));
  recordFigure({ figure: 'per event at none, vs raw tracker-core', kind: 'min', value: 0.85 }, ratios('none'));
}

/** The cost of a consent change, from `setLevel` to the new level being in force (apply, persist, queue reconciled). */
async function levelChange() {
  const CHANGES = Number(process.env.BENCH_CHANGES ?? 2000);
  const consent = createConsentTracker({
    adapter: trackerCoreAdapter({ endpoint: 'http://127.0.0.1:1', customFetch: instantFetch } as never),
    storage: memoryStorage(),
  });
  await consent.ready;
  const cycle: ConsentLevel[] = ['full', 'session-only', 'none', 'off'];
  const start = performance.now();
  for (let i = 0; i < CHANGES; i++) await consent.setLevel(cycle[i % cycle.length] as ConsentLevel, 'bench');
  const perChange = (performance.now() - start) / CHANGES;
  consent.stop();
  // The raw tracker's own cost for one event, to put a change in proportion.
  const rawPerEvent = 1000 / (await run('raw'));
  console.log(`\nLevel change (setLevel to active, in memory storage), ${CHANGES} changes cycling full → session-only → none → off`);
  console.log(`per change ${(perChange * 1000).toFixed(0)} µs = ${(perChange / rawPerEvent).toFixed(1)} × one raw tracker-core event (${(rawPerEvent * 1000).toFixed(0)} µs)`);
}

async function bundleSizes() {
  console.log('\nBundle size (ESM, minified + gzip, peers external, dependencies included)');
  console.log('entry                          min      gzip');
  for (const [name, file] of [['consent-tracker', 'dist/index.js'], ['consent-tracker/react-native', 'dist/react-native.js'], ['consent-tracker/browser', 'dist/browser.js'], ['consent-tracker/react', 'dist/react.js'], ['consent-tracker/testing', 'dist/testing.js']] as const) {
    const { minified, gzipped } = await bundleSize(file, name.endsWith('testing') ? 'node' : 'neutral');
    console.log(`${name.padEnd(28)} ${(minified / 1024).toFixed(1).padStart(5)} kB ${(gzipped / 1024).toFixed(1).padStart(6)} kB`);
  }
  // Sizes are the same in every round: one sample each.
  const kb = (bytes: number) => bytes / 1024;
  recordFigure({ figure: 'core entry, gzipped, runtime dependencies in, peers out', kind: 'max', value: 10, unit: ' kB' }, [kb((await bundleSize('src/index.ts', 'neutral')).gzipped)]);
  for (const [name, entry] of [['/react-native', 'src/react-native/index.ts'], ['/browser', 'src/browser/index.ts']] as const) {
    recordFigure({ figure: `${name} on top of the core, gzipped`, kind: 'max', value: 2, unit: ' kB' }, [kb(await sizeOnTopOfCore(entry))]);
  }
  recordFigure({ figure: '/react, gzipped', kind: 'max', value: 1.5, unit: ' kB' }, [kb((await bundleSize('src/react/index.ts', 'neutral')).gzipped)]);
}

await throughput();
await levelChange();
await reactNativeThroughput();
await reactNativeLevelChange();
await browserThroughput();
recordFigure({ figure: 'per event with 1,000 queued vs 10 queued (storage on, collector down)', kind: 'max', value: 1.2 }, await persistenceGrowth());
await bundleSizes();
printGoals();
