import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { cookieJarFetch, findLeaks, type CollectedEvent } from 'consent-tracker/testing';
import { HARNESSES, reactNativeHarness as harness } from './helpers/adapter-harness.js';
import { deferred } from './helpers/deferred.js';
import { faultyStorage, onDecision } from './helpers/faulty-storage.js';
import { DECISION, drained, entity, event, SCREEN, SESSION, settled, storedDecision, storedLevel, useApps, type App } from './helpers/launch.js';
import { RN_IDENTITY } from './helpers/react-native.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * What a withdrawal or a reset clears on the device and in the tracker, mostly on the React Native
 * adapter (tracker-core keeps nothing on the device but the queue): the tracker's own stored
 * queue, the stored session, the subject (on both adapters), screen ids across a grant, and the ad
 * ids, asked for only at full. The stored decision a reset removes is in lifecycle.change; a new
 * identity after a withdrawal and a restart in lifecycle.restart.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

const rn = (app: App) => app.consent.tracker as ReactNativeTracker;

/** A retriever whose first IDFA lookup waits until `idfa` resolves (the ATT prompt); `asks()` counts the lookups. */
function slowFirstIdfa() {
  const idfa = deferred<string>();
  let asks = 0;
  return {
    idfa,
    asks: () => asks,
    reactNative: { platformContextRetriever: { getAppleIdfa: () => (++asks === 1 ? idfa.promise : Promise.resolve(RN_IDENTITY.appleIdfa)) } },
  };
}

/** A first run that consents to full and sends one event, then stops: the device keeps the decision and the session. */
async function firstRunAtFull() {
  const device = harness.device();
  const first = apps.launch(harness, { device });
  await first.consent.ready;
  await first.consent.setLevel('full', 'banner');
  first.track('first-run');
  const [sent] = await collector.current.waitForEvents(1);
  await drained(first);
  await first.consent.stop();
  collector.current.reset();
  return { device, firstRun: sent as CollectedEvent };
}

/**
 * The next launch: the user withdraws while the stored full is still being applied (its IDFA
 * lookup waits), then consents again; returns the event sent after the new consent.
 */
async function withdrawWhileTheStoredFullIsApplied(device: ReturnType<typeof harness.device>) {
  const lookup = slowFirstIdfa();
  const second = apps.launch(harness, { device, reactNative: lookup.reactNative });
  await expect.poll(lookup.asks).toBe(1);
  expect(second.consent.getStatus()).toMatchObject({ phase: 'booting', target: 'full' });
  const withdrawal = second.consent.setLevel('none', 'settings');
  lookup.idfa.resolve(RN_IDENTITY.appleIdfa);
  await withdrawal;
  await second.consent.setLevel('full', 'again');
  second.track('after-re-consent');
  return event(await collector.current.waitForEvents(1), 'after-re-consent');
}

const sessionKey = (namespace: string) => `snowplow_${namespace}_session`;

describe("the React Native tracker's own stored queue", () => {
  it('snowplow_<ns>, left from before consent-tracker, is cleared on a withdrawal and its events counted as forgotten', async () => {
    const device = harness.device();
    // What the app's RN tracker stored before consent-tracker was adopted: identified events. Full keeps them.
    const legacy = JSON.stringify([{ payload: { e: 'se', eid: 'old-1', uid: RN_IDENTITY.userId, ip: RN_IDENTITY.ipAddress }, svrAnon: false }]);
    device.storage.entries.set(`snowplow_${device.namespace}`, legacy);
    device.storage.entries.set(DECISION, storedDecision('full'));
    const app = apps.launch(harness, { device });
    await app.consent.ready;
    expect(device.storage.entries.get(`snowplow_${device.namespace}`)).toBe(legacy);
    await app.consent.setLevel('none', 'settings');
    expect(device.storage.entries.get(`snowplow_${device.namespace}`) ?? '').not.toContain(RN_IDENTITY.userId);
    expect(app.consent.stats().dropped.forgotten).toBe(1);
    // Nothing of it reaches the collector.
    await drained(app);
    expect(collector.current.events().map((e) => e.id)).not.toContain('old-1');
  });
});

describe('the stored session (snowplow_<ns>_session, with the device user id)', () => {
  it('a withdrawal overtaken by a lower level, then taken back while the removal waits on storage: cleared, and the level taken back stored', async () => {
    const device = harness.device();
    const faults = faultyStorage(device.storage);
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    const deviceUserId = await rn(app).getSessionUserId();
    expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').toContain(String(deviceUserId));
    const removal = faults.stall((call) => call.op === 'removeItem' && call.key === sessionKey(device.namespace));
    const withdrawal = app.consent.setLevel('none', 'settings');
    await expect.poll(removal.started).toBe(true);
    const lower = app.consent.setLevel('off', 'settings');
    const back = app.consent.setLevel('none', 'settings');
    removal.release();
    await Promise.all([withdrawal, lower, back]);
    await settled(app);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'none' });
    expect(storedLevel(device)).toBe('none');
    expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').toBe('');
  });

  it.each(['off', 'none', 'session-only'] as const)(
    'left by a full run, then an unreadable stored decision: the first decision, %s, clears it, and a later full sends a new device user id',
    async (level) => {
      const { device, firstRun } = await firstRunAtFull();
      const oldUserId = String(entity(firstRun, SESSION)?.userId);
      expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').toContain(oldUserId);
      // The stored decision is corrupted (a partial write, a migration): what is on the device is not known.
      device.storage.entries.set(DECISION, '{"level":"full",');
      const second = apps.launch(harness, { device, options: { onError: () => undefined } });
      await second.consent.ready;
      expect(second.consent.getStatus()).toMatchObject({ phase: 'undecided', level: 'off' });
      // The user answers the banner the app shows again.
      await second.consent.setLevel(level, 'banner');
      await settled(second);
      expect(device.storage.entries.get(sessionKey(device.namespace)) ?? '').not.toContain(oldUserId);
      await second.consent.setLevel('full', 'settings');
      second.track('after-consent');
      const after = event(await collector.current.waitForEvents(1), 'after-consent');
      expect(entity(after, SESSION)?.userId).toEqual(expect.any(String));
      expect(entity(after, SESSION)?.userId).not.toBe(oldUserId);
    },
  );
});

describe('a new identity after a withdrawal made while the stored full is applied at launch', () => {
  it('re-consent sends a new device user id', async () => {
    const { device, firstRun } = await firstRunAtFull();
    const after = await withdrawWhileTheStoredFullIsApplied(device);
    expect(entity(after, SESSION)?.userId).toEqual(expect.any(String));
    expect(entity(after, SESSION)?.userId).not.toBe(entity(firstRun, SESSION)?.userId);
  });

  it('that withdrawal clears the subject: re-consent sends no uid until the app sets it again', async () => {
    const { device } = await firstRunAtFull();
    const after = await withdrawWhileTheStoredFullIsApplied(device);
    expect(after.payload.uid).toBeUndefined();
  });
});

describe('a new identity after a withdrawal made while the stored full is read at launch', () => {
  it('re-consent sends a new device user id, and no uid until the app sets it again', async () => {
    const { device, firstRun } = await firstRunAtFull();
    expect(firstRun.payload.uid).toBe(RN_IDENTITY.userId);
    const faults = faultyStorage(device.storage);
    const read = faults.stall(onDecision('getItem'));
    const second = apps.launch(harness, { device, options: { storage: faults.storage } });
    await expect.poll(read.started).toBe(true);
    // The level before is not known yet: it may have been full, so this is a withdrawal.
    const withdrawal = second.consent.setLevel('none', 'settings');
    read.release();
    await withdrawal;
    await second.consent.setLevel('full', 'again');
    second.track('after-re-consent');
    const after = event(await collector.current.waitForEvents(1), 'after-re-consent');
    expect(entity(after, SESSION)?.userId).toEqual(expect.any(String));
    expect(entity(after, SESSION)?.userId).not.toBe(entity(firstRun, SESSION)?.userId);
    expect(after.payload.uid).toBeUndefined();
  });
});

describe('the subject', () => {
  it('a withdrawal after the stored full failed to apply at launch clears it: re-consent sends no uid', async () => {
    const { device } = await firstRunAtFull();
    const clock = new SimulatedClock();
    const lookup = slowFirstIdfa();
    const second = apps.launch(harness, { device, options: { clock, onError: () => undefined }, reactNative: lookup.reactNative });
    await expect.poll(lookup.asks).toBe(1);
    clock.increment(10_000); // the stored full times out
    await second.consent.ready;
    expect(second.consent.getStatus()).toMatchObject({ phase: 'failed', level: 'none', error: { code: 'APPLY_TIMEOUT' } });
    lookup.idfa.resolve(RN_IDENTITY.appleIdfa);
    await second.consent.setLevel('none', 'settings');
    await second.consent.setLevel('full', 'settings');
    second.track('after-re-consent');
    const events = await collector.current.waitForEvents(1);
    // As when the stored full did apply: the withdrawal clears the subject.
    expect(event(events, 'after-re-consent').payload.uid).toBeUndefined();
  });

  it('a first grant lowered before it came into force is no withdrawal: the subject is kept', async () => {
    const lookup = slowFirstIdfa();
    const app = apps.launch(harness, { device: harness.device(), reactNative: lookup.reactNative });
    await app.consent.ready;
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(lookup.asks).toBe(1);
    expect(app.consent.getStatus().phase).toBe('applying');
    const lower = app.consent.setLevel('session-only', 'banner');
    lookup.idfa.resolve(RN_IDENTITY.appleIdfa);
    await Promise.all([grant, lower]);
    expect(app.consent.getStatus()).toMatchObject({ phase: 'active', level: 'session-only' });
    await app.consent.setLevel('full', 'settings');
    app.track('identified');
    const events = await collector.current.waitForEvents(1);
    // undecided → session-only → full keeps the app's uid; so must this path (nothing was withdrawn).
    expect(event(events, 'identified').payload.uid).toBe(RN_IDENTITY.userId);
  });

  it('a withdrawal from full taken back before it came into force still clears it, and the device user id: the grant taken back sends neither', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.track('before');
    const before = event(await collector.current.waitForEvents(1), 'before');
    expect(before.payload.uid).toBe(RN_IDENTITY.userId);
    collector.current.reset();
    app.control.setHold(true);
    const withdrawal = app.consent.setLevel('none', 'settings');
    expect(app.consent.getLevel()).toBe('none');
    // The withdrawal's clean-up has run; its change is held.
    await expect.poll(() => app.control.pending()).toBe(1);
    app.control.setHold(false);
    // Taken back: the held change is abandoned, and full applied anew.
    await app.consent.setLevel('full', 'settings');
    await withdrawal;
    app.track('after');
    const after = event(await collector.current.waitForEvents(1), 'after');
    expect(entity(after, SESSION)?.userId).not.toBe(entity(before, SESSION)?.userId);
    // The uid sent with the withdrawn device user id would link the new one to it.
    expect(after.payload.uid).toBeUndefined();
  });
});

describe.each(HARNESSES)('the subject across a withdrawal, with the $name adapter', (adapterHarness) => {
  it('full, none in force, full again: the uid, IP address and network and domain user ids the app set before the withdrawal are not sent again, and the device user id is new', async () => {
    const app = apps.launch(adapterHarness, { device: adapterHarness.device() });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    app.track('before');
    const before = event(await collector.current.waitForEvents(1), 'before');
    expect(before.payload).toMatchObject({ uid: 'user-1', ip: '203.0.113.9', duid: expect.any(String) });
    expect(before.payload.tnuid ?? before.payload.nuid).toEqual(expect.any(String));
    await app.consent.setLevel('none', 'settings');
    await app.consent.setLevel('full', 'again');
    app.track('after');
    const after = event(await collector.current.waitForEvents(2), 'after');
    expect(entity(after, SESSION)?.userId).not.toBe(entity(before, SESSION)?.userId);
    // The app sets them again after a new consent; until then none is sent.
    for (const field of ['uid', 'ip', 'nuid', 'duid']) expect(after.payload[field], field).toBeUndefined();
    // The network user id is the new identity's own, not the one the app set before.
    expect(after.payload.tnuid).toBe(entity(after, SESSION)?.userId);
  });
});

describe('screen ids across a grant', () => {
  it('a screen viewed under none is not carried into identified events after a grant', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    await app.consent.ready;
    rn(app).trackScreenViewEvent({ name: 'anonymous-screen' });
    app.track('anonymous');
    await collector.current.waitForEvents(2);
    // At none, events carry no screen; the screen view itself has its id.
    expect(entity(event(collector.current.events(), 'anonymous'), SCREEN)).toBeUndefined();
    const anonymousScreenId = collector.current.events().find((e) => e.selfDescribingEvent?.data.name === 'anonymous-screen')?.selfDescribingEvent?.data.id;
    expect(anonymousScreenId).toEqual(expect.any(String));
    await app.consent.setLevel('full', 'banner');
    app.track('identified');
    const identified = event(await collector.current.waitForEvents(3), 'identified');
    expect(identified.payload.uid).toBe(RN_IDENTITY.userId);
    // Otherwise the anonymous events could be joined to the identified user through the screen id.
    expect(entity(identified, SCREEN)?.id).not.toBe(anonymousScreenId);
  });

  it('a screen view held during the grant is sent anonymously, and its id is not carried into identified events', async () => {
    const lookup = slowFirstIdfa();
    const app = apps.launch(harness, { device: harness.device(), reactNative: lookup.reactNative });
    await app.consent.ready;
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(lookup.asks).toBe(1);
    rn(app).trackScreenViewEvent({ name: 'held-screen' }); // tracked at none: held, then sent anonymously
    lookup.idfa.resolve(RN_IDENTITY.appleIdfa);
    await grant;
    app.track('identified');
    const events = await collector.current.waitForEvents(2);
    const held = events.find((e) => e.payload.se_ac === undefined) as CollectedEvent;
    expect(findLeaks([held], 'none')).toEqual([]);
    const heldScreenId = (held.selfDescribingEvent?.data as { id?: string } | undefined)?.id;
    expect(heldScreenId).toEqual(expect.any(String));
    const identified = event(events, 'identified');
    expect(identified.payload.uid).toBe(RN_IDENTITY.userId);
    // The anonymous screen view would be joined to the identified user through its id.
    expect(entity(identified, SCREEN)?.id).not.toBe(heldScreenId);
  });
});

describe('the ad ids', () => {
  it('are not asked for once the user has withdrawn, even while full is still being applied', async () => {
    const idfa = deferred<string>();
    let withdrawn = false;
    const askedAfterWithdrawal: string[] = [];
    let asked = false;
    const app = apps.launch(harness, {
      device: harness.device(),
      reactNative: {
        platformContextRetriever: {
          getAppleIdfa: () => ((asked = true), idfa.promise),
          getAppleIdfv: async () => {
            if (withdrawn) askedAfterWithdrawal.push('appleIdfv');
            return RN_IDENTITY.appleIdfv;
          },
          getAndroidIdfa: async () => {
            if (withdrawn) askedAfterWithdrawal.push('androidIdfa');
            return RN_IDENTITY.androidIdfa;
          },
        },
      },
    });
    await app.consent.ready;
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => asked).toBe(true);
    const withdrawal = app.consent.setLevel('none', 'settings');
    withdrawn = true;
    idfa.resolve(RN_IDENTITY.appleIdfa);
    await Promise.all([grant, withdrawal]);
    expect(app.consent.getLevel()).toBe('none');
    expect(askedAfterWithdrawal).toEqual([]);
    app.track('after-withdrawal');
    const [sent] = await collector.current.waitForEvents(1);
    expect(findLeaks([sent as CollectedEvent], 'none')).toEqual([]);
  });
});

describe('setters the gate holds, then a withdrawal (react-native)', () => {
  it('setUserId made while the stored full is read, then a withdrawal: re-consent does not send that uid', async () => {
    const device = harness.device();
    device.storage.entries.set(DECISION, storedDecision('full'));
    const faults = faultyStorage(device.storage);
    const read = faults.stall(onDecision('getItem'));
    const app = apps.launch(harness, { device, options: { storage: faults.storage } });
    // The app restores its logged-in user at launch (held: the tracker does not exist yet)...
    (app.consent.tracker as ReactNativeTracker).setUserId('user-2');
    await expect.poll(read.started).toBe(true);
    // ...then the user withdraws while the stored full is read: the clearing comes after that setter.
    const withdrawal = app.consent.setLevel('none', 'settings');
    read.release();
    await withdrawal;
    await app.consent.setLevel('full', 'again');
    app.track('after-re-consent');
    expect(event(await collector.current.waitForEvents(1), 'after-re-consent').payload.uid).toBeUndefined();
  });

  it('setUserId held while a grant is applied, then a withdrawal: re-consent does not send that uid', async () => {
    const app = apps.launch(harness, { device: harness.device() });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    await app.consent.setLevel('session-only', 'settings');
    app.control.setHold(true);
    const grant = app.consent.setLevel('full', 'banner');
    await expect.poll(() => app.control.pending()).toBe(1);
    (app.consent.tracker as ReactNativeTracker).setUserId('user-2');
    app.control.setHold(false);
    const withdrawal = app.consent.setLevel('none', 'settings');
    await Promise.all([grant, withdrawal]);
    await app.consent.setLevel('full', 'again');
    app.track('after-re-consent');
    expect(event(await collector.current.waitForEvents(1), 'after-re-consent').payload.uid).toBeUndefined();
  });
});

describe.each(HARNESSES)('re-linking across a withdrawal, with the $name adapter', (adapterHarness) => {
  /**
   * full → none → full, with events (and, on React Native, screen views) in each period, over a
   * network that keeps cookies as a device's does; the collector's events before and after.
   */
  async function acrossAWithdrawal(options: { stitch?: boolean } = {}) {
    const app = apps.launch(adapterHarness, { device: adapterHarness.device(), options, cookies: true });
    const screen = (name: string) => adapterHarness.name === 'react-native' && rn(app).trackScreenViewEvent({ name });
    await app.consent.ready;
    await app.consent.setLevel('full', 'banner');
    screen('home');
    app.track('before-1');
    // A request of its own, answered with the collector's sp cookie, which the next one sends back.
    const first = await collector.current.waitForEvents(adapterHarness.name === 'react-native' ? 2 : 1);
    app.track('before-2');
    const before = await collector.current.waitForEvents(first.length + 1);
    await app.consent.setLevel('none', 'settings');
    app.track('between');
    await collector.current.waitForEvents(before.length + 1);
    await app.consent.setLevel('full', 'again');
    screen('next');
    app.track('after-1');
    app.track('after-2');
    const all = await collector.current.waitForEvents(2 * before.length + 1);
    return { before, after: all.slice(before.length + 1) };
  }

  it('nothing the collector received after the new consent links it to what it received before the withdrawal, its sp cookie included', async () => {
    const { before, after } = await acrossAWithdrawal();
    // Before the withdrawal the device sent back the collector's sp cookie, as devices do...
    expect(before.some((e) => e.cookieSent)).toBe(true);
    // ...after it, never again: the new identity has a network user id of its own.
    expect(after.every((e) => !e.cookieSent)).toBe(true);
    expect(new Set(after.map((e) => e.networkUserId)).size).toBe(1);
    expect(findLeaks([...before, ...after], 'full', { relinks: { before, after } })).toEqual([]);
  });

  it('with stitch: true, the device user id links them, as asked', async () => {
    const { before, after } = await acrossAWithdrawal({ stitch: true });
    const relinks = findLeaks([...before, ...after], 'full', { relinks: { before, after } }).filter((leak) => leak.kind === 'relink');
    expect(relinks.map((leak) => leak.field)).toContain('client_session.userId');
  });
});

describe.each(HARNESSES)('the collector cookie across a restart after a withdrawal, with the $name adapter', (adapterHarness) => {
  it('the next run at full does not send the cookie the collector set before the withdrawal', async () => {
    const device = adapterHarness.device();
    // The device's networking keeps its cookies across runs of the app.
    const network = cookieJarFetch();
    const first = apps.launch(adapterHarness, { device, network });
    await first.consent.ready;
    await first.consent.setLevel('full', 'banner');
    first.track('before-1');
    await collector.current.waitForEvents(1);
    first.track('before-2');
    const before = await collector.current.waitForEvents(2);
    expect(before.some((e) => e.cookieSent)).toBe(true);
    await first.consent.setLevel('none', 'settings');
    await first.consent.setLevel('full', 'again');
    await first.consent.stop();
    collector.current.reset();
    const second = apps.launch(adapterHarness, { device, network });
    await second.consent.ready;
    expect(second.consent.getLevel()).toBe('full');
    second.track('next-run-1');
    await collector.current.waitForEvents(1);
    second.track('next-run-2');
    const after = await collector.current.waitForEvents(2);
    expect(after.every((e) => !e.cookieSent)).toBe(true);
    // The collector's own network user id of before never comes back (the app sets its own ids again at each launch).
    const beforeIds = new Set(before.map((e) => e.collectorNetworkUserId));
    expect(after.filter((e) => beforeIds.has(e.collectorNetworkUserId))).toEqual([]);
  });
});
