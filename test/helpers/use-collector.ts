import { afterAll, afterEach, beforeAll } from 'vitest';
import { startCollector, type Collector } from 'consent-tracker/testing';

/**
 * One test collector for a test file: started before the first test, reset (and back from any
 * outage) after each, stopped after the last. Read `.current` inside tests.
 */
export function useCollector(): { current: Collector } {
  const holder = {} as { current: Collector };
  beforeAll(async () => {
    holder.current = await startCollector();
  });
  afterEach(() => {
    holder.current.reset();
    holder.current.failWith(undefined);
  });
  afterAll(() => holder.current.stop());
  return holder;
}
