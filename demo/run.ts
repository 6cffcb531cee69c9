/**
 * `npm run demo`: starts the local collector, runs the identified tracker-core app at each
 * consent level and through one downgrade mid-stream, then the real React Native tracker 4.x
 * (with Node shims for its native parts) through full → session-only → none → full on one live
 * tracker, and prints what the collector received (`npm run demo -- --script`).
 */
import { buildStructEvent } from '@snowplow/tracker-core';
import { createConsentTracker, createEnforcement, memoryStorage, type ConsentLevel } from '../src/index.js';
import { reactNativeAdapter } from '../src/react-native/index.js';
import { findLeaks, startCollector, type CollectedEvent } from '../src/testing/index.js';
import { MOBILE_SCHEMA, SESSION_SCHEMA, createIdentifiedApp } from './identified-app.js';

const collector = await startCollector();
const captured = new Map<string, { scenario: string; level: ConsentLevel }>();

async function scenario(name: string, steps: (ctx: { track: (action: string) => void; setLevel: (level: ConsentLevel) => Promise<void>; outage: (down: boolean) => void }) => Promise<void>, initial: ConsentLevel) {
  let level = initial;
  const enforcement = createEnforcement({ level: () => level });
  const app = createIdentifiedApp({
    endpoint: collector.url,
    extraPlugins: [enforcement.plugin],
    emitter: { eventStore: enforcement.eventStore, customFetch: enforcement.customFetch },
  });
  await steps({
    track: (action) => {
      const payload = app.core.track(buildStructEvent({ category: name, action }));
      if (typeof payload?.eid === 'string') captured.set(payload.eid, { scenario: name, level });
      else captured.set(`${name}/${action}`, { scenario: name, level });
    },
    setLevel: async (next) => {
      level = next;
      await enforcement.levelChanged();
    },
    outage: (down) => collector.failWith(down ? 503 : undefined),
  });
  await app.flush();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const { dropped } = enforcement.stats();
  return Object.entries(dropped).filter(([, n]) => n > 0).map(([reason, n]) => `${n} ${reason}`).join(', ');
}

const notes: string[] = [];
for (const level of ['full', 'session-only', 'none', 'off'] as const) {
  const dropped = await scenario(level, async ({ track }) => {
    track('tap-1');
    track('tap-2');
  }, level);
  if (dropped) notes.push(`${level}: dropped ${dropped}`);
}
await scenario('downgrade', async ({ track, setLevel, outage }) => {
  outage(true);
  track('queued-at-full-1');
  track('queued-at-full-2');
  await new Promise((resolve) => setTimeout(resolve, 50));
  await setLevel('none');
  outage(false);
  track('after-downgrade');
}, 'full');

/** The React Native tracker, created once, switched at runtime; a second full comes after a withdrawal. */
async function reactNativeScenario() {
  const consent = createConsentTracker({
    adapter: reactNativeAdapter({
      namespace: 'demo',
      endpoint: collector.url,
      installAutotracking: false,
      lifecycleAutotracking: false,
      userId: 'user-1',
      ipAddress: '203.0.113.9',
      networkUserId: 'nuid-1',
      platformContextRetriever: { getAppleIdfa: async () => 'IDFA-1', getAppleIdfv: async () => 'IDFV-1' },
      asyncStorage: memoryStorage() as never,
    }),
    storage: memoryStorage(),
  });
  await consent.ready;
  let step = 0;
  for (const level of ['full', 'session-only', 'none', 'full'] as const) {
    await consent.setLevel(level, 'demo');
    step += 1;
    const received = collector.events().length;
    const eventId = consent.tracker.trackStructuredEvent({ category: 'react-native', action: `${step}. at ${level}` });
    captured.set(typeof eventId === 'string' ? eventId : `react-native/${step}`, { scenario: 'react-native', level });
    await consent.tracker.flush();
    await collector.waitForEvents(received + 1);
  }
  consent.stop();
}
await reactNativeScenario();

function identifiers(event: CollectedEvent): string {
  const found: string[] = [];
  for (const field of ['uid', 'duid', 'nuid', 'tnuid', 'ip', 'sid', 'vid']) if (field in event.payload) found.push(field);
  const session = event.contexts.find((c) => c.schema.startsWith(SESSION_SCHEMA.replace(/1-0-\d+$/, '')))?.data;
  if (session) found.push(session.userId === '00000000-0000-0000-0000-000000000000' ? `session(anon ${String(session.sessionId).slice(0, 8)})` : `session(${String(session.userId)})`);
  const mobile = event.contexts.find((c) => c.schema.startsWith(MOBILE_SCHEMA.replace(/1-0-\d+$/, '')))?.data ?? {};
  for (const id of ['appleIdfa', 'appleIdfv', 'androidIdfa', 'appSetId']) if (id in mobile) found.push(id);
  return found.join(' ') || '-';
}

const rows = collector.events().map((event) => {
  const origin = captured.get(event.id ?? '');
  return {
    scenario: origin?.scenario ?? '?',
    event: event.payload.se_ac ?? event.payload.e ?? '?',
    'level at capture': origin?.level ?? '?',
    identifiers: identifiers(event),
    'SP-Anonymous': event.anonymous ? 'yes' : 'no',
    cookie: event.anonymous ? 'none' : `set (${event.collectorNetworkUserId.slice(0, 8)})`,
    network_userid: event.networkUserId === '00000000-0000-0000-0000-000000000000' ? 'null UUID' : event.networkUserId,
  };
});
console.log('\nWhat the collector received (one row per event):\n');
console.table(rows);
console.log(`\nRequests: ${collector.requests().length} (${collector.requests().filter((r) => r.status !== 200).length} answered 503 during the outage); bad events: ${collector.badEvents().length}`);
for (const note of notes) console.log(`Not sent at ${note}`);
const leaks = findLeaks(collector.events(), (event) => {
  const origin = captured.get(event.id ?? '');
  return origin?.scenario === 'downgrade' ? 'none' : (origin?.level ?? 'none');
});
console.log(leaks.length === 0 ? 'findLeaks: no identifier beyond what each event was allowed.' : `findLeaks: ${JSON.stringify(leaks, null, 2)}`);
await collector.stop();
process.exitCode = leaks.length === 0 ? 0 : 1;
