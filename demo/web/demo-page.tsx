import { useEffect } from 'react';
import { useConsentTracker } from 'consent-tracker/react';
import { ConsentBanner } from './consent-banner.js';
import { ConsentSettings } from './consent-settings.js';
import { post, usePolled, type WireRow } from './demo-api.js';
import { DeviceView } from './device-view.js';
import { LiveChart } from './live-chart.js';
import { ReactNativeView } from './react-native-view.js';
import { TrackPanel } from './track-panel.js';
import { WireTable } from './wire-table.js';

/** Tells the demo server the level in force, once booted, so that it knows the level each event is sent at. */
function useReportLevel() {
  const { level, phase } = useConsentTracker();
  useEffect(() => {
    if (phase !== 'booting') void post('/level', { level });
  }, [level, phase]);
}

export function DemoPage() {
  useReportLevel();
  const rows = usePolled<WireRow[]>('/wire') ?? [];
  return (
    <>
      <header>
        <div>
          <h1>consent-tracker</h1>
          <p>A user's consent, turned into what a live Snowplow tracker sends. Choose a level, track, and watch the wire.</p>
        </div>
        <span className="badge">local collector · 127.0.0.1</span>
      </header>
      <main>
        <ConsentSettings />
        <div className="column">
          <TrackPanel />
          <DeviceView />
        </div>
        <LiveChart />
        <section className="wide">
          <h2>What the collector received</h2>
          <p className="muted small">
            <b>tracked at</b>: the level in force when the page tracked the event; <b>sent at</b>: when the collector received it.
            Each event is checked against the lowest level in force from one to the other, as consent-tracker treats it: a click
            queued at full during an outage and sent after a withdrawal goes without identifiers. Identifier values are named
            (id 1, id 2…) by first appearance, so a value seen again has the same name. The first event at full sends no cookie:
            the collector sets it in its answer.
          </p>
          {rows.length > 0 ? <WireTable rows={rows} caption="One row per event, checked by the testing kit's leak finder" /> : <p className="muted">Nothing yet: choose a level and track something.</p>}
        </section>
        <ReactNativeView />
      </main>
      <ConsentBanner />
    </>
  );
}
