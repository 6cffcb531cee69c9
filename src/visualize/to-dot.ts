import type { AnyStateMachine } from 'xstate';
import { focusChart } from './focus-chart.js';
import { readChart, type ChartState } from './read-chart.js';
import type { ChartOptions } from './to-mermaid.js';

const quote = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The node an edge to or from a state attaches to: the state itself, or the point inside its cluster. */
const anchorOf = (state: ChartState) => (state.children.length > 0 ? `${state.id}__start` : state.id);

/**
 * Draws a machine as Graphviz DOT: each state with children a cluster (dashed for the regions
 * of a parallel state) with a start point, each other state a box with its description, invoked
 * actors and the configuration its `meta` carries; every transition labelled with its event and
 * guard by name, delayed and eventless ones included. `highlight` fills the states a snapshot is in;
 * `region` draws one state and what it holds, `compact` one edge per pair of states.
 *
 * @example
 * ```ts
 * import { consentMachine } from 'consent-tracker';
 * import { toDot } from 'consent-tracker/visualize';
 * const dot = toDot(consentMachine, { direction: 'TB' }); // 'digraph "consent" {…'
 * const decisions = toDot(consentMachine, { region: 'decision', compact: true }); // the decision region alone
 * ```
 */
export function toDot(machine: AnyStateMachine, options: ChartOptions = {}): string {
  const { root, transitions } = focusChart(readChart(machine, options.highlight), options);
  const lines = [
    `digraph ${quote(root.key)} {`,
    `  compound=true; rankdir=${options.direction ?? 'LR'}; fontname="Helvetica"; fontsize=11;`,
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const fill = (state: ChartState) => (state.active ? ', style="rounded,filled", fillcolor="#ffe08a"' : '');

  const write = (state: ChartState, indent: string) => {
    // A start point: the initial state's arrow comes from it, and edges to the cluster end at it.
    const start = state.type === 'parallel' || !state.initial ? 'shape=point, style=invis' : 'shape=point, width=0.12';
    lines.push(`${indent}${state.id}__start [${start}, label=""];`);
    if (state.type !== 'parallel' && state.initial) lines.push(`${indent}${state.id}__start -> ${anchorOf(state.initial)}${state.initial.children.length > 0 ? ` [lhead=cluster_${state.initial.id}]` : ''};`);
    for (const child of state.children) {
      if (child.children.length === 0) {
        const shape = child.type === 'final' ? ', peripheries=2' : '';
        lines.push(`${indent}${child.id} [label=${quote([child.key, ...child.details].join('\n'))}${shape}${fill(child)}];`);
        continue;
      }
      lines.push(`${indent}subgraph cluster_${child.id} {`);
      const style = state.type === 'parallel' ? 'dashed' : 'rounded';
      lines.push(`${indent}  label=${quote([child.key, ...child.details].join('\n'))}; style=${child.active ? `"${style},filled"; fillcolor="#fff6d5"` : style};`);
      write(child, `${indent}  `);
      lines.push(`${indent}}`);
    }
  };
  write(root, '  ');
  for (const { from, to, label } of transitions) {
    const clustered = (state: ChartState) => state.children.length > 0 && state.parent !== undefined;
    const ends = [clustered(from) ? `ltail=cluster_${from.id}` : '', clustered(to) ? `lhead=cluster_${to.id}` : ''].filter(Boolean);
    // Graphviz cannot draw an edge from a cluster to itself through ltail and lhead: it loops on the start point.
    const attrs = from === to ? [] : ends;
    lines.push(`  ${anchorOf(from)} -> ${anchorOf(to)} [label=${quote(label)}${attrs.length ? `, ${attrs.join(', ')}` : ''}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
