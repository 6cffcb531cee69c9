import { afterEach } from 'vitest';
import { createConsentTracker, type ConsentTracker } from 'consent-tracker';
import { browserAdapter, type BrowserAdapterOptions, type BrowserConsentTracker } from 'consent-tracker/browser';
import { cookieJarFetch } from 'consent-tracker/testing';

let launched = 0;

/** The tracker namespace the next page load gets (its own stored queue is `snowplowOutQueue_<namespace>`). */
export const nextPageNamespace = (): string => `web${launched + 1}`;

/** How to remove each listener page loads added to the window or the document since the browser was last cleared. */
const pageListeners: Array<() => void> = [];
let followingPages = false;

/**
 * From the first clear on, follows the listeners page loads add to the window and the document:
 * browser-tracker never removes its own, and jsdom scans a type's whole list on each add, so a
 * long soak's page loads would slow every later one. And the device has two cores: jsdom asks
 * the operating system on each read of `navigator.hardwareConcurrency`, which every tracker makes.
 */
function followPages(): void {
  if (followingPages) return;
  followingPages = true;
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2, configurable: true });
  for (const target of [window, document] as EventTarget[]) {
    const add = target.addEventListener.bind(target);
    target.addEventListener = (type, listener, options) => {
      add(type, listener, options);
      if (listener !== null) pageListeners.push(() => target.removeEventListener(type, listener, options));
    };
  }
}

/** Forgets what the browser holds: cookies, local and session storage, the page, and the listeners its page loads left. */
export function clearBrowser(): void {
  followPages();
  for (const remove of pageListeners.splice(0)) remove();
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
