import { describe, expect, it } from 'vitest';
import { CONSENT_LEVELS, compareLevels, isConsentLevel, minLevel } from 'consent-tracker';

describe('levels', () => {
  it('orders off < none < session-only < full', () => {
    expect(CONSENT_LEVELS).toEqual(['off', 'none', 'session-only', 'full']);
    expect(['full', 'off', 'session-only', 'none'].sort((a, b) => compareLevels(a as never, b as never))).toEqual([...CONSENT_LEVELS]);
    expect(compareLevels('none', 'none')).toBe(0);
    expect(compareLevels('full', 'none')).toBeGreaterThan(0);
  });

  it('takes the minimum of any number of levels', () => {
    expect(minLevel('full')).toBe('full');
    expect(minLevel('full', 'session-only')).toBe('session-only');
    expect(minLevel('session-only', 'full', 'none')).toBe('none');
    expect(minLevel('none', 'off', 'full')).toBe('off');
  });

  it.each([
    ['full', true],
    ['off', true],
    ['session-only', true],
    ['FULL', false],
    ['sessionOnly', false],
    ['__proto__', false],
    ['toString', false],
    ['', false],
    [null, false],
    [undefined, false],
    [3, false],
    [{}, false],
    // An object that reads as a level when turned into a string is still not one.
    [{ toString: () => 'full' }, false],
    [['full'], false],
  ])('isConsentLevel(%j) is %s', (value, expected) => {
    expect(isConsentLevel(value)).toBe(expected);
  });
});
