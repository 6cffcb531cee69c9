import type { BrowserContext, Page } from 'playwright-core';
import type { ConsentLevel } from '../machines/levels.js';
import type { DemoServer } from './serve.js';

/** Opens the demo page in a new tab of `context` and waits until it has booted. */
export async function openDemo(context: BrowserContext, demo: DemoServer): Promise<Page> {
  const page = await context.newPage();
  await page.goto(demo.url);
  await page.getByText(/phase (undecided|active)/).waitFor({ timeout: 60_000 });
  return page;
}

/**
 * Drives the demo page as a visitor would, each step waiting for its effect (the level in force
 * on the page and at the server, each event at the collector), so that nothing is in flight
 * between steps and every run sends the same events:
 *
 * 1. the banner: full; a page view and a purchase;
 * 2. the collector goes down; a click waits in the queue; the settings: none (a withdrawal); the
 *    collector comes back and the queued click goes at none; a click at none;
 * 3. a reload (the withdrawal holds); full again (a new identity); a page view;
 * 4. a second tab: a click at full there, then none there, which the first tab follows; a click
 *    in the first tab.
 *
 * Resolves with the first tab, once the collector has every event (seven).
 */
export async function drivePage(context: BrowserContext, demo: DemoServer): Promise<Page> {
  let expected = 0;
  const press = async (page: Page, name: string, sends = true) => {
    await page.getByRole('button', { name, exact: true }).click();
    if (!sends) return;
    expected += 1;
    await Promise.all([demo.collector.waitForEvents(expected, 15_000), demo.wire.whenCaptured(expected)]);
  };
  const inForce = async (page: Page, level: ConsentLevel) => {
    await page.getByText(`level in force ${level} `).waitFor({ timeout: 15_000 });
    await demo.wire.whenLevel(level);
  };
  const choose = async (page: Page, level: ConsentLevel) => {
    await page.getByRole('radio', { name: level, exact: true }).click();
    await inForce(page, level);
  };

  /** The page's queue stored as it is: a reload or a close then hands its slot over. */
  const stored = (tab: Page) => tab.evaluate('window.demoPersisted()');

  const page = await openDemo(context, demo);
  await page.getByRole('button', { name: 'Measure my visits, as me' }).click();
  await inForce(page, 'full');
  await press(page, 'Page view');
  await press(page, 'Purchase');

  await press(page, 'Take the collector offline', false);
  const refused = page.waitForResponse((response) => response.url().startsWith(demo.collector.url) && response.status() === 503);
  await press(page, 'Click', false);
  await refused;
  await choose(page, 'none');
  await press(page, 'Bring the collector back');
  await press(page, 'Click');

  await stored(page);
  await page.reload();
  await inForce(page, 'none');
  await choose(page, 'full');
  await press(page, 'Page view');

  const second = await openDemo(context, demo);
  await inForce(second, 'full');
  await press(second, 'Click');
  await choose(second, 'none');
  await inForce(page, 'none');
  await press(page, 'Click');
  await stored(second);
  await second.close();
  return page;
}
