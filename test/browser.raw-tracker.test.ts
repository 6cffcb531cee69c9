// @vitest-environment jsdom
// @vitest-environment-options {"url": "https://www.example.com/shop"}
import { describe, expect, it } from 'vitest';
import type { BrowserAdapterOptions } from 'consent-tracker/browser';
import { findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { useBrowserPages } from './helpers/browser-pages.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * What the app can still do to the browser tracker behind the adapter's back, and what comes of
 * it: keep a page view id (preservePageViewId), queue an event at full that is sent after a
 * withdrawal (with its tab id), and ask the tracker's own linker to decorate links.
 */

const collector = useCollector();
const pages = useBrowserPages(() => collector.current.url);
const loadPage = (extra: Partial<BrowserAdapterOptions> = {}) => pages({ adapter: extra });

const pageId = (e: CollectedEvent | undefined) => e?.contexts.find((c) => c.schema.includes('/web_page/'))?.data.id as string | undefined;
const tabId = (e: CollectedEvent | undefined) => e?.contexts.find((c) => c.schema.includes('/browser_context/'))?.data.tabId;
const byLabel = (label: string) => collector.current.events().find((e) => e.payload.se_ac === label);

describe('preservePageViewId on the raw tracker does not re-link across a withdrawal', () => {
  it('full → session-only: the next page view gets a new page view id', async () => {
    const consent = loadPage();
    await consent.ready;
    consent.tracker.tracker?.preservePageViewId();
    await consent.setLevel('full', 'banner');
    consent.tracker.trackPageView();
    await collector.current.waitForEvents(1);
    const before = collector.current.events().slice();
    await consent.setLevel('session-only', 'settings');
    consent.tracker.trackPageView();
    await collector.current.waitForEvents(2);
    const after = collector.current.events().slice(1);
    expect(pageId(after[0])).not.toBe(pageId(before[0]));
    expect(findLeaks([...before, ...after], (e) => (before.includes(e) ? 'full' : 'session-only'), { relinks: { before, after } }).filter((l) => l.kind === 'relink')).toEqual([]);
  });

  it('full → none → full: the page view after re-consent gets a new page view id', async () => {
    const consent = loadPage();
    await consent.ready;
    consent.tracker.tracker?.preservePageViewId();
    await consent.setLevel('full', 'banner');
    consent.tracker.trackPageView();
    const before = (await collector.current.waitForEvents(1)).slice();
    await consent.setLevel('none', 'settings');
    await consent.setLevel('full', 'again');
    consent.tracker.trackPageView();
    const after = (await collector.current.waitForEvents(2)).slice(1);
    expect(pageId(after[0])).not.toBe(pageId(before[0]));
  });
});

describe('browser_context.tabId', () => {
  it('an event tracked at full and sent after a withdrawal goes without its tab id', async () => {
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('full', 'banner');
    collector.current.failWith(503);
    consent.tracker.trackStructEvent({ category: 'shop', action: 'queued-at-full' });
    await expect.poll(() => collector.current.requests().length).toBeGreaterThan(0);
    await consent.setLevel('none', 'settings');
    collector.current.failWith(undefined);
    consent.tracker.trackStructEvent({ category: 'shop', action: 'at-none' });
    await collector.current.waitForEvents(2, 15_000);
    const queued = byLabel('queued-at-full');
    expect(queued?.anonymous).toBe(true);
    expect(tabId(queued)).toBeNull();
  });
});

describe("the raw tracker's own crossDomainLinker", () => {
  it('below full, a link the app asks the raw tracker to decorate (the extended form asked for) goes without _sp=', async () => {
    document.body.innerHTML = '<a id="partner" href="https://partner.example.org/landing">partner</a>';
    const partner = document.getElementById('partner') as HTMLAnchorElement;
    // Passed from JavaScript: the adapter's options leave it out, and the adapter drops it.
    const consent = loadPage({ useExtendedCrossDomainLinker: { userId: true, sessionId: true } } as Partial<BrowserAdapterOptions>);
    await consent.ready;
    await consent.setLevel('session-only', 'banner');
    consent.tracker.setUserId('user-1');
    consent.tracker.trackPageView();
    await collector.current.waitForEvents(1);
    consent.tracker.tracker?.crossDomainLinker((link) => link.hostname === 'partner.example.org');
    partner.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
    expect(partner.href).not.toContain('_sp=');
  });

  it('the basic form at none: no _sp=', async () => {
    document.body.innerHTML = '<a id="partner" href="https://partner.example.org/landing">partner</a>';
    const partner = document.getElementById('partner') as HTMLAnchorElement;
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('none', 'banner');
    consent.tracker.tracker?.crossDomainLinker(() => true);
    partner.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
    expect(partner.href).not.toContain('_sp=');
  });
});
