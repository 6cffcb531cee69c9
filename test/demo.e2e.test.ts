import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drivePage } from '../demo/drive-page.js';
import { findRowLeaks } from '../demo/find-row-leaks.js';
import { serveDemo, type DemoServer } from '../demo/serve.js';
import { launchChromium } from './helpers/chromium.js';

/**
 * The demo page in a real Chromium, driven as a visitor would (demo/drive-page.ts: the banner,
 * events, an outage across a withdrawal, a reload, a new consent, a second tab): the page's table
 * shows a row per event the collector received, the leak finder finds nothing, and the React
 * Native run is on the page. The page runs with fixed ids and a fixed clock, so its screenshot
 * (docs/demo.png) changes only when the page does.
 */

let browser: Browser;
let demo: DemoServer;
beforeAll(async () => {
  [browser, demo] = await Promise.all([launchChromium(), serveDemo(0)]);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

/**
 * Fixed randomness (a seeded generator behind crypto and Math.random) and a clock that starts at
 * a fixed instant and ticks one millisecond a read, shared by the tabs. A string, so that the test's compiler adds nothing
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
  // One clock for every tab and load, kept in storage: it never goes back, so that a decision
  // another tab or an earlier load stored is never in the future.
  Date.now = () => {
    const now = Math.max(Number(localStorage.getItem('demo.now') ?? 0), Date.UTC(2026, 11, 2, 9, 0, 0)) + 1;
    localStorage.setItem('demo.now', String(now));
    return now;
  };
`;

describe('the demo page', () => {
  it('driven as a visitor would: the table shows each event the collector received, with the levels it was tracked and sent at, and nothing leaked', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    await context.addInitScript({ content: DETERMINISTIC });
    const page = await drivePage(context, demo);
    const rows = demo.wire.rows();
    expect(rows.map((row) => [row.label, row.capturedAt, row.sentAt])).toEqual([
      ['page view #1', 'full', 'full'],
      ['purchase #2', 'full', 'full'],
      ['click #3', 'full', 'none'],
      ['click #4', 'none', 'none'],
      ['page view #5', 'full', 'full'],
      ['click #6', 'full', 'full'],
      ['click #7', 'none', 'none'],
    ]);
    // The click queued at full went out after the withdrawal: anonymous, without identifiers.
    expect(rows[2]?.event).toMatchObject({ anonymous: true, cookieSent: false });
    expect(findRowLeaks(rows)).toEqual([]);
    const table = page.getByRole('table', { name: /One row per event/ });
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: 5_000 }).toBe(rows.length);
    expect(await page.locator('td.leak').count()).toBe(0);
    // The React Native run, on the page too.
    const reactNative = page.getByRole('table', { name: 'What its collector received' });
    await expect.poll(() => reactNative.locator('tbody tr').count(), { timeout: 10_000 }).toBe((await demo.reactNative).length);
    // The device view shows what the page holds now (it looks twice a second).
    const shown = () => page.locator('section', { hasText: 'On this device' }).locator('code').allTextContents();
    const held = () => page.evaluate(() => Object.keys(localStorage).filter((key) => !key.startsWith('demo.')).sort());
    await expect.poll(async () => JSON.stringify(await shown()) === JSON.stringify(await held()), { timeout: 5_000 }).toBe(true);
    mkdirSync('docs', { recursive: true });
    await page.screenshot({ path: 'docs/demo.png', fullPage: true });
    await context.close();
  }, 120_000);
});
