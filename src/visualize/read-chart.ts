import type { AnyStateMachine, StateValue } from 'xstate';

/** A state of a chart as the diagrams draw it. */
export interface ChartState {
  /** An identifier safe in Mermaid and DOT, unique in the chart. */
  readonly id: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** What the state says about itself: its description, what it invokes, its configuration. */
  readonly details: readonly string[];
  readonly children: readonly ChartState[];
  readonly initial: ChartState | undefined;
  readonly parent: ChartState | undefined;
  /** Whether a highlighted snapshot is in it. */
  readonly active: boolean;
}

/** A transition: its event, guard and kind (delayed, eventless, an actor's completion) in `label`. */
export interface ChartTransition {
  readonly from: ChartState;
  readonly to: ChartState;
  readonly label: string;
}

/** The parts of XState's state nodes the diagrams read. */
interface StateNodeLike {
  readonly key: string;
  readonly path: readonly string[];
  readonly type: ChartState['type'];
  readonly description?: string | undefined;
  readonly meta?: unknown;
  readonly states: Record<string, StateNodeLike>;
  readonly initial?: { readonly target: readonly StateNodeLike[] } | undefined;
  readonly transitions: Map<string, ReadonlyArray<TransitionLike>>;
  readonly always?: ReadonlyArray<TransitionLike> | undefined;
  readonly invoke: ReadonlyArray<{ readonly id: string; readonly src: unknown }>;
}

interface TransitionLike {
  readonly target?: readonly StateNodeLike[] | undefined;
  readonly guard?: unknown;
  readonly reenter?: boolean;
}

/** A guard by name: `name`, `name(params)`, and `!a`, `a && b`, `a || b` for XState's `not`, `and`, `or`. */
export function guardLabel(guard: unknown): string {
  if (guard === undefined || guard === null) return '';
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard) {
    const { type, params } = guard as { type: unknown; params?: unknown };
    const shown = params !== null && typeof params === 'object' ? Object.values(params).map(String).join(', ') : '';
    return shown ? `${String(type)}(${shown})` : String(type);
  }
  if (typeof guard === 'function') {
    const inner = (guard as { guards?: unknown[] }).guards?.map(guardLabel) ?? [];
    if (guard.name === 'not' && inner.length === 1) return `!${inner[0] as string}`;
    if (guard.name === 'and' || guard.name === 'or') return inner.join(guard.name === 'and' ? ' && ' : ' || ');
    if (guard.name === 'stateIn') return `in(${String((guard as { stateValue?: unknown }).stateValue ?? '?')})`;
    return guard.name || 'guard';
  }
  return 'guard';
}

/** An event as the diagrams show it: XState's built-in event names shortened, no colons (Mermaid's separator). */
export function eventLabel(eventType: string): string {
  if (eventType === '') return 'always';
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (actor) return `${actor[1]} ${actor[2]}`;
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${/^\d+$/.test(after[1] as string) ? `${after[1]} ms` : after[1]}`;
  const done = /^xstate\.done\.state\.(.+)$/.exec(eventType);
  if (done) return `done ${(done[1] as string).split('.').at(-1) as string}`;
  return safeText(eventType);
}

/** Text Mermaid and DOT take as it is in a label: no separators, quotes, braces or line breaks. */
export function safeText(text: string): string {
  return text.replace(/[:;#"{}<>|\\]/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The leaf values of an object, as `key=value` (a level state's tracker configuration, say). */
function flatten(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [String(value)];
  return Object.entries(value).flatMap(([key, inner]) => (inner !== null && typeof inner === 'object' ? flatten(inner) : [`${key}=${String(inner)}`]));
}

function detailsOf(node: StateNodeLike): string[] {
  const meta = (node.meta ?? {}) as { description?: unknown; configuration?: unknown };
  const details: string[] = [];
  const description = node.description ?? (typeof meta.description === 'string' ? meta.description : undefined);
  if (description) details.push(description);
  // An actor given inline has a generated source name: its id says more.
  for (const { id, src } of node.invoke) details.push(`invoke ${typeof src === 'string' && !src.startsWith('xstate.invoke.') ? src : id}`);
  if (meta.configuration !== undefined) details.push(...flatten(meta.configuration));
  return details.map(safeText);
}

/** The paths (keys joined with dots) of the states a state value is in, ancestors included. */
function activePaths(value: StateValue, prefix: string[] = []): string[] {
  if (typeof value === 'string') return [[...prefix, value].join('.')];
  return Object.entries(value).flatMap(([key, inner]) => [[...prefix, key].join('.'), ...(inner === undefined ? [] : activePaths(inner, [...prefix, key]))]);
}

/**
 * Reads a machine's definition into the states and transitions the diagrams draw: every state,
 * nested and parallel; every transition with its event, guard, delay and eventless ones; and,
 * with `highlight`, the states a snapshot is in.
 */
export function readChart(machine: AnyStateMachine, highlight?: { readonly value: StateValue }): { root: ChartState; transitions: ChartTransition[] } {
  const active = new Set(highlight ? activePaths(highlight.value) : []);
  const byPath = new Map<string, ChartState>();
  const pending: Array<{ from: StateNodeLike; eventType: string; transition: TransitionLike }> = [];

  const usedIds = new Set<string>();
  /** An identifier from the state's path, made unique where two paths look alike once cleaned ('step 2', 'step_2'). */
  const idOf = (path: readonly string[]) => {
    const base = ['state', ...path].join('_').replace(/[^A-Za-z0-9_]/g, '_');
    let id = base;
    for (let n = 2; usedIds.has(id); n += 1) id = `${base}_${n}`;
    usedIds.add(id);
    return id;
  };
  const read = (node: StateNodeLike, parent: ChartState | undefined): ChartState => {
    const path = node.path.join('.');
    const history = node.type === 'history' ? ` (H${(node as { history?: string }).history === 'deep' ? '*' : ''})` : '';
    const state: { -readonly [K in keyof ChartState]: ChartState[K] } = {
      id: idOf(node.path),
      key: safeText(node.key) + history,
      type: node.type,
      details: detailsOf(node),
      children: [],
      initial: undefined,
      parent,
      active: highlight !== undefined && (path === '' || active.has(path)),
    };
    byPath.set(path, state);
    state.children = Object.values(node.states).map((child) => read(child, state));
    const initialTarget = node.initial?.target[0];
    state.initial = initialTarget && byPath.get(initialTarget.path.join('.'));
    for (const [eventType, transitions] of node.transitions) for (const transition of transitions) pending.push({ from: node, eventType, transition });
    for (const transition of node.always ?? []) pending.push({ from: node, eventType: '', transition });
    return state;
  };
  const root = read(machine.root as unknown as StateNodeLike, undefined);

  const transitions = pending.flatMap(({ from, eventType, transition }) => {
    const source = byPath.get(from.path.join('.')) as ChartState;
    const guard = guardLabel(transition.guard);
    const label = `${eventLabel(eventType)}${guard ? ` [${guard}]` : ''}${transition.reenter ? ' (re-entered)' : ''}`;
    const targets = transition.target?.length ? transition.target.map((target) => byPath.get(target.path.join('.')) as ChartState) : [source];
    return targets.map((to) => ({ from: source, to, label }));
  });
  return { root, transitions };
}

/** The innermost state both are in (the root at worst). */
export function commonAncestor(a: ChartState, b: ChartState): ChartState {
  const ancestors = new Set<ChartState>();
  for (let s: ChartState | undefined = a; s; s = s.parent) ancestors.add(s);
  for (let s: ChartState | undefined = b; s; s = s.parent) if (ancestors.has(s)) return s;
  return a;
}
