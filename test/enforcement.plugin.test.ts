import { buildPageView, buildSelfDescribingEvent, buildStructEvent, trackerCore, type CorePlugin, type PayloadBuilder, type SelfDescribingJson } from '@snowplow/tracker-core';
import { describe, expect, it } from 'vitest';
import { createEnforcement, type ConsentLevel, type DroppedEvent, type EnforcementOptions, type EventPayload, type SelfDescribing } from 'consent-tracker';
import { contextsOf, decode } from './helpers/payloads.js';

/**
 * The track-time point: what a real tracker-core tracker hands its emitter (the payload its
 * callback builds) once the plugin has run, and what the plugin counts.
 */

const SESSION = 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2';
const SCREEN = 'iglu:com.snowplowanalytics.mobile/screen/jsonschema/1-0-0';
const SCREEN_VIEW = 'iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0';
const WEB_PAGE = 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0';
const LATE = 'iglu:com.acme/late/jsonschema/1-0-0';
const EARLY = 'iglu:com.acme/early/jsonschema/1-0-0';

/** A tracker-core tracker with the plugin last (after `plugins`), at `initial` until `setLevel`. */
function trackerAt(
  initial: ConsentLevel,
  { base64 = true, plugins = [], callback, ...options }: Partial<EnforcementOptions> & { base64?: boolean; plugins?: CorePlugin[]; callback?: (pb: PayloadBuilder) => void } = {},
) {
  let level = initial;
  const drops: DroppedEvent[] = [];
  const built: EventPayload[] = [];
  const enforcement = createEnforcement({ ...options, level: () => level, onDrop: (d) => drops.push(d) });
  const core = trackerCore({
    base64,
    corePlugins: [...plugins, enforcement.plugin],
    callback: (pb) => {
      callback?.(pb);
      built.push({ ...pb.build() });
    },
  });
  core.setUserId('user-1');
  return {
    core,
    enforcement,
    built,
    drops,
    async setLevel(next: ConsentLevel) {
      level = next;
      await enforcement.levelChanged();
    },
    /** Changes the level without telling the enforcement: only the plugin's own reading notices. */
    changeLevelUnannounced: (next: ConsentLevel) => void (level = next),
  };
}

const sessionEntity = (sessionId: string): SelfDescribingJson => ({ schema: SESSION, data: { userId: 'device-user-1', sessionId, previousSessionId: 'real-before', sessionIndex: 3, eventIndex: 1, storageMechanism: 'LOCAL_STORAGE', firstEventId: 'f', firstEventTimestamp: '2026-01-01T00:00:00.000Z' } });
const screenEntity = (): SelfDescribingJson => ({ schema: SCREEN, data: { id: 'screen-a', name: 'a' } });
const webPage = (): SelfDescribingJson => ({ schema: WEB_PAGE, data: { id: 'page-1' } });
const screenView = () => buildSelfDescribingEvent({ event: { schema: SCREEN_VIEW, data: { name: 'b', id: 'screen-b', previousId: 'screen-a', previousName: 'a' } } });
const struct = (action: string) => buildStructEvent({ category: 'c', action });

/** The data of the entity of `payload` with schema `schema`. */
const entityData = (payload: EventPayload | undefined, schema: string) => contextsOf(payload as EventPayload).find((e: SelfDescribing) => e.schema === schema)?.data as Record<string, unknown> | undefined;
/** The data of the self-describing event of `payload`. */
const eventData = (payload: EventPayload | undefined) => {
  const base64 = 'ue_px' in (payload as EventPayload);
  return (decode(String(payload?.[base64 ? 'ue_px' : 'ue_pr']), base64) as { data: { data: Record<string, unknown> } }).data.data;
};

describe('what the plugin hands the emitter', () => {
  it('the payload without what the level forbids, and counts it as tracked', () => {
    const t = trackerAt('none');
    t.core.track(struct('a'), [sessionEntity('real-1')]);
    expect(t.built[0]).toMatchObject({ e: 'se', se_ca: 'c', se_ac: 'a' });
    expect(t.built[0]).not.toHaveProperty('uid');
    expect(entityData(t.built[0], SESSION)).toBeUndefined();
    expect(t.enforcement.stats().tracked).toBe(1);
  });

  it.each([
    { base64: true, contexts: 'cx', event: 'ue_px' },
    { base64: false, contexts: 'co', event: 'ue_pr' },
  ])('JSON fields encoded only when the tracker encodes them (base64 $base64)', ({ base64, contexts, event }) => {
    const t = trackerAt('full', { base64 });
    t.core.track(screenView(), [screenEntity()]);
    expect(Object.keys(t.built[0] as EventPayload)).toEqual(expect.arrayContaining([contexts, event]));
    expect(entityData(t.built[0], SCREEN)).toEqual({ id: 'screen-a', name: 'a' });
    expect(eventData(t.built[0])).toMatchObject({ id: 'screen-b', previousId: 'screen-a' });
  });

  it.each([
    ['one by one', (pb: PayloadBuilder, entities: SelfDescribingJson[]) => entities.forEach((e) => pb.addContextEntity(e))],
    ['as contexts', (pb: PayloadBuilder, entities: SelfDescribingJson[]) => pb.addJson('cx', 'co', { schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0', data: entities })],
  ])('entities added after the plugins ran (in the callback, %s), sanitised with the rest', (_name, add) => {
    const t = trackerAt('none', { callback: (pb) => add(pb, [sessionEntity('real-1'), { schema: LATE, data: { n: 1 } }]) });
    t.core.track(struct('a'), [screenEntity(), { schema: EARLY, data: { n: 0 } }]);
    expect(Object.keys(t.built[0] as EventPayload)).not.toContain('co');
    expect(contextsOf(t.built[0] as EventPayload).map((e) => e.schema)).toEqual([EARLY, LATE]);
  });

  it('a field added after the plugins ran (in the callback), sanitised with the rest', () => {
    const t = trackerAt('none', { callback: (pb) => pb.add('uid', 'late-user') });
    t.core.track(struct('a'));
    expect(t.built[0]).not.toHaveProperty('uid');
    expect(t.built[0]).toMatchObject({ se_ac: 'a' });
  });

  it('the payload at most at the ceiling of trackAtMost', () => {
    const t = trackerAt('full');
    t.enforcement.trackAtMost('none', () => t.core.track(struct('capped')));
    t.core.track(struct('full'));
    expect(t.built.map((p) => p.uid)).toEqual([undefined, 'user-1']);
  });
});

describe('an event the plugin drops', () => {
  it('is handed to no emitter, keeps only its id for the plugins before it, and is counted once', () => {
    const seen: EventPayload[] = [];
    const before: CorePlugin = {
      filter: (payload) => {
        seen.push({ ...payload });
        return true;
      },
    };
    const t = trackerAt('off', { plugins: [before, { filter: () => true }] });
    t.core.track(struct('a'));
    const eid = t.drops[0]?.eventId;
    expect(eid).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.built).toEqual([]);
    expect(seen).toEqual([{ eid }]);
    expect(t.drops).toEqual([{ reason: 'off', where: 'plugin', eventId: eid, detail: "nothing is sent at 'off'" }]);
    expect(t.enforcement.stats().tracked).toBe(0);
  });

  it('does not stop the next event', () => {
    const t = trackerAt('off');
    t.core.track(struct('dropped'));
    void t.setLevel('none');
    t.core.track(struct('sent'));
    expect(t.built.map((p) => p.se_ac)).toEqual(['sent']);
  });

  it('is counted as malformed when the tracker\'s payload builder cannot be used', () => {
    const t = trackerAt('full');
    const plugin = t.enforcement.plugin;
    plugin.beforeTrack?.({ getPayload: () => ({ eid: 'odd-builder' }) } as unknown as PayloadBuilder);
    expect(plugin.filter?.({ eid: 'odd-builder' })).toBe(false);
    expect(t.drops).toEqual([expect.objectContaining({ reason: 'malformed', where: 'plugin', eventId: 'odd-builder', detail: expect.stringContaining('enforcement failed: TypeError') })]);
  });

  it.each([
    ['an entity whose schema is not a string', { schema: 5, data: {} }],
    ['a session entity without data', { schema: SESSION }],
  ])('with %s is counted as malformed, saying what is wrong', (_name, entity) => {
    const t = trackerAt('full', { base64: false });
    t.core.track(struct('a'), [entity as unknown as SelfDescribingJson]);
    expect(t.built).toEqual([]);
    expect(t.drops).toEqual([expect.objectContaining({ reason: 'malformed', where: 'plugin', detail: 'co entity 0 must be a self-describing JSON { schema, data }' })]);
  });

  it('whose contexts cannot be merged with those given with it is counted as malformed', () => {
    const t = trackerAt('full', { base64: false, plugins: [{ beforeTrack: (pb) => pb.add('co', '{"schema": broken') }] });
    t.core.track(struct('a'), [screenEntity()]);
    expect(t.built).toEqual([]);
    expect(t.drops).toEqual([expect.objectContaining({ reason: 'malformed', where: 'plugin', detail: expect.stringContaining('the payload could not be built') })]);
  });
});

describe('the anonymous session at session-only', () => {
  it.each([
    ['an entity a plugin adds', 'plugin'],
    ['an entity given with the event', 'context'],
    ['the browser sid', 'sid'],
  ] as const)('is one per session of the tracker, told by %s', (_name, way) => {
    let real = 'real-1';
    // Entities before it that are no session entity, one with a sessionId of the app's own.
    const others = (): SelfDescribingJson[] => [screenEntity(), { schema: 'iglu:com.acme/checkout/jsonschema/1-0-0', data: { sessionId: 'app-session' } }];
    const tellsSession: CorePlugin = { beforeTrack: (pb) => (way === 'plugin' ? [...others(), sessionEntity(real)].forEach((e) => pb.addContextEntity(e)) : way === 'sid' ? pb.add('sid', real) : undefined) };
    const t = trackerAt('session-only', { plugins: [tellsSession] });
    const track = () => t.core.track(struct('a'), way === 'context' ? [...others(), sessionEntity(real)] : others());
    track();
    track();
    real = 'real-2';
    track();
    const ids = t.built.map((p) => (way === 'sid' ? p.sid : entityData(p, SESSION)?.sessionId));
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[1]);
    expect(ids).not.toContain('real-1');
  });

  it('is new on entering session-only again, even when nobody announced the changes', () => {
    const t = trackerAt('session-only');
    t.core.track(struct('a'), [sessionEntity('real-1')]);
    t.changeLevelUnannounced('full');
    t.core.track(struct('b'), [sessionEntity('real-1')]);
    t.changeLevelUnannounced('session-only');
    t.core.track(struct('c'), [sessionEntity('real-1')]);
    const [a, b, c] = t.built.map((p) => entityData(p, SESSION)?.sessionId);
    expect(b).toBe('real-1');
    expect(c).not.toBe(a);
  });

  it('counts an event rebuilt with entities added late once', () => {
    const t = trackerAt('session-only', { callback: (pb) => pb.addContextEntity({ schema: LATE, data: { n: 1 } }) });
    t.core.track(struct('a'), [sessionEntity('real-1')]);
    t.core.track(struct('b'), [sessionEntity('real-1')]);
    expect(t.built.map((p) => entityData(p, SESSION)?.eventIndex)).toEqual([1, 2]);
  });

  it("is dated by the first event's device timestamp, or its true timestamp", () => {
    const t = trackerAt('session-only');
    t.core.track(struct('a'), [sessionEntity('real-1')], { type: 'dtm', value: Date.UTC(2026, 0, 2) });
    t.core.track(struct('b'), [sessionEntity('real-2')], { type: 'ttm', value: Date.UTC(2026, 0, 3) });
    expect(t.built.map((p) => entityData(p, SESSION)?.firstEventTimestamp)).toEqual(['2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z']);
  });
});

describe('views after a change', () => {
  it('lose their link to the views before until the next screen view', () => {
    const t = trackerAt('session-only', { base64: false });
    t.core.track(struct('a'), [screenEntity()]);
    t.core.track(screenView());
    t.core.track(struct('b'), [screenEntity()]);
    t.core.track(screenView());
    expect(t.built.map((p) => entityData(p, SCREEN)?.id)).toEqual([undefined, undefined, 'screen-a', undefined]);
    expect(t.built.map((p) => (p.e === 'ue' ? eventData(p).previousId : '-'))).toEqual(['-', undefined, '-', 'screen-a']);
  });

  it('lose their link to the views before until the next page view', () => {
    const t = trackerAt('session-only');
    t.core.track(struct('a'), [webPage()]);
    t.core.track(buildPageView({ pageUrl: 'https://example.com/' }));
    t.core.track(struct('b'), [webPage()]);
    const ids = t.built.map((p) => entityData(p, WEB_PAGE)?.id);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[2]).toBe('page-1');
  });

  it('stay unlinked after an event that cannot be read', () => {
    let unreadable = true;
    const t = trackerAt('session-only', { plugins: [{ beforeTrack: (pb) => (unreadable ? pb.add('ue_pr', '{"schema": broken') : undefined) }] });
    t.core.track(struct('dropped'));
    unreadable = false;
    t.core.track(struct('b'), [screenEntity()]);
    expect(t.drops.map((d) => d.reason)).toEqual(['malformed']);
    expect(t.built.map((p) => entityData(p, SCREEN))).toEqual([undefined]);
  });

  it('stay unlinked after a screen view sent under a lower ceiling, or another self-describing event', () => {
    const t = trackerAt('session-only');
    t.core.track(struct('a'));
    t.enforcement.trackAtMost('none', () => t.core.track(screenView()));
    t.core.track(buildSelfDescribingEvent({ event: { schema: 'iglu:com.acme/click/jsonschema/1-0-0', data: { target: 'buy' } } }));
    t.core.track(struct('b'), [screenEntity()]);
    expect(entityData(t.built[3], SCREEN)).toBeUndefined();
  });
});

describe('after a withdrawal and a new consent', () => {
  it('events at full carry a new device user id in place of the tracker\'s own', async () => {
    const t = trackerAt('full');
    await t.setLevel('none');
    await t.setLevel('full');
    t.core.track(struct('a'), [sessionEntity('real-1')]);
    const session = entityData(t.built[0], SESSION);
    expect(session?.userId).not.toBe('device-user-1');
    expect(session?.userId).toBe(t.enforcement.replacementIdentity()?.userId);
  });

  it('the new identity\'s first session starts with its first event at full, not with events before', async () => {
    const t = trackerAt('full');
    await t.setLevel('none');
    t.core.track(struct('anonymous'), [sessionEntity('real-1')]);
    await t.setLevel('full');
    t.core.track(struct('identified'), [sessionEntity('real-1')]);
    expect(entityData(t.built[1], SESSION)).toMatchObject({ sessionIndex: 1, eventIndex: 1, firstEventId: t.built[1]?.eid });
  });
});
