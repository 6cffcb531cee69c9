import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, definePolicy, sanitizeEvent, type AnonymousSession, type ConsentLevel, type EventPayload, type SelfDescribing } from 'consent-tracker';
import { MOBILE, NIL, SESSION, UNSTRUCT, contextsOf, decode, encode, entity, fullPayload, CONTEXTS } from './helpers/payloads.js';

const session: AnonymousSession = { sessionId: 'anon-session-1', sessionIndex: 1, eventIndex: 3, firstEventId: 'anon-first', firstEventTimestamp: '2026-11-28T00:00:00.000Z' };

function kept(payload: EventPayload, ...args: Parameters<typeof sanitizeEvent> extends [unknown, ...infer R] ? R : never): EventPayload {
  const result = sanitizeEvent(payload, ...args);
  if (!result.kept) throw new Error(`dropped: ${result.detail}`);
  return result.payload;
}

const USER_FIELDS = ['uid', 'duid', 'nuid', 'tnuid', 'ip'];
const AD_IDS = ['appleIdfa', 'appleIdfv', 'androidIdfa', 'appSetId', 'appSetIdScope'];

describe.each([
  ['base64 (cx, ue_px)', true],
  ['plain (co, ue_pr)', false],
])('sanitizeEvent over the policy table, %s', (_name, base64) => {
  it('full: everything the tracker sent, unchanged', () => {
    const input = fullPayload(base64);
    expect(kept(input, 'full')).toEqual(input);
  });

  it('session-only: user identifiers removed, anonymous session, no ad ids', () => {
    const out = kept(fullPayload(base64), 'session-only', { session });
    for (const field of USER_FIELDS) expect(out).not.toHaveProperty(field);
    expect(out.sid).toBe('anon-session-1');
    expect(out.vid).toBe('1');
    expect(entity(out, SESSION)?.data).toEqual({
      userId: NIL,
      sessionId: 'anon-session-1',
      previousSessionId: null,
      sessionIndex: 1,
      eventIndex: 3,
      storageMechanism: 'LOCAL_STORAGE',
      firstEventId: 'anon-first',
      firstEventTimestamp: '2026-11-28T00:00:00.000Z',
    });
    const mobile = entity(out, MOBILE)?.data ?? {};
    for (const id of AD_IDS) expect(mobile).not.toHaveProperty(id);
    expect(mobile.osType).toBe('ios');
    expect(out.ua).toBe('Mozilla/5.0');
    expect(out[base64 ? 'ue_px' : 'ue_pr']).toBe(fullPayload(base64)[base64 ? 'ue_px' : 'ue_pr']);
  });

  it('none: no session at all, no user identifiers, no ad ids, no screen', () => {
    const out = kept(fullPayload(base64), 'none', { session });
    for (const field of [...USER_FIELDS, 'sid', 'vid']) expect(out).not.toHaveProperty(field);
    expect(entity(out, SESSION)).toBeUndefined();
    for (const id of AD_IDS) expect(entity(out, MOBILE)?.data).not.toHaveProperty(id);
    // Views link nothing at none: the screen entity goes too.
    expect(contextsOf(out).map((e) => e.schema)).toEqual([MOBILE]);
    expect(out).toMatchObject({ e: 'ue', eid: 'event-1', tv: 'js-4.10.1', p: 'web', dtm: '1767225600000' });
  });

  it('resetViews: no screen entity, and a screen view loses its previous screen', () => {
    const screenView = { schema: 'iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0', data: { name: 'next', id: 'screen-2', previousId: 'screen-1', previousName: 'home', previousType: 'tab' } };
    const input = { ...fullPayload(base64), [base64 ? 'ue_px' : 'ue_pr']: encode({ schema: UNSTRUCT, data: screenView }, base64) };
    const out = kept(input, 'session-only', { session, resetViews: true });
    expect(contextsOf(out).map((e) => e.schema)).not.toContain('iglu:com.snowplowanalytics.mobile/screen/jsonschema/1-0-0');
    const event = decode(String(out[base64 ? 'ue_px' : 'ue_pr']), base64) as { schema: string; data: { schema: string; data: Record<string, unknown> } };
    expect(event).toEqual({ schema: UNSTRUCT, data: { schema: screenView.schema, data: { name: 'next', id: 'screen-2' } } });
    // Without the flag, both stay.
    const untouched = kept(input, 'session-only', { session });
    expect(untouched[base64 ? 'ue_px' : 'ue_pr']).toBe(input[base64 ? 'ue_px' : 'ue_pr']);
  });

  it('at none, views link nothing: no screen entity, and a screen view has no previous screen', () => {
    const screenView = { schema: 'iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0', data: { name: 'next', id: 'screen-2', previousId: 'screen-1', previousName: 'home', previousType: 'tab' } };
    const input = { ...fullPayload(base64), [base64 ? 'ue_px' : 'ue_pr']: encode({ schema: UNSTRUCT, data: screenView }, base64) };
    const out = kept(input, 'none');
    expect(contextsOf(out).map((e) => e.schema)).not.toContain('iglu:com.snowplowanalytics.mobile/screen/jsonschema/1-0-0');
    const event = decode(String(out[base64 ? 'ue_px' : 'ue_pr']), base64) as { data: { data: Record<string, unknown> } };
    expect(event.data.data).toEqual({ name: 'next', id: 'screen-2' });
  });

  it('full with a replacement identity: the new device user id and its session, nothing of the old', () => {
    const identity = { ...session, userId: 'new-device-user', previousSessionId: null };
    const out = kept(fullPayload(base64), 'full', { identity });
    expect(entity(out, SESSION)?.data).toMatchObject({ userId: 'new-device-user', sessionId: 'anon-session-1', previousSessionId: null, eventIndex: 3, firstEventId: 'anon-first' });
    expect(out).toMatchObject({ sid: 'anon-session-1', vid: '1', duid: 'new-device-user', uid: 'user-1' });
    // The identity is for levels that send the session as is; session-only keeps its own rules.
    expect(entity(kept(fullPayload(base64), 'session-only', { session, identity }), SESSION)?.data.userId).toBe(NIL);
  });

  it('off: dropped, with the reason', () => {
    expect(sanitizeEvent(fullPayload(base64), 'off')).toMatchObject({ kept: false, reason: 'off', level: 'off', detail: "nothing is sent at 'off'" });
  });

  it('session-only without a session keeps only an already anonymised session entity', () => {
    const out = kept(fullPayload(base64), 'session-only');
    expect(entity(out, SESSION)).toBeUndefined();
    expect(out.sid).toBe('browser-session-1');
    const anonymised = kept(fullPayload(base64), 'session-only', { session });
    expect(kept(anonymised, 'session-only')).toEqual(anonymised);
  });

  it('applies the min rule with capturedAt, removing the session of a downgraded event', () => {
    const out = kept(fullPayload(base64), 'session-only', { capturedAt: 'full', session });
    expect(entity(out, SESSION)).toBeUndefined();
    expect(out).not.toHaveProperty('sid');
    expect(out).not.toHaveProperty('uid');
    // No retroactive upgrade: tracked at none, sent at full.
    const result = sanitizeEvent(fullPayload(base64), 'full', { capturedAt: 'none' });
    expect(result).toMatchObject({ kept: true, level: 'none' });
    expect(sanitizeEvent(fullPayload(base64), 'full', { capturedAt: 'off' })).toMatchObject({ kept: false, reason: 'off' });
  });

  it('removes the contexts field when no entity is left', () => {
    const out = kept(fullPayload(base64, [{ ...fullPayloadSession() }]), 'none');
    expect(out).not.toHaveProperty(base64 ? 'cx' : 'co');
  });

  it('applies stricter overrides', () => {
    const policy = definePolicy({ overrides: { full: { adIdentifiers: false, removeFields: ['ua'], removeEntities: ['iglu:com.snowplowanalytics.mobile/screen/'] } } });
    const out = kept(fullPayload(base64), 'full', { policy });
    expect(out.uid).toBe('user-1');
    expect(out).not.toHaveProperty('ua');
    expect(entity(out, MOBILE)?.data).not.toHaveProperty('appleIdfa');
    expect(contextsOf(out).map((e) => e.schema)).toEqual([SESSION, MOBILE]);
  });

  it('never mutates its input', () => {
    const input = fullPayload(base64);
    const copy = structuredClone(input);
    for (const level of ['full', 'session-only', 'none', 'off'] as const) sanitizeEvent(input, level, { session });
    expect(input).toEqual(copy);
  });
});

function fullPayloadSession() {
  return { schema: SESSION, data: { userId: 'u', sessionId: 's', sessionIndex: 1, storageMechanism: 'LOCAL_STORAGE' } };
}

describe('sanitizeEvent with malformed payloads', () => {
  const base = { e: 'pv', eid: 'bad-1', tv: 't', p: 'web', uid: 'user-1' };
  it.each([
    ['bad base64 in cx', { ...base, cx: 'not*base64!' }],
    ['base64 of a truncated length', { ...base, cx: 'abcde' }],
    ['base64 that is not JSON', { ...base, cx: encode('x', true).slice(0, -2) + '!!' }],
    ['JSON that is not JSON', { ...base, co: '{"schema":' }],
    ['contexts that are not an envelope', { ...base, co: JSON.stringify({ schema: CONTEXTS, data: 'x' }) }],
    ['an entity without a schema', { ...base, co: JSON.stringify({ schema: CONTEXTS, data: [{ data: {} }] }) }],
    ['an entity with array data', { ...base, co: JSON.stringify({ schema: CONTEXTS, data: [{ schema: 's', data: [] }] }) }],
    ['a prototype-polluting entity', { ...base, co: `{"schema":"${CONTEXTS}","data":[{"schema":"s","data":{"__proto__":{"polluted":true}}}]}` }],
    ['a self-describing event that is not one', { ...base, ue_pr: JSON.stringify({ schema: 'x', data: 'y' }) }],
    ['a base64 self-describing event that is not JSON', { ...base, ue_px: 'e30e30' }],
    ['a contexts field that is not a string', { ...base, co: { schema: CONTEXTS, data: [] } }],
    ['an object value', { ...base, uid: { id: 1 } }],
    ['a null value', { ...base, ip: null }],
  ])('drops %s at every sending level', (_name, payload) => {
    for (const level of ['full', 'session-only', 'none'] as const) {
      const result = sanitizeEvent(payload as EventPayload, level);
      expect(result).toMatchObject({ kept: false, reason: 'malformed' });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps a value that merely reads "__proto__" (found by the property test)', () => {
    const co = JSON.stringify({ schema: CONTEXTS, data: [{ schema: 'iglu:com.acme/thing/jsonschema/1-0-0', data: { name: '__proto__' } }] });
    expect(sanitizeEvent({ ...base, co }, 'none')).toMatchObject({ kept: true });
    const escaped = `{"schema":"${CONTEXTS}","data":[{"schema":"s","data":{"\\u005f_proto__":{"polluted":true}}}]}`;
    expect(sanitizeEvent({ ...base, co: escaped }, 'none')).toMatchObject({ kept: false, reason: 'malformed' });
  });

  it.each([null, undefined, 'text', 42, ['e', 'pv']])('drops a payload that is %j', (payload) => {
    expect(sanitizeEvent(payload as never, 'none')).toMatchObject({ kept: false, reason: 'malformed' });
  });
});

const BROWSER = 'iglu:com.snowplowanalytics.snowplow/browser_context/jsonschema/2-0-0';
const WEB_PAGE = 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0';
const SCREEN_VIEW = 'iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0';
const USER = 'iglu:com.acme/user/jsonschema/1-0-0';
const thing: SelfDescribing = { schema: 'iglu:com.acme/thing/jsonschema/1-0-0', data: { name: 'x' } };
const SENDING_LEVELS = ['full', 'session-only', 'none'] as const;
const minimal: EventPayload = { e: 'ue', eid: 'event-2', tv: 't', p: 'web' };

/** A payload with these entities in `co` (and this event in `ue_pr`), written with spaces as the sanitiser never writes them, so that any rewrite shows. */
function plainPayload(entities: SelfDescribing[], event?: SelfDescribing): EventPayload {
  return {
    ...minimal,
    co: JSON.stringify({ schema: CONTEXTS, data: entities }, null, 1),
    ...(event && { ue_pr: JSON.stringify({ schema: UNSTRUCT, data: event }, null, 1) }),
  };
}

describe('sanitizeEvent leaves what it has no reason to change as it was sent', () => {
  const untouched: SelfDescribing[] = [
    { schema: BROWSER, data: { viewport: '1x1' } },
    { schema: BROWSER, data: { viewport: '1x1', tabId: null } },
    { schema: MOBILE, data: { osType: 'ios' } },
    thing,
  ];
  it.each([
    ['a screen view without a previous screen', { schema: SCREEN_VIEW, data: { id: 'screen-2', name: 'next' } }],
    ['an app event with fields named like a previous screen', { schema: 'iglu:com.acme/step/jsonschema/1-0-0', data: { previousId: 'step-1', previousName: 'cart' } }],
  ])('keeps the contexts and %s byte for byte at every sending level', (_name, event) => {
    const input = plainPayload(untouched, event);
    for (const level of SENDING_LEVELS) expect(kept(input, level)).toEqual(input);
  });
});

describe('the browser context tab id', () => {
  const input = plainPayload([{ schema: BROWSER, data: { viewport: '1x1', tabId: 'tab-1' } }, { schema: USER, data: { tabId: 'own-tab' } }]);

  it('is nulled below full, in the browser context only', () => {
    for (const level of ['session-only', 'none'] as const) {
      expect(contextsOf(kept(input, level)).map((e) => e.data)).toEqual([{ viewport: '1x1', tabId: null }, { tabId: 'own-tab' }]);
    }
  });

  it('is sent at full', () => {
    expect(kept(input, 'full')).toEqual(input);
  });
});

describe('the web page entity', () => {
  const input = plainPayload([{ schema: WEB_PAGE, data: { id: 'page-view-1' } }, thing]);

  it('is removed where views may not link events, even with a new page view id', () => {
    expect(contextsOf(kept(input, 'none', { pageViewId: 'page-view-2' }))).toEqual([thing]);
  });

  it('after a change at a level whose views chain, keeps its place with the new page view id', () => {
    expect(contextsOf(kept(input, 'session-only', { resetViews: true, pageViewId: 'page-view-2' }))).toEqual([{ schema: WEB_PAGE, data: { id: 'page-view-2' } }, thing]);
  });

  it('after a change without a new page view id, is removed', () => {
    expect(contextsOf(kept(input, 'session-only', { resetViews: true }))).toEqual([thing]);
  });
});

describe('the cross-domain linker parameter', () => {
  it.each([
    ['https://shop.example/p?_sp=duid.sid&q=1', 'https://shop.example/p?q=1'],
    ['/p?_sp=duid.sid&q=1', '/p?q=1'],
    ['/p?q=1&_sp=duid.sid', '/p?q=1'],
    ['/p?_sp=duid.sid#top', '/p#top'],
  ])('is removed from url and refr below full, and sent at full: %s', (url, expected) => {
    const input = { ...minimal, url, refr: url };
    for (const level of ['session-only', 'none'] as const) expect(kept(input, level)).toEqual({ ...minimal, url: expected, refr: expected });
    expect(kept(input, 'full')).toEqual(input);
  });
});

describe('the session and the identity', () => {
  const identity = { ...session, userId: 'new-device-user', previousSessionId: null };

  it('an anonymous session sets sid and vid only where the payload had them', () => {
    expect(kept(minimal, 'session-only', { session })).toEqual(minimal);
  });

  it('a replacement identity becomes the network user id too, and adds no other field', () => {
    expect(kept(minimal, 'full', { identity })).toEqual({ ...minimal, tnuid: 'new-device-user' });
  });

  it('a replacement identity sends no network user id where the policy removes it', () => {
    const policy = definePolicy({ overrides: { full: { removeFields: ['tnuid'] } } });
    expect(kept(fullPayload(false), 'full', { identity, policy })).not.toHaveProperty('tnuid');
  });

  it('a full level made anonymous rewrites the session and keeps the user identifiers', () => {
    const policy = definePolicy({ overrides: { full: { session: 'anonymous' } } });
    const out = kept(fullPayload(false), 'full', { policy, session });
    expect(out).toMatchObject({ uid: 'user-1', duid: 'domain-user-1', nuid: 'network-user-1', tnuid: 'network-user-2', sid: 'anon-session-1', vid: '1' });
    expect(entity(out, SESSION)?.data).toMatchObject({ userId: NIL, sessionId: 'anon-session-1' });
  });

  it('keeps an anonymised session entity that has no previousSessionId field', () => {
    const input = plainPayload([{ schema: SESSION, data: { userId: NIL, sessionId: 'anon-session-1', sessionIndex: 1 } }]);
    expect(kept(input, 'session-only')).toEqual(input);
  });
});

describe('the entity field rules', () => {
  it('remove or null a field only in the entities of their schema that have it', () => {
    const policy = definePolicy({
      overrides: {
        none: {
          entityFields: [
            { schema: 'iglu:com.acme/user/', field: 'customerId', action: 'remove' },
            { schema: 'iglu:com.acme/user/', field: 'accountId', action: 'null-uuid' },
          ],
        },
      },
    });
    const order = { schema: 'iglu:com.acme/order/jsonschema/1-0-0', data: { customerId: 'c-42', accountId: 'a-7' } };
    const input = plainPayload([{ schema: USER, data: { customerId: 'c-42', accountId: 'a-7', plan: 'gold' } }, { schema: USER, data: { plan: 'silver' } }, order]);
    const out = contextsOf(kept(input, 'none', { policy }));
    expect(out).toEqual([{ schema: USER, data: { accountId: NIL, plan: 'gold' } }, { schema: USER, data: { plan: 'silver' } }, order]);
    // A nulled field keeps its place in the entity.
    expect(Object.keys(out[0]?.data ?? {})).toEqual(['accountId', 'plan']);
  });

  it('do not reach the client_session entity, which the session rule alone governs', () => {
    const policy = definePolicy({ overrides: { full: { entityFields: [{ schema: SESSION, field: 'userId', action: 'null-uuid' }] } } });
    expect(entity(kept(fullPayload(false), 'full', { policy }), SESSION)?.data.userId).toBe('device-user-1');
  });
});

describe('a policy table built by hand', () => {
  it('is read again on every call while its rules can still change', () => {
    const removeFields: string[] = [];
    const policy = { ...DEFAULT_POLICY, none: Object.freeze({ ...DEFAULT_POLICY.none, removeFields }) };
    const input = { ...minimal, ua: 'Mozilla/5.0' };
    expect(kept(input, 'none', { policy })).toHaveProperty('ua');
    removeFields.push('ua');
    expect(kept(input, 'none', { policy })).not.toHaveProperty('ua');
  });
});

describe('sanitizeEvent beyond the payload', () => {
  it('drops an event at an unknown level as malformed, naming the level', () => {
    expect(sanitizeEvent(minimal, 'most' as ConsentLevel)).toEqual({ kept: false, level: 'off', reason: 'malformed', detail: 'unknown level most' });
  });

  it('rethrows an error that does not come from reading the payload', () => {
    const payload = {
      ...minimal,
      get uid(): string {
        throw new Error('storage failed');
      },
    };
    expect(() => sanitizeEvent(payload, 'none')).toThrow('storage failed');
  });
});
