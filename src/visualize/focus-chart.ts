import { ConsentError } from '../consent-error.js';
import type { ChartState, ChartTransition } from './read-chart.js';
import type { ChartOptions } from './to-mermaid.js';

/** The state at `path` (keys joined with dots) under `root`. */
function stateAt(root: ChartState, path: string): ChartState | undefined {
  let state: ChartState | undefined = root;
  for (const key of path.split('.')) state = state?.children.find((child) => child.key === key);
  return state;
}

/** Whether `state` is `ancestor` or inside it. */
function isWithin(state: ChartState, ancestor: ChartState): boolean {
  for (let s: ChartState | undefined = state; s; s = s.parent) if (s === ancestor) return true;
  return false;
}

/** Transitions merged by their ends: one per pair, its label the distinct events. */
function compacted(transitions: readonly ChartTransition[]): ChartTransition[] {
  const byEnds = new Map<string, { from: ChartState; to: ChartState; events: Set<string> }>();
  for (const { from, to, label } of transitions) {
    if (from === to) continue;
    const key = `${from.id} ${to.id}`;
    const edge = byEnds.get(key) ?? { from, to, events: new Set<string>() };
    edge.events.add(label.replace(/ [[(].*$/, ''));
    byEnds.set(key, edge);
  }
  return [...byEnds.values()].map(({ from, to, events }) => ({ from, to, label: [...events].join(', ') }));
}

/**
 * Narrows a chart read by `readChart` to one region, and merges its edges when `compact`: what
 * makes a large chart (a parallel one whose regions hold many guarded transitions) readable in a
 * small space. Throws `INVALID_OPTION` for a region the chart does not have.
 */
export function focusChart(chart: { root: ChartState; transitions: ChartTransition[] }, focus: Pick<ChartOptions, 'region' | 'compact'>): { root: ChartState; transitions: ChartTransition[] } {
  let { root, transitions } = chart;
  if (focus.region !== undefined) {
    const region = stateAt(root, focus.region);
    if (!region || region.children.length === 0) {
      const names = root.children.map((child) => child.key).join(', ');
      throw new ConsentError('INVALID_OPTION', `region must be the path of a state that holds others (${names}, …); got ${JSON.stringify(focus.region)}`);
    }
    root = region;
    // Transitions that start or end outside it, or at the region itself, are not drawn.
    transitions = transitions.filter(({ from, to }) => from !== region && to !== region && isWithin(from, region) && isWithin(to, region));
  }
  return { root, transitions: focus.compact ? compacted(transitions) : transitions };
}
