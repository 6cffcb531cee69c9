import { createConsentTracker, type ConsentLevel } from 'consent-tracker';
import { browserAdapter } from 'consent-tracker/browser';

/**
 * The page the Chromium tests drive: a consent tracker on the browser adapter, sending to the
 * collector whose URL the page's query string gives, with the web page, browser and session
 * entities on, and a partner link for the linker. The tests call it through `window.page`.
 */
const params = new URLSearchParams(location.search);
const consent = createConsentTracker({
  adapter: browserAdapter({
    namespace: `page${Math.random().toString(36).slice(2, 8)}`,
    endpoint: params.get('collector') ?? '',
    appId: 'chromium-test',
    contexts: { webPage: true, browser: true, session: true },
    crossDomainLinker: (link) => link.hostname === 'partner.example.org',
    bufferSize: 1,
  }),
});

Object.assign(window, {
  page: {
    ready: () => consent.ready,
    level: () => consent.getLevel(),
    setLevel: (level: ConsentLevel) => consent.setLevel(level, 'chromium'),
    trackPageView: () => consent.tracker.trackPageView(),
    track: (action: string) => consent.tracker.trackStructEvent({ category: 'chromium', action }),
    persisted: () => consent.enforcement.eventStore.persisted(),
    flush: () => consent.tracker.tracker?.flushBuffer(),
    storageKeys: () => [...Object.keys(localStorage), ...Object.keys(sessionStorage).map((key) => `session:${key}`)],
  },
});
