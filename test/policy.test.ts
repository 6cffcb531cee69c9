import { describe, expect, it } from 'vitest';
import { ConsentError, DEFAULT_POLICY, definePolicy, levelPolicy, toTrackerConfiguration } from 'consent-tracker';

describe('policy', () => {
  it('holds the DESIGN.md identifier table', () => {
    expect(levelPolicy('full')).toMatchObject({ send: true, userIdentifiers: true, serverAnonymisation: false, session: 'as-is', adIdentifiers: true, resetViewsOnDowngrade: false, deviceStorage: 'keep' });
    expect(levelPolicy('session-only')).toMatchObject({ send: true, userIdentifiers: false, serverAnonymisation: true, session: 'anonymous', adIdentifiers: false, resetViewsOnDowngrade: true, deviceStorage: 'clear-on-entry' });
    expect(levelPolicy('none')).toMatchObject({ send: true, userIdentifiers: false, serverAnonymisation: true, session: 'removed', adIdentifiers: false, resetViewsOnDowngrade: true, deviceStorage: 'never-store' });
    expect(levelPolicy('off')).toMatchObject({ send: false, session: 'removed' });
  });

  it('maps each level to the seed page v2 configuration', () => {
    expect(toTrackerConfiguration('full')).toEqual({ trackerConfig: { sessionContext: true, userAnonymisation: false }, emitterConfig: { serverAnonymisation: false } });
    expect(toTrackerConfiguration('session-only')).toEqual({ trackerConfig: { sessionContext: true, userAnonymisation: true }, emitterConfig: { serverAnonymisation: true } });
    expect(toTrackerConfiguration('none')).toEqual({ trackerConfig: { sessionContext: false, userAnonymisation: true }, emitterConfig: { serverAnonymisation: true } });
    expect(toTrackerConfiguration('off')).toEqual(toTrackerConfiguration('none'));
  });

  it('is frozen', () => {
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.none)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.none.removeFields)).toBe(true);
  });

  it('accepts stricter overrides', () => {
    const table = definePolicy({
      overrides: { full: { adIdentifiers: false, removeEntities: ['iglu:com.acme/user/'] }, 'session-only': { session: 'removed', removeFields: ['ua'] } },
    });
    expect(table.full.adIdentifiers).toBe(false);
    expect(table.full.removeEntities).toEqual(['iglu:com.acme/user/']);
    expect(table['session-only'].session).toBe('removed');
    expect(toTrackerConfiguration('session-only', table).trackerConfig.sessionContext).toBe(false);
    expect(DEFAULT_POLICY.full.adIdentifiers).toBe(true);
  });

  it.each([
    [{ none: { userIdentifiers: true } }, 'POLICY_WEAKENED'],
    [{ 'session-only': { serverAnonymisation: false } }, 'POLICY_WEAKENED'],
    [{ none: { session: 'anonymous' } }, 'POLICY_WEAKENED'],
    [{ off: { send: true } }, 'POLICY_WEAKENED'],
    [{ none: { deviceStorage: 'keep' } }, 'POLICY_WEAKENED'],
    [{ none: { resetViewsOnDowngrade: false } }, 'POLICY_WEAKENED'],
    [{ none: { chainViews: true } }, 'POLICY_WEAKENED'],
    [{ everything: {} }, 'INVALID_LEVEL'],
    [{ full: { colour: true } }, 'INVALID_OPTION'],
    [{ full: { session: 'sometimes' } }, 'INVALID_OPTION'],
    [{ full: { adIdentifiers: 'no' } }, 'INVALID_OPTION'],
    [{ full: { removeFields: ['eid'] } }, 'INVALID_OPTION'],
    [{ full: { removeFields: 'ua' } }, 'INVALID_OPTION'],
    [{ full: null }, 'INVALID_OPTION'],
  ])('rejects the override %j with %s', (overrides, code) => {
    expect(() => definePolicy({ overrides: overrides as never })).toThrow(expect.objectContaining({ name: 'ConsentError', code }));
  });

  it('weakens session-only only through the explicitly named option', () => {
    const table = definePolicy({ unsafeSessionOnlyWithoutServerAnonymisation: true });
    expect(table['session-only'].serverAnonymisation).toBe(false);
    expect(table.none.serverAnonymisation).toBe(true);
    expect(toTrackerConfiguration('session-only', table).emitterConfig.serverAnonymisation).toBe(false);
    expect(() => definePolicy({ unsafeSessionOnlyWithoutServerAnonymisation: 'yes' as never })).toThrow(ConsentError);
  });

  it('rebuilds a hand-made table instead of trusting it, and rejects unknown options', () => {
    const handMade = { ...DEFAULT_POLICY, none: { ...DEFAULT_POLICY.none, userIdentifiers: true } };
    expect(() => levelPolicy('none', handMade as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => definePolicy({ strict: true } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    const built = definePolicy({ overrides: { full: { adIdentifiers: false } } });
    expect(levelPolicy('full', built)).toBe(built.full);
  });

  it('rejects an unknown level with a typed error', () => {
    expect(() => levelPolicy('FULL' as never)).toThrow(expect.objectContaining({ code: 'INVALID_LEVEL' }));
  });
});
