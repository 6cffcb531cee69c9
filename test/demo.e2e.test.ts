import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks } from 'consent-tracker/testing';
import { serveDemo } from '../demo/serve.js';
import { launchChromium } from './helpers/chromium.js';

/**
 * The demo page in a real Chromium: levels chosen and events tracked from its buttons, a reload
 * and a second tab; the page's table shows a row per event the collector received, and nothing
 * leaked. The page runs with fixed ids and a fixed clock, so its screenshot (docs/demo.png)
 * changes only when the page does.
 */

let browser: Browser;
let demo: Awaited<ReturnType<typeof serveDemo>>;
beforeAll(async () => {
  [browser, demo] = await Promise.all([launchChromium(), serveDemo(0)]);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

/**
 * Fixed randomness (a seeded generator behind crypto and Math.random) and a clock that starts at
 * a fixed instant and ticks one millisecond a read. A string, so that the test's compiler adds nothing
 * to it before the browser runs it.
 */
const DETERMINISTIC = `
  // Each page load its own seed (the loads are counted), the same in every run.
  const loads = Number(localStorage.getItem('demo.loads') ?? 0) + 1;
  localStorage.setItem('demo.loads', String(loads));
  let seed = 42 + loads * 1000003;
  const next = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296);
  const fill = (array) => {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
    return array;
  };
  Object.defineProperty(crypto, 'getRandomValues', { value: fill });
  Object.defineProperty(crypto, 'randomUUID', { value: () => {
    const b = fill(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  } });
  Math.random = next;
  // Each load an hour after the one before: a decision stored by an earlier load is never in the future.
  let now = Date.UTC(2026, 11, 2, 9, 0, 0) + loads * 3600000;
  Date.now = () => (now += 1);
`;

async function openDemo(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(demo.url);
  await page.getByText(/phase (undecided|active)/).waitFor({ timeout: 60_000 });
  return page;
}
const choose = async (page: Page, level: string) => {
  await page.getByRole('button', { name: level, exact: true }).click();
  await page.getByText(`level in force ${level}`).waitFor();
};
const press = (page: Page, name: string) => page.getByRole('button', { name, exact: true }).click();

describe('the demo page', () => {
  it('levels and events from its buttons, a reload and a second tab: the table shows each event the collector received, and nothing leaked', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.addInitScript({ content: DETERMINISTIC });
    const page = await openDemo(context);
    // Each event received before the next step: nothing is in flight when the page reloads, so
    // nothing comes twice and the picture is the same in every run.
    const received = (count: number) => expect.poll(() => new Set(demo.collector.events().map((e) => e.id)).size, { timeout: 15_000 }).toBe(count);
    await choose(page, 'full');
    await press(page, 'Page view');
    await received(1);
    await press(page, 'Purchase');
    await received(2);
    await choose(page, 'none');
    await press(page, 'Click');
    await received(3);
    await page.reload();
    await page.getByText('level in force none').waitFor({ timeout: 60_000 });
    const second = await openDemo(context);
    await press(second, 'Click');
    // Each event at least once (one cut off by the reload may come again, with the same id).
    await expect.poll(() => new Set(demo.collector.events().map((e) => e.id)).size, { timeout: 15_000 }).toBe(4);
    const events = demo.collector.events();
    // Tracked at full: the page view and the purchase; at none, the clicks (one from the second tab).
    const level = (label: string | undefined) => (label?.startsWith('click') ? 'none' : 'full');
    expect(findLeaks(events, (e) => level(e.payload.se_ac ?? e.payload.page))).toEqual([]);
    expect(new Set(events.filter((e) => e.anonymous).map((e) => e.id)).size).toBe(2);
    await expect.poll(() => page.locator('tbody tr').count(), { timeout: 5_000 }).toBe(events.length);
    expect(await page.locator('td.leak').count()).toBe(0);
    mkdirSync('docs', { recursive: true });
    await page.screenshot({ path: 'docs/demo.png', fullPage: true });
    await context.close();
  }, 120_000);
});
