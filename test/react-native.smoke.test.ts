import { describe, expect, it } from 'vitest';
import { createConsentTracker, memoryStorage } from 'consent-tracker';
import { rnAdapter, trackRn } from './helpers/react-native.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();

describe('smoke', () => {
  it('runs', async () => {
    const consent = createConsentTracker({ adapter: rnAdapter(collector.current.url), storage: memoryStorage() });
    await consent.ready;
    consent.tracker.trackScreenViewEvent({ name: 'home' });
    trackRn(consent.tracker, 'a');
    await consent.setLevel('full', 'banner');
    await collector.current.waitForEvents(2);
    trackRn(consent.tracker, 'b');
    await collector.current.waitForEvents(3);
    await consent.setLevel('session-only', 'banner');
    trackRn(consent.tracker, 'c');
    const events = await collector.current.waitForEvents(4);
    for (const e of events.slice(2)) console.log(JSON.stringify({ p: e.payload, c: e.contexts, anon: e.anonymous, ip: e.ipAddress, nuid: e.networkUserId }));
    expect(events).toHaveLength(4);
    consent.stop();
  });
});
