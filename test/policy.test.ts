import { describe, expect, it } from 'vitest';
import { CONSENT_LEVELS, DEFAULT_POLICY, definePolicy, levelPolicy, toTrackerConfiguration, type EntityFieldRule } from 'consent-tracker';

/** Matches the `ConsentError` with `code` whose message contains `message`. */
const consentError = (code: string, message: string) => expect.objectContaining({ name: 'ConsentError', code, message: expect.stringContaining(message) });

/** What every level below `full` shares in the default table. */
const ANONYMOUS = { userIdentifiers: false, serverAnonymisation: true, adIdentifiers: false, resetViewsOnDowngrade: true, chainViews: false, removeFields: [], removeEntities: [], entityFields: [] };

const USER = 'iglu:com.acme/user/jsonschema/1-*-*';
const removeCustomerId: EntityFieldRule = { schema: USER, field: 'customerId', action: 'remove' };
const nullAccountId: EntityFieldRule = { schema: USER, field: 'accountId', action: 'null-uuid' };

describe('policy', () => {
  it('holds the DESIGN.md identifier table', () => {
    expect(DEFAULT_POLICY).toEqual({
      full: { level: 'full', send: true, userIdentifiers: true, serverAnonymisation: false, session: 'as-is', adIdentifiers: true, resetViewsOnDowngrade: false, chainViews: true, deviceStorage: 'keep', removeFields: [], removeEntities: [], entityFields: [] },
      'session-only': { ...ANONYMOUS, level: 'session-only', send: true, session: 'anonymous', chainViews: true, deviceStorage: 'clear-on-entry' },
      none: { ...ANONYMOUS, level: 'none', send: true, session: 'removed', deviceStorage: 'never-store' },
      off: { ...ANONYMOUS, level: 'off', send: false, session: 'removed', deviceStorage: 'never-store' },
    });
  });

  it('gives the default table itself when no policy is passed', () => {
    for (const level of CONSENT_LEVELS) expect(levelPolicy(level)).toBe(DEFAULT_POLICY[level]);
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

  it('accepts overrides that restate the default', () => {
    const table = definePolicy({
      overrides: {
        full: { adIdentifiers: true, session: 'as-is', deviceStorage: 'keep' },
        'session-only': { session: 'anonymous', deviceStorage: 'clear-on-entry' },
        none: { session: 'removed', deviceStorage: 'never-store' },
        off: { send: false },
      },
    });
    expect(table).toEqual(DEFAULT_POLICY);
  });

  it('protects payload fields from removeFields only, not from entity patterns', () => {
    expect(definePolicy({ overrides: { none: { removeEntities: ['cx'] } } }).none.removeEntities).toEqual(['cx']);
  });

  it.each([
    [{ none: { userIdentifiers: true } }, 'POLICY_WEAKENED', "overrides['none'].userIdentifiers = true would send more than the default 'none' level allows"],
    [{ 'session-only': { serverAnonymisation: false } }, 'POLICY_WEAKENED', "overrides['session-only'].serverAnonymisation = false would send more"],
    [{ none: { session: 'anonymous' } }, 'POLICY_WEAKENED', 'would send more'],
    [{ off: { send: true } }, 'POLICY_WEAKENED', 'would send more'],
    [{ none: { deviceStorage: 'keep' } }, 'POLICY_WEAKENED', 'would send more'],
    [{ none: { resetViewsOnDowngrade: false } }, 'POLICY_WEAKENED', 'would send more'],
    [{ none: { chainViews: true } }, 'POLICY_WEAKENED', 'would send more'],
    [{ everything: {} }, 'INVALID_LEVEL', 'a policy override key must be one of'],
    [{ full: { colour: true } }, 'INVALID_OPTION', "overrides['full'].colour is not a policy rule"],
    [{ full: { session: 'sometimes' } }, 'INVALID_OPTION', "overrides['full'].session has an invalid value \"sometimes\""],
    [{ full: { adIdentifiers: 'no' } }, 'INVALID_OPTION', 'has an invalid value'],
    [{ full: { removeFields: 'ua' } }, 'INVALID_OPTION', "overrides['full'].removeFields must be an array of non-empty strings"],
    [{ full: { removeFields: ['ua', ''] } }, 'INVALID_OPTION', 'must be an array of non-empty strings'],
    [{ full: { removeFields: [['ua']] } }, 'INVALID_OPTION', 'must be an array of non-empty strings'],
    [{ full: null }, 'INVALID_OPTION', "a policy override for 'full' must be an object; got null"],
    [{ full: true }, 'INVALID_OPTION', 'must be an object; got true'],
  ])('rejects the override %j with %s', (overrides, code, message) => {
    expect(() => definePolicy({ overrides: overrides as never })).toThrow(consentError(code, message));
  });

  it.each(['e', 'eid', 'tv', 'p', 'dtm', 'stm', 'co', 'cx', 'ue_pr', 'ue_px'])('refuses to remove the field %s the enforcement points need', (field) => {
    expect(() => definePolicy({ overrides: { none: { removeFields: ['ua', field] } } })).toThrow(consentError('INVALID_OPTION', `overrides['none'].removeFields may not remove '${field}'`));
  });

  it('weakens session-only only through the explicitly named option', () => {
    const table = definePolicy({ unsafeSessionOnlyWithoutServerAnonymisation: true });
    expect(table['session-only'].serverAnonymisation).toBe(false);
    expect(table.none.serverAnonymisation).toBe(true);
    expect(toTrackerConfiguration('session-only', table).emitterConfig.serverAnonymisation).toBe(false);
    expect(() => definePolicy({ unsafeSessionOnlyWithoutServerAnonymisation: 'yes' as never })).toThrow(consentError('INVALID_OPTION', 'unsafeSessionOnlyWithoutServerAnonymisation must be a boolean'));
  });

  it('rebuilds a hand-made table instead of trusting it, and rejects unknown options', () => {
    const handMade = { ...DEFAULT_POLICY, none: { ...DEFAULT_POLICY.none, userIdentifiers: true } };
    expect(() => levelPolicy('none', handMade as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => definePolicy({ strict: true } as never)).toThrow(consentError('INVALID_OPTION', "'strict' is not a policy option"));
    const built = definePolicy({ overrides: { full: { adIdentifiers: false } } });
    expect(levelPolicy('full', built)).toBe(built.full);
  });

  it.each([
    [null, 'null'],
    [5, '5'],
    ['strict', '"strict"'],
  ])('rejects the options %j, which are not an object', (options, described) => {
    expect(() => definePolicy(options as never)).toThrow(consentError('INVALID_OPTION', `policy options must be an object; got ${described}`));
  });

  it('rejects an unknown level with a typed error', () => {
    expect(() => levelPolicy('FULL' as never)).toThrow(consentError('INVALID_LEVEL', 'level must be one of'));
  });
});

describe('policy rules for the app own entities', () => {
  it('keeps exactly the schema, field and action of each valid rule', () => {
    const table = definePolicy({ overrides: { 'session-only': { entityFields: [{ ...removeCustomerId, note: 'x' } as EntityFieldRule, nullAccountId] } } });
    expect(table['session-only'].entityFields).toEqual([removeCustomerId, nullAccountId]);
    expect(table.off.entityFields).toEqual([removeCustomerId, nullAccountId]);
    expect(table.full.entityFields).toEqual([]);
  });

  it.each([
    ['a string', 'customerId'],
    ['a rule without the iglu: prefix', [{ ...removeCustomerId, schema: 'com.acme/user/' }]],
    ['a rule with a numeric schema', [{ ...removeCustomerId, schema: 42 }]],
    ['a rule with an empty field', [{ ...removeCustomerId, field: '' }]],
    ['a rule with a numeric field', [{ ...removeCustomerId, field: 7 }]],
    ['a rule with an unknown action', [{ ...removeCustomerId, action: 'hash' }]],
    ['a null rule', [null]],
    ['a valid rule followed by an invalid one', [nullAccountId, { ...removeCustomerId, action: 'keep' }]],
  ])('refuses %s with a typed error', (_, entityFields) => {
    expect(() => definePolicy({ overrides: { none: { entityFields: entityFields as never } } })).toThrow(
      consentError('INVALID_OPTION', "overrides['none'].entityFields must be an array of { schema: 'iglu:…', field, action: 'remove' | 'null-uuid' }"),
    );
  });
});
