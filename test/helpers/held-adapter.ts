import { trackerCoreAdapter, type ConsentAdapter, type CoreTracker } from 'consent-tracker';
import { mobileContextPlugin, sessionPlugin } from './tracker.js';

/** An adapter whose `apply` (and, if asked, `forget`) steps the test finishes or fails by hand. */
export interface HeldAdapter<Tracker extends object> {
  adapter: ConsentAdapter<Tracker>;
  setHold(value: boolean): void;
  /** Held steps that have not been finished or failed (abandoned ones included). */
  pending(): number;
  /** Runs the real step of the latest held call, once there is one. */
  finishApply(): Promise<void>;
  /** Fails the latest held call, once there is one. */
  failApply(): Promise<void>;
}

interface HeldCall {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Wraps an adapter so that, while held, its `apply` step (and `forget`, with `holdForget`) waits
 * for the test to finish or fail it (the latest call; an abandoned call is never finished).
 * Finishing runs the real step.
 */
export function holdApplies<Tracker extends object>(base: ConsentAdapter<Tracker>, options: { holdApply?: boolean; holdForget?: boolean } = {}): HeldAdapter<Tracker> {
  const calls: HeldCall[] = [];
  const waiting: Array<() => void> = [];
  let hold = options.holdApply ?? false;
  const held = (run: () => Promise<void>) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ resolve: () => void run().then(resolve, reject), reject });
      for (const wake of waiting.splice(0)) wake();
    });
  const adapter: ConsentAdapter<Tracker> = {
    ...base,
    created: () => base.created?.() ?? Promise.resolve(),
    create: (enforcement) => base.create(enforcement),
    apply: (level, from, signal) => (hold ? held(() => base.apply(level, from, signal)) : base.apply(level, from, signal)),
    forget: (level, context) => (hold && options.holdForget ? held(() => base.forget(level, context)) : base.forget(level, context)),
  };
  const latest = async () => {
    while (calls.length === 0) await new Promise<void>((wake) => waiting.push(wake));
    const call = calls.pop() as HeldCall;
    calls.length = 0;
    return call;
  };
  return {
    adapter,
    setHold: (value: boolean) => void (hold = value),
    pending: () => calls.length,
    finishApply: async () => (await latest()).resolve(),
    failApply: async () => (await latest()).reject(new Error('the tracker refused the change')),
  };
}

/** The tracker-core adapter over the identified app, held as {@link holdApplies} says. */
export function heldAdapter(endpoint: string, options: { holdApply?: boolean; holdForget?: boolean; maxPostBytes?: number } = {}): HeldAdapter<CoreTracker> {
  return holdApplies(
    trackerCoreAdapter({
      endpoint,
      ...(options.maxPostBytes && { maxPostBytes: options.maxPostBytes }),
      corePlugins: [sessionPlugin({ userId: 'device-user-1', sessionId: 'real-session-1', previousSessionId: 'real-session-0', eventIndex: 0 }), mobileContextPlugin()],
      configure: (core) => {
        core.setUserId('user-1');
        core.setIpAddress('203.0.113.9');
        core.addPayloadDict({ duid: 'duid-1', tnuid: 'tnuid-1' });
        core.setTrackerVersion('t');
        core.setPlatform('mob');
      },
    }),
    options,
  );
}
