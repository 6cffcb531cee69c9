import { fromPromise } from 'xstate';
import type { ApplyInput, ApplyOutput, ConsentContext } from '../machines/consent.machine.js';
import type { ConsentAdapter } from './consent-adapter.js';
import type { DecisionKeeper } from './decision-keeper.js';
import type { Enforcement } from './enforce/create-enforcement.js';
import { compareLevels } from './levels.js';

/** What one change needs: the adapter, the enforcement, the stored decision and the chart it runs in. */
export interface ApplyChangeDependencies {
  readonly adapter: ConsentAdapter<object>;
  readonly enforcement: Enforcement;
  readonly decisions: DecisionKeeper;
  /** The chart's context now, and a way to hear of its changes. */
  readonly chart: () => { context(): ConsentContext; subscribe(listener: () => void): { unsubscribe(): void } } | undefined;
}

/**
 * The chart's `apply` actor for the consent tracker: brings the tracker to a level, stores the
 * decision and reconciles the queue. XState aborts its signal when the change timed out or was
 * stopped: it then goes no further, so it never stores a decision or touches the tracker under a
 * later one. A lower decision (or a forgotten one) is stored as the change starts. Overtaken by a
 * lower level (which waits its turn, its decision already stored), the tracker steps stop at once
 * (nothing is asked for or stored after a withdrawal); should the lower level be taken back, this
 * change stands after all and its steps run again.
 */
export function applyChange({ adapter, enforcement, decisions, chart }: ApplyChangeDependencies) {
  return fromPromise<ApplyOutput, ApplyInput>(async ({ input, signal }) => {
    const lowerPending = () => {
      const pending = chart()?.context().pending;
      return pending && compareLevels(pending.level, input.level) < 0 ? pending : undefined;
    };
    // The level in force before this change (the chart's `from` is the enforced level, already
    // lowered by a downgrade).
    const from = decisions.applied ?? input.from;
    // Started now, awaited below: the tracker steps start at once all the same.
    const downward = input.record === null || compareLevels(input.level, input.from) <= 0;
    const early = downward ? decisions.store(input.record) : undefined;
    // An abandoned change's write still lands; its failure is then nobody's to report.
    early?.catch(() => undefined);
    for (;;) {
      if (signal.aborted) return undefined;
      let overtakenNow: boolean;
      for (;;) {
        const overtaken = new AbortController();
        const abort = () => overtaken.abort();
        signal.addEventListener('abort', abort);
        const watch = chart()?.subscribe(() => {
          if (lowerPending()) abort();
        });
        if (lowerPending()) abort();
        try {
          await adapter.apply(input.level, from, overtaken.signal);
        } finally {
          signal.removeEventListener('abort', abort);
          watch?.unsubscribe();
        }
        if (signal.aborted) return undefined;
        overtakenNow = overtaken.signal.aborted;
        if (!overtakenNow || lowerPending()) break;
      }
      await early;
      if (input.record === null) await adapter.forget();
      if (signal.aborted) return undefined;
      // Unless a lower decision waits (stored when it came), this change's is the one to keep.
      if (!lowerPending() && !decisions.isStored(input.record)) await decisions.store(input.record);
      if (signal.aborted) return undefined;
      await enforcement.levelChanged();
      if (signal.aborted) return undefined;
      if (overtakenNow) {
        // The lower level was taken back while this was being stored: apply this change in full.
        if (!lowerPending()) continue;
        // The chart goes to the lower level; should it be taken back before the chart hears this,
        // the chart applies this change again.
        return { overtaken: true };
      }
      // A lower decision that came and went meanwhile was stored when it came: store this one again.
      while (!lowerPending() && !decisions.isStored(input.record)) {
        await decisions.store(input.record);
        if (signal.aborted) return undefined;
      }
      if (lowerPending()) return { overtaken: true };
      decisions.applied = input.level;
      return undefined;
    }
  });
}
