import { createConsentTracker, memoryStorage, type ConsentLevel } from '../src/index.js';
import { reactNativeAdapter } from '../src/react-native/index.js';
import { startCollector } from '../src/testing/index.js';
import { createWireLog, type WireRow } from './wire-log.js';

/**
 * The React Native part of the demo: the real `@snowplow/react-native-tracker` 4.x (its native
 * parts shimmed for Node), created once with every identifier it can carry and switched at
 * runtime: full, session-only, none, full again (a new identity), then an event queued at full
 * while the collector is down and sent only after a withdrawal to none. Resolves with what its own
 * collector received, as the demo's table shows it.
 */
export async function runReactNative(): Promise<WireRow[]> {
  const collector = await startCollector();
  const log = createWireLog(collector);
  const consent = createConsentTracker({
    adapter: reactNativeAdapter({
      namespace: 'demo-app',
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
  const choose = async (level: ConsentLevel) => {
    await consent.setLevel(level, 'demo');
    log.setLevel(level);
  };
  const track = (action: string) => void consent.tracker.trackStructuredEvent({ category: 'react-native', action: log.track(action, consent.getLevel()) });
  const sent = async (count: number) => {
    await consent.tracker.flush();
    await collector.waitForEvents(count, 10_000);
  };
  try {
    await consent.ready;
    let count = 0;
    for (const level of ['full', 'session-only', 'none', 'full'] as const) {
      await choose(level);
      track('tap');
      await sent((count += 1));
    }
    collector.failWith(503);
    track('purchase');
    await consent.tracker.flush();
    await choose('none');
    collector.failWith(undefined);
    await sent((count += 1));
    return log.rows();
  } finally {
    await consent.stop();
    await collector.stop();
  }
}
