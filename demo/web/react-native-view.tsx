import { usePolled, type WireRow } from './demo-api.js';
import { WireTable } from './wire-table.js';

/** The React Native run the server made at start: the same contract on `@snowplow/react-native-tracker`. */
export function ReactNativeView() {
  const run = usePolled<WireRow[] | { error: string }>('/react-native', 2000);
  return (
    <section className="wide">
      <h2>The same on React Native</h2>
      <p className="muted small">
        The demo server ran the real <code>@snowplow/react-native-tracker</code> 4.x (its native parts shimmed for Node)
        through full, session-only, none and full again, one tracker switched at runtime, then queued a purchase at full
        while its collector was down and withdrew to none before it went out.
      </p>
      {run === undefined ? <p className="muted">Running…</p> : 'error' in run ? <p className="leak">The React Native run failed: {run.error}</p> : <WireTable rows={run} caption="What its collector received" />}
    </section>
  );
}
