import { fromPromise } from 'xstate';
import type { ApplyInput, ConsentRecord, ForgetInput, LoadOutput } from '../machines/consent.machine.js';
import type { ConsentAdapter } from './consent-adapter.js';
import { ConsentError } from './consent-error.js';
import { createRecordWriter, readConsentRecord, type RecordRules } from './consent-record.js';
import type { Enforcement } from './enforce/create-enforcement.js';
import type { KeyValueStorage } from './storage.js';

/** What the chart's actors work with. */
export interface ChartActorsDependencies {
  readonly adapter: ConsentAdapter<object>;
  readonly enforcement: Enforcement;
  readonly storage: KeyValueStorage;
  /** The storage key of the decision. */
  readonly decisionKey: string;
  readonly rules: RecordRules;
  readonly storageTimeoutMs: number;
  readonly report: (error: ConsentError) => void;
}

/**
 * The actors the consent chart invokes, for one consent tracker: each does one step and
 * decides nothing; the chart says when each runs and cancels one no longer wanted.
 */
export function createChartActors({ adapter, enforcement, storage, decisionKey, rules, storageTimeoutMs, report }: ChartActorsDependencies) {
  const writer = createRecordWriter(storage, decisionKey, storageTimeoutMs);
  // A tracker that could not be created is reported once; the chart goes on, and held events are counted as they are dropped.
  const created = (adapter.created?.() ?? Promise.resolve()).catch((cause: unknown) => {
    report(new ConsentError('APPLY_FAILED', `the tracker could not be created: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }));
  });
  return {
    loadDecision: fromPromise<LoadOutput>(() => readConsentRecord(storage, decisionKey, rules, storageTimeoutMs)),
    startTracker: fromPromise<void>(async () => {
      await Promise.all([enforcement.ready, created]);
    }),
    apply: fromPromise<void, ApplyInput>(async ({ input, signal }) => {
      await adapter.apply(input.level, input.from, signal);
      // The queue at rest is brought in line with the level now in force.
      if (!signal.aborted) await enforcement.levelChanged();
    }),
    forget: fromPromise<void, ForgetInput>(({ input, signal }) => adapter.forget(input.level, signal)),
    writeDecision: fromPromise<void, { record: ConsentRecord | null }>(({ input }) => writer.write(input.record)),
    clearDecision: fromPromise<void>(() => writer.clear()),
  };
}
