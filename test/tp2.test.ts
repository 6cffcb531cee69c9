import { describe, expect, it } from 'vitest';
import { MalformedPayloadError, checkPayloadShape, encodeJsonFields, readContexts, readJsonField, readSelfDescribingEvent, readSelfDescribingEventShared } from '../src/tp2.js';
import { CONTEXTS, UNSTRUCT, encode } from './helpers/payloads.js';

/** Checks that `read` throws the readers' own error, with this message. */
function expectMalformed(read: () => unknown, message: string): void {
  expect(read).toThrow(MalformedPayloadError);
  expect(read).toThrow(expect.objectContaining({ name: 'MalformedPayloadError', message }));
}

describe('the payload readers say what is wrong', () => {
  it.each([
    ['a JSON field that is not a string', () => readJsonField({ co: 42 }, 'co', false), 'co must be a string'],
    ['a base64 field that is not base64', () => readJsonField({ cx: 'e30*' }, 'cx', true), 'cx is not valid base64'],
    ['a field that is not JSON', () => readJsonField({ co: '{"schema":' }, 'co', false), 'co is not valid JSON'],
    ['JSON that is not an object', () => readJsonField({ co: '["schema"]' }, 'co', false), 'co must hold a JSON object'],
    ['a __proto__ key', () => readJsonField({ co: '{"data":{"__proto__":{}}}' }, 'co', false), "co contains the forbidden key '__proto__'"],
    ['contexts whose schema is not a string', () => readContexts({ co: '{"schema":1,"data":[]}' }, 'co'), 'co must be a contexts envelope { schema, data: [] }'],
    ['contexts with an entity that is not self-describing', () => readContexts({ co: JSON.stringify({ schema: CONTEXTS, data: [{ schema: 's', data: {} }, { schema: 's' }] }) }, 'co'), 'co entity 1 must be a self-describing JSON { schema, data }'],
    ['an event envelope without a schema', () => readSelfDescribingEvent({ ue_pr: JSON.stringify({ data: { schema: 's', data: {} } }) }, 'ue_pr'), 'ue_pr must have a schema'],
    ['an event that is not self-describing', () => readSelfDescribingEvent({ ue_pr: JSON.stringify({ schema: UNSTRUCT, data: { schema: 's' } }) }, 'ue_pr'), 'ue_pr event must be a self-describing JSON { schema, data }'],
    ['a payload that is not an object', () => checkPayloadShape('e=pv'), 'the payload must be a plain object'],
    ['a payload with its own __proto__ key', () => checkPayloadShape(JSON.parse('{"e":"pv","__proto__":"x"}')), "the payload contains the forbidden key '__proto__'"],
    ['a null field', () => checkPayloadShape({ e: 'pv', ip: null }), "payload field 'ip' must be a string, number or boolean; got null"],
    ['an object field', () => checkPayloadShape({ e: 'pv', ip: {} }), "payload field 'ip' must be a string, number or boolean; got object"],
  ])('%s', (_name, read, message) => {
    expectMalformed(read, message);
  });

  it('accept numbers and booleans at the top level of a payload', () => {
    expect(() => checkPayloadShape({ e: 'pv', tna: 1, cookie: true })).not.toThrow();
  });
});

describe('encodeJsonFields', () => {
  it('turns co and ue_pr into cx and ue_px, in place', () => {
    const contexts = { schema: CONTEXTS, data: [] };
    const event = { schema: UNSTRUCT, data: { schema: 'iglu:com.acme/click/jsonschema/1-0-0', data: { target: 'buy' } } };
    const payload: Record<string, unknown> = { e: 'ue', co: encode(contexts, false), ue_pr: encode(event, false) };
    encodeJsonFields(payload);
    expect(payload).toEqual({ e: 'ue', cx: encode(contexts, true), ue_px: encode(event, true) });
  });

  it('leaves a payload without plain JSON fields as it is', () => {
    const payload = { e: 'pv', cx: 'e30', co: 42 };
    encodeJsonFields(payload);
    expect(payload).toEqual({ e: 'pv', cx: 'e30', co: 42 });
  });
});

describe('the shared self-describing event reader', () => {
  let next = 0;
  /** A payload with a self-describing event no other test reads. */
  const fresh = (): Record<string, unknown> => ({ ue_pr: encode({ schema: UNSTRUCT, data: { schema: 'iglu:com.acme/click/jsonschema/1-0-0', data: { n: (next += 1) } } }, false) });
  const read = (payload: Record<string, unknown>) => readSelfDescribingEventShared(payload, 'ue_pr');

  it('reads a string once: reading it again gives the same envelope', () => {
    const payload = fresh();
    const first = read(payload);
    expect(first).toEqual(readSelfDescribingEvent(payload, 'ue_pr'));
    expect(read({ ...payload })).toBe(first);
  });

  it('still knows a string after others were read', () => {
    const payload = fresh();
    const first = read(payload);
    read(fresh());
    read(fresh());
    expect(read(payload)).toBe(first);
  });

  it('forgets a string once two generations of others were read, and reads it again', () => {
    const payload = fresh();
    const first = read(payload);
    for (let i = 0; i < 512; i++) read(fresh());
    const again = read(payload);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
