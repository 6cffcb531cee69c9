import { describe, expect, it } from 'vitest';
import { ConsentError, toTrackerConfiguration, type ConsentLevel } from 'consent-tracker';
import { levelFromV2Config, type V2Configuration } from 'consent-tracker/react-native';

function v2(sessionContext: boolean, userAnonymisation: boolean, serverAnonymisation: boolean): V2Configuration {
  return { trackerConfig: { sessionContext, userAnonymisation }, emitterConfig: { serverAnonymisation } };
}

// [sessionContext, userAnonymisation, serverAnonymisation, level, exact]
const COMBINATIONS: readonly [boolean, boolean, boolean, ConsentLevel, boolean][] = [
  [false, true, true, 'none', true],
  [true, true, true, 'session-only', true],
  [false, true, false, 'none', false],
  [true, true, false, 'session-only', false],
  [true, false, false, 'full', true],
  [true, false, true, 'session-only', false],
  [false, false, true, 'none', false],
  [false, false, false, 'none', false],
];

function expectInvalidOption(run: () => unknown, field: string): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConsentError);
  expect(thrown).toMatchObject({ code: 'INVALID_OPTION' });
  expect((thrown as ConsentError).message).toContain(field);
}

describe('levelFromV2Config', () => {
  it.each(COMBINATIONS)(
    'sessionContext %s, userAnonymisation %s, serverAnonymisation %s → %s (exact: %s)',
    (sc, ua, sa, level, exact) => {
      const match = levelFromV2Config(v2(sc, ua, sa));
      expect(match).toMatchObject({ level, exact });
      // One sentence, naming the level first.
      expect(match.note.startsWith(`'${level}' `)).toBe(true);
      expect(match.note).toMatch(/^[^.]+\.$/);
    },
  );

  it.each(COMBINATIONS)(
    'never sends more than v2 did (sessionContext %s, userAnonymisation %s, serverAnonymisation %s)',
    (sc, ua, sa) => {
      const { trackerConfig, emitterConfig } = toTrackerConfiguration(levelFromV2Config(v2(sc, ua, sa)).level);
      if (ua) expect(trackerConfig.userAnonymisation).toBe(true);
      if (sa) expect(emitterConfig.serverAnonymisation).toBe(true);
      if (!sc) expect(trackerConfig.sessionContext).toBe(false);
    },
  );

  it('reproduces the level it picks exactly when it says so', () => {
    for (const [sc, ua, sa] of COMBINATIONS) {
      const input = v2(sc, ua, sa);
      const match = levelFromV2Config(input);
      if (match.exact) expect(toTrackerConfiguration(match.level)).toEqual(input);
      else expect(toTrackerConfiguration(match.level)).not.toEqual(input);
    }
  });

  it('says what differs when the match is not exact', () => {
    expect(levelFromV2Config(v2(false, true, false)).note).toContain('adds SP-Anonymous: *, which v2 did not send');
    expect(levelFromV2Config(v2(true, false, true)).note).toContain('anonymises the user identifiers');
    expect(levelFromV2Config(v2(false, false, false)).note).toContain('without the session entity');
  });

  it('points at the unsafe policy option only for the seed page level 2 alone', () => {
    const option = 'definePolicy({ unsafeSessionOnlyWithoutServerAnonymisation: true })';
    expect(levelFromV2Config(v2(true, true, false)).note).toContain(option);
    for (const [sc, ua, sa] of COMBINATIONS) {
      if (sc && ua && !sa) continue;
      expect(levelFromV2Config(v2(sc, ua, sa)).note).not.toContain('unsafeSessionOnlyWithoutServerAnonymisation');
    }
  });

  it('uses the v2 defaults for absent parts and flags', () => {
    expect(levelFromV2Config({})).toMatchObject({ level: 'full', exact: true });
    expect(levelFromV2Config({ trackerConfig: {}, emitterConfig: {} })).toMatchObject({ level: 'full', exact: true });
    expect(levelFromV2Config({ trackerConfig: undefined })).toMatchObject({ level: 'full', exact: true });
    expect(levelFromV2Config({ trackerConfig: { userAnonymisation: true } })).toMatchObject({ level: 'session-only', exact: false });
    expect(levelFromV2Config({ emitterConfig: { serverAnonymisation: true } })).toMatchObject({ level: 'session-only', exact: false });
    expect(levelFromV2Config({ trackerConfig: { sessionContext: false } })).toMatchObject({ level: 'none', exact: false });
  });

  it('ignores other v2 options', () => {
    const config = {
      trackerConfig: { appId: 'my-app', screenContext: true, sessionContext: true, userAnonymisation: true },
      emitterConfig: { bufferOption: 'single', serverAnonymisation: true },
      sessionConfig: { foregroundTimeout: 1800 },
    };
    expect(levelFromV2Config(config)).toEqual(levelFromV2Config(v2(true, true, true)));
  });

  it.each([
    ['a missing configuration', undefined, 'v2 configuration'],
    ['a null configuration', null, 'v2 configuration'],
    ['a string configuration', 'full', 'v2 configuration'],
    ['an array configuration', [], 'v2 configuration'],
    ['a null trackerConfig', { trackerConfig: null }, 'trackerConfig'],
    ['a boolean trackerConfig', { trackerConfig: true }, 'trackerConfig'],
    ['an array emitterConfig', { emitterConfig: [] }, 'emitterConfig'],
    ['a string sessionContext', { trackerConfig: { sessionContext: 'false' } }, 'trackerConfig.sessionContext'],
    ['a null userAnonymisation', { trackerConfig: { userAnonymisation: null } }, 'trackerConfig.userAnonymisation'],
    ['a numeric serverAnonymisation', { emitterConfig: { serverAnonymisation: 1 } }, 'emitterConfig.serverAnonymisation'],
  ])('rejects %s with INVALID_OPTION', (_case, config, field) => {
    expectInvalidOption(() => levelFromV2Config(config as never), field);
  });

  it('describes the value it received', () => {
    expect(() => levelFromV2Config({ trackerConfig: { sessionContext: 'false' } } as never)).toThrow(/got "false"/);
    expect(() => levelFromV2Config(null as never)).toThrow(/got null/);
  });
});
