import { describe, expect, it } from 'vitest';

/**
 * The package builds its default policy table while it loads. This file imports it inside a
 * test, not at the top, so that a fault in building the table fails a test here rather than
 * the loading of a test file.
 */
describe('loading the package', () => {
  it('builds the default policy table without throwing', async () => {
    const { DEFAULT_POLICY, levelPolicy } = await import('consent-tracker');
    expect(Object.keys(DEFAULT_POLICY)).toEqual(['off', 'none', 'session-only', 'full']);
    expect(levelPolicy('session-only')).toMatchObject({ level: 'session-only', session: 'anonymous', serverAnonymisation: true, removeFields: [], entityFields: [] });
  });
});
