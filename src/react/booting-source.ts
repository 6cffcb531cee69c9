import { createActor, type SnapshotFrom } from 'xstate';
import { consentMachine } from 'consent-tracker';
import type { ConsentTrackerContextValue } from './consent-tracker-context.js';

let booting: SnapshotFrom<typeof consentMachine> | undefined;

/**
 * Snapshots as the server renders them, and as the first client render must repeat for hydration
 * to match: the chart before it starts (`booting`, level `off`). The actor is never started, so
 * nothing is read or stored.
 */
export const BOOTING_SOURCE: ConsentTrackerContextValue['source'] = {
  getSnapshot: () => (booting ??= createActor(consentMachine, { input: {} }).getSnapshot()),
  subscribe: () => ({ unsubscribe: () => undefined }),
};
