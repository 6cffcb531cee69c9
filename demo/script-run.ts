/**
 * `npm run demo -- --script`: the demo for terminals and CI. Serves the page, drives it in a
 * headless Chromium as a visitor would (demo/drive-page.ts), waits for the React Native run, prints
 * what each collector received, and exits non-zero on any leak the testing kit's leak finder finds.
 */
import { describeRows } from './describe-rows.js';
import { drivePage } from './drive-page.js';
import { findRowLeaks } from './find-row-leaks.js';
import { launchChromium } from './launch-chromium.js';
import { serveDemo } from './serve.js';
import type { WireRow } from './wire-log.js';

function print(title: string, rows: readonly WireRow[]): void {
  console.log(`\n${title}\n`);
  console.table(
    describeRows(rows).map((row) => ({
      event: row.event,
      'tracked at': row.trackedAt,
      'sent at': row.lowestBetween ? `${row.sentAt} (${row.lowestBetween} between)` : row.sentAt,
      'SP-Anonymous': row.anonymous,
      cookie: row.cookie,
      network_userid: row.networkUserId,
      identifiers: row.identifiers.map(([field, name]) => `${field} ${name}`).join(', ') || 'none',
      leaks: row.leaks.join('; ') || 'none',
    })),
  );
}

const demo = await serveDemo(0);
const browser = await launchChromium();
try {
  const context = await browser.newContext();
  await drivePage(context, demo);
  await context.close();
  const page = demo.wire.rows();
  const reactNative = await demo.reactNative;
  print('The web page (browser adapter, driven in headless Chromium): what the collector received', page);
  print('React Native (the real @snowplow/react-native-tracker, in Node): what its collector received', reactNative);
  // An event the demo cannot account for (its capture level unknown) is not checked: that fails the run too.
  const unaccounted = [...page, ...reactNative].filter((row) => row.allowed === undefined);
  for (const row of unaccounted) console.log(`not accounted for: ${row.label} (${row.event.id ?? 'no id'})`);
  const leaks = [...findRowLeaks(page), ...findRowLeaks(reactNative)];
  console.log(leaks.length === 0 ? '\nfindLeaks: no identifier beyond what each event was allowed, no re-link across a withdrawal.' : `\nfindLeaks found ${leaks.length}:\n${leaks.map((leak) => `  ${leak.eventId ?? '?'}: ${leak.why}`).join('\n')}`);
  process.exitCode = leaks.length === 0 && unaccounted.length === 0 ? 0 : 1;
} finally {
  await browser.close();
  await demo.close();
}
