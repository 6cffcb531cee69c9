import { useEffect, useState } from 'react';
import type { StateValue } from 'xstate';
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { consentMachine } from 'consent-tracker';
import { useConsentTracker } from 'consent-tracker/react';
import { toDot } from 'consent-tracker/visualize';

const REGIONS = ['storedDecision', 'decision', 'tracker', 'cleanup', 'persistence', 'gate'] as const;
const graphviz = Graphviz.load();

/** A region's state as a path: `applying.reconfiguring`. */
const pathOf = (value: StateValue | undefined): string => (value === undefined ? '' : typeof value === 'string' ? value : Object.entries(value).map(([key, inner]) => [key, pathOf(inner)].filter(Boolean).join('.')).join(', '));

/** The chart, one region at a time (each drawn with one edge per pair of states), its states in force lit. */
export function LiveChart() {
  const snapshot = useConsentTracker((s) => s);
  const [region, setRegion] = useState<(typeof REGIONS)[number]>('decision');
  const [svg, setSvg] = useState('');
  useEffect(() => {
    let live = true;
    void graphviz.then((g) => live && setSvg(g.dot(toDot(consentMachine, { highlight: snapshot, region, compact: true }))));
    return () => {
      live = false;
    };
  }, [snapshot, region]);
  const value = snapshot.value as Record<string, StateValue>;
  return (
    <section className="chart-card wide">
      <h2>The consent chart, live</h2>
      <div className="regions" role="tablist">
        {REGIONS.map((each) => (
          <button key={each} role="tab" aria-selected={each === region} className={each === region ? 'active' : ''} onClick={() => setRegion(each)}>
            <span>{each}</span>
            <code>{pathOf(value[each])}</code>
          </button>
        ))}
      </div>
      <p className="muted small">
        Six regions run side by side: the <b>reading</b> of the stored decision, the <b>decision</b>, the live <b>tracker</b> being changed, the <b>cleanup</b> of what a
        withdrawal forgets, the <b>persistence</b> of the decision, and the <b>gate</b> that holds the app's calls during a change.
        Each tab shows the state its region is in; the region shown is drawn with one arrow per pair of states (every level can be
        reached from every other, so the decision region is dense). The whole chart, every guard named, is in
        docs/consent-machine.md.
      </p>
      <div className="chart" dangerouslySetInnerHTML={{ __html: svg }} />
    </section>
  );
}
