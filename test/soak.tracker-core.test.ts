/** The soak (test/soak/), briefly, with the tracker-core adapter: `npm run soak` runs it long. */
import { it } from 'vitest';
import { trackerCoreHarness } from './helpers/adapter-harness.js';
import { useCollector } from './helpers/use-collector.js';
import { runSoak, SOAK_TIMEOUT_MS, soakSettings } from './soak/run-soak.js';

const collector = useCollector();

it('random decisions, tracks, faults, clock jumps, restarts and kills: no leak, no re-link, each event delivered or counted (but what a kill caught in memory)', async () => {
  await runSoak(trackerCoreHarness, collector.current, soakSettings(100));
}, SOAK_TIMEOUT_MS);
