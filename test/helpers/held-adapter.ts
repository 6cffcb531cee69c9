import { trackerCoreAdapter, type ConsentAdapter, type CoreTracker } from 'consent-tracker';
import { mobileContextPlugin, sessionPlugin } from './tracker.js';

/**
 * The tracker-core adapter over the identified app, whose `apply` step the test finishes or
 * fails by hand (the latest call first: an abandoned call is never finished).
 */
export function heldAdapter(endpoint: string, options: { holdApply?: boolean } = {}) {
  const base = trackerCoreAdapter({
    endpoint,
    corePlugins: [sessionPlugin({ userId: 'device-user-1', sessionId: 'real-session-1', previousSessionId: 'real-session-0', eventIndex: 0 }), mobileContextPlugin()],
    configure: (core) => {
      core.setUserId('user-1');
      core.setIpAddress('203.0.113.9');
      core.setTrackerVersion('t');
      core.setPlatform('mob');
    },
  });
  const calls: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let hold = options.holdApply ?? false;
  const adapter: ConsentAdapter<CoreTracker> = {
    ...base,
    apply: (level, from) => (hold ? new Promise<void>((resolve, reject) => void calls.push({ resolve, reject })) : base.apply(level, from)),
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
