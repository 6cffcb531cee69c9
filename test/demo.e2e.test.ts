import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks } from 'consent-tracker/testing';
import { serveDemo } from '../demo/serve.js';
import { launchChromium } from './helpers/chromium.js';

/**
 * The demo page in a real Chromium: levels chosen and events tracked from its buttons; the
 * page's table shows what the collector received, and nothing leaked.
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

describe('the demo page', () => {
  it('a level chosen and an event tracked from its buttons reach the collector as the level allows, and its table shows each', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(demo.url);
    await page.getByText('phase undecided').waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'full', exact: true }).click();
    await page.getByText('level in force full').waitFor();
    await page.getByRole('button', { name: 'Click', exact: true }).click();
    await page.getByRole('button', { name: 'none', exact: true }).click();
    await page.getByText('level in force none').waitFor();
    await page.getByRole('button', { name: 'Click', exact: true }).click();
    await expect.poll(() => demo.collector.events().length, { timeout: 10_000 }).toBe(2);
    const [atFull, ...atNone] = demo.collector.events();
    expect(atFull?.anonymous).toBe(false);
    expect(findLeaks(atNone, 'none')).toEqual([]);
    // The page's table: a row per event received, and no leak in red.
    await expect.poll(() => page.locator('tbody tr').count(), { timeout: 5_000 }).toBe(2);
    expect(await page.locator('td.leak').count()).toBe(0);
    await context.close();
  }, 120_000);
});
