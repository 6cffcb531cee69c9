import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { buildStructEvent } from '@snowplow/tracker-core';
import { describe, expect, it } from 'vitest';
import { ConsentError, NULL_UUID, definePolicy, findForbiddenIdentifiers, sanitizeEvent, schemaMatches, type ConsentLevel, type CoreTracker, type SelfDescribing } from 'consent-tracker';
import { findLeaks } from 'consent-tracker/testing';
import { HARNESSES } from './helpers/adapter-harness.js';
import { entity, event, useApps } from './helpers/launch.js';
import { CONTEXTS, encode, UNSTRUCT } from './helpers/payloads.js';
import { useCollector } from './helpers/use-collector.js';

/** Identifiers inside the app's own entities and self-describing events, by schema and level. */

const USER = 'iglu:com.acme/user/jsonschema/1-0-2';
const policy = definePolicy({
  overrides: {
    'session-only': {
      entityFields: [
        { schema: 'iglu:com.acme/user/jsonschema/1-*-*', field: 'customerId', action: 'remove' },
        { schema: 'iglu:com.acme/user/jsonschema/1-*-*', field: 'accountId', action: 'null-uuid' },
      ],
    },
  },
});
const userEntity = (): SelfDescribing => ({ schema: USER, data: { customerId: 'c-42', accountId: 'a-7', plan: 'gold' } });

describe('schema patterns', () => {
  it.each([
    ['iglu:com.acme/user/jsonschema/1-*-*', USER, true],
    ['iglu:com.acme/user/jsonschema/1-*-*', 'iglu:com.acme/user/jsonschema/2-0-0', false],
    ['iglu:com.acme/user/', USER, true],
    ['iglu:com.acme/*/jsonschema/1-0-2', USER, true],
    ['iglu:com.acme/order/', USER, false],
  ])('%s matches %s: %s', (pattern, schema, expected) => {
    expect(schemaMatches(pattern, schema)).toBe(expected);
  });
});

describe('the policy for the app own entities', () => {
  it('holds at the level it is given for and every level below, never above', () => {
    expect(policy.full.entityFields).toEqual([]);
    for (const level of ['session-only', 'none', 'off'] as const) expect(policy[level].entityFields).toHaveLength(2);
  });

  it.each([
    [{ 'session-only': { entityFields: [{ schema: 'com.acme/user', field: 'x', action: 'remove' }] } }],
    [{ 'session-only': { entityFields: [{ schema: USER, field: '', action: 'remove' }] } }],
    [{ 'session-only': { entityFields: [{ schema: USER, field: 'x', action: 'keep' }] } }],
    [{ 'session-only': { entityFields: 'customerId' } }],
  ])('refuses a malformed rule %j with a typed error', (overrides) => {
    expect(() => definePolicy({ overrides: overrides as never })).toThrow(ConsentError);
  });

  it.each([true, false])('removes or nulls the fields in entities and self-describing events (base64 %s)', (base64) => {
    const payload = {
      e: 'ue',
      eid: 'e1',
      tv: 't',
      p: 'app',
      [base64 ? 'cx' : 'co']: encode({ schema: CONTEXTS, data: [userEntity()] }, base64),
      [base64 ? 'ue_px' : 'ue_pr']: encode({ schema: UNSTRUCT, data: userEntity() }, base64),
    };
    expect(findForbiddenIdentifiers(payload, 'none', policy).map((f) => f.field)).toEqual([`${USER}.customerId`, `${USER}.accountId`, `${USER}.customerId`, `${USER}.accountId`]);
    const result = sanitizeEvent(payload, 'none', { policy });
    if (!result.kept) throw new Error('dropped');
    expect(findForbiddenIdentifiers(result.payload, 'none', policy)).toEqual([]);
    const full = sanitizeEvent(payload, 'full', { policy });
    expect(full.kept && full.payload).toEqual(payload);
  });
});

const collector = useCollector();
const apps = useApps(() => collector.current.url);

describe.each(HARNESSES)('the app own entities on the wire, with the $name adapter', (harness) => {
  it('are sent as they are at full, and without the identifiers the policy names below it', async () => {
    const app = apps.launch(harness, { device: harness.device(), options: { policy } });
    const track = (action: string) =>
      harness.name === 'react-native'
        ? (app.consent.tracker as ReactNativeTracker).trackStructuredEvent({ category: 'c', action }, [userEntity()])
        : (app.consent.tracker as CoreTracker).track(buildStructEvent({ category: 'c', action }), [userEntity()]);
    await app.consent.ready;
    const levels: Record<string, ConsentLevel> = { full: 'full', 'session-only': 'session-only', none: 'none' };
    for (const [i, level] of (['full', 'session-only', 'none'] as const).entries()) {
      await app.consent.setLevel(level, 'banner');
      track(level);
      // Sent before the next change: one still queued at a withdrawal would go out at the lower level.
      await collector.current.waitForEvents(i + 1);
    }
    const events = collector.current.events();
    expect(findLeaks(events, (e) => levels[e.payload.se_ac ?? ''] ?? 'off', policy)).toEqual([]);
    expect(entity(event(events, 'full'), USER)).toEqual({ customerId: 'c-42', accountId: 'a-7', plan: 'gold' });
    for (const level of ['session-only', 'none']) expect(entity(event(events, level), USER)).toEqual({ accountId: NULL_UUID, plan: 'gold' });
  });
});
