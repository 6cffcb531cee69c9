import { createActor, fromPromise, type Actor, type AnyActorRef } from 'xstate';
import { consentMachine, type ConsentMachineInput } from '../machines/consent.machine.js';
import type { ChartActors } from './chart-actors.js';

type AnyActorSystem = AnyActorRef['system'];

/** Each running chart's steps, found by its actor system (one per chart, shared by the actors it invokes). */
const stepsBySystem = new WeakMap<AnyActorSystem, ChartActors>();

function stepsOf(system: AnyActorSystem): ChartActors {
  const steps = stepsBySystem.get(system);
  if (steps === undefined) throw new Error('a consent chart actor ran outside createConsentChart');
  return steps;
}

/**
 * The chart with its actors provided once for every consent tracker: each actor looks up the
 * steps of the chart that invoked it. `provide()` per tracker would build the whole machine again
 * each time (its states and transitions), the larger part of what creating a tracker costs.
 */
const providedMachine = consentMachine.provide({
  actors: {
    loadDecision: fromPromise(({ input, signal, system }) => stepsOf(system).loadDecision({ input, signal })),
    startTracker: fromPromise(({ input, signal, system }) => stepsOf(system).startTracker({ input, signal })),
    apply: fromPromise(({ input, signal, system }) => stepsOf(system).apply({ input, signal })),
    forget: fromPromise(({ input, signal, system }) => stepsOf(system).forget({ input, signal })),
    writeDecision: fromPromise(({ input, signal, system }) => stepsOf(system).writeDecision({ input, signal })),
    clearDecision: fromPromise(({ input, signal, system }) => stepsOf(system).clearDecision({ input, signal })),
  },
});

/** Creates (does not start) the consent chart's actor, its actors doing `steps`. */
export function createConsentChart(steps: ChartActors, options: Parameters<typeof createActor<typeof consentMachine>>[1] & { input: ConsentMachineInput }): Actor<typeof consentMachine> {
  const actor = createActor(providedMachine, options);
  stepsBySystem.set(actor.system, steps);
  return actor;
}
