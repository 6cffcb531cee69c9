import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks } from 'consent-tracker/testing';
import { launchChromium, servePage } from './helpers/chromium.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * The browser adapter in a real Chromium (Debian's, through playwright-core): the cookies and
 * storage the page holds before a decision, after a withdrawal and after a reload; the linker;
 * and two tabs, where a withdrawal in one stops identifiers from the other within 500 ms, and
 * two decisions made at once end as one, in both tabs and in storage.
 */

const collector = useCollector();
let browser: Browser;
let site: Awaited<ReturnType<typeof servePage>>;
beforeAll(async () => {
  [browser, site] = await Promise.all([launchChromium(), servePage()]);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await site?.close();
});

type PageApi = { page: { ready(): Promise<void>; level(): string; setLevel(level: string): Promise<void>; trackPageView(): void; track(action: string): void; persisted(): Promise<void>; flush(): void; storageKeys(): string[] } };

async function openTab(context: BrowserContext): Promise<Page> {
  const tab = await context.newPage();
  await tab.goto(`${site.url}?collector=${encodeURIComponent(collector.current.url)}`);
  await tab.evaluate(() => (window as unknown as PageApi).page.ready());
  return tab;
}
const call = <T>(tab: Page, fn: (api: PageApi['page']) => T | Promise<T>) => tab.evaluate(`(${fn.toString()})(window.page)`) as Promise<T>;
const idsOnDevice = async (context: BrowserContext, tab: Page) => ({
  cookies: (await context.cookies()).map((cookie) => cookie.name).filter((name) => name.startsWith('_sp_')),
  storage: (await call(tab, (api) => api.storageKeys())).filter((key) => /_sp_|snowplowOutQueue/.test(key)),
});
const NOTHING = { cookies: [], storage: [] };

describe('the browser adapter in Chromium', () => {
  it('stores nothing before a decision or below full; at full the tracker does; a withdrawal clears it, and a reload keeps it cleared and brings no old identity back', async () => {
    const context = await browser.newContext();
    const tab = await openTab(context);
    await call(tab, (api) => {
      api.trackPageView();
      api.track('undecided');
    });
    await collector.current.waitForEvents(2);
    expect(await idsOnDevice(context, tab)).toEqual(NOTHING);
    await call(tab, (api) => api.setLevel('full'));
    await call(tab, (api) => api.track('at-full'));
    await collector.current.waitForEvents(3);
    expect((await idsOnDevice(context, tab)).cookies.length).toBeGreaterThan(0);
    const before = collector.current.events().filter((e) => e.payload.se_ac === 'at-full');
    await call(tab, (api) => api.setLevel('none'));
    expect(await idsOnDevice(context, tab)).toEqual(NOTHING);
    await tab.reload();
    await tab.evaluate(() => (window as unknown as PageApi).page.ready());
    expect(await call(tab, (api) => api.level())).toBe('none');
    expect(await idsOnDevice(context, tab)).toEqual(NOTHING);
    await call(tab, (api) => api.setLevel('full'));
    await call(tab, (api) => api.track('after-re-consent'));
    await collector.current.waitForEvents(4);
    const after = collector.current.events().filter((e) => e.payload.se_ac === 'after-re-consent');
    expect(findLeaks(collector.current, (e) => (['at-full', 'after-re-consent'].includes(e.payload.se_ac ?? '') ? 'full' : 'none'), { relinks: { before, after } })).toEqual([]);
    await context.close();
  });

  it('decorates a partner link only at full, and removes the decoration below full', async () => {
    const context = await browser.newContext();
    const tab = await openTab(context);
    const href = async () => {
      await tab.dispatchEvent('#partner', 'mousedown');
      return tab.getAttribute('#partner', 'href');
    };
    expect(await href()).toBe('https://partner.example.org/landing');
    await call(tab, (api) => api.setLevel('full'));
    expect(await href()).toMatch(/[?&]_sp=[0-9a-f-]{36}\.\d+$/);
    await call(tab, (api) => api.setLevel('none'));
    expect(await href()).toBe('https://partner.example.org/landing');
    await context.close();
  });

  it('two tabs: a withdrawal in one stops identifiers from the other within 500 ms', async () => {
    const context = await browser.newContext();
    const [first, second] = [await openTab(context), await openTab(context)];
    await call(first, (api) => api.setLevel('full'));
    await expect.poll(() => call(second, (api) => api.level())).toBe('full');
    // The decision is made in the first tab; the second's level is read until it has followed.
    const decided = Date.now();
    await call(first, (api) => void api.setLevel('none'));
    await expect.poll(() => call(second, (api) => api.level()), { interval: 10 }).toBe('none');
    expect(Date.now() - decided).toBeLessThan(500);
    await call(second, (api) => api.track('second-tab-after'));
    const events = await collector.current.waitForEvents(1);
    expect(findLeaks(events, 'none')).toEqual([]);
    await context.close();
  });

  it('a reload hands the queue to the next load at once: an event queued while the collector was down goes out with the next load\'s first one', async () => {
    const context = await browser.newContext();
    const tab = await openTab(context);
    await call(tab, (api) => api.setLevel('full'));
    collector.current.failWith(503);
    await call(tab, (api) => api.track('queued-before-reload'));
    await expect.poll(() => collector.current.requests().length).toBeGreaterThan(0);
    // The queue stored as it is (a reload while a write is under way leaves the slot to its lease).
    await call(tab, (api) => api.persisted());
    await tab.reload();
    await call(tab, (api) => api.ready());
    collector.current.failWith(undefined);
    await call(tab, (api) => api.track('after-reload'));
    // Sent by the next load (with its first event, or its next flush), without waiting for the first load's lease to lapse.
    await expect.poll(async () => {
      await call(tab, (api) => api.flush());
      return collector.current.events().length;
    }, { timeout: 5_000 }).toBe(2);
    const events = collector.current.events();
    expect(events.map((e) => e.payload.se_ac).sort()).toEqual(['after-reload', 'queued-before-reload']);
    expect(findLeaks(events, 'full')).toEqual([]);
    // One queue on the device: the next load took the slot the first one gave up (and, all sent, keeps no segment).
    await expect.poll(async () => (await call(tab, (api) => api.storageKeys())).filter((key) => key.startsWith('consent-tracker.queue') && !key.endsWith('.lease'))).toEqual(['consent-tracker.queue']);
    await context.close();
  });

  it('two tabs deciding at once end on one decision, the one storage holds (the newer, or the lower of two made together)', async () => {
    const context = await browser.newContext();
    const [first, second] = [await openTab(context), await openTab(context)];
    const stored = () => call(first, () => JSON.parse(localStorage.getItem('consent-tracker.decision') ?? 'null') as { level: string } | null);
    for (const [a, b] of [['full', 'off'], ['off', 'full'], ['none', 'full'], ['full', 'session-only']] as const) {
      await Promise.all([call(first, (api) => api.setLevel('none')), call(second, (api) => api.level())]);
      await expect.poll(() => call(second, (api) => api.level())).toBe('none');
      // Both clicks in the same instant, as far as two tabs can be driven at once.
      await Promise.all([first.evaluate(`void window.page.setLevel(${JSON.stringify(a)})`), second.evaluate(`void window.page.setLevel(${JSON.stringify(b)})`)]);
      await expect.poll(async () => {
        const levels = [await call(first, (api) => api.level()), await call(second, (api) => api.level()), (await stored())?.level];
        return new Set(levels).size === 1 && [a, b].includes(levels[0] as never);
      }, { timeout: 5_000 }).toBe(true);
    }
    await context.close();
  });
});
