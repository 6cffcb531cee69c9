import type { Actor } from 'xstate';
import type { ConsentProblem, consentMachine } from '../machines/consent.machine.js';
import { ConsentError, type ConsentErrorCode } from './consent-error.js';

const CODES: Readonly<Record<ConsentProblem['code'], ConsentErrorCode>> = {
  INVALID_LEVEL: 'INVALID_LEVEL',
  INVALID_EVENT: 'INVALID_OPTION',
  APPLY_FAILED: 'APPLY_FAILED',
  APPLY_TIMEOUT: 'APPLY_TIMEOUT',
  STORED_DATA_UNREADABLE: 'STORED_DATA_UNREADABLE',
  STORED_DECISION_EXPIRED: 'STORED_DECISION_EXPIRED',
  STORAGE_FAILED: 'STORAGE_FAILED',
  STORAGE_REFUSED: 'STORAGE_REFUSED',
};

/**
 * Reports each problem the chart records, once, as a {@link ConsentError}.
 */
export function reportProblems(actor: Actor<typeof consentMachine>, report: (error: ConsentError) => void): () => void {
  let last: ConsentProblem | null = null;
  const subscription = actor.subscribe(({ context: { error } }) => {
    if (error && error !== last) report(new ConsentError(CODES[error.code], error.message));
    last = error;
  });
  return () => subscription.unsubscribe();
}
