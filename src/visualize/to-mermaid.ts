import type { AnyStateMachine, StateValue } from 'xstate';
import { focusChart } from './focus-chart.js';
import { commonAncestor, readChart, type ChartState, type ChartTransition } from './read-chart.js';

/**
 * Options of {@link toMermaid} and `toDot`.
 *
 * @example
 * ```ts
 * import type { ChartOptions } from 'consent-tracker/visualize';
 * const options: ChartOptions = { direction: 'TB', region: 'decision', compact: true };
 * ```
 */
export interface ChartOptions {
  /** A snapshot (of an actor running the machine): the states it is in are marked. */
  readonly highlight?: { readonly value: StateValue };
  /** Left to right (default) or top to bottom. */
  readonly direction?: 'LR' | 'TB';
  /**
   * A state by its path (`'decision'`, `'tracker.applying'`): only it and what it holds are
   * drawn, with the transitions between its states. A path the chart does not have throws
   * `ConsentError` `INVALID_OPTION`.
   */
  readonly region?: string;
  /**
   * One edge per pair of states, labelled with the events that take it (guards left out), and no
   * edge from a state to itself: the shape of a chart whose states have many guarded transitions.
   */
  readonly compact?: boolean;
}

/** Where a transition is declared: in the innermost state that holds both ends (Mermaid draws it there). */
function blockOf(transition: ChartTransition): ChartState {
  const ancestor = commonAncestor(transition.from, transition.to);
  return ancestor === transition.from || ancestor === transition.to ? (ancestor.parent ?? ancestor) : ancestor;
}

/** The state among `block`'s children that holds `state` (or `state` itself). */
function childOf(block: ChartState, state: ChartState): ChartState {
  let s = state;
  while (s.parent && s.parent !== block) s = s.parent;
  return s;
}

/**
 * Mermaid puts a state in the last block that names it, so a transition is drawn between the
 * states of its block that hold its ends, the inner end named in the label (`→ noDecision`).
 */
function drawn(transition: ChartTransition): { from: ChartState; to: ChartState; label: string } {
  const block = blockOf(transition);
  const from = childOf(block, transition.from);
  const to = childOf(block, transition.to);
  const inner = [from !== transition.from ? `from ${transition.from.key}` : '', to !== transition.to ? `to ${transition.to.key}` : ''].filter(Boolean);
  return { from, to, label: inner.length > 0 ? `${transition.label} (${inner.join(', ')})` : transition.label };
}

/**
 * Draws a machine as a Mermaid `stateDiagram-v2` (GitHub renders it): its states, nested and
 * parallel (a parallel state's regions as boxes side by side in it, its label marked
 * `(parallel)`), each state without others in it with its description, invoked actors and the
 * configuration its `meta` carries; every transition labelled with its event and guard by name,
 * delayed (`after applyTimeout`) and eventless (`always`) ones included. Works with any XState v5
 * machine.
 *
 * @example
 * ```ts
 * import { consentMachine } from 'consent-tracker';
 * import { toMermaid } from 'consent-tracker/visualize';
 * const chart = toMermaid(consentMachine); // 'stateDiagram-v2\n…'
 * ```
 */
export function toMermaid(machine: AnyStateMachine, options: ChartOptions = {}): string {
  const { root, transitions } = focusChart(readChart(machine, options.highlight), options);
  const byBlock = new Map<ChartState, ChartTransition[]>();
  for (const transition of transitions) byBlock.set(blockOf(transition), [...(byBlock.get(blockOf(transition)) ?? []), transition]);
  const lines = ['stateDiagram-v2', `  direction ${options.direction ?? 'LR'}`, '  classDef active fill:#ffe08a,stroke:#b58900,stroke-width:2px'];

  const write = (state: ChartState, indent: string) => {
    if (state.type !== 'parallel' && state.initial) lines.push(`${indent}[*] --> ${state.initial.id}`);
    state.children.forEach((child) => {
      // Regions are drawn as boxes side by side: Mermaid's region divider (--) breaks its layout
      // when a transition ends at a state that holds others in a region before another.
      lines.push(`${indent}state "${child.key}${child.type === 'parallel' ? ' (parallel)' : ''}" as ${child.id}`);
      // Mermaid takes no description on a state that holds others (DOT shows them all).
      if (child.children.length === 0) for (const detail of child.details) lines.push(`${indent}${child.id} : ${detail}`);
      if (child.type === 'final') lines.push(`${indent}${child.id} --> [*]`);
      if (child.children.length > 0) {
        lines.push(`${indent}state ${child.id} {`);
        write(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
    });
    for (const transition of byBlock.get(state) ?? []) {
      const { from, to, label } = drawn(transition);
      lines.push(`${indent}${from.id} --> ${to.id} : ${label}`);
    }
  };

  // The root is drawn as a state of its own, so that a parallel root has a box for its regions.
  lines.push(`  state "${root.key}${root.type === 'parallel' ? ' (parallel)' : ''}" as ${root.id}`, `  state ${root.id} {`);
  write(root, '    ');
  lines.push('  }');
  const active: string[] = [];
  const collect = (state: ChartState) => {
    if (state.active) active.push(state.id);
    state.children.forEach(collect);
  };
  collect(root);
  if (active.length > 0) lines.push(`  class ${active.join(',')} active`);
  return `${lines.join('\n')}\n`;
}
