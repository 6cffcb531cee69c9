import fc from 'fast-check';
import { Base64 } from 'js-base64';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeBase64, encodeBase64Url } from '../src/base64-url.js';

/**
 * The built-in base64 of payload fields: the same text as tracker-core's encoder (URL-safe, no
 * padding) and a reference library, either alphabet read back, anything else refused; and the
 * same results where the platform has no Buffer (a browser), nor TextEncoder/TextDecoder (older
 * Hermes).
 */

const text = fc.string({ unit: 'grapheme', maxLength: 200 });
const PlatformDecoder = TextDecoder;
const PlatformBuffer = Buffer;

describe('base64 of payload fields', () => {
  it('encodes UTF-8 text as URL-safe base64 without padding, as a reference library does', () => {
    fc.assert(fc.property(text, (value) => encodeBase64Url(value) === Base64.encodeURI(value)));
  });

  it('reads back URL-safe and standard base64, padded or not', () => {
    fc.assert(
      fc.property(text, (value) => {
        const padded = Base64.encode(value);
        return decodeBase64(encodeBase64Url(value)) === value && decodeBase64(padded) === value && decodeBase64(padded.replace(/=+$/, '')) === value;
      }),
    );
  });

  it('refuses what is not base64: other characters, three padding signs, an impossible length', () => {
    for (const bad of ['ab$c', 'abc===', 'abcde', 'a', 'é', 'aéc', 'ab\u0080c', 'a\u0100']) expect(decodeBase64(bad)).toBeUndefined();
    expect(decodeBase64('')).toBe('');
  });
});

describe.each([
  { platform: 'without Buffer (a browser)', missing: ['Buffer'] },
  { platform: 'without Buffer, TextEncoder and TextDecoder (older Hermes)', missing: ['Buffer', 'TextEncoder', 'TextDecoder'] },
])('$platform', ({ missing }) => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('gives the same base64 and the same text, refuses the same, and reads malformed UTF-8 as U+FFFD', async () => {
    for (const name of missing) vi.stubGlobal(name, undefined);
    vi.resetModules();
    const fallback = await import('../src/base64-url.js');
    fc.assert(fc.property(text, (value) => fallback.encodeBase64Url(value) === encodeBase64Url(value) && fallback.decodeBase64(encodeBase64Url(value)) === value && fallback.decodeBase64(Base64.encode(value)) === value));
    for (const bad of ['ab$c', 'abc===', 'abcde', 'é', 'aéc', 'ab\u0080c', 'a\u0100']) expect(fallback.decodeBase64(bad)).toBeUndefined();
    // 0xff and a cut-off two-byte sequence are not UTF-8.
    expect(fallback.decodeBase64('_8M')).toBe(new PlatformDecoder().decode(new Uint8Array([0xff, 0xc3])));
    expect(fallback.encodeBase64Url('\ud800x')).toBe(encodeBase64Url('\ud800x'));
  });

  it('encodes any UTF-16 text, lone and cut-off surrogates included, as the platform does', async () => {
    for (const name of missing) vi.stubGlobal(name, undefined);
    vi.resetModules();
    const fallback = await import('../src/base64-url.js');
    // Any UTF-16 code units, surrogates alone, paired or swapped included.
    const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)), maxLength: 40 });
    fc.assert(fc.property(anyUnits, (value) => fallback.encodeBase64Url(value) === encodeBase64Url(value)));
    for (const edge of ['\udbff\udfff', '\udfff', '\udc00', 'a\udc00', '\udc00\ud800', '\ud800\ud800', 'a\ud800', '\ud7ff\udc00', '\u007f\u0080\u07ff\u0800\uffff', '\ud800\udc00', '\ud83d\ude00']) {
      expect(fallback.encodeBase64Url(edge)).toBe(encodeBase64Url(edge));
    }
  });

  it('reads any bytes, malformed UTF-8 included, as the platform TextDecoder does', async () => {
    for (const name of missing) vi.stubGlobal(name, undefined);
    vi.resetModules();
    const fallback = await import('../src/base64-url.js');
    const read = (bytes: Uint8Array) => fallback.decodeBase64(PlatformBuffer.from(bytes).toString('base64url'));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => read(bytes) === new PlatformDecoder().decode(bytes)));
    // Leading bytes at each boundary, cut off and followed by what cannot continue them.
    // Overlong forms, surrogates and code points past U+10FFFF are malformed too.
    const overlongOrOutOfRange = [[0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80]];
    for (const edge of [[0x7f], [0x80], [0xc0, 0x80], [0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0xa0, 0x80], [0xef, 0xbf, 0xbf], [0xed, 0x9f, 0xbf], [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf], [0xf0, 0x41], [0xe2, 0x82], ...overlongOrOutOfRange]) {
      expect(read(new Uint8Array(edge))).toBe(new PlatformDecoder().decode(new Uint8Array(edge)));
    }
  });
});
