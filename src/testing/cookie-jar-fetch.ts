import type { FetchFunction } from '../enforce/consent-fetch.js';

/**
 * A `fetch` that keeps cookies as a device does (a browser, or React Native's native
 * networking), which Node's own `fetch` does not: it sends the cookies it holds unless the
 * request's `credentials` is `'omit'`, and takes the `Set-Cookie` answers of such requests.
 * Pass it as the consent tracker's `fetch` to see the collector's `sp` cookie as a device would.
 *
 * @example
 * ```ts
 * import { createConsentTracker, trackerCoreAdapter } from 'consent-tracker';
 * import { cookieJarFetch } from 'consent-tracker/testing';
 * const fetch = cookieJarFetch();
 * const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: 'http://127.0.0.1:9090' }), fetch });
 * fetch.cookies(); // { sp: '…' } once the collector has set it
 * ```
 */
export function cookieJarFetch(base: FetchFunction = (input, init) => globalThis.fetch(input, init)): FetchFunction & { cookies(): Record<string, string> } {
  const jar = new Map<string, string>();
  const send: FetchFunction = async (input, init) => {
    const request = input instanceof Request && init === undefined ? input : new Request(input, init);
    const withCredentials = request.credentials !== 'omit';
    const response = await base(withCredentials && jar.size > 0 ? new Request(request, { headers: withCookies(request.headers) }) : request);
    if (withCredentials) for (const line of response.headers.getSetCookie()) take(line);
    return response;
  };
  /** `headers` with the jar's cookies. */
  function withCookies(headers: Headers): Headers {
    const sent = new Headers(headers);
    sent.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    return sent;
  }
  /** Keeps a cookie, or forgets it when it is expired. */
  function take(line: string): void {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const [name = '', ...rest] = pair.split('=');
    const expired = attributes.some((a) => /^max-age=0$/i.test(a) || (/^expires=/i.test(a) && Date.parse(a.slice(8)) <= Date.now()));
    if (expired) jar.delete(name);
    else jar.set(name, rest.join('='));
  }
  return Object.assign(send, { cookies: () => Object.fromEntries(jar) });
}
