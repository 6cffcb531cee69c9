import { trackerCoreAdapter, type ConsentAdapter, type CoreTracker } from 'consent-tracker';
import { mobileContextPlugin, sessionPlugin } from './tracker.js';

/** An adapter whose `apply` step the test finishes or fails by hand. */
export interface HeldAdapter<Tracker extends object> {
  adapter: ConsentAdapter<Tracker>;
  setHold(value: boolean): void;
  pending(): number;
  finishApply(): void;
  failApply(): void;
}

/**
 * Wraps an adapter so that, while held, its `apply` step waits for the test to finish or fail it
 * (the latest call first: an abandoned call is never finished). Finishing runs the real step.
 */
export function holdApplies<Tracker extends object>(base: ConsentAdapter<Tracker>, options: { holdApply?: boolean } = {}): HeldAdapter<Tracker> {
  const calls: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let hold = options.holdApply ?? false;
  const adapter: ConsentAdapter<Tracker> = {
    ...base,
    create: (enforcement) => base.create(enforcement),
    apply: (level, from, signal) =>
      hold
        ? new Promise<void>((resolve, reject) => void calls.push({ resolve: () => base.apply(level, from, signal).then(resolve, reject), reject }))
        : base.apply(level, from, signal),
  };
  const latest = () => {
    const call = calls.pop();
    calls.length = 0;
    if (!call) throw new Error('no apply call in progress');
    return call;
  };
  return {
    adapter,
    setHold: (value: boolean) => void (hold = value),
    pending: () => calls.length,
    finishApply: () => latest().resolve(),
    failApply: () => latest().reject(new Error('the tracker refused the change')),
  };
}

/** The tracker-core adapter over the identified app, held as {@link holdApplies} says. */
export function heldAdapter(endpoint: string, options: { holdApply?: boolean } = {}): HeldAdapter<CoreTracker> {
  return holdApplies(
    trackerCoreAdapter({
      endpoint,
      corePlugins: [sessionPlugin({ userId: 'device-user-1', sessionId: 'real-session-1', previousSessionId: 'real-session-0', eventIndex: 0 }), mobileContextPlugin()],
      configure: (core) => {
        core.setUserId('user-1');
        core.setIpAddress('203.0.113.9');
        core.setTrackerVersion('t');
        core.setPlatform('mob');
      },
    }),
    options,
  );
}
