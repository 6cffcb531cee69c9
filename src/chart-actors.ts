import type { ApplyInput, ClearOutput, ConsentProblem, ConsentRecord, ForgetInput, LoadOutput, WriteInput } from '../machines/consent.machine.js';
import type { ConsentAdapter } from './consent-adapter.js';
import { ConsentError } from './consent-error.js';
import { createRecordWriter, readConsentRecord, type RecordRules } from './consent-record.js';
import type { Enforcement } from './enforce/create-enforcement.js';
import type { KeyValueStorage } from './storage.js';

/** What the chart's actors work with. */
export interface ChartActorsDependencies {
  readonly adapter: ConsentAdapter<object>;
  readonly enforcement: Enforcement;
  /** Makes a step in its place among the app's calls (the gate's). */
  readonly inOrder: (step: () => void) => void;
  readonly storage: KeyValueStorage;
  /** The storage key of the decision. */
  readonly decisionKey: string;
  readonly rules: RecordRules;
  readonly storageTimeoutMs: number;
  readonly report: (error: ConsentError) => void;
  /** Tells other tabs of a decision made here, as it is made. */
  readonly announce?: (record: ConsentRecord | null, at: number) => void;
}

/** The write's outcome when off was stored in place of the decision: it is written again later. */
const HELD_AT_OFF: ConsentProblem = {
  code: 'STORAGE_FAILED',
  message: 'the queues of earlier runs, which this run could not read, are not held to off yet: off is stored in place of the decision until they are',
};

/** What an actor is given when the chart invokes it: its input, and the signal that it is no longer wanted. */
interface StepArguments<Input> {
  readonly input: Input;
  readonly signal: AbortSignal;
}

/** The steps behind the chart's actors, for one consent tracker, by actor name (see `CHART_ACTORS`). */
export interface ChartActors {
  loadDecision(args: StepArguments<unknown>): Promise<LoadOutput>;
  startTracker(args: StepArguments<unknown>): Promise<undefined>;
  apply(args: StepArguments<ApplyInput>): Promise<undefined>;
  forget(args: StepArguments<ForgetInput>): Promise<undefined>;
  writeDecision(args: StepArguments<WriteInput>): Promise<ConsentProblem | undefined>;
  clearDecision(args: StepArguments<Pick<WriteInput, 'record'>>): Promise<ClearOutput>;
}

/**
 * The steps the consent chart invokes as its actors, for one consent tracker: each does one step
 * and decides nothing; the chart says when each runs and cancels one no longer wanted.
 */
export function createChartActors({ adapter, enforcement, inOrder, storage, decisionKey, rules, storageTimeoutMs, report, announce }: ChartActorsDependencies): ChartActors {
  const writer = createRecordWriter(storage, decisionKey, storageTimeoutMs);
  // Until earlier runs' queues are held to off, off stands in for the decision in storage
  // (docs/design.md, "A decision over one that could not be read").
  const storable = (record: ConsentRecord | null): ConsentRecord | null =>
    !enforcement.eventStore.earlierRunsUnheld() || record?.level === 'off' ? record : { level: 'off', decidedAt: record?.decidedAt ?? Date.now(), policyVersion: rules.policyVersion, source: record?.source ?? 'reset' };
  // A tracker that could not be created is reported once; the chart goes on, and held events are counted as they are dropped.
  const created = (adapter.created?.() ?? Promise.resolve()).catch((cause: unknown) => {
    report(new ConsentError('APPLY_FAILED', `the tracker could not be created: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }));
  });
  return {
    loadDecision: async () => {
      const output = await readConsentRecord(storage, decisionKey, rules, storageTimeoutMs);
      // The identity follows what storage held, even if a decision made while booting wins over it.
      // A stored reset withdrew the identity as a withdrawal to off does.
      enforcement.storedDecision(output.record?.level ?? (output.reset ? 'off' : output.problem?.code === 'STORED_DECISION_EXPIRED' ? (output.expiredLevel ?? null) : output.problem ? 'unreadable' : null));
      return output;
    },
    startTracker: async () => {
      await Promise.all([enforcement.ready, created]);
      return undefined;
    },
    apply: async ({ input, signal }) => {
      await adapter.apply(input.level, input.from, signal);
      // The queue at rest is brought in line with the level now in force (a stand-in for an
      // unreadable decision is not a decision: the queue keeps its levels, and nothing is sent).
      if (!signal.aborted) await enforcement.levelChanged(input.decided ? input.level : undefined);
      return undefined;
    },
    forget: async ({ input, signal }) => {
      // The identity in use is withdrawn, whatever the level in force says (a reset to an undecided full, say).
      if (input.withdrawal) enforcement.withdrawIdentity();
      await adapter.forget(input.level, { withdrawal: input.withdrawal, signal, inOrder });
      return undefined;
    },
    writeDecision: async ({ input, signal }) => {
      // Other tabs lower their level as soon as this arrives, before they send anything more.
      announce?.(input.record, input.record?.decidedAt ?? Date.now());
      // A grant is stored only with the identity it was given: a restart must not find one without the other.
      const identityStored = input.record && enforcement.policy[input.record.level].session === 'as-is' ? enforcement.grantedIdentityPersisted() : undefined;
      if (identityStored) {
        const problem = await identityStored.then(
          () => undefined,
          (error: unknown): ConsentProblem => ({ code: 'STORAGE_FAILED', message: `the grant is not stored until its new identity is: ${error instanceof Error ? error.message : String(error)}` }),
        );
        if (problem) return problem;
      }
      // Above a withdrawal not yet in force: the queue at rest is lowered to it and stored first (at
      // most the storage timeout), or a kill now would leave it to a start that never learns of it.
      if (input.raises) await enforcement.eventStore.storeLowered();
      // Over a decision this run could not read (perhaps a withdrawal): earlier runs' events go first.
      if (input.overUnread) await enforcement.eventStore.decidedOverUnread();
      // A newer decision's write, asked for meanwhile, has started in its place: this one must not land after it.
      if (signal.aborted) return undefined;
      const record = storable(input.record);
      await writer.write(record);
      return record === input.record ? undefined : HELD_AT_OFF;
    },
    clearDecision: ({ input }) => writer.clear(storable(input.record)),
  };
}
