import { forgetTabId } from './keep-tab-id-with.js';

/** The browser tracker's keys that carry identifiers: its id and session cookies (and their local storage copies), and its tab id. */
const ID_KEY = /^_sp_(id|ses)\./;

/**
 * Removes what the browser tracker keeps on the device that `clearUserData` leaves: the tab id
 * in session storage (and the identity recorded beside it), and its own stored queue
 * (`snowplowOutQueue_<namespace>`, from before the adapter owned the queue), whose events are
 * passed to `dropped` by count; and any id cookie or local storage key `clearUserData` missed
 * (another cookie name prefix, say).
 */
export function forgetBrowserState(namespace: string, dropped: (count: number) => void): void {
  forgetTabId();
  if (typeof localStorage !== 'undefined') {
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith(`snowplowOutQueue_${namespace}`)) {
        const count = countQueued(localStorage.getItem(key));
        localStorage.removeItem(key);
        if (count > 0) dropped(count);
      } else if (ID_KEY.test(key)) localStorage.removeItem(key);
    }
  }
  if (typeof document !== 'undefined') {
    for (const cookie of document.cookie.split(';')) {
      const name = cookie.split('=')[0]?.trim() ?? '';
      if (ID_KEY.test(name)) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`;
    }
  }
}

function countQueued(raw: string | null): number {
  try {
    const queue: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(queue) ? queue.length : 0;
  } catch {
    return 0;
  }
}
