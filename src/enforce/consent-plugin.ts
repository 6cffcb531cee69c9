import { payloadJsonProcessor, type CorePlugin, type PayloadBuilder, type TrackerCore } from '@snowplow/tracker-core';
import type { ConsentLevel } from '../../machines/levels.js';
import { sanitizeEvent, type SanitizeOptions, type SanitizeResult } from '../sanitize.js';
import { CLIENT_SESSION_SCHEMA_PREFIX, SCREEN_VIEW_SCHEMA_PREFIX, encodeJsonFields, readSelfDescribingEventShared } from '../tp2.js';
import type { IdentityKeeper } from './identity-keeper.js';
import type { EnforcementContext } from './enforcement-context.js';
import { samePayload } from './same-payload.js';

/** The real session id of an event, if the tracker attached one (browser `sid` or a `client_session` entity). */
function realSessionId(payload: Record<string, unknown>, entities: readonly unknown[], json: readonly { json: unknown }[]): string | undefined {
  if (typeof payload.sid === 'string') return payload.sid;
  const candidates = [...entities, ...json.flatMap((j) => ((j.json as { data?: unknown }).data as unknown[] | undefined) ?? [])];
  for (const entity of candidates) {
    const { schema, data } = (entity ?? {}) as { schema?: unknown; data?: { sessionId?: unknown } };
    if (typeof schema === 'string' && schema.startsWith(CLIENT_SESSION_SCHEMA_PREFIX) && typeof data?.sessionId === 'string') {
      return data.sessionId;
    }
  }
  return undefined;
}

/** Makes `target` hold exactly what `source` holds, touching only the fields that differ (the tracker's own payload object stays fast). */
function replaceContents(target: Record<string, unknown>, source: Readonly<Record<string, unknown>>): void {
  for (const key of Object.keys(target)) if (!Object.prototype.hasOwnProperty.call(source, key)) delete target[key];
  for (const key of Object.keys(source)) if (target[key] !== source[key]) target[key] = source[key];
}

/** Whether the payload is a screen view (after the JSON processor has run; unreadable counts as not). */
function isScreenView(payload: Record<string, unknown>): boolean {
  const field = 'ue_px' in payload ? 'ue_px' : 'ue_pr' in payload ? 'ue_pr' : undefined;
  if (field === undefined) return false;
  try {
    return readSelfDescribingEventShared(payload, field).data.schema.startsWith(SCREEN_VIEW_SCHEMA_PREFIX);
  } catch {
    return false;
  }
}

/**
 * The track-time enforcement point: a tracker-core plugin that applies `sanitizeEvent` to every
 * event after the tracker's own plugins have added their identifiers. It wraps the payload's JSON
 * processor, so it sees the final payload, including entities added with `addContextEntity`; and
 * its `filter` drops what must not be sent (level `off`, an unreadable payload). The level is read
 * once per event, so an event is never half-sanitised.
 */
export function createConsentPlugin(context: EnforcementContext, identity: IdentityKeeper): CorePlugin {
  let core: TrackerCore | undefined;
  let lastLevel: ConsentLevel | undefined;
  /** Events of the current `track` call that must be filtered out. */
  const rejected = new Set<string>();

  function beforeTrack(pb: PayloadBuilder): void {
    const eventId = pb.getPayload().eid;
    rejected.clear();
    context.vouched = undefined;
    try {
      const inForce = context.readLevel();
      // Entering a level starts its anonymous session, marks screen ids stale after a change,
      // and after a withdrawal prepares a new identity for a later full. A ceiling (a held
      // event released) lowers this event only: it is not a level change.
      identity.observe(inForce);
      const level = context.capLevel(inForce);
      lastLevel = level;
      const sessionRule = context.policy[level].session;
      const base64 = core?.getBase64Encoding() ?? true;
      // Decided on the first build of this event; a later rebuild must give the same result.
      let eventOptions: SanitizeOptions | undefined;
      /** What the last build produced: a rebuild with nothing added or changed leaves it as it is. */
      let produced: Record<string, unknown> | undefined;
      pb.withJsonProcessor((builder, json, entities) => {
        const dict = builder.getPayload();
        if (produced !== undefined && json.length === 0 && entities.length === 0 && samePayload(dict, produced)) return;
        let result: SanitizeResult;
        try {
          // Build plain JSON and encode once, after sanitising: base64 is the costly part, and
          // tracker-core's encoder is slower than ours. A rebuild over an encoded payload keeps it encoded.
          const encodedAlready = 'cx' in dict || 'ue_px' in dict;
          // Read before the processor empties the entity lists into the payload.
          const realSession = eventOptions === undefined ? realSessionId(dict, entities, json) : undefined;
          payloadJsonProcessor(base64 && encodedAlready)(builder, json, entities);
          if (eventOptions === undefined) {
            const args = [String(dict.eid), Number(dict.dtm ?? dict.ttm), realSession] as const;
            const session = sessionRule === 'anonymous' ? identity.anonymousSession(...args) : undefined;
            // A new anonymous session starts a new chain of views: none links it to the one before.
            if (session?.eventIndex === 1) identity.viewsStale = true;
            const replacement = sessionRule === 'as-is' ? identity.replacementIdentity(...args) : undefined;
            const resetViews = identity.viewsStale;
            // The next screen view (its previous* removed) starts views of the new level; one
            // released under a lower cap (held during the change) is not of the new level.
            if (resetViews && level === inForce && (isScreenView(dict) || dict.e === 'pv')) identity.viewsStale = false;
            eventOptions = { policy: context.policy, resetViews, pageViewId: identity.stalePageViewId, ...(session && { session }), ...(replacement && { identity: replacement }) };
          }
          result = sanitizeEvent(dict, level, eventOptions);
          if (result.kept && base64) encodeJsonFields(result.payload);
        } catch (error) {
          // tracker-core's own processor throws on a contexts field it cannot parse; fail closed on anything.
          result = { kept: false, level, reason: 'malformed', detail: `the payload could not be built: ${String(error)}` };
        }
        if (result.kept) {
          replaceContents(dict, result.payload);
          produced = result.payload;
          context.vouched = { payload: dict, fields: produced, level: result.level };
          return;
        }
        produced = undefined;
        for (const key of Object.keys(dict)) delete dict[key];
        // Keep only the id, so that nothing can leave even if another plugin ignores our filter.
        dict.eid = eventId;
        if (!rejected.has(String(eventId))) {
          rejected.add(String(eventId));
          context.drop(result.reason, 'plugin', eventId, result.detail);
        }
      });
    } catch (error) {
      // tracker-core logs and ignores a throwing beforeTrack: fail closed instead.
      rejected.add(String(eventId));
      context.drop('malformed', 'plugin', eventId, `enforcement failed: ${String(error)}`);
    }
  }

  return {
    activateCorePlugin: (tracker) => {
      core = tracker;
    },
    beforeTrack,
    filter: (payload) => {
      const eventId = String(payload.eid);
      if (rejected.delete(eventId)) return false;
      if (lastLevel !== undefined) context.captured.set(eventId, lastLevel);
      return true;
    },
    afterTrack: () => {
      context.counters.tracked += 1;
    },
  };
}
