import { useEffect, useState } from 'react';
import type { BrowserConsentTracker } from 'consent-tracker/browser';
import { useConsentTracker } from 'consent-tracker/react';
import { consent } from './consent.js';
import { post } from './demo-api.js';

const PURCHASE = 'iglu:com.acme/purchase/jsonschema/1-0-0';

/** Buttons that track as the shop would, reload the page or open it again, and take the collector down. */
export function TrackPanel() {
  const { tracker } = useConsentTracker<BrowserConsentTracker>();
  const [online, setOnline] = useState(true);
  useEffect(() => {
    void fetch('/collector').then((r) => r.json() as Promise<{ online: boolean }>).then((state) => setOnline(state.online));
  }, []);
  // The server names the event first; the level is read as the tracker is called, and reported after.
  const track = async (action: string, send: (tracker: BrowserConsentTracker, label: string) => void) => {
    const { label } = await post<{ label: string }>('/tracked', { action });
    const level = consent.getLevel();
    if (tracker) send(tracker, label);
    await post('/captured', { label, level });
  };
  const toggleCollector = async () => {
    const next = await post<{ online: boolean }>('/collector', { online: !online });
    setOnline(next.online);
    // What waited in the queue goes now, at the level in force now.
    if (next.online) await tracker?.tracker?.flushBuffer();
  };
  return (
    <section>
      <h2>Try it</h2>
      <div className="actions">
        <button onClick={() => void track('page view', (t, label) => t.trackPageView({ title: label }))}>Page view</button>
        <button onClick={() => void track('click', (t, label) => t.trackStructEvent({ category: 'ui', action: label }))}>Click</button>
        <button onClick={() => void track('purchase', (t, label) => t.trackStructEvent({ category: 'shop', action: label, context: [{ schema: PURCHASE, data: { orderId: 'order-42', customerId: 'customer-7' } }] }))}>Purchase</button>
      </div>
      <div className="actions secondary">
        <button onClick={() => location.reload()}>Reload</button>
        <button onClick={() => window.open(location.href, '_blank')}>Second tab</button>
        <button className={online ? '' : 'warning'} onClick={() => void toggleCollector()}>
          {online ? 'Take the collector offline' : 'Bring the collector back'}
        </button>
      </div>
      <p className="muted small">{online ? 'The collector is online.' : 'The collector answers 503: events wait in the queue.'}</p>
    </section>
  );
}
