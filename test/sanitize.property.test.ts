import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONSENT_LEVELS, compareLevels, findForbiddenIdentifiers, minLevel, sanitizeEvent, type AnonymousSession, type ConsentLevel, type EventPayload, type SelfDescribing } from 'consent-tracker';
import { CONTEXTS, MOBILE, NIL, SESSION, contextsOf, encode } from './helpers/payloads.js';

const IDENTIFIERS = ['uid', 'duid', 'nuid', 'tnuid', 'ip', 'sid', 'vid'] as const;
const text = fc.string({ minLength: 1, maxLength: 12 });
const level = fc.constantFrom(...CONSENT_LEVELS);

const sessionEntity = fc.record({
  userId: fc.oneof(fc.uuid(), fc.constant(NIL)),
  sessionId: fc.uuid(),
  previousSessionId: fc.oneof(fc.uuid(), fc.constant(null)),
  sessionIndex: fc.nat(50),
  storageMechanism: fc.constant('LOCAL_STORAGE'),
}).map((data): SelfDescribing => ({ schema: SESSION, data }));

const mobileEntity = fc.record(
  { osType: fc.constant('android'), deviceModel: text, appleIdfa: text, appleIdfv: text, androidIdfa: text, appSetId: text, appSetIdScope: text },
  { requiredKeys: ['osType', 'deviceModel'] },
).map((data): SelfDescribing => ({ schema: MOBILE, data }));

const otherEntity = fc.record({ name: text, value: fc.integer() }).map((data): SelfDescribing => ({ schema: 'iglu:com.acme/thing/jsonschema/1-0-0', data }));

const payload = fc
  .record({
    base64: fc.boolean(),
    identifiers: fc.record(Object.fromEntries(IDENTIFIERS.map((k) => [k, text])) as Record<(typeof IDENTIFIERS)[number], fc.Arbitrary<string>>, { requiredKeys: [] }),
    entities: fc.array(fc.oneof(sessionEntity, mobileEntity, otherEntity), { maxLength: 4 }),
    extra: fc.dictionary(fc.constantFrom('se_ca', 'se_ac', 'url', 'page', 'res', 'lang', 'ua'), text),
  })
  .map(({ base64, identifiers, entities, extra }): EventPayload => ({
    e: 'se',
    eid: 'event-1',
    tv: 'test',
    p: 'mob',
    ...extra,
    ...identifiers,
    ...(entities.length > 0 && { [base64 ? 'cx' : 'co']: encode({ schema: CONTEXTS, data: entities }, base64) }),
  }));

const session = fc.option(
  fc.record({ sessionId: fc.uuid(), sessionIndex: fc.nat(9), eventIndex: fc.nat(99), firstEventId: fc.option(fc.uuid()), firstEventTimestamp: fc.constant(null) }),
  { nil: undefined },
) as fc.Arbitrary<AnonymousSession | undefined>;

const options = fc.record({ session, capturedAt: fc.option(level, { nil: undefined }) });

const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);
/** Replays a failing run: fast-check prints its seed on failure. */
const SEED = process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED);

describe('sanitizeEvent properties', () => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(payload, level, options, (input, lvl, opts) => {
        const once = sanitizeEvent(input, lvl, opts);
        if (!once.kept) return;
        expect(sanitizeEvent(once.payload, lvl, opts)).toEqual(once);
      }),
      { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) },
    );
  });

  it('never returns an identifier its level forbids', () => {
    fc.assert(
      fc.property(payload, level, options, (input, lvl, opts) => {
        const result = sanitizeEvent(input, lvl, opts);
        const effective = opts.capturedAt ? minLevel(lvl, opts.capturedAt) : lvl;
        expect(result.level).toBe(effective);
        if (effective === 'off') {
          expect(result.kept).toBe(false);
          return;
        }
        expect(result.kept).toBe(true);
        if (result.kept) expect(findForbiddenIdentifiers(result.payload, effective)).toEqual([]);
      }),
      { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) },
    );
  });

  it('never takes away what its level allows', () => {
    fc.assert(
      fc.property(payload, level, options, (input, lvl, opts) => {
        const result = sanitizeEvent(input, lvl, opts);
        if (!result.kept) return;
        const out = result.payload;
        if (result.level === 'full') {
          expect(out).toEqual(input);
          return;
        }
        // Fields that are not identifiers always survive.
        for (const key of Object.keys(input)) {
          if (!(IDENTIFIERS as readonly string[]).includes(key) && key !== 'co' && key !== 'cx') expect(out[key]).toBe(input[key]);
        }
        const before = contextsOf(input);
        const after = contextsOf(out);
        expect(after.filter((e) => e.schema === 'iglu:com.acme/thing/jsonschema/1-0-0')).toEqual(before.filter((e) => e.schema === 'iglu:com.acme/thing/jsonschema/1-0-0'));
        const mobileBefore = before.filter((e) => e.schema === MOBILE);
        const mobileAfter = after.filter((e) => e.schema === MOBILE);
        expect(mobileAfter.map((e) => e.data.deviceModel)).toEqual(mobileBefore.map((e) => e.data.deviceModel));
        const downgraded = opts.capturedAt !== undefined && compareLevels(opts.capturedAt, result.level) > 0;
        if (result.level === 'session-only' && opts.session && !downgraded) {
          // The session stays, rewritten to the anonymous one.
          expect(after.filter((e) => e.schema === SESSION).length).toBe(before.filter((e) => e.schema === SESSION).length);
          for (const e of after.filter((e) => e.schema === SESSION)) expect(e.data.sessionId).toBe(opts.session.sessionId);
          if ('sid' in input) expect(out.sid).toBe(opts.session.sessionId);
        }
      }),
      { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) },
    );
  });

  it('treats levels as a lattice: sanitising at a lower level after a higher one equals sanitising at the lower one', () => {
    fc.assert(
      fc.property(payload, level, level, (input, a, b) => {
        const [high, low] = compareLevels(a, b) >= 0 ? [a, b] : [b, a];
        const direct = sanitizeEvent(input, low as ConsentLevel);
        const first = sanitizeEvent(input, high as ConsentLevel);
        if (!first.kept || !direct.kept) return;
        const second = sanitizeEvent(first.payload, low as ConsentLevel);
        expect(second.kept && findForbiddenIdentifiers(second.payload, low as ConsentLevel)).toEqual([]);
      }),
      { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) },
    );
  });
});
