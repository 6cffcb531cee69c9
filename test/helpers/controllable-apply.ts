import { fromPromise } from 'xstate';
import type { ApplyInput, ApplyOutput, LoadOutput } from '../../machines/consent.machine.js';

/** An apply actor whose completion the test decides, call by call (first in, first out). */
export function createControllableApply() {
  const calls: Array<{ input: ApplyInput; resolve: (value: ApplyOutput) => void; reject: (error: unknown) => void; signal: AbortSignal }> = [];
  const logic = fromPromise<ApplyOutput, ApplyInput>(({ input, signal }) => new Promise<ApplyOutput>((resolve, reject) => void calls.push({ input, resolve, reject, signal })));
  const next = () => {
    const call = calls.shift();
    if (!call) throw new Error('no pending apply call');
    return call;
  };
  return {
    logic,
    calls,
    resolveNext: () => next().resolve(undefined),
    rejectNext: (error: unknown = new Error('apply failed')) => next().reject(error),
  };
}

/** A loadDecision actor that answers with the given output. */
export const loadsDecision = (output: LoadOutput) => fromPromise<LoadOutput>(async () => output);
