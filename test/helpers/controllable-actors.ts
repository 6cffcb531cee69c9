import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { consentMachine, type ConsentMachineInput, type LoadOutput } from 'consent-tracker';

/** One call to a chart actor: its input and signal, and how the test ends it. */
export interface ActorCall<Input> {
  readonly input: Input;
  readonly signal: AbortSignal;
  resolve(output?: unknown): void;
  reject(error?: unknown): void;
}

type ActorName = 'loadDecision' | 'startTracker' | 'apply' | 'forget' | 'writeDecision' | 'clearDecision';

/**
 * The chart with every actor controlled by the test: each call waits until the test resolves or
 * rejects it (`calls.<name>` in call order), on a simulated clock.
 */
export function controlledChart(input: ConsentMachineInput = {}) {
  const calls: Record<ActorName, Array<ActorCall<unknown>>> = { loadDecision: [], startTracker: [], apply: [], forget: [], writeDecision: [], clearDecision: [] };
  const controlled = (name: ActorName) =>
    fromPromise<never, unknown>(({ input: actorInput, signal }) => new Promise<never>((resolve, reject) => void calls[name].push({ input: actorInput, signal, resolve: resolve as never, reject })));
  const clock = new SimulatedClock();
  const machine = consentMachine.provide({
    actors: Object.fromEntries(Object.keys(calls).map((name) => [name, controlled(name as ActorName)])) as never,
  });
  const actor = createActor(machine, { input, clock }).start();
  /** The latest call of an actor; throws if there is none. */
  const last = (name: ActorName) => {
    const call = calls[name].at(-1);
    if (!call) throw new Error(`no call to ${name}`);
    return call;
  };
  /** Lets microtasks run, so that settled actors are heard. */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return {
    actor,
    calls,
    clock,
    last,
    settle,
    context: () => actor.getSnapshot().context,
    /** Ends booting: the stored decision read as `output`, the tracker started. */
    async boot(output: LoadOutput = { record: null }) {
      last('loadDecision').resolve(output);
      last('startTracker').resolve();
      await settle();
    },
  };
}
