/**
 * Base64 for the JSON fields of a payload, without a library: URL-safe and unpadded when it
 * encodes (as tracker-core sends `cx` and `ue_px`), either alphabet, padded or not, when it
 * decodes. Text is UTF-8. Node's native `Buffer` does the work where there is one; elsewhere a
 * table does, and where the platform also lacks `TextEncoder`/`TextDecoder` (older Hermes), a
 * small UTF-8 codec stands in.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const VALUES = new Uint8Array(128).fill(255);
for (let i = 0; i < 64; i++) VALUES[ALPHABET.charCodeAt(i)] = i;
VALUES[43] = 62; // '+'
VALUES[47] = 63; // '/'

/** Node's Buffer (native base64), where there is one that knows the URL-safe alphabet. */
interface NativeBuffer {
  from(text: string, encoding: string): { toString(encoding: string): string };
  isEncoding?(encoding: string): boolean;
}
const native = (globalThis as { Buffer?: NativeBuffer }).Buffer;
const nativeBuffer = native?.isEncoding?.('base64url') ? native : undefined;
const BASE64_TEXT = /^[A-Za-z0-9+/_-]*={0,2}$/;

const encoder = typeof TextEncoder === 'function' ? new TextEncoder() : undefined;
const decoder = typeof TextDecoder === 'function' ? new TextDecoder() : undefined;

/** UTF-8 bytes of a string (lone surrogates become U+FFFD, as TextEncoder does). */
function utf8(text: string): Uint8Array {
  if (encoder) return encoder.encode(text);
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt((i += 1)) - 0xdc00);
    } else if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
  }
  return Uint8Array.from(bytes);
}

/** Text from UTF-8 bytes (malformed sequences become U+FFFD). */
function fromUtf8(bytes: Uint8Array): string {
  if (decoder) return decoder.decode(bytes);
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    const { code, read } = codePointAt(bytes, i);
    text += code === undefined ? '\ufffd' : String.fromCodePoint(code);
    i += read;
  }
  return text;
}

/**
 * The code point UTF-8 encodes at `i`, and how many bytes it takes, as the WHATWG decoder reads
 * them: no overlong forms, no surrogates, nothing above U+10FFFF. A malformed sequence gives no
 * code point and takes its lead byte and the continuation bytes that were valid (one U+FFFD).
 */
function codePointAt(bytes: Uint8Array, i: number): { code: number | undefined; read: number } {
  const first = bytes[i] as number;
  if (first < 0x80) return { code: first, read: 1 };
  const needed = first >= 0xc2 && first <= 0xdf ? 1 : first >= 0xe0 && first <= 0xef ? 2 : first >= 0xf0 && first <= 0xf4 ? 3 : 0;
  if (needed === 0) return { code: undefined, read: 1 };
  // The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF.
  let lower = first === 0xe0 ? 0xa0 : first === 0xf0 ? 0x90 : 0x80;
  let upper = first === 0xed ? 0x9f : first === 0xf4 ? 0x8f : 0xbf;
  let code = first & (0x3f >> needed);
  for (let k = 1; k <= needed; k++) {
    const next = bytes[i + k];
    if (next === undefined || next < lower || next > upper) return { code: undefined, read: k };
    code = (code << 6) | (next & 0x3f);
    lower = 0x80;
    upper = 0xbf;
  }
  return { code, read: needed + 1 };
}

/** Every pair of base64 characters, by the 12 bits they stand for: two lookups per three bytes. */
let pairs: string[] | undefined;

/** The text's UTF-8 bytes in URL-safe base64, without padding. */
export function encodeBase64Url(text: string): string {
  if (nativeBuffer) return nativeBuffer.from(text, 'utf8').toString('base64url');
  const bytes = utf8(text);
  const pair = (pairs ??= Array.from({ length: 4096 }, (_, n) => (ALPHABET[n >> 6] as string) + (ALPHABET[n & 63] as string)));
  const parts: string[] = [];
  let i = 0;
  const whole = bytes.length - (bytes.length % 3);
  while (i < whole) {
    let chunk = '';
    for (const end = Math.min(whole, i + 3072); i < end; i += 3) {
      const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
      chunk += (pair[n >> 12] as string) + (pair[n & 4095] as string);
    }
    parts.push(chunk);
  }
  const rest = bytes.length - whole;
  if (rest > 0) {
    const n = ((bytes[i] as number) << 16) | (rest === 2 ? (bytes[i + 1] as number) << 8 : 0);
    parts.push((pair[n >> 12] as string) + (rest === 2 ? (ALPHABET[(n >> 6) & 63] as string) : ''));
  }
  return parts.join('');
}

/**
 * The text encoded in base64 (either alphabet, padding optional), or `undefined` for anything
 * that is not base64: a character outside both alphabets, or a length no encoding gives.
 */
export function decodeBase64(encoded: string): string | undefined {
  const unpadded = encoded.replace(/={1,2}$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  if (nativeBuffer) return BASE64_TEXT.test(encoded) ? nativeBuffer.from(unpadded, 'base64').toString('utf8') : undefined;
  const bytes = new Uint8Array(Math.floor((unpadded.length * 3) / 4));
  let bits = 0;
  let count = 0;
  let at = 0;
  for (let i = 0; i < unpadded.length; i++) {
    const code = unpadded.charCodeAt(i);
    const value = code < 128 ? (VALUES[code] as number) : 255;
    if (value === 255) return undefined;
    bits = (bits << 6) | value;
    count += 6;
    if (count >= 8) {
      count -= 8;
      bytes[at++] = (bits >> count) & 0xff;
    }
  }
  return fromUtf8(bytes);
}
