import { Base64 } from 'js-base64';
import type { EventPayload, SelfDescribing } from 'consent-tracker';

export const SESSION = 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2';
export const MOBILE = 'iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3';
export const CONTEXTS = 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0';
export const UNSTRUCT = 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0';
export const NIL = '00000000-0000-0000-0000-000000000000';

export const sessionEntity = (): SelfDescribing => ({
  schema: SESSION,
  data: {
    userId: 'device-user-1',
    sessionId: 'real-session-2',
    previousSessionId: 'real-session-1',
    sessionIndex: 2,
    eventIndex: 7,
    storageMechanism: 'LOCAL_STORAGE',
    firstEventId: 'identified-first',
    firstEventTimestamp: '2026-01-01T00:00:00.000Z',
  },
});

export const mobileEntity = (): SelfDescribing => ({
  schema: MOBILE,
  data: { osType: 'ios', osVersion: '18.0', deviceManufacturer: 'Apple', deviceModel: 'iPhone', appleIdfa: 'IDFA', appleIdfv: 'IDFV', androidIdfa: 'AAID', appSetId: 'SET', appSetIdScope: 'app' },
});

export const screenEntity = (): SelfDescribing => ({
  schema: 'iglu:com.snowplowanalytics.mobile/screen/jsonschema/1-0-0',
  data: { id: 'screen-1', name: 'home' },
});

export const encode = (json: unknown, base64: boolean) => (base64 ? Base64.encodeURI(JSON.stringify(json)) : JSON.stringify(json));
export const decode = (text: string, base64: boolean): unknown => JSON.parse(base64 ? Base64.decode(text) : text);

/** A payload carrying every identifier the policy table names. */
export function fullPayload(base64: boolean, entities: SelfDescribing[] = [sessionEntity(), mobileEntity(), screenEntity()]): EventPayload {
  return {
    e: 'ue',
    eid: 'event-1',
    tv: 'js-4.10.1',
    p: 'web',
    dtm: '1767225600000',
    uid: 'user-1',
    duid: 'domain-user-1',
    nuid: 'network-user-1',
    tnuid: 'network-user-2',
    ip: '203.0.113.9',
    sid: 'browser-session-1',
    vid: '4',
    ua: 'Mozilla/5.0',
    [base64 ? 'cx' : 'co']: encode({ schema: CONTEXTS, data: entities }, base64),
    [base64 ? 'ue_px' : 'ue_pr']: encode({ schema: UNSTRUCT, data: { schema: 'iglu:com.acme/click/jsonschema/1-0-0', data: { target: 'buy' } } }, base64),
  };
}

export function contextsOf(payload: EventPayload): SelfDescribing[] {
  const base64 = 'cx' in payload;
  const raw = payload[base64 ? 'cx' : 'co'];
  if (raw === undefined) return [];
  return (decode(String(raw), base64) as { data: SelfDescribing[] }).data;
}

export const entity = (payload: EventPayload, schema: string) => contextsOf(payload).find((e) => e.schema === schema);
