// @vitest-environment jsdom
// @vitest-environment-options {"url": "https://www.example.com/shop?_sp=0b1d1e5c-0000-4000-8000-000000000000.1700000000000"}
import { describe, expect, it, vi } from 'vitest';
import { CONSENT_LEVELS, type ConsentLevel, type ConsentTracker } from 'consent-tracker';
import type { BrowserAdapterOptions, BrowserConsentTracker } from 'consent-tracker/browser';
import { cookieJarFetch, findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { nextPageNamespace, useBrowserPages } from './helpers/browser-pages.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * The browser adapter on @snowplow/browser-tracker 4.x in jsdom, against the local collector
 * through a cookie-keeping fetch, with the web page, browser and session entities on: what the
 * tracker stores in cookies, local and session storage at each level; identifiers on the wire
 * around every change; re-consent and reload without re-linking; a stale queue of the tracker's
 * own; link decoration.
 */

const collector = useCollector();
const pages = useBrowserPages(() => collector.current.url);

/** A page load, over `network` (the device's, kept across loads), with a link criterion and options if given. */
const loadPage = (network = cookieJarFetch(), linker?: (link: HTMLAnchorElement | HTMLAreaElement) => boolean, extra: Partial<BrowserAdapterOptions> = {}) =>
  pages({ network, adapter: { ...(linker && { crossDomainLinker: linker }), ...extra } });

/** What the tracker keeps on the device that carries identifiers. */
function storedIds() {
  return {
    cookies: document.cookie.split(';').map((c) => c.trim().split('=')[0] ?? '').filter((name) => name.startsWith('_sp_')),
    localStorage: Object.keys(localStorage).filter((key) => key.startsWith('_sp_') || key.startsWith('snowplowOutQueue_')),
    tabId: sessionStorage.getItem('_sp_tab_id'),
    tabIdentity: sessionStorage.getItem('consent-tracker.tab-identity'),
  };
}
const NOTHING_STORED = { cookies: [], localStorage: [], tabId: null, tabIdentity: null };

/** The data of `e`'s entity whose schema is named `name` (`web_page`, `browser_context`, …). */
const entityOf = (e: CollectedEvent | undefined, name: string) => e?.contexts.find((c) => c.schema.includes(`/${name}/`))?.data;

async function sent(consent: ConsentTracker<BrowserConsentTracker>, label: string, count: number): Promise<CollectedEvent[]> {
  consent.tracker.trackStructEvent({ category: 'shop', action: label });
  return collector.current.waitForEvents(count);
}

describe('the browser adapter: what the tracker stores at each level', () => {
  it('before a decision, and at none and session-only, nothing: no id cookie, no storage key, no tab id', async () => {
    const consent = loadPage();
    consent.tracker.trackPageView();
    await consent.ready;
    await sent(consent, 'undecided', 2);
    expect(storedIds()).toEqual(NOTHING_STORED);
    await consent.setLevel('session-only', 'banner');
    await sent(consent, 'session-only', 3);
    expect(storedIds()).toEqual(NOTHING_STORED);
    const events = collector.current.events();
    expect(findLeaks(events, (e) => (e.payload.se_ac === 'session-only' ? 'session-only' : 'none'))).toEqual([]);
    // The page's incoming _sp parameter is not sent below full.
    expect(events.every((e) => !String(e.payload.url).includes('_sp='))).toBe(true);
  });

  it('at full the tracker keeps its ids; a withdrawal clears them all, and nothing is written at none', async () => {
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('full', 'banner');
    await sent(consent, 'at-full', 1);
    expect(storedIds().cookies.length).toBeGreaterThan(0);
    await consent.setLevel('none', 'settings');
    expect(storedIds()).toEqual(NOTHING_STORED);
    await sent(consent, 'at-none', 2);
    expect(storedIds()).toEqual(NOTHING_STORED);
  });

  it("the tracker's own stored queue, left from before, is removed at a level below full and its events counted, never sent", async () => {
    localStorage.setItem(`snowplowOutQueue_${nextPageNamespace()}`, JSON.stringify([{ e: 'pv', eid: 'stale-1', uid: 'user-1', duid: 'old-device', tv: 'js', p: 'web' }]));
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('none', 'banner');
    await sent(consent, 'after', 1);
    expect(storedIds().localStorage).toEqual([]);
    expect(consent.stats().dropped.forgotten).toBe(1);
    expect(collector.current.events().map((e) => e.id)).not.toContain('stale-1');
  });
});

describe('the browser adapter on the wire', () => {
  it('every ordered pair of levels, with events around the change: nothing beyond the level it was tracked at', async () => {
    const network = cookieJarFetch();
    for (const from of CONSENT_LEVELS) {
      for (const to of CONSENT_LEVELS) {
        if (from === to) continue;
        collector.current.reset();
        const consent = loadPage(network);
        await consent.ready;
        await consent.setLevel(from, 'first');
        const allowed = new Map<string, ConsentLevel>([[`${from}-${to}-before`, from], [`${from}-${to}-after`, to]]);
        consent.tracker.trackPageView();
        consent.tracker.trackStructEvent({ category: 'pair', action: `${from}-${to}-before` });
        // The page view and the first event at `from` are sent before the change (at off, dropped).
        const before = from === 'off' ? 0 : 2;
        if (before > 0) await collector.current.waitForEvents(before);
        await consent.setLevel(to, 'second');
        consent.tracker.trackStructEvent({ category: 'pair', action: `${from}-${to}-after` });
        if (to !== 'off') await collector.current.waitForEvents(before + 1);
        const events = collector.current.events();
        expect(findLeaks(events, (e) => allowed.get(e.payload.se_ac ?? '') ?? from), `${from} → ${to}`).toEqual([]);
        await consent.stop();
      }
    }
  });

  it('full, a withdrawal, full again, then a reload: nothing the collector received after links to before the withdrawal', async () => {
    const network = cookieJarFetch();
    const page = loadPage(network);
    await page.ready;
    await page.setLevel('full', 'banner');
    page.tracker.trackPageView();
    await sent(page, 'before', 2);
    const before = collector.current.events().slice();
    await page.setLevel('none', 'settings');
    await page.setLevel('full', 'again');
    page.tracker.trackPageView();
    await sent(page, 'after-re-consent', 4);
    await page.stop();
    const reloaded = loadPage(network);
    await reloaded.ready;
    expect(reloaded.getLevel()).toBe('full');
    reloaded.tracker.trackPageView();
    await sent(reloaded, 'after-reload', 6);
    const after = collector.current.events().slice(before.length);
    const relinks = findLeaks([...before, ...after], 'full', { relinks: { before, after } }).filter((leak) => leak.kind === 'relink');
    expect(relinks).toEqual([]);
    expect(after.every((e) => !e.cookieSent)).toBe(true);
  });
});

describe('link decoration', () => {
  it('only at full, link by link as the user follows it, and removed again below full', async () => {
    document.body.innerHTML = '<a id="partner" href="https://partner.example.org/landing">partner</a><a id="other" href="https://other.example.org/">other</a>';
    const partner = document.getElementById('partner') as HTMLAnchorElement;
    const other = document.getElementById('other') as HTMLAnchorElement;
    const consent = loadPage(cookieJarFetch(), (link) => link.hostname === 'partner.example.org');
    await consent.ready;
    partner.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
    expect(partner.href).not.toContain('_sp=');
    await consent.setLevel('full', 'banner');
    partner.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
    other.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
    expect(partner.href).toMatch(/[?&]_sp=[0-9a-f-]{36}\.\d+$/);
    expect(other.href).not.toContain('_sp=');
    await consent.setLevel('none', 'settings');
    partner.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
    expect(partner.href).toBe('https://partner.example.org/landing');
  });
});

describe('tabs in step', () => {
  it('a withdrawal in one tab reaches the other at once: its next events carry no identifier', async () => {
    const network = cookieJarFetch();
    const first = loadPage(network);
    const second = loadPage(network);
    await Promise.all([first.ready, second.ready]);
    await first.setLevel('full', 'banner');
    // The other tab follows the decision it did not make.
    await expect.poll(() => second.getLevel()).toBe('full');
    second.tracker.trackStructEvent({ category: 'tab', action: 'identified' });
    await collector.current.waitForEvents(1);
    await first.setLevel('none', 'settings');
    await expect.poll(() => second.getLevel()).toBe('none');
    second.tracker.trackStructEvent({ category: 'tab', action: 'after-withdrawal' });
    const events = await collector.current.waitForEvents(2);
    expect(findLeaks(events, (e) => (e.payload.se_ac === 'identified' ? 'full' : 'none'))).toEqual([]);
    expect(events.find((e) => e.payload.se_ac === 'after-withdrawal')?.anonymous).toBe(true);
  });
});

describe('tabs in step through a withdrawal and a new consent', () => {
  it("an event one tab queued after the new consent is sent after its reload, though the other tab's new identity is the one stored", async () => {
    const network = cookieJarFetch();
    const [first, second] = [loadPage(network), loadPage(network)];
    await Promise.all([first.ready, second.ready]);
    for (const level of ['full', 'none', 'full'] as const) {
      await first.setLevel(level, 'settings');
      await expect.poll(() => second.getLevel()).toBe(level);
    }
    second.tracker.trackStructEvent({ category: 'tab', action: 'second-at-full' });
    await collector.current.waitForEvents(1);
    collector.current.failWith(503);
    first.tracker.trackStructEvent({ category: 'tab', action: 'queued' });
    await expect.poll(() => Object.keys(localStorage).some((key) => key.startsWith('consent-tracker.queue') && (localStorage.getItem(key) ?? '').includes('queued'))).toBe(true);
    await first.stop();
    collector.current.failWith(undefined);
    const reloaded = loadPage(network);
    await reloaded.ready;
    reloaded.tracker.trackStructEvent({ category: 'tab', action: 'reloaded' });
    await expect.poll(() => collector.current.events().map((e) => e.payload.se_ac).sort()).toEqual(['queued', 'reloaded', 'second-at-full']);
    expect(reloaded.stats().dropped.forgotten).toBe(0);
  });
});

describe('a withdrawal in this tab, and an older decision of another tab landing in storage after it', () => {
  it.each(['reset', 'a lower level'] as const)('by %s: storage gets this tab\'s decision back, so a reload finds the withdrawal', async (how) => {
    const network = cookieJarFetch();
    const tab = loadPage(network);
    await tab.ready;
    await tab.setLevel('full', 'banner');
    // The other tab granted full before this tab withdraws (its write is slow, and lands after).
    const otherTabDecidedAt = (tab.getStatus().record?.decidedAt ?? 0) - 1;
    if (how === 'reset') await tab.reset();
    else await tab.setLevel('none', 'settings');
    const late = JSON.stringify({ level: 'full', decidedAt: otherTabDecidedAt, policyVersion: '1', source: 'other tab' });
    localStorage.setItem('consent-tracker.decision', late);
    window.dispatchEvent(new StorageEvent('storage', { key: 'consent-tracker.decision', newValue: late }));
    expect(tab.getLevel()).toBe('none');
    await expect.poll(() => localStorage.getItem('consent-tracker.decision')).not.toBe(late);
    await tab.stop();
    const reloaded = loadPage(network);
    await reloaded.ready;
    expect(reloaded.getLevel()).toBe('none');
    reloaded.tracker.trackStructEvent({ category: 'shop', action: 'after-reload' });
    expect(findLeaks(await collector.current.waitForEvents(1), 'none')).toEqual([]);
  });
});

describe('a reload that goes on with an older identity', () => {
  it('a withdrawal and a new consent that local storage refused: the reload sends neither the tab id nor the session of the identity withdrawn since', async () => {
    const network = cookieJarFetch();
    const page = loadPage(network);
    await page.ready;
    await page.setLevel('full', 'banner');
    await sent(page, 'before-withdrawal', 1);
    // Local storage refuses every write and removal from here on: neither the withdrawal, nor the
    // identity it brings, nor the new consent is stored, and the grant before stays stored.
    const { setItem, removeItem } = Storage.prototype;
    const refused = () => new DOMException('the quota has been exceeded', 'QuotaExceededError');
    const writes = vi.spyOn(Storage.prototype, 'setItem').mockImplementation(function (this: Storage, key: string, value: string) {
      if (this === localStorage) throw refused();
      setItem.call(this, key, value);
    });
    const removals = vi.spyOn(Storage.prototype, 'removeItem').mockImplementation(function (this: Storage, key: string) {
      if (this === localStorage) throw refused();
      removeItem.call(this, key);
    });
    try {
      await page.setLevel('off', 'settings').catch(() => undefined);
      await page.setLevel('full', 'again').catch(() => undefined);
      await sent(page, 'after-withdrawal', 2);
      await page.stop();
      // The tab's session storage outlives the reload; the decision read is the grant before the withdrawal (the limit lifecycle.md states).
      const reloaded = loadPage(network);
      await reloaded.ready;
      expect(reloaded.getLevel()).toBe('full');
      await sent(reloaded, 'after-reload', 3);
    } finally {
      writes.mockRestore();
      removals.mockRestore();
    }
    const events = collector.current.events();
    const action = (label: string) => (e: CollectedEvent) => e.payload.se_ac === label;
    const [before, afterWithdrawal, afterReload] = ['before-withdrawal', 'after-withdrawal', 'after-reload'].map((label) => events.find(action(label)));
    // The new consent sent the identity the withdrawal brought, and each event a tab id.
    expect(afterWithdrawal?.payload.duid).not.toBe(before?.payload.duid);
    expect([afterWithdrawal, afterReload].every((e) => typeof entityOf(e, 'browser_context')?.tabId === 'string')).toBe(true);
    expect(findLeaks(events, 'full', { relinks: { before: action('after-withdrawal'), after: action('after-reload') } })).toEqual([]);
    // Nor the tracker's own session from then: its first event would be one sent with that identity.
    expect(entityOf(afterReload, 'client_session')?.firstEventId).toBeDefined();
    expect(entityOf(afterReload, 'client_session')?.firstEventId).not.toBe(afterWithdrawal?.id);
  });
});

describe('page views across a change', () => {
  const pageId = (e: CollectedEvent | undefined) => entityOf(e, 'web_page')?.id as string | undefined;

  it('events after a change carry a new page view id until the next page view, in both directions', async () => {
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('session-only', 'banner');
    consent.tracker.trackPageView();
    await sent(consent, 'before-grant', 2);
    await consent.setLevel('full', 'banner');
    await sent(consent, 'after-grant', 3);
    await consent.setLevel('session-only', 'settings');
    await sent(consent, 'after-withdrawal', 4);
    consent.tracker.trackPageView();
    await sent(consent, 'next-page', 6);
    const byLabel = (label: string) => collector.current.events().find((e) => e.payload.se_ac === label);
    const ids = ['before-grant', 'after-grant', 'after-withdrawal', 'next-page'].map((label) => pageId(byLabel(label)));
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(4);
  });
});

describe('the browser adapter, further', () => {
  it("with stateStorageStrategy 'localStorage': the ids go to local storage at full only, and a withdrawal removes them", async () => {
    const consent = loadPage(cookieJarFetch(), undefined, { stateStorageStrategy: 'localStorage' });
    await consent.ready;
    await sent(consent, 'undecided', 1);
    expect(storedIds()).toEqual(NOTHING_STORED);
    await consent.setLevel('full', 'banner');
    await sent(consent, 'at-full', 2);
    expect(storedIds().localStorage.some((key) => key.startsWith('_sp_id.'))).toBe(true);
    expect(storedIds().cookies).toEqual([]);
    await consent.setLevel('none', 'settings');
    expect(storedIds()).toEqual(NOTHING_STORED);
  });

  it("a withdrawal clears the app's user id: a new consent sends none until the app sets it again", async () => {
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('full', 'banner');
    consent.tracker.setUserId('user-1');
    const [identified] = await sent(consent, 'identified', 1);
    expect(identified?.payload.uid).toBe('user-1');
    await consent.setLevel('none', 'settings');
    await consent.setLevel('full', 'again');
    const events = await sent(consent, 'after-re-consent', 2);
    expect(events.find((e) => e.payload.se_ac === 'after-re-consent')?.payload.uid).toBeUndefined();
  });

  it("the linker's _sp in the referrer is not sent below full", async () => {
    const consent = loadPage();
    await consent.ready;
    consent.tracker.trackPageView({ title: 'from a partner' });
    const [view] = await collector.current.waitForEvents(1);
    expect(view?.payload.refr ?? '').not.toContain('_sp=');
    expect(findLeaks([view as CollectedEvent], 'none')).toEqual([]);
  });

  it("another tab's removal of the stored decision (its write failed, and is retried) is no decision here: a withdrawal holds", async () => {
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('off', 'banner');
    window.dispatchEvent(new StorageEvent('storage', { key: 'consent-tracker.decision', newValue: null }));
    // Read as a reset, it would have sent the chart to the undecided level, none, above off.
    expect(consent.getStatus()).toMatchObject({ phase: 'active', level: 'off', target: 'off', record: { level: 'off' } });
  });

  it('a decision another tab stored reaches this one through the storage event when no message does', async () => {
    const consent = loadPage();
    await consent.ready;
    await consent.setLevel('full', 'banner');
    // Made after this tab's own decision, as the other tab's clock says.
    const decidedAt = (consent.getStatus().record?.decidedAt ?? 0) + 1;
    vi.useFakeTimers({ toFake: ['Date'], now: decidedAt + 5 });
    try {
      const newValue = JSON.stringify({ level: 'none', decidedAt, policyVersion: '1', source: 'other tab' });
      window.dispatchEvent(new StorageEvent('storage', { key: 'consent-tracker.decision', newValue }));
    } finally {
      vi.useRealTimers();
    }
    await expect.poll(() => consent.getLevel()).toBe('none');
    // An older decision from another tab than the one this tab knows of now is ignored, and,
    // since storage holds it (its write landed last), this tab's decision is stored again.
    window.dispatchEvent(new StorageEvent('storage', { key: 'consent-tracker.decision', newValue: JSON.stringify({ level: 'full', decidedAt: 1, policyVersion: '1', source: 'stale tab' }) }));
    expect(consent.getLevel()).toBe('none');
    await expect.poll(() => JSON.parse(localStorage.getItem('consent-tracker.decision') ?? 'null')).toMatchObject({ level: 'none', decidedAt, source: 'other tab' });
  });
});
