/**
 * The cost of persistence as the queue grows: events tracked with the collector down (its
 * requests never answer, so everything stays queued) and the queue stored in memory storage, timed
 * once the queue holds about 10 events and again once it holds about 1,000 (the queue's cap is
 * raised so that neither measurement drops the oldest event on the way).
 */
import { buildStructEvent } from '@snowplow/tracker-core';
import { createIdentifiedApp } from '../demo/identified-app.js';
import { createEnforcement, memoryStorage } from '../src/index.js';
import { FIRST_COUNTED_ROUND } from './goals.js';

const SAMPLE = Number(process.env.BENCH_PERSIST_SAMPLE ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** A collector that is down: its requests settle only once the measurement is over. */
function downCollector() {
  let release: () => void = () => undefined;
  const over = new Promise<void>((resolve) => (release = resolve));
  return { fetch: () => over.then(() => new Response(null, { status: 200 })), release };
}

/** Microseconds per event for `SAMPLE` events tracked once `queued` are waiting (each write settled before the next event). */
async function perEvent(queued: number): Promise<number> {
  const storage = memoryStorage();
  const collector = downCollector();
  // Room for every event of both measurements: neither drops the oldest on the way.
  const enforcement = createEnforcement({ level: () => 'full', fetch: collector.fetch, storage, maxQueueSize: 10_000 });
  const { core } = createIdentifiedApp({
    endpoint: 'http://127.0.0.1:1',
    extraPlugins: [enforcement.plugin],
    // Longer than the measurement: the emitter's own timeout must not end the outage.
    emitter: { bufferSize: 1, customFetch: enforcement.customFetch, eventStore: enforcement.eventStore, connectionTimeout: 600_000, retryFailedRequests: false },
  });
  const track = async () => {
    core.track(buildStructEvent({ category: 'bench', action: 'tap' }));
    await enforcement.eventStore.persisted();
  };
  for (let i = 0; i < queued; i++) await track();
  const start = performance.now();
  for (let i = 0; i < SAMPLE; i++) await track();
  const perEventUs = ((performance.now() - start) * 1000) / SAMPLE;
  collector.release();
  await enforcement.stop();
  return perEventUs;
}

/** Per event with 1,000 queued over per event with 10 queued, one ratio per round. */
export async function persistenceGrowth(): Promise<number[]> {
  const ratios: number[] = [];
  let small = 0;
  let large = 0;
  for (let round = FIRST_COUNTED_ROUND; round < ROUNDS; round++) {
    small = await perEvent(10);
    large = await perEvent(1000);
    if (round >= 0) ratios.push(large / small);
  }
  console.log(`\nPersistence (storage on, collector down), ${SAMPLE} events timed per round, last round`);
  console.log(`per event with 10 queued ${small.toFixed(0)} µs, with 1,000 queued ${large.toFixed(0)} µs`);
  return ratios;
}
