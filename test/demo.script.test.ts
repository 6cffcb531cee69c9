import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildStructEvent } from '@snowplow/tracker-core';
import { describe, expect, it } from 'vitest';
import { describeRows } from '../demo/describe-rows.js';
import { createIdentifiedApp } from '../demo/identified-app.js';
import { findRowLeaks } from '../demo/find-row-leaks.js';
import { createWireLog } from '../demo/wire-log.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * The demo's verdicts: its leak column and the scripted run's exit code come from the testing
 * kit's leak finder, so a tracker that sends what a level forbids, or re-links a new identity to
 * a withdrawn one, shows in red and fails the run.
 */

const collector = useCollector();

/** The raw tracker-core app (no enforcement), sending `action` and waiting for it at the collector. */
async function sendRaw(app: ReturnType<typeof createIdentifiedApp>, log: ReturnType<typeof createWireLog>, action: string, trackedAt: Parameters<typeof log.track>[1], count: number) {
  app.core.track(buildStructEvent({ category: 'demo', action: log.track(action, trackedAt) }));
  await app.flush();
  await collector.current.waitForEvents(count);
}

describe("the demo's leak column", () => {
  it('names each identifier a raw tracker sends beyond the lower of the levels it was tracked and sent at, with why', async () => {
    const app = createIdentifiedApp({ endpoint: collector.current.url });
    const log = createWireLog(collector.current, 'full');
    await sendRaw(app, log, 'tap', 'full', 1);
    log.setLevel('none');
    await sendRaw(app, log, 'tap', 'full', 2);
    const leaks = findRowLeaks(log.rows());
    expect(leaks.filter((leak) => leak.eventId === log.rows()[0]?.event.id)).toEqual([]);
    expect(leaks.map((leak) => leak.why)).toEqual(expect.arrayContaining(['uid is not allowed at none', 'duid is not allowed at none', 'the request gave away SP-Anonymous at none']));
    expect(describeRows(log.rows())[1]?.leaks).toContain('uid is not allowed at none');
  });

  it('checks an event against the lowest level in force from its capture to its arrival, not only the two ends', async () => {
    const app = createIdentifiedApp({ endpoint: collector.current.url });
    const log = createWireLog(collector.current, 'full');
    const label = log.track('queued', 'full');
    log.setLevel('none');
    log.setLevel('full');
    app.core.track(buildStructEvent({ category: 'demo', action: label }));
    await app.flush();
    await collector.current.waitForEvents(1);
    const [row] = log.rows();
    expect(row).toMatchObject({ capturedAt: 'full', sentAt: 'full', allowed: 'none' });
    expect(describeRows(log.rows())[0]).toMatchObject({ lowestBetween: 'none', leaks: expect.arrayContaining(['uid is not allowed at none']) });
  });

  it('names an identifier sent both before a withdrawal and after the next consent, with the event it links to', async () => {
    const app = createIdentifiedApp({ endpoint: collector.current.url });
    const log = createWireLog(collector.current, 'full');
    await sendRaw(app, log, 'before', 'full', 1);
    log.setLevel('none');
    log.setLevel('full');
    await sendRaw(app, log, 'after', 'full', 2);
    const relinks = findRowLeaks(log.rows()).filter((leak) => leak.kind === 'relink');
    expect(relinks.map((leak) => leak.why)).toEqual(expect.arrayContaining(['duid was sent before the withdrawal too (before #1)']));
    expect(relinks.every((leak) => leak.eventId === log.rows()[1]?.event.id)).toBe(true);
  });
});

describe('npm run demo -- --script', () => {
  it('drives the page in a headless Chromium and runs the React Native tracker, prints both tables, and exits 0: nothing leaked', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './test/shims/register.mjs', 'demo/main.ts', '--script'], { timeout: 120_000 });
    expect(stdout).toContain('The web page (browser adapter, driven in headless Chromium)');
    expect(stdout).toContain('React Native (the real @snowplow/react-native-tracker, in Node)');
    expect(stdout).toMatch(/'click #3'\s*│ 'full'\s*│ 'none'/);
    expect(stdout).toMatch(/'purchase #5'\s*│ 'full'\s*│ 'none'/);
    expect(stdout).toContain('findLeaks: no identifier beyond what each event was allowed, no re-link across a withdrawal.');
  }, 150_000);
});
