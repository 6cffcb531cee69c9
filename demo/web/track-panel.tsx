import { useState } from 'react';
import type { BrowserConsentTracker } from 'consent-tracker/browser';
import { useConsentTracker } from 'consent-tracker/react';
import { post } from './demo-api.js';

const PURCHASE = 'iglu:com.acme/purchase/jsonschema/1-0-0';

/** Buttons that track as the shop would, reload the page or open it again, and take the collector down. */
export function TrackPanel() {
  const { level, tracker } = useConsentTracker<BrowserConsentTracker>();
  const [online, setOnline] = useState(true);
  // The server names each event and notes the level it was tracked at, before it is tracked.
  const track = async (action: string, send: (tracker: BrowserConsentTracker, label: string) => void) => {
    const { label } = await post<{ label: string }>('/tracked', { action, level });
    if (tracker) send(tracker, label);
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
          {online ? 'Collector offline' : 'Collector back online'}
        </button>
      </div>
    </section>
  );
}
