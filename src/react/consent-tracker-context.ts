import { createContext } from 'react';
import type { AnyActorRef } from 'xstate';
import type { ConsentTracker } from 'consent-tracker';

/** What the provider hands its hooks: the consent tracker (none on the server), and the snapshots to read. */
export interface ConsentTrackerContextValue {
  readonly consent: ConsentTracker<object> | undefined;
  readonly source: Pick<AnyActorRef, 'getSnapshot' | 'subscribe'>;
}

export const ConsentTrackerContext = createContext<ConsentTrackerContextValue | null>(null);
