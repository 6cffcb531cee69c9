import { afterEach } from 'vitest';
import { createConsentTracker, type ConsentTracker } from 'consent-tracker';
import { browserAdapter, type BrowserAdapterOptions, type BrowserConsentTracker } from 'consent-tracker/browser';
import { cookieJarFetch } from 'consent-tracker/testing';

let launched = 0;

/** The tracker namespace the next page load gets (its own stored queue is `snowplowOutQueue_<namespace>`). */
export const nextPageNamespace = (): string => `web${launched + 1}`;

/** Forgets what the browser holds: cookies, local and session storage, the page. */
export function clearBrowser(): void {
  for (const cookie of document.cookie.split(';')) document.cookie = `${cookie.split('=')[0]?.trim()}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`;
  localStorage.clear();
  sessionStorage.clear();
  document.body.innerHTML = '';
}

/**
 * Page loads for a test file's tests, in jsdom: each a consent tracker on the browser adapter
 * (a new tracker namespace each load, as a reload gives), with the web page, browser and session
 * entities on; stopped, and the browser cleared, after each test.
 */
export function useBrowserPages(endpoint: () => string) {
  const running: Array<ConsentTracker<BrowserConsentTracker>> = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((consent) => consent.stop()));
    clearBrowser();
  });
  return function loadPage(options: { network?: ReturnType<typeof cookieJarFetch>; adapter?: Partial<BrowserAdapterOptions> } = {}) {
    launched += 1;
    const consent = createConsentTracker({
      adapter: browserAdapter({
        namespace: `web${launched}`,
        endpoint: endpoint(),
        appId: 'shop',
        cookieSecure: false,
        synchronousCookieWrite: true,
        discoverRootDomain: false,
        contexts: { webPage: true, browser: true, session: true },
        ...options.adapter,
      }),
      fetch: options.network ?? cookieJarFetch(),
    });
    running.push(consent);
    return consent;
  };
}
