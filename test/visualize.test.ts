import { readFile } from 'node:fs/promises';
import { and, createActor, createMachine, fromPromise, not, or, type AnyStateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { consentMachine, createConsentTracker, DEFAULT_TRACKER_CONFIGURATIONS, LEVEL_STATES, memoryStorage, trackerCoreAdapter, type ConsentLevel } from 'consent-tracker';
import { logTransitions, toDot, toMermaid } from 'consent-tracker/visualize';
import { renderSvg, runCli } from '../src/cli/run-cli.js';
import { CHART_PAGE, CHART_SVG, withChart } from '../scripts/write-chart.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * The charts drawn from a machine: every state and transition of the consent chart, guards by
 * name, delays, actors and each level's configuration; a machine of the user's own; the
 * highlight of a live snapshot; the command line; and the chart in the docs, which must be the
 * one the machine draws.
 */

const collector = useCollector();

interface NodeLike {
  key: string;
  states: Record<string, NodeLike>;
  transitions: Map<string, Array<{ target?: unknown[] }>>;
  always?: Array<{ target?: unknown[] }>;
}

/** The machine's own count of states (the root included) and of drawn transitions (one per target, a targetless one as a loop). */
function countOf(machine: AnyStateMachine) {
  let states = 0;
  let transitions = 0;
  const walk = (node: NodeLike) => {
    states += 1;
    for (const list of [...node.transitions.values(), node.always ?? []]) for (const t of list) transitions += Math.max(1, t.target?.length ?? 0);
    Object.values(node.states).forEach(walk);
  };
  walk(machine.root as unknown as NodeLike);
  return { states, transitions };
}

const edgeLines = (mermaid: string) => mermaid.split('\n').filter((line) => line.includes(' --> ') && !line.includes('[*]'));

describe('toMermaid and toDot on the consent chart', () => {
  const mermaid = toMermaid(consentMachine);
  const dot = toDot(consentMachine);
  const { states, transitions } = countOf(consentMachine);

  it('draw every state and every transition', () => {
    expect(mermaid.split('\n').filter((line) => /^\s*state "/.test(line))).toHaveLength(states);
    expect(edgeLines(mermaid)).toHaveLength(transitions);
    expect(dot.split('\n').filter((line) => / -> .*\[label=/.test(line))).toHaveLength(transitions);
  });

  it('label guards by name (parameters, not, and), delays, eventless transitions, actors and re-entries', () => {
    for (const label of ['CONSENT.SET [setTo(full)]', 'CONSENT.SET [!validSet]', 'done writeDecision [writeHeldBack]', 'always [gateMayOpen]', 'always [!gateMayOpen]', 'after applyTimeout', 'after storageRetry', 'after startTimeout', 'error apply', 'DECIDED [targetMoved] (re-entered)']) {
      expect(mermaid).toContain(label);
      expect(dot).toContain(label);
    }
    for (const actor of ['loadDecision', 'startTracker', 'apply', 'forget', 'writeDecision', 'clearDecision']) expect(mermaid).toContain(`: invoke ${actor}`);
  });

  it("label each level state with the tracker configuration of its meta", () => {
    for (const [level, key] of Object.entries(LEVEL_STATES) as Array<[ConsentLevel, string]>) {
      const { trackerConfig, emitterConfig } = DEFAULT_TRACKER_CONFIGURATIONS[level];
      const id = `state_decision_${key}`;
      expect(mermaid).toContain(`${id} : sessionContext=${String(trackerConfig.sessionContext)}`);
      expect(mermaid).toContain(`${id} : userAnonymisation=${String(trackerConfig.userAnonymisation)}`);
      expect(mermaid).toContain(`${id} : serverAnonymisation=${String(emitterConfig.serverAnonymisation)}`);
    }
  });

  it('draw the six parallel regions, each a box in the parallel root', () => {
    expect(mermaid).toContain('state "consent (parallel)" as state');
    for (const region of ['storedDecision', 'decision', 'tracker', 'cleanup', 'persistence', 'gate']) expect(mermaid).toContain(`    state state_${region} {`);
    expect(dot.match(/subgraph cluster_state_(storedDecision|decision|tracker|cleanup|persistence|gate) \{/g)).toHaveLength(6);
  });

  it('mark the states a live snapshot is in', async () => {
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage: memoryStorage() });
    await consent.ready;
    await consent.setLevel('full', 'test');
    const snapshot = consent.actor.getSnapshot();
    const marked = toMermaid(consentMachine, { highlight: snapshot }).match(/^ {2}class (.+) active$/m)?.[1]?.split(',');
    expect(marked).toEqual(expect.arrayContaining(['state_decision_full', 'state_tracker_inForce', 'state_cleanup_idle', 'state_gate_open']));
    expect(marked).not.toContain('state_decision_none');
    expect(toDot(consentMachine, { highlight: snapshot })).toMatch(/state_decision_full \[label="full[^\]]*fillcolor="#ffe08a"\]/);
    await consent.stop();
  });

  it('render as SVG through Graphviz in WebAssembly, every state named', async () => {
    const svg = await renderSvg(dot);
    expect(svg).toMatch(/^<\?xml|^<svg/);
    for (const key of ['booting', 'undecided', 'sessionOnly', 'reconfiguring', 'forgetting', 'retrying', 'holding']) expect(svg).toContain(`>${key}<`);
  });
});

describe('one region, compact: the chart in a small space', () => {
  const dotEdges = (dot: string) => dot.split('\n').filter((line) => / -> .*\[label=/.test(line));

  it('draw only the states of the region asked for, and the transitions between them', () => {
    const mermaid = toMermaid(consentMachine, { region: 'tracker' });
    const dot = toDot(consentMachine, { region: 'tracker' });
    for (const drawn of [mermaid, dot]) {
      expect(drawn).toContain('reconfiguring');
      expect(drawn).toContain('state_tracker_inForce');
      expect(drawn).not.toContain('state_decision_');
      expect(drawn).not.toContain('state_gate_');
    }
    expect(mermaid).toContain('state "tracker" as state_tracker');
    // Every transition of the full chart between two tracker states, and no other.
    const full = dotEdges(toDot(consentMachine)).filter((line) => /^\s*state_tracker_\S+ -> state_tracker_/.test(line));
    expect(dotEdges(dot)).toEqual(full);
    expect(toDot(consentMachine, { region: 'tracker.applying' })).toContain('awaitingCleanup');
  });

  it('merge the transitions of each pair of states into one edge labelled with their events, with no loops', () => {
    const dot = toDot(consentMachine, { region: 'decision', compact: true });
    const pairs = dotEdges(dot).map((line) => line.trim().split(' [')[0] ?? '');
    expect(new Set(pairs).size).toBe(pairs.length);
    expect(pairs.every((pair) => pair.split(' -> ')[0] !== pair.split(' -> ')[1])).toBe(true);
    expect(dot).toMatch(/state_decision_none -> state_decision_full \[label="CONSENT\.SET, CONSENT\.SYNC"\]/);
    expect(dot).not.toContain('[setTo(');
    // Fewer edges than the region has transitions, every pair still joined.
    expect(pairs.length).toBeLessThan(dotEdges(toDot(consentMachine, { region: 'decision' })).length);
    expect(toMermaid(consentMachine, { region: 'decision', compact: true })).toContain('state_decision_booting --> state_decision_full : STORED_READ, CONSENT.SET, CONSENT.SYNC');
  });

  it('highlight the region\'s states in force, and render', async () => {
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage: memoryStorage() });
    await consent.setLevel('none', 'test');
    const dot = toDot(consentMachine, { region: 'decision', compact: true, highlight: consent.actor.getSnapshot() });
    expect(dot).toMatch(/state_decision_none \[label="none[^\]]*fillcolor="#ffe08a"\]/);
    expect(await renderSvg(dot)).toContain('>sessionOnly<');
    await consent.stop();
  });

  it('throw INVALID_OPTION for a region the chart does not have, or a state that holds no others', () => {
    for (const region of ['nowhere', 'decision.full', 'tracker.inForce.x', '']) {
      expect(() => toDot(consentMachine, { region })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
      expect(() => toMermaid(consentMachine, { region })).toThrow(/region must be the path of a state that holds others \(storedDecision, decision, tracker, cleanup, persistence, gate, …\)/);
    }
  });
});

describe("toMermaid and toDot on the user's own machine", () => {
  const machine = createMachine({
    id: 'player',
    type: 'parallel',
    states: {
      media: {
        initial: 'loading',
        states: {
          loading: { invoke: { src: fromPromise(async () => undefined), id: 'fetchMedia' }, after: { 500: 'failed' }, on: { LOADED: 'ready' } },
          ready: { on: { PLAY: { guard: and([not('muted'), or(['visible', 'focused'])]), target: 'playing' } } },
          playing: { always: { guard: ({ context }) => context === undefined, target: 'ready' }, on: { END: 'done' } },
          failed: { description: 'Could not load: retry' },
          done: { type: 'final' },
        },
      },
      volume: { initial: 'on', states: { on: { on: { MUTE: 'off' } }, off: { on: { MUTE: 'on' } } } },
    },
  });
  const mermaid = toMermaid(machine, { direction: 'TB' });

  it('draws nested and parallel states, finals, delays in ms, combined and inline guards, descriptions and actors', () => {
    expect(mermaid).toContain('direction TB');
    expect(mermaid).toContain('state_media_done --> [*]');
    expect(mermaid).toContain('state "player (parallel)" as state');
    expect(mermaid).toContain('state_media_loading --> state_media_failed : after 500 ms');
    expect(mermaid).toContain('PLAY [!muted && visible || focused]');
    expect(mermaid).toContain('state_media_playing --> state_media_ready : always [guard]');
    expect(mermaid).toContain('state_media_failed : Could not load retry');
    expect(mermaid).toContain('state_media_loading : invoke fetchMedia');
    expect(edgeLines(mermaid)).toHaveLength(countOf(machine).transitions);
  });

  it('keeps names Mermaid would misread apart: look-alike ids, line breaks, separators, history and done states', () => {
    const tricky = createMachine({
      id: 'tricky',
      initial: 'a',
      states: {
        a: {
          initial: 'step 2',
          states: { 'step 2': { on: { 'go;now': 'step_2' } }, step_2: { description: 'two\nlines: here' }, back: { type: 'history', history: 'deep' } },
          onDone: 'b',
        },
        b: { type: 'parallel', states: { x: { initial: 'y', states: { y: { type: 'final' } } } }, onDone: 'a' },
      },
    });
    const chart = toMermaid(tricky);
    expect(chart).toContain('state "step 2" as state_a_step_2');
    expect(chart).toContain('state "step_2" as state_a_step_2_2');
    expect(chart).toContain('state_a_step_2 --> state_a_step_2_2 : go now');
    expect(chart).toContain('state_a_step_2_2 : two lines here');
    expect(chart).toContain('state "back (H*)" as state_a_back');
    expect(chart).toContain('state_b --> state_a : done b');
    expect(toDot(tricky).match(/^\s+state_a_step_2(_2)? \[label=/gm)).toHaveLength(2);
  });

  it('highlights its snapshot, and the DOT renders', async () => {
    const actor = createActor(machine).start();
    actor.send({ type: 'MUTE' });
    expect(toMermaid(machine, { highlight: actor.getSnapshot() })).toMatch(/class .*state_volume_off.* active/);
    actor.stop();
    expect(await renderSvg(toDot(machine))).toContain('>playing<');
  });
});

describe('logTransitions', () => {
  it('logs each change of the chart with the event that made it, and the counts asked for', async () => {
    const lines: string[] = [];
    let gate = { held: 0 };
    const consent = createConsentTracker({
      adapter: trackerCoreAdapter({ endpoint: collector.current.url }),
      storage: memoryStorage(),
      inspect: logTransitions({ log: (line) => lines.push(line), counts: () => gate }),
    });
    await consent.ready;
    gate = consent.stats().gate;
    await consent.setLevel('full', 'banner');
    expect(lines[0]).toMatch(/^consent: xstate\.init -> storedDecision\.reading \| decision\.booting \| tracker\.starting/);
    expect(lines.some((line) => /^consent: CONSENT\.SET\(full\) -> storedDecision\.read \| decision\.full \| tracker\.applying/.test(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/decision\.full \| tracker\.inForce .*\(held=0 released=0 dropped=0\)$/);
    await consent.stop();
  });

  it('the inspect option takes an observer object, as @statelyai/inspect gives', async () => {
    const seen: string[] = [];
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: collector.current.url }), storage: memoryStorage(), inspect: { next: (event) => seen.push(event.type) } });
    await consent.ready;
    expect(seen).toContain('@xstate.snapshot');
    await consent.stop();
  });
});

describe('npx consent-tracker chart', () => {
  const io = () => {
    const out: string[] = [];
    const errors: string[] = [];
    const files = new Map<string, string>();
    return { out, errors, files, io: { out: (text: string) => out.push(text), error: (text: string) => errors.push(text), writeFile: async (path: string, text: string) => void files.set(path, text) } };
  };

  it('prints the chart as Mermaid (the default), DOT or SVG, or writes it with --out', async () => {
    const run = io();
    expect(await runCli(['chart'], run.io)).toBe(0);
    expect(await runCli(['chart', '--format', 'dot', '--direction', 'TB'], run.io)).toBe(0);
    expect(await runCli(['chart', '--format', 'svg', '--out', 'chart.svg'], run.io)).toBe(0);
    expect(run.out).toEqual([toMermaid(consentMachine), toDot(consentMachine, { direction: 'TB' })]);
    expect(run.files.get('chart.svg')).toContain('</svg>');
  });

  it('draws one region, compact, with --region and --compact; an unknown region is reported with exit code 1', async () => {
    const run = io();
    expect(await runCli(['chart', '--region', 'tracker', '--compact', '--format', 'dot'], run.io)).toBe(0);
    expect(run.out).toEqual([toDot(consentMachine, { region: 'tracker', compact: true })]);
    expect(await runCli(['chart', '--region', 'nowhere'], run.io)).toBe(1);
    expect(run.errors.join('\n')).toContain('region must be the path of a state that holds others');
  });

  it('reports a file it cannot write, with exit code 1', async () => {
    const run = io();
    const failing = { ...run.io, writeFile: async () => Promise.reject(new Error('ENOENT: no such directory')) };
    expect(await runCli(['chart', '--out', '/nonexistent/chart.mmd'], failing)).toBe(1);
    expect(run.errors).toEqual(['could not write /nonexistent/chart.mmd: ENOENT: no such directory']);
  });

  it('says how to call it, with exit code 2, for anything else', async () => {
    for (const args of [[], ['draw'], ['chart', '--format', 'png'], ['chart', '--direction', 'up'], ['chart', '--out'], ['chart', '--region']]) {
      const run = io();
      expect(await runCli(args, run.io)).toBe(2);
      expect(run.errors.join('\n')).toContain('usage: consent-tracker chart');
      expect(run.out).toEqual([]);
    }
  });
});

describe('the chart in the docs', () => {
  it('docs/consent-machine.md holds the Mermaid chart the machine draws (npm run chart writes it)', async () => {
    const page = await readFile(CHART_PAGE, 'utf8');
    expect(page).toBe(withChart(page, toMermaid(consentMachine, { direction: 'TB' })));
  });

  it('docs/consent-machine.svg is the SVG the machine draws', async () => {
    expect(await readFile(CHART_SVG, 'utf8')).toBe(await renderSvg(toDot(consentMachine)));
  });
});
