import type { ConsentLevel } from 'consent-tracker';

/** How the demo shop words each level for its users, and what it means on the wire. */
export const LEVEL_TEXTS: Record<ConsentLevel, { readonly choice: string; readonly wire: string }> = {
  full: { choice: 'Measure my visits, as me', wire: 'everything the tracker sends: user and device ids, the session, cookies' },
  'session-only': { choice: 'Only this visit', wire: 'a session id, nothing that links visits; anonymous on the server' },
  none: { choice: 'Anonymous statistics', wire: 'events without any identifier; anonymous on the server' },
  off: { choice: 'Nothing at all', wire: 'nothing is sent; what is tracked is dropped and counted' },
};

/** Levels from the most the user allows to the least, as the settings list them. */
export const LEVELS_SHOWN: readonly ConsentLevel[] = ['full', 'session-only', 'none', 'off'];
