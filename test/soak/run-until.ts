import type { SimulatedClock } from './simulated-clock.js';
import type { SimulatedNetwork } from './simulated-network.js';

/** One turn of the real event loop (setImmediate is not faked): promise chains run to their end. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** How far simulated time may move while waiting for one condition. */
const LIMIT_MS = 10 * 60_000;

/**
 * Runs the device until `done()` holds, on the simulated clock: while a request is on the wire
 * it waits for it (real I/O); when nothing else can move, it moves time to the next timer. Gives
 * up, with `false`, after 10 simulated minutes or once no timer is left.
 */
export async function runUntil(done: () => boolean, network: SimulatedNetwork, clock: SimulatedClock): Promise<boolean> {
  const start = Date.now();
  for (;;) {
    await turn();
    if (done()) return true;
    if (network.onIo()) {
      await network.ioSettled();
      continue;
    }
    await turn();
    if (done()) return true;
    if (network.onIo()) continue;
    if (clock.count() === 0 || Math.abs(Date.now() - start) > LIMIT_MS) return done();
    await clock.advanceToNext();
  }
}

/** Runs the device until `work` settles (see {@link runUntil}); its value, or `undefined` if it never settled. */
export async function runThrough<T>(work: Promise<T>, network: SimulatedNetwork, clock: SimulatedClock): Promise<T | undefined> {
  let settled = false;
  let value: T | undefined;
  work.then(
    (v) => ((settled = true), (value = v)),
    () => (settled = true),
  );
  await runUntil(() => settled, network, clock);
  return value;
}
