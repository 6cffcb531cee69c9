import type { SnapshotFrom } from 'xstate';
import type { ConsentRecord, consentMachine } from '../machines/consent.machine.js';
import { ConsentError } from './consent-error.js';
import { compareLevels, type ConsentLevel } from './levels.js';

/**
 * Keeps the stored decision in line with the user's latest word, for the consent tracker: a
 * lower decision waiting its turn is stored as soon as it is made (should the app stop or be
 * killed before its turn, a restart finds it), and if it is taken back, the decision in force is
 * stored again. Writes land in the order they are asked for. It also remembers the level last
 * put in force, which adapters are told a change comes from.
 */
export class DecisionKeeper {
  /** The decision last sent to storage. */
  private lastStored: ConsentRecord | null | undefined;
  /** The waiting lower decision last stored. */
  private storedPending: object | undefined;
  /** The level last put in force by a change, or the stored decision's at start. */
  applied: ConsentLevel | undefined;

  constructor(
    private readonly write: (record: ConsentRecord | null) => Promise<void>,
    private readonly options: { readonly undecidedLevel: ConsentLevel; readonly policyVersion: string; readonly report: (error: ConsentError) => void },
  ) {}

  /** Stores `record` (null: no decision), after the writes under way. */
  store(record: ConsentRecord | null): Promise<void> {
    this.lastStored = record;
    return this.write(record);
  }

  /** Whether `record` is the decision last sent to storage. */
  isStored(record: ConsentRecord | null): boolean {
    return this.lastStored === record;
  }

  /** The decision read at start (null for none). */
  loaded(record: ConsentRecord | null): void {
    this.lastStored = record;
    this.applied = record?.level ?? this.options.undecidedLevel;
  }

  /** Takes note of a chart snapshot: stores a lower decision that has started to wait, or the decision in force when it is taken back. */
  follow(snapshot: SnapshotFrom<typeof consentMachine>): void {
    const { pending, target, record } = snapshot.context;
    const storeNow = (next: ConsentRecord | null) =>
      void this.store(next).catch((cause: unknown) => {
        this.options.report(new ConsentError('STORAGE_FAILED', `could not store the decision: ${String(cause)}`, { cause }));
      });
    if (pending && pending !== this.storedPending && compareLevels(pending.level, target ?? this.options.undecidedLevel) < 0) {
      this.storedPending = pending;
      storeNow({ level: pending.level, decidedAt: Date.now(), policyVersion: this.options.policyVersion, source: pending.source });
    } else if (this.storedPending && pending !== this.storedPending) {
      // Taken back (or decided): the decision now is what a restart must find (none while forgetting or undecided).
      this.storedPending = undefined;
      if (!pending) storeNow(snapshot.matches('forgetting') || snapshot.matches('undecided') ? null : record);
    }
  }
}
