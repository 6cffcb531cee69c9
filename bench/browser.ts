/**
 * The browser part of `npm run bench`: the browser tracker's per-event cost with and without the
 * adapter at each level, as ratios against the raw browser tracker in the same run. Runs in a
 * jsdom window (Node has no DOM); the network answers at once.
 */
import { JSDOM } from 'jsdom';
import type { ConsentLevel } from '../src/index.js';
import { FIRST_COUNTED_ROUND, median } from './goals.js';
import { instantFetch } from './instant-fetch.js';

const EVENTS = Number(process.env.BENCH_BROWSER_EVENTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** A page for the browser tracker: jsdom's window, document and storage as globals. */
function installWindow(): void {
  const { window } = new JSDOM('<!doctype html><title>bench</title>', { url: 'https://www.example.com/shop' });
  for (const name of ['window', 'document', 'navigator', 'location', 'localStorage', 'sessionStorage', 'screen', 'HTMLAnchorElement', 'HTMLAreaElement']) {
    Object.defineProperty(globalThis, name, { value: (window as unknown as Record<string, unknown>)[name], configurable: true, writable: true });
  }
}

let namespaces = 0;
const configuration = () => ({
  appId: 'bench',
  bufferSize: 10,
  cookieSecure: false,
  discoverRootDomain: false,
  contexts: { webPage: true, session: true },
  customFetch: instantFetch,
});

async function trackAll(track: (i: number) => void, flush: () => void): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    track(i);
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
  }
  flush();
  return EVENTS / ((performance.now() - start) / 1000);
}

/** The raw browser tracker: with its defaults (ids in cookies, its queue in localStorage), or its queue in memory, as the adapter's is here. */
async function raw(queueInMemory: boolean): Promise<number> {
  const { newTracker, trackStructEvent, flushBuffer } = await import('@snowplow/browser-tracker');
  const { newInMemoryEventStore } = await import('@snowplow/tracker-core');
  const namespace = `raw${(namespaces += 1)}`;
  newTracker(namespace, 'http://127.0.0.1:1', { ...configuration(), stateStorageStrategy: 'cookieAndLocalStorage', ...(queueInMemory && { eventStore: newInMemoryEventStore({}) }) });
  return trackAll((i) => trackStructEvent({ category: 'bench', action: 'tap', label: String(i) }, [namespace]), () => flushBuffer({}, [namespace]));
}

async function withAdapter(level: ConsentLevel): Promise<number> {
  const { createConsentTracker, memoryStorage } = await import('../src/index.js');
  const { browserAdapter } = await import('../src/browser/index.js');
  const consent = createConsentTracker({
    adapter: browserAdapter({ namespace: `adapter${(namespaces += 1)}`, endpoint: 'http://127.0.0.1:1', ...configuration() }),
    storage: memoryStorage(),
    fetch: instantFetch,
  });
  await consent.ready;
  await consent.setLevel(level, 'bench');
  const rate = await trackAll((i) => consent.tracker.trackStructEvent({ category: 'bench', action: 'tap', label: String(i) }), () => void consent.tracker.tracker?.flushBuffer());
  await consent.stop();
  return rate;
}

export async function browserThroughput(): Promise<void> {
  installWindow();
  const variants = ['raw', 'raw-memory', 'full', 'session-only', 'none'] as const;
  const rates = Object.fromEntries(variants.map((v) => [v, [] as number[]])) as Record<(typeof variants)[number], number[]>;
  for (let round = FIRST_COUNTED_ROUND; round < ROUNDS; round++) {
    for (const variant of variants) {
      const rate = variant === 'raw' ? await raw(false) : variant === 'raw-memory' ? await raw(true) : await withAdapter(variant);
      if (round >= 0) rates[variant].push(rate);
    }
  }
  const ratio = (variant: (typeof variants)[number], to: 'raw' | 'raw-memory') => median(rates[variant].map((rate, round) => rate / (rates[to][round] as number)));
  console.log(`\nBrowser tracker (jsdom): ${EVENTS} struct events per round, median of ${ROUNDS} rounds, web page + session entities`);
  console.log('variant                           events/s   ratio to raw (its defaults)   ratio to raw (queue in memory)');
  for (const variant of variants) {
    const label = variant === 'raw' ? 'raw browser tracker' : variant === 'raw-memory' ? 'raw, queue in memory' : `adapter at ${variant}`;
    console.log(`${label.padEnd(31)} ${Math.round(median(rates[variant])).toString().padStart(9)}   ${ratio(variant, 'raw').toFixed(2).padStart(27)}   ${ratio(variant, 'raw-memory').toFixed(2).padStart(30)}`);
  }
  console.log('(the adapter keeps its queue in the storage given, here in memory; the raw tracker by default writes its queue to localStorage at each event)');
}
