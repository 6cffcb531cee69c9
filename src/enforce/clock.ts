/**
 * Timers, as XState's `SimulatedClock` and the global functions both provide them: tests pass a
 * simulated one to move time without waiting.
 *
 * @example
 * ```ts
 * import { SimulatedClock } from 'xstate';
 * import type { Clock } from 'consent-tracker';
 * const clock: Clock = new SimulatedClock();
 * ```
 */
export interface Clock {
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The global timers. */
export const REAL_CLOCK: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};
