import { createConsentTracker } from 'consent-tracker';
import { browserAdapter } from 'consent-tracker/browser';

/** The collector the demo server started, as it tells the page. */
const collector = (window as unknown as { DEMO_COLLECTOR: string }).DEMO_COLLECTOR;

/**
 * The page's consent tracker, created once: the browser adapter with the page view, browser and
 * session entities, each event sent as it is tracked. Undecided means `off`: nothing leaves the
 * page before the visitor chooses.
 */
export const consent = createConsentTracker({
  adapter: browserAdapter({ namespace: 'demo', endpoint: collector, appId: 'demo-shop', contexts: { webPage: true, browser: true, session: true }, bufferSize: 1 }),
  undecidedLevel: 'off',
});

// The scripted run waits for the queue to be stored before it reloads or closes the page, so that
// each run leaves the same keys on the device.
Object.assign(window, { demoPersisted: () => consent.enforcement.eventStore.persisted() });
