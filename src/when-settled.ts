import type { Actor } from 'xstate';
import type { consentMachine } from '../machines/consent.machine.js';
import { selectOutcome } from '../machines/consent.selectors.js';
import { ConsentError } from './consent-error.js';

/**
 * Resolves once the changes asked for are over (in force, or overtaken by a later decision that
 * is), rejects with `APPLY_FAILED` or `APPLY_TIMEOUT` if the change failed closed, and with
 * `STOPPED` if `stopped` settles first.
 */
export function whenSettled(actor: Actor<typeof consentMachine>, stopped: Promise<never>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      const snapshot = actor.getSnapshot();
      const outcome = selectOutcome(snapshot);
      if (outcome === 'pending') return false;
      const error = snapshot.context.error;
      if (outcome === 'failed') reject(new ConsentError(error?.code === 'APPLY_TIMEOUT' ? 'APPLY_TIMEOUT' : 'APPLY_FAILED', error?.message ?? 'the change failed'));
      else resolve();
      return true;
    };
    if (check()) return;
    const subscription = actor.subscribe(() => {
      if (check()) subscription.unsubscribe();
    });
    stopped.catch((error: unknown) => {
      subscription.unsubscribe();
      reject(error);
    });
  });
}
