/**
 * The consent chart alone, its actors resolving at once: what XState's transitions cost a level
 * change, whatever the adapter and the enforcement do. It bounds from below what any adapter's
 * change can cost while the chart runs the change.
 */
import type { ConsentLevel } from '../src/index.js';
import type { ChartActors } from '../src/chart-actors.js';
import { createConsentChart } from '../src/create-consent-chart.js';
import { whenSettled } from '../src/when-settled.js';

const steps: ChartActors = {
  loadDecision: () => Promise.resolve({ record: null }),
  startTracker: () => Promise.resolve(undefined),
  apply: () => Promise.resolve(undefined),
  forget: () => Promise.resolve(undefined),
  writeDecision: () => Promise.resolve(undefined),
  clearDecision: () => Promise.resolve('removed'),
};

/** The time of one change (`CONSENT.SET` to in force, stored and cleaned up), in ms, cycling through `cycle`. */
export async function chartAlonePerChange(changes: number, cycle: readonly ConsentLevel[]): Promise<number> {
  const actor = createConsentChart(steps, { input: {} });
  const never = new Promise<never>(() => undefined);
  actor.start();
  await whenSettled(actor, never);
  const start = performance.now();
  for (let i = 0; i < changes; i++) {
    actor.send({ type: 'CONSENT.SET', level: cycle[i % cycle.length] as ConsentLevel, source: 'bench' });
    await whenSettled(actor, never);
  }
  const perChange = (performance.now() - start) / changes;
  actor.stop();
  return perChange;
}
