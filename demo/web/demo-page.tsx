import { useEffect, useState } from 'react';
import { CONSENT_LEVELS, consentMachine, type ConsentLevel } from 'consent-tracker';
import type { BrowserConsentTracker } from 'consent-tracker/browser';
import { useConsentTracker } from 'consent-tracker/react';
import { toDot } from 'consent-tracker/visualize';
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { findLeaks } from '../../src/testing/find-leaks.js';
import type { CollectedEvent } from '../../src/testing/collected-event.js';

/**
 * The level each event was tracked at, by its label: what the leak finder checks it against.
 * Kept in the page's storage (it holds no identifier), so that a reload and a second tab know it.
 */
const DEMO_KEY = 'demo.tracked';
const trackedAt = {
  read: (): Record<string, ConsentLevel> => JSON.parse(localStorage.getItem(DEMO_KEY) ?? '{}') as Record<string, ConsentLevel>,
  get: (label: string): ConsentLevel | undefined => trackedAt.read()[label],
  /** Records a new event at `level`; returns its label. */
  add(action: string, level: ConsentLevel): string {
    const all = trackedAt.read();
    const label = `${action}-${Object.keys(all).length + 1}`;
    localStorage.setItem(DEMO_KEY, JSON.stringify({ ...all, [label]: level }));
    return label;
  },
};

/** A short name for each identifier value, by first appearance: the same value, the same name. */
const names = new Map<string, string>();
const nameOf = (value: string) => {
  if (!names.has(value)) names.set(value, `id ${names.size + 1}`);
  return names.get(value) as string;
};
const NULL_UUID = '00000000-0000-0000-0000-000000000000';

const PURCHASE = 'iglu:com.acme/purchase/jsonschema/1-0-0';

function useWire(): CollectedEvent[] {
  const [events, setEvents] = useState<CollectedEvent[]>([]);
  useEffect(() => {
    const timer = setInterval(() => void fetch('/wire').then((r) => r.json() as Promise<CollectedEvent[]>).then(setEvents), 500);
    return () => clearInterval(timer);
  }, []);
  return events;
}

function Chart() {
  const snapshot = useConsentTracker((s) => s);
  const [svg, setSvg] = useState('');
  useEffect(() => {
    let live = true;
    void Graphviz.load().then((graphviz) => live && setSvg(graphviz.dot(toDot(consentMachine, { highlight: snapshot, direction: 'TB' }))));
    return () => {
      live = false;
    };
  }, [snapshot]);
  return <div className="chart" dangerouslySetInnerHTML={{ __html: svg }} />;
}

function Controls() {
  const { level, phase, isApplying, setLevel, tracker } = useConsentTracker<BrowserConsentTracker>();
  const track = (action: string, send: (label: string) => void) => send(trackedAt.add(action, level));
  return (
    <section>
      <h2>Consent</h2>
      <div className="levels">
        {CONSENT_LEVELS.map((l) => (
          <button key={l} className={l === level ? 'active' : ''} disabled={isApplying} onClick={() => void setLevel(l, 'demo')}>
            {l}
          </button>
        ))}
      </div>
      <p className="status">
        phase <b>{phase}</b>, level in force <b>{level}</b>
      </p>
      <h2>Track</h2>
      <div className="actions">
        <button onClick={() => track('page-view', (label) => tracker?.trackPageView({ title: label }))}>Page view</button>
        <button onClick={() => track('click', (label) => tracker?.trackStructEvent({ category: 'ui', action: label }))}>Click</button>
        <button onClick={() => track('purchase', (label) => tracker?.trackStructEvent({ category: 'shop', action: label, context: [{ schema: PURCHASE, data: { orderId: 'order-42', customerId: 'customer-7' } }] }))}>Purchase</button>
        <button onClick={() => location.reload()}>Reload</button>
        <button onClick={() => window.open(location.href, '_blank')}>Second tab</button>
      </div>
    </section>
  );
}

function Device() {
  const [, refresh] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => refresh((n) => n + 1), 500);
    return () => clearInterval(timer);
  }, []);
  const cookies = document.cookie.split(';').map((c) => c.trim().split('=')[0] ?? '').filter(Boolean);
  const stored = [...Object.keys(localStorage).filter((k) => !k.startsWith('demo.')), ...Object.keys(sessionStorage).map((k) => `session:${k}`)];
  return (
    <section>
      <h2>On the device</h2>
      <p>Cookies: {cookies.length ? cookies.map((c) => <code key={c}>{c} </code>) : 'none'}</p>
      <p>Storage: {stored.length ? stored.map((k) => <code key={k}>{k} </code>) : 'none'}</p>
    </section>
  );
}

function Wire({ events }: { events: CollectedEvent[] }) {
  const labelOf = (e: CollectedEvent) => e.payload.se_ac ?? (e.payload.page as string | undefined) ?? '';
  return (
    <section className="wide">
      <h2>What the collector received</h2>
      <table>
        <thead>
          <tr>
            <th>event</th>
            <th>tracked at</th>
            <th>SP-Anonymous</th>
            <th>cookie</th>
            <th>network_userid</th>
            <th>identifiers</th>
            <th>leaks</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => {
            const level = trackedAt.get(labelOf(e)) ?? 'none';
            const leaks = findLeaks([e], level);
            const ids = ['uid', 'duid', 'sid', 'nuid', 'tnuid'].filter((f) => e.payload[f] !== undefined);
            return (
              <tr key={e.id}>
                <td>{labelOf(e).replace(/-(\d+)$/, ' #$1').replace('-', ' ')}</td>
                <td>{level}</td>
                <td>{e.anonymous ? 'yes' : 'no'}</td>
                <td>{e.cookieSent ? 'sent' : 'none'}</td>
                <td>{e.networkUserId === NULL_UUID ? 'none' : nameOf(e.networkUserId)}</td>
                <td>{ids.join(', ') || 'none'}</td>
                <td className={leaks.length ? 'leak' : ''}>{leaks.length ? leaks.map((l) => `${l.field}: ${String(l.value).slice(0, 12)}`).join('; ') : 'none'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

export function DemoPage() {
  const events = useWire();
  return (
    <>
      <header>
        <h1>consent-tracker</h1>
        <p>A user's consent, turned into what a live Snowplow tracker sends. Change the level, track, and watch the wire.</p>
      </header>
      <main>
        <div>
          <Controls />
          <Device />
        </div>
        <section>
          <h2>The consent chart, live</h2>
          <Chart />
        </section>
        <Wire events={events} />
      </main>
    </>
  );
}
