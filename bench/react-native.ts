/**
 * The React Native part of `npm run bench`: the RN tracker's per-event cost with and without the
 * adapter at each level, and a consent change against the old workaround of re-creating the
 * tracker (`removeTracker` + `newTracker`). Runs in Node with the test shims
 * (`test/shims/register.mjs`); the network answers at once.
 */
import { newTracker, removeTracker, type ReactNativeTracker } from '@snowplow/react-native-tracker';
import { createConsentTracker, memoryStorage, type ConsentLevel, type ConsentTracker } from '../src/index.js';
import { reactNativeAdapter, type ReactNativeAdapterOptions } from '../src/react-native/index.js';
import { chartAlonePerChange } from './chart-alone.js';
import { FIRST_COUNTED_ROUND, median, recordFigure } from './goals.js';
import { instantFetch } from './instant-fetch.js';

const EVENTS = Number(process.env.BENCH_RN_EVENTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 500);

let namespaces = 0;

/** The app's tracker configuration: identifiers set, ad ids from a retriever, batches of ten. */
function appConfig(): ReactNativeAdapterOptions {
  namespaces += 1;
  return {
    namespace: `bench${namespaces}`,
    endpoint: 'http://127.0.0.1:1',
    bufferSize: 10,
    installAutotracking: false,
    lifecycleAutotracking: false,
    userId: 'user-1',
    ipAddress: '203.0.113.9',
    platformContextRetriever: { getAppleIdfa: async () => 'IDFA-1', getAppleIdfv: async () => 'IDFV-1' },
    asyncStorage: memoryStorage() as never,
  };
}

async function trackAll(tracker: ReactNativeTracker, flush: () => Promise<void>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    tracker.trackStructuredEvent({ category: 'bench', action: 'tap', label: String(i) });
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
  }
  await flush();
  return EVENTS / ((performance.now() - start) / 1000);
}

async function raw(persistQueue: boolean): Promise<number> {
  const config = appConfig();
  const tracker = await newTracker({ ...config, customFetch: instantFetch, useAsyncStorageForEventStore: persistQueue });
  const rate = await trackAll(tracker, tracker.flush);
  removeTracker(config.namespace);
  return rate;
}

async function withAdapter(level: ConsentLevel): Promise<number> {
  const consent = createConsentTracker({ adapter: reactNativeAdapter(appConfig()), storage: memoryStorage() });
  await consent.ready;
  await consent.setLevel(level, 'bench');
  // The guard's own fetch is the global one: answer at once, as for the raw tracker.
  const rate = await trackAll(consent.tracker, consent.tracker.flush);
  consent.stop();
  return rate;
}

export async function reactNativeThroughput(): Promise<void> {
  const realFetch = globalThis.fetch;
  globalThis.fetch = instantFetch as typeof fetch;
  try {
    const variants = ['raw', 'raw-memory', 'full', 'session-only', 'none', 'off'] as const;
    const rates = Object.fromEntries(variants.map((v) => [v, [] as number[]])) as Record<(typeof variants)[number], number[]>;
    for (let round = FIRST_COUNTED_ROUND; round < ROUNDS; round++) {
      for (const variant of variants) {
        const rate = variant === 'raw' ? await raw(true) : variant === 'raw-memory' ? await raw(false) : await withAdapter(variant);
        if (round >= 0) rates[variant].push(rate);
      }
    }
    const ratios = (variant: (typeof variants)[number], to: 'raw' | 'raw-memory') => rates[variant].map((rate, round) => rate / (rates[to][round] as number));
    console.log(`\nReact Native tracker 4.x: ${EVENTS} struct events per round, median of ${ROUNDS} rounds, its own plugins on (session, platform context, screen)`);
    // The raw tracker's default queue writes the whole queue to AsyncStorage after every event;
    // the adapter's queue persists too, so the first ratio is like for like, the second is not.
    console.log('variant                         events/s   µs/event   ratio to raw   to raw, queue in memory');
    for (const variant of variants) {
      const label = variant === 'raw' ? 'raw RN tracker' : variant === 'raw-memory' ? 'raw RN tracker, queue in memory' : `adapter, ${variant}`;
      const rate = median(rates[variant]);
      console.log(
        `${label.padEnd(31)} ${Math.round(rate).toString().padStart(9)} ${(1e6 / rate).toFixed(1).padStart(10)} ${median(ratios(variant, 'raw')).toFixed(2).padStart(14)} ${median(ratios(variant, 'raw-memory')).toFixed(2).padStart(25)}`,
      );
    }
    for (const level of ['full', 'session-only', 'none'] as const) {
      recordFigure({ figure: `per event at ${level}, RN adapter vs raw RN tracker (queue in memory)`, kind: 'min', value: 0.85 }, ratios(level, 'raw-memory'));
    }
  } finally {
    globalThis.fetch = realFetch;
  }
}

/** A consent change with the adapter (setLevel to in force), against re-creating the tracker with the level's configuration, round by round. */
export async function reactNativeLevelChange(): Promise<void> {
  const cycle: ConsentLevel[] = ['full', 'session-only', 'none', 'off'];
  const ratios: number[] = [];
  const chartRatios: number[] = [];
  let adapterPerChange = 0;
  let recreatePerChange = 0;
  let chartPerChange = 0;
  for (let round = FIRST_COUNTED_ROUND; round < ROUNDS; round++) {
    const consent: ConsentTracker<ReactNativeTracker> = createConsentTracker({ adapter: reactNativeAdapter(appConfig()), storage: memoryStorage() });
    await consent.ready;
    let start = performance.now();
    for (let i = 0; i < CHANGES; i++) await consent.setLevel(cycle[i % cycle.length] as ConsentLevel, 'bench');
    adapterPerChange = (performance.now() - start) / CHANGES;
    await consent.stop();

    // The workaround: a new tracker per level, under the same namespace (and all its hazards).
    const config = appConfig();
    start = performance.now();
    for (let i = 0; i < CHANGES; i++) {
      const anonymous = cycle[i % cycle.length] !== 'full';
      removeTracker(config.namespace);
      await newTracker({ ...config, customFetch: instantFetch, sessionContext: cycle[i % cycle.length] !== 'none', serverAnonymization: anonymous });
    }
    recreatePerChange = (performance.now() - start) / CHANGES;
    removeTracker(config.namespace);
    chartPerChange = await chartAlonePerChange(CHANGES, cycle);
    if (round >= 0) {
      ratios.push(adapterPerChange / recreatePerChange);
      chartRatios.push(chartPerChange / recreatePerChange);
    }
  }

  console.log(`\nReact Native level change, ${CHANGES} changes cycling full → session-only → none → off (last round)`);
  console.log(`adapter setLevel (apply, persist, queue reconciled, platform context refreshed) ${(adapterPerChange * 1000).toFixed(0).padStart(6)} µs`);
  console.log(`removeTracker + newTracker (the old workaround)                                 ${(recreatePerChange * 1000).toFixed(0).padStart(6)} µs`);
  console.log(`the chart alone, its actors resolving at once (XState's share)                  ${(chartPerChange * 1000).toFixed(0).padStart(6)} µs`);
  console.log(`ratio adapter / workaround: median ${median(ratios).toFixed(2)}; chart alone / workaround: median ${median(chartRatios).toFixed(2)}`);
  recordFigure({ figure: 'a level change, RN adapter vs removeTracker + newTracker', kind: 'max', value: 0.5 }, ratios);
}
