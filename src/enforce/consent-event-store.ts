import type { EventStore, EventStoreIterator, EventStorePayload, Payload } from '@snowplow/tracker-core';
import { ConsentError } from '../consent-error.js';
import { compareLevels, isConsentLevel, minLevel, type ConsentLevel } from '../../machines/levels.js';
import { sanitizeEvent, type DropReason } from '../sanitize.js';
import { samePayload } from './same-payload.js';
import type { KeyValueStorage } from '../storage.js';
import type { EnforcementContext } from './enforcement-context.js';
import { createQueueLayout, readQueue, removeSegments, SEGMENT_SIZE, sweepRange, type QueueLayout, type QueueSegment, type ReadQueue } from './queue-layout.js';
import { createQueueSlots } from './queue-slots.js';
import type { Clock } from './clock.js';
import { withTimeout } from './with-timeout.js';

/**
 * The consent-aware `EventStore`: tracker-core's interface, plus what the contract needs. Each
 * queued event carries the most it may send (the level it was tracked at, lowered by every
 * downgrade since) and its own `svrAnon`, so that `SP-Anonymous: *` is decided per event.
 *
 * @example
 * ```ts
 * import { createEnforcement } from 'consent-tracker';
 * const { eventStore } = createEnforcement({ level: () => 'none' });
 * await eventStore.ready;
 * await eventStore.count(); // 0
 * ```
 */
export interface ConsentEventStore extends EventStore {
  /** Resolves when the persisted queue has been read (or found unreadable and reported). */
  readonly ready: Promise<void>;
  /**
   * Re-sanitises every queued event for the current level, or for `level`, the one being put in
   * force (drops them all at `off`), and persists the result.
   */
  reconcile(level?: ConsentLevel): Promise<void>;
  /**
   * Lowers the queued events to the level enforced now (a withdrawal not yet in force) and
   * resolves once that is stored, within the storage timeout; the level the queue follows is left
   * to `reconcile`. Before a decision is in force it does nothing.
   */
  storeLowered(): Promise<void>;
  /**
   * Lowers what is queued to a decision the user made, in force or not yet: a withdrawal holds
   * from the moment it is made, even if a later decision supersedes it before it comes into force
   * (docs/design.md, "A withdrawal to `off` holds from the moment it is decided").
   */
  followDecision(level: ConsentLevel): void;
  /**
   * A decision of this run is about to be stored over one it could not read (which may have been
   * a withdrawal): what it read, or will read, of earlier runs' queues is dropped, and `off` is
   * recorded on the other slots; resolves once stored, within the storage timeout.
   */
  decidedOverUnread(): Promise<void>;
  /**
   * Whether this run decided over a stored decision it could not read and `off` is not recorded
   * on the other slots yet: only `off` may be stored until it is, or a start that reads the
   * decision would send those slots' events at their old level.
   */
  earlierRunsUnheld(): boolean;
  /**
   * For a queued event: the level it was tracked at, and the most it may still be sent with (lowered
   * by every downgrade since), and its payload as the queue holds it (sanitised at `allowed`).
   * `undefined` if it is not queued.
   */
  levelsOf(eventId: string): { capturedAt: ConsentLevel; allowed: ConsentLevel; payload: Readonly<Payload> } | undefined;
  /** Whether the event is queued, or was dropped from the queue while in flight: one it never held was sent outside it. */
  holds(eventId: string): boolean;
  /**
   * Whether the queue dropped the event (a downgrade, `off`, overflow): a request that carries it
   * again (the emitter retrying a failed one) must not send it. One still in flight when dropped
   * is counted now, as not delivered, if nothing has settled it yet.
   */
  droppedBefore(eventId: string): boolean;
  /** Resolves when every change so far has been written to storage. */
  persisted(): Promise<void>;
  /**
   * What became of a queued event the fetch guard handled: `counted` (it dropped and counted it),
   * `delivered` (the collector accepted it) or `failed` (it did not reach the collector, or the
   * collector refused it with `status`). An event the collector refused that the emitter then
   * removes (it does not retry that status) is counted as dropped (`rejected`) and reported.
   */
  settle(eventId: string, outcome: 'counted' | 'delivered' | 'failed', status?: number): void;
  /**
   * Stops writing to storage: what is stored stays as last persisted, for the next start, and
   * this instance's queue slot is released. Resolves once it is (at most the storage timeout).
   */
  stop(): Promise<void>;
  /**
   * The app is going away for good (a page unloaded, not kept in the back/forward cache): if
   * the queue is stored as it is, this instance's slot is given up now, so that the next start
   * takes it at once rather than once the lease lapses. Nothing is written after it.
   */
  handOff(): void;
  /** The app is back (a page shown from the back/forward cache): its queue is stored again, in its slot if still its own, else in a new one. */
  resume(): void;
}

interface Entry {
  payload: Payload;
  svrAnon: boolean;
  /** The most it may be sent with: its capture level, lowered by every downgrade since. */
  level: ConsentLevel;
  /** The level it was tracked at: a request built before a downgrade may still hold that payload. */
  capturedAt: ConsentLevel;
  removed: boolean;
  /**
   * Dropped from the queue while the emitter was sending it: whether it reached the collector is
   * not known yet. The fetch guard or the emitter's `removeHead` settles it; if neither does
   * before the next batch, it is counted as dropped then. So nothing is counted twice, or lost.
   */
  limbo?: { reason: DropReason; detail: string };
  /** The status the collector refused its last request with, until it is sent again. */
  refusedWith?: number;
  /** At `full`: the identity it carries (`own`, or the one given after a withdrawal); see `carriesWithdrawnIdentity`. */
  identity?: string | undefined;
  /** What is stored of it, as JSON: made once, and again only when it is lowered. */
  stored?: string | undefined;
  /** The segment of the stored queue it is written in; `undefined` until it is placed in one. */
  segment?: QueueSegment<Entry> | undefined;
  /** Read from storage: queued by an earlier run (or an instance gone), not tracked by this one. */
  fromStorage?: boolean;
}

/** A queued event as a segment stores it. */
interface StoredEvent {
  payload: Payload;
  svrAnon: boolean;
  level: ConsentLevel;
  capturedAt?: ConsentLevel;
  identity?: string;
}

export interface ConsentEventStoreOptions {
  storage?: KeyValueStorage | undefined;
  storageKey: string;
  maxSize: number;
  storageTimeoutMs: number;
  /** How long this instance's hold on its queue slot lasts unless renewed (a third of it apart). */
  leaseMs: number;
  /** The timers of the renewals. */
  clock: Clock;
}

export function createConsentEventStore(context: EnforcementContext, options: ConsentEventStoreOptions): ConsentEventStore {
  const { storage, storageKey, maxSize, storageTimeoutMs, leaseMs, clock } = options;
  const slots = storage && createQueueSlots({ storage, storageKey, timeoutMs: storageTimeoutMs, leaseMs, now: () => Date.now() });
  /** The key this instance's queue is written under; `undefined` while it has none. */
  let slotKey: string | undefined;
  const { policy } = context;
  let entries: Entry[] = [];
  /** The stored queue's segments, in order, and how this instance's slot holds them. */
  let segments: QueueSegment<Entry>[] = [];
  let layout: QueueLayout | undefined;
  /** Events that are not in a segment yet other than at the end (read from storage, taken over): placed at the next write. */
  let needsArrange = false;
  /** Whether an event left the queue since the segments were last compacted (else only the last one changed). */
  let removedSinceCompaction = false;
  const byId = new Map<string, Entry>();
  /** Entries the emitter's latest iterator handed out: `removeHead(n)` removes these, by identity. */
  let handedOut: Entry[] = [];
  let lastLevel = context.readLevel();
  /**
   * The lowest level followed since the stored queue was read: what a queue adopted from another
   * instance is lowered to, as this instance's own stored queue was when it was read.
   */
  let lowestSinceStart: ConsentLevel = 'full';
  let loaded = !storage;

  const idOf = (payload: Payload) => (typeof payload.eid === 'string' ? payload.eid : undefined);
  /** Entries dropped while in flight, by event id, until the fetch guard or `removeHead` settles them. */
  const inLimbo = new Map<string, Entry>();

  /** Ids of events the queue dropped (the latest 10,000): never to be sent by a retried request. */
  const droppedIds = new Set<string>();

  function dropEntry(entry: Entry, reason: DropReason, detail: string) {
    remove(entry);
    const id = idOf(entry.payload);
    if (id !== undefined) {
      if (droppedIds.size >= 10_000) droppedIds.delete(droppedIds.values().next().value as string);
      droppedIds.add(id);
    }
    if (id !== undefined && handedOut.includes(entry)) {
      entry.limbo = { reason, detail };
      inLimbo.set(id, entry);
      return;
    }
    context.drop(reason, 'eventStore', entry.payload.eid, detail);
  }

  /** Ends an entry's limbo; one that did not reach the collector is counted as dropped now. */
  function settleEntry(entry: Entry, reachedCollector: boolean) {
    if (!entry.limbo) return;
    const { reason, detail } = entry.limbo;
    entry.limbo = undefined;
    const id = idOf(entry.payload);
    if (id !== undefined) inLimbo.delete(id);
    if (!reachedCollector) context.drop(reason, 'eventStore', entry.payload.eid, detail);
  }

  /** A new batch starts: what the last one dropped in flight and nobody settled was never sent. */
  function countUnsettled() {
    for (const entry of handedOut) settleEntry(entry, false);
  }

  /** Its segment is to be written again. */
  function touch(entry: Entry) {
    if (entry.segment) entry.segment.dirty = true;
  }

  function remove(entry: Entry) {
    entry.removed = true;
    removedSinceCompaction = true;
    touch(entry);
    const id = idOf(entry.payload);
    if (id !== undefined && byId.get(id) === entry) byId.delete(id);
  }

  function compact() {
    entries = entries.filter((entry) => !entry.removed);
  }

  function enforceCap() {
    while (entries.length > maxSize) {
      const oldest = entries.shift() as Entry;
      dropEntry(oldest, 'overflow', `the queue holds at most ${maxSize} events; the oldest was dropped`);
    }
  }

  /**
   * An entry at full that carries an identity withdrawn since it was queued (the stored identity
   * remembers those withdrawn): a withdrawal whose rewrite of the stored queue never landed (a
   * kill, a storage fault), read by a later run.
   */
  function carriesWithdrawnIdentity(entry: Entry): boolean {
    return entry.level === 'full' && context.identityWithdrawn(entry.identity ?? 'own');
  }

  /** Lowers every entry above `level` to it. Synchronous, so nothing is read in between. */
  function lowerTo(level: ConsentLevel, which: readonly Entry[] = entries): boolean {
    let changed = false;
    for (const entry of which) {
      // Queued before this run, whose start could not read the stored decision: that decision may
      // have withdrawn consent after it was tracked, so it counts as the lowest (docs/design.md,
      // "A stored queue waits for the decision").
      if (!entry.removed && entry.fromStorage && (context.storedDecisionUnread() || overwroteUnread)) {
        changed = true;
        dropEntry(entry, 'unreadable-stored', 'queued by an earlier run whose last decision could not be read: it may have been a withdrawal');
        continue;
      }
      // Still at full after this: what it carries must be the identity in force (the level of the
      // withdrawal it missed is not known, so it counts as the lowest).
      if (!entry.removed && level === 'full' && carriesWithdrawnIdentity(entry)) {
        changed = true;
        dropEntry(entry, 'forgotten', 'queued at full before a withdrawal: its identity was withdrawn');
        continue;
      }
      if (entry.removed || compareLevels(entry.level, level) <= 0) continue;
      changed = true;
      const result = sanitizeEvent(entry.payload, level, { policy, capturedAt: entry.level });
      if (!result.kept) {
        dropEntry(entry, result.reason, `queued event: ${result.detail}`);
        continue;
      }
      entry.payload = result.payload;
      entry.level = result.level;
      entry.identity = result.level === 'full' ? entry.identity : undefined;
      entry.svrAnon ||= policy[result.level].serverAnonymisation;
      entry.stored = undefined;
      touch(entry);
      context.counters.resanitized += 1;
    }
    if (changed) compact();
    return changed;
  }

  /** Notices a downgrade that nobody announced, before anything is read from the queue. */
  function followLevel() {
    // The stand-in level of booting is no decision: what an earlier run stored is held at its
    // levels (the fetch guard sends nothing meanwhile) and lowered once a decision is in force.
    if (context.awaitingDecision()) return;
    const level = context.readLevel();
    if (loaded) lowestSinceStart = minLevel(lowestSinceStart, level);
    const lowered = compareLevels(level, lastLevel) < 0 && lowerTo(level);
    lastLevel = level;
    if (lowered) schedulePersist();
  }

  // Persistence: one write at a time, always of the latest queue.
  let dirty = false;
  let writing: Promise<void> = Promise.resolve();
  let writerRunning = false;

  /** The stored form of one entry, as JSON. */
  function storedForm(entry: Entry): string {
    if (entry.stored !== undefined) return entry.stored;
    const { payload, svrAnon, level, capturedAt, identity } = entry;
    const event: StoredEvent = { payload, svrAnon, level, capturedAt, ...(identity !== undefined && { identity }) };
    return (entry.stored = JSON.stringify(event));
  }

  /**
   * A segment as stored: each entry's JSON made once, so a write costs little more than joining
   * them. What was removed while an earlier write was awaited is left out (and out of the segment).
   */
  function serializeSegment(segment: QueueSegment<Entry>): string {
    segment.entries = segment.entries.filter((entry) => !entry.removed);
    return `[${segment.entries.map(storedForm).join(',')}]`;
  }

  /** A new segment, numbered apart from every other of the slot's (`inUse`: those in memory). */
  function newSegment(into: QueueLayout, inUse = new Set(segments.map((segment) => segment.number))): QueueSegment<Entry> {
    const number = into.freeNumber(inUse);
    inUse.add(number);
    return { number, entries: [], dirty: true };
  }

  /** Places a new event at the end of the stored queue, when nothing else waits to be placed. */
  function placeAtEnd(entry: Entry) {
    if (!layout || needsArrange) return void (needsArrange = true);
    let tail = segments.at(-1);
    if (!tail || tail.entries.length >= SEGMENT_SIZE) {
      // Segments emptied since the last write (sent, dropped) give their numbers back first: numbers stay low.
      segments = segments.filter((segment) => segment.entries.some((entry) => !entry.removed));
      segments.push((tail = newSegment(layout)));
    }
    tail.entries.push(entry);
    tail.dirty = true;
    entry.segment = tail;
  }

  /** The segment of the last queued event read from this slot, if any. */
  function lastStoredSegment(): QueueSegment<Entry> | undefined {
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as Entry;
      if (!entry.removed && entry.segment) return entry.segment;
    }
    return undefined;
  }

  /**
   * Puts every queued event in a segment, in queue order: those read from storage keep theirs,
   * the others (taken over, or queued before the stored queue was read) go in new ones, or at the
   * end of the last. Segments left empty are given up.
   */
  function arrange(into: QueueLayout) {
    // Nothing arranged yet in this run: the tail is the segment of the last event read from
    // storage, so that events queued after a start fill it rather than opening one per start.
    const last = segments.at(-1) ?? lastStoredSegment();
    const inUse = new Set(segments.map((segment) => segment.number));
    const arranged: QueueSegment<Entry>[] = [];
    let open: QueueSegment<Entry> | undefined;
    for (const entry of entries) {
      if (entry.removed) continue;
      if (entry.segment) {
        if (arranged.at(-1) !== entry.segment) arranged.push(entry.segment);
        open = entry.segment === last ? last : undefined;
        continue;
      }
      if (!open || open.entries.length >= SEGMENT_SIZE) arranged.push((open = newSegment(into, inUse)));
      open.entries.push(entry);
      open.dirty = true;
      entry.segment = open;
    }
    segments = arranged;
    needsArrange = false;
  }

  /**
   * Drops what the queue no longer holds from the segments to be written, gives up segments left
   * empty, and joins a changed segment with its neighbour when one would hold both: no two
   * neighbours fit in one, so a queue of n events never has more than 2n / SEGMENT_SIZE + 1
   * segments. (A kill between the two writes leaves events in both: they are read once, by id.)
   */
  function compactSegments() {
    if (!removedSinceCompaction) return;
    removedSinceCompaction = false;
    const compacted: QueueSegment<Entry>[] = [];
    for (const segment of segments) {
      if (segment.dirty) segment.entries = segment.entries.filter((entry) => !entry.removed);
      if (segment.entries.length === 0) continue;
      const previous = compacted.at(-1);
      if (!previous || !(previous.dirty || segment.dirty) || previous.entries.length + segment.entries.length > SEGMENT_SIZE) {
        compacted.push(segment);
        continue;
      }
      for (const entry of segment.entries) entry.segment = previous;
      previous.entries.push(...segment.entries);
      previous.dirty = true;
    }
    segments = compacted;
  }

  /** Writes what changed to `key`'s slot: a queue moved to a new slot is written there whole. */
  async function writeQueue(key: string): Promise<unknown> {
    if (layout?.slotKey !== key) {
      layout = createQueueLayout({ storage: storage as KeyValueStorage, slotKey: key, timeoutMs: storageTimeoutMs });
      for (const segment of segments) segment.dirty = true;
    }
    if (needsArrange) arrange(layout);
    compactSegments();
    // The segments as they are now: one opened while this write is awaited waits for the next, so that it is listed first.
    return layout.write([...segments], serializeSegment);
  }

  let stopped = false;
  /** The slot was given up (`handOff`): nothing is written until `resume`. */
  let handedOff = false;
  /** False when the stored queue could not be read: it is then left as it is, not overwritten. */
  let writable = true;

  /** Whether the last write failed (what it would have stored is not on the device). */
  let lastWriteFailed = false;
  /** The slots whose queue was lowered to the floor they were taken with, and not stored since. */
  const loweredToFloor = new Set<string>();

  function schedulePersist() {
    if (!storage || stopped || handedOff || !writable) return;
    dirty = true;
    if (writerRunning) return;
    writerRunning = true;
    writing = ownQueueRead.then(async () => {
      while (dirty && !stopped && !handedOff && writable) {
        dirty = false;
        const key = await slotToWrite();
        if (key === undefined) break;
        // One write at a time, each to its end: a slow write must never land after a newer one (it
        // could restore events already sent, or identifiers). A failed one removes what it would
        // have replaced, which may hold events at a level they may no longer carry; this run's queue goes on.
        const cause = await writeQueue(key);
        lastWriteFailed = cause !== undefined;
        // The slot's queue is stored lowered to the floor it was taken with: the floor has done its
        // work, and left in the lease it would lower this instance's own events if it were killed.
        if (!lastWriteFailed && loweredToFloor.delete(key)) await slots?.floorStored(key).catch(() => undefined);
        if (lastWriteFailed) context.error(new ConsentError('STORAGE_FAILED', `could not persist the event queue: ${String(cause)}`, { cause }));
      }
      writerRunning = false;
    });
  }

  /**
   * The slot to write to: this instance's, or, if another instance has taken it over (this one
   * was thought gone), a new one. Without one, the queue lives in memory from then on.
   */
  async function slotToWrite(): Promise<string | undefined> {
    if (slots && slotKey !== undefined && !(await slots.owns(slotKey).catch(() => false))) {
      slotKey = await slots.claim();
      if (slotKey !== undefined) slotKey = await moveTo(slotKey);
    }
    if (slotKey === undefined) {
      writable = false;
      context.error(new ConsentError('STORAGE_FAILED', `every queue slot under '${storageKey}' is in use or cannot be written; this queue lives in memory`));
    }
    return slotKey;
  }

  /**
   * This queue is written to a new slot from now on: the events a stopped instance left there
   * are taken in, and its segments stay listed until this queue, theirs included, is stored there.
   * A slot that cannot be read is left as it is: `undefined`, the queue then lives in memory.
   */
  async function moveTo(key: string): Promise<string | undefined> {
    const read = await readQueue(storage as KeyValueStorage, key, storageTimeoutMs).catch(() => undefined);
    if (!read) {
      await slots?.leave(key).catch(() => undefined);
      return undefined;
    }
    takeIn(atFloor(key, restoreQueue(read, key, false)));
    layout = layoutOf(key, read);
    for (const entry of entries) entry.segment = undefined;
    segments = [];
    needsArrange = true;
    return key;
  }

  /**
   * At `stop()`: the last write ended; if it failed, or events came after it, the queue is written
   * once more. What is still not stored then ends here, counted as `stopped`. False if that write
   * did not end in time: it may yet land, so the slot is left to its lease, as after a kill.
   */
  async function storedAtStop(key: string): Promise<boolean> {
    const ended = await withTimeout(writing, storageTimeoutMs, 'the event queue write').then(() => true, () => false);
    if (ended && !dirty && !lastWriteFailed) return true;
    const cause = ended ? await withTimeout(writeQueue(key), storageTimeoutMs, 'the event queue write').catch((error: unknown) => error ?? 'failed') : 'did not end';
    if (cause === undefined) return true;
    context.error(new ConsentError('STORAGE_FAILED', `could not persist the event queue at stop: ${String(cause)}`, { cause }));
    for (const entry of entries) {
      if (!entry.removed) context.drop('stopped', 'eventStore', entry.payload.eid, 'still queued when the consent tracker stopped, and could not be stored');
    }
    entries = [];
    return ended;
  }

  /** Waits for the writes so far, but no longer than the storage timeout: a dead storage is reported, not waited for. */
  async function writesDone(): Promise<void> {
    const settled = (async () => {
      let current: Promise<void>;
      do {
        current = writing;
        await current;
      } while (current !== writing || (dirty && !stopped && writable));
    })();
    try {
      await withTimeout(settled, storageTimeoutMs, 'the event queue write');
    } catch (cause) {
      context.error(new ConsentError('STORAGE_FAILED', `the event queue was not persisted in time: ${String(cause)}`, { cause }));
    }
  }

  /** Checks stored events (anything may be stored there): each kept is sanitised again at its stored level. */
  function restoreEvents(events: unknown[]): Entry[] {
    const restored: Entry[] = [];
    for (const item of events) {
      const { payload, svrAnon, level, capturedAt, identity } = (item ?? {}) as Partial<Entry>;
      const result = isConsentLevel(level) && typeof svrAnon === 'boolean' && payload ? sanitizeEvent(payload, level, { policy }) : undefined;
      if (!result?.kept) {
        context.drop('unreadable-stored', 'eventStore', payload?.eid, result ? result.detail : 'a stored event has the wrong shape');
        continue;
      }
      const captured = isConsentLevel(capturedAt) && compareLevels(capturedAt, result.level) >= 0 ? capturedAt : result.level;
      restored.push({ payload: result.payload, svrAnon: svrAnon as boolean, level: result.level, capturedAt: captured, removed: false, fromStorage: true, ...(result.level === 'full' && typeof identity === 'string' && { identity }) });
    }
    return restored;
  }

  function reportUnreadable(what: string) {
    context.drop('unreadable-stored', 'eventStore', undefined, `${what} is unreadable; it was discarded`);
    context.error(new ConsentError('STORED_DATA_UNREADABLE', `${what} is unreadable; it was discarded`));
  }

  /** A slot's stored queue as entries; with `own`, each keeps the segment it is stored in (one that lost an event is written again). */
  function restoreQueue(read: ReadQueue, key: string, own: boolean): Entry[] {
    if (read.unreadable) reportUnreadable(`the stored event queue under '${key}'`);
    const restored = restoreEvents(read.legacy);
    for (const { number, events } of read.segments) {
      if (events === undefined) {
        reportUnreadable(`a segment of the stored event queue under '${key}'`);
        continue;
      }
      const kept = restoreEvents(events);
      const segment: QueueSegment<Entry> = { number, entries: kept, dirty: kept.length !== events.length };
      if (own) for (const entry of kept) entry.segment = segment;
      restored.push(...kept);
    }
    return restored;
  }

  /**
   * The events of a slot taken from another instance, lowered to the slot's floor: the lowest
   * level decided while that instance held it, which it missed if it was gone.
   */
  function atFloor(key: string, restored: Entry[]): Entry[] {
    const floor = slots?.floorOf(key);
    // This instance's own slot: its next store drops the floor (an adopted slot is removed once stored).
    if (floor !== undefined && key === slotKey) loweredToFloor.add(key);
    // Lowered segments are dirty: stored again, then the slot's lease (and floor) is this instance's.
    if (floor === undefined || !lowerTo(floor, restored)) return restored;
    schedulePersist();
    return restored.filter((entry) => !entry.removed);
  }

  /** The segment keys a slot's manifest lists (every key, when it is unreadable: they are swept). */
  function storedLayout(read: ReadQueue) {
    // Not a manifest: every number a queue could have used is removed once one replaces it.
    if (read.unreadable || read.legacy.length > 0) return { segments: [], loose: Array.from({ length: sweepRange(maxSize) }, (_, i) => i), replace: true };
    return { segments: read.segments.map((segment) => segment.number), loose: read.loose, replace: false };
  }

  /** The layout of `key`'s slot as `read` found it. */
  function layoutOf(key: string, read: ReadQueue): QueueLayout {
    const stored = storedLayout(read);
    return createQueueLayout({ storage: storage as KeyValueStorage, slotKey: key, timeoutMs: storageTimeoutMs, stored, replace: stored.replace });
  }

  /** Adds queued events read from storage, behind those already queued, each once. */
  function merge(arrived: Entry[]) {
    // Read after this run stored a decision over one it could not read: dropped as they arrive.
    const restored = overwroteUnread && lowerTo('full', arrived) ? arrived.filter((entry) => !entry.removed) : arrived;
    // Once each: a kill between two segment writes can leave an event in both.
    const fresh = restored.filter((entry) => {
      const id = idOf(entry.payload);
      if (id === undefined) return true;
      if (byId.has(id)) return false;
      byId.set(id, entry);
      return true;
    });
    const kept = new Set(fresh);
    for (const entry of restored) {
      if (kept.has(entry)) continue;
      // Out of the queue, and out of the segment it was read from.
      entry.removed = true;
      removedSinceCompaction = true;
      touch(entry);
    }
    entries = [...fresh, ...entries];
    needsArrange = true;
    enforceCap();
  }

  /**
   * Takes over the queues of instances gone without releasing their slots (killed), or stopped:
   * their events join this queue, and once it is stored their slots are removed.
   */
  async function adopt(): Promise<void> {
    if (!slots || slotKey === undefined || stopped || handedOff) return;
    const keys = await slots.claimFree(slotKey);
    if (keys.length === 0) return;
    const reads = new Map<string, ReadQueue | undefined>();
    for (const key of keys) reads.set(key, await readQueue(storage as KeyValueStorage, key, storageTimeoutMs).catch(() => undefined));
    const adopted = [...reads].flatMap(([key, read]) => (read ? atFloor(key, restoreQueue(read, key, false)) : []));
    takeIn(adopted);
    schedulePersist();
    await writing;
    // Stored here only if each event taken in is in a segment written since (a stop may have come first).
    const stored = !lastWriteFailed && writable && !stopped && !handedOff && adopted.every((entry) => entry.removed || (entry.segment && !entry.segment.dirty));
    for (const [key, read] of reads) await giveUp(key, stored ? read : undefined);
  }

  /**
   * Ends the hold on an adopted slot: with `read` (its events are now stored here), its segments
   * are removed and then the slot; a segment that cannot be removed stays listed, as loose, for
   * the next instance to take the slot. Without, the slot is left as it is, for a later start.
   */
  async function giveUp(key: string, read: ReadQueue | undefined) {
    const { segments: listedSegments, loose } = read ? storedLayout(read) : { segments: [], loose: [] };
    const { left } = read ? await removeSegments(storage as KeyValueStorage, key, [...listedSegments, ...loose], storageTimeoutMs) : { left: [] };
    if (read && left.length === 0) return void (await slots?.discard(key).catch(() => undefined));
    if (left.length > 0) await withTimeout(storage?.setItem(key, JSON.stringify({ version: 2, segments: [], loose: left })), storageTimeoutMs, 'storage.setItem').catch(() => undefined);
    // Not stored here: its events are still at their stored levels, so the slot keeps its floor.
    await (read ? slots?.release(key) : slots?.leave(key))?.catch(() => undefined);
  }

  /**
   * Adds events another instance stored: its instance may have withdrawn after it last stored
   * them, so each is lowered to the lowest level this instance has followed, as its own stored
   * queue was when it started.
   */
  function takeIn(adopted: Entry[]) {
    if (!context.awaitingDecision()) lowerTo(minLevel(lastLevel, lowestSinceStart), adopted);
    merge(adopted.filter((entry) => !entry.removed));
  }

  /**
   * The floor a decision at `level` leaves on the other instances' slots: its level below full, and
   * `off` in a run that could not read the stored decision (the events there may predate a
   * withdrawal that this run's own decisions have since overwritten).
   */
  const floorFor = (level: ConsentLevel): ConsentLevel | undefined => (context.storedDecisionUnread() ? 'off' : level === 'full' ? undefined : level);

  /**
   * Resolves once the queue is stored and `floor` recorded on the other instances' slots (one
   * killed may still hold its events), each within the storage timeout; a floor not recorded by
   * then stays pending (tried at each renewal and at stop).
   */
  async function storedWithFloor(floor: ConsentLevel | undefined): Promise<void> {
    const floorRecorded = floor === undefined ? undefined : withTimeout(recordFloor(floor), storageTimeoutMs, 'recording the floor').catch(() => undefined);
    await Promise.all([writesDone(), floorRecorded]);
  }

  /** This run stored a decision over one it could not read: what it reads of earlier runs is dropped. */
  let overwroteUnread = false;
  let renewal: unknown;
  /** The lowest decision not yet recorded on the other slots (storage failed): tried again at each renewal and at stop. */
  let floorPending: ConsentLevel | undefined;

  /** Records `level` (and any floor still pending) on the other instances' slots; keeps it pending if storage fails. */
  async function recordFloor(level?: ConsentLevel): Promise<void> {
    const floor = level === undefined ? floorPending : minLevel(level, floorPending ?? level);
    if (!slots || floor === undefined) return;
    floorPending = floor;
    try {
      await slots.lowerFloors(floor);
      if (floorPending === floor) floorPending = undefined;
    } catch (cause) {
      context.error(new ConsentError('STORAGE_FAILED', `could not record the decision on the other queue slots; tried again later: ${String(cause)}`, { cause }));
    }
  }

  /**
   * A queue living in memory (no slot was free, or its stored queue could not be read) takes a
   * slot again: the queue stored there is taken in, lowered to the slot's floor, and this queue is
   * stored there from now on. Else it stays in memory until the next try.
   */
  async function reclaim(): Promise<void> {
    const key = await slots?.claim();
    if (key === undefined || (!stopped && (await moveTo(key)) === undefined)) return;
    // Stopped meanwhile: the slot, as it is stored, goes to the next instance at once, not after its lease.
    if (stopped) return void (await slots?.leave(key).catch(() => undefined));
    slotKey = key;
    writable = true;
    schedulePersist();
  }

  /** Keeps this instance's slot: renewed while still its own (a page frozen or shown again may find it taken over), else stored in a new one. */
  async function keepSlot(key: string): Promise<void> {
    if (!slots) return;
    if (await slots.owns(key).catch(() => false)) await slots.renew(key).catch(() => undefined);
    else schedulePersist();
  }

  /**
   * A third of a lease apart: renews this instance's lease (or takes a slot, for a queue living in
   * memory), records a pending floor, and adopts what gone instances left.
   */
  function renewLater() {
    if (!slots || stopped) return;
    renewal = clock.setTimeout(() => {
      void (async () => {
        if (stopped || handedOff) return;
        if (slotKey === undefined) await reclaim().catch(() => undefined);
        else await keepSlot(slotKey);
        await recordFloor();
        await adopt().catch(() => undefined);
        renewLater();
      })();
    }, leaseMs / 3);
    // A pending renewal must not keep a process alive.
    (renewal as { unref?: () => void } | undefined)?.unref?.();
  }

  /** Resolves once this instance has its slot and has read the queue stored there. */
  const ownQueueRead: Promise<void> = storage && slots
    ? (async () => {
        slotKey = await slots.claim();
        let read: ReadQueue | undefined;
        if (slotKey === undefined) {
          writable = false;
          context.error(new ConsentError('STORAGE_FAILED', `every queue slot under '${storageKey}' is in use or cannot be read; this queue lives in memory`));
        } else {
          try {
            read = await readQueue(storage, slotKey, storageTimeoutMs);
          } catch (cause) {
            // What is stored is unknown, not absent: leave it for the next start rather than overwrite it.
            writable = false;
            await slots.leave(slotKey).catch(() => undefined);
            slotKey = undefined;
            context.error(new ConsentError('STORAGE_FAILED', `could not read the stored event queue; it is left as it is and this queue lives in memory: ${String(cause)}`, { cause }));
          }
        }
        if (read && slotKey !== undefined) layout = layoutOf(slotKey, read);
        merge(read && slotKey !== undefined ? atFloor(slotKey, restoreQueue(read, slotKey, true)) : []);
        loaded = true;
        followLevel();
        // Keys left loose by a run cut short, or a queue stored whole by an earlier version: tidied now.
        if (read && (read.loose.length > 0 || read.unreadable || read.legacy.length > 0)) schedulePersist();
      })()
    : Promise.resolve();

  const ready: Promise<void> = ownQueueRead.then(async () => {
    // Without a slot too: the renewals take one once storage lets them.
    renewLater();
    await adopt().catch(() => undefined);
  });

  /**
   * The plugin's own output, arriving unchanged at the level it was sanitised at: sanitising it
   * again would give the same payload (the sanitiser is idempotent), so it is kept as it is.
   */
  function vouchedFor(payload: Payload, level: ConsentLevel): { kept: true; level: ConsentLevel; payload: Payload } | undefined {
    const vouched = context.vouched;
    if (vouched?.payload !== payload || vouched.level !== level || !samePayload(payload, vouched.fields)) return undefined;
    return { kept: true, level, payload: { ...vouched.fields } };
  }

  const store: ConsentEventStore = {
    ready,
    count: async () => entries.length,
    add: async (item: EventStorePayload) => {
      const eventId = idOf(item.payload);
      const capturedAt = (eventId !== undefined && context.captured.get(eventId)) || context.readLevel();
      if (eventId !== undefined) context.captured.delete(eventId);
      followLevel();
      const now = context.awaitingDecision() ? context.readLevel() : lastLevel;
      const result = vouchedFor(item.payload, minLevel(now, capturedAt)) ?? sanitizeEvent(item.payload, now, { policy, capturedAt });
      if (!result.kept) {
        context.drop(result.reason, 'eventStore', eventId, result.detail);
        return entries.length;
      }
      const entry: Entry = {
        payload: result.payload,
        svrAnon: Boolean(item.svrAnon) || policy[result.level].serverAnonymisation,
        level: result.level,
        capturedAt: result.level,
        removed: false,
        ...(result.level === 'full' && { identity: context.identityMarker() }),
      };
      entries.push(entry);
      placeAtEnd(entry);
      if (eventId !== undefined) byId.set(eventId, entry);
      enforceCap();
      if (loaded) schedulePersist();
      else void ownQueueRead.then(schedulePersist);
      return entries.length;
    },
    removeHead: async (count: number) => {
      const victims = handedOut.splice(0, count);
      let rejected = 0;
      for (const entry of victims) {
        // Removed after the collector refused it: the emitter gave up on it (unless the queue had dropped it, and counted it, first).
        if (entry.refusedWith !== undefined && !entry.limbo && !entry.removed) {
          context.drop('rejected', 'eventStore', entry.payload.eid, `the collector refused it with HTTP ${entry.refusedWith}, which the emitter does not retry`);
          rejected += 1;
        }
        // Refused, it never reached the collector: a drop while it was out is counted now.
        settleEntry(entry, entry.refusedWith === undefined);
        remove(entry);
      }
      if (rejected > 0) context.error(new ConsentError('EVENTS_REJECTED', `the collector refused ${rejected} event(s) for good; they are counted as dropped (rejected)`));
      // Without an iterator (a caller other than the emitter), fall back to the head of the queue.
      for (let i = victims.length; i < count; i++) {
        const head = entries.find((entry) => !entry.removed);
        if (!head) break;
        remove(head);
      }
      compact();
      schedulePersist();
    },
    iterator: (): EventStoreIterator => {
      countUnsettled();
      handedOut = [];
      followLevel();
      const snapshot = entries.slice();
      let index = 0;
      return {
        next: async () => {
          while (index < snapshot.length) {
            const entry = snapshot[index++] as Entry;
            if (entry.removed) continue;
            handedOut.push(entry);
            return { value: { payload: entry.payload, svrAnon: entry.svrAnon }, done: false };
          }
          return { value: undefined, done: true };
        },
      };
    },
    getAll: async () => entries.map(({ payload, svrAnon }) => ({ payload, svrAnon })),
    getAllPayloads: async () => entries.map(({ payload }) => payload),
    reconcile: async (applied) => {
      await ready;
      const awaiting = context.awaitingDecision();
      // While booting the level function still answers the stand-in: only the level being put in force counts.
      const level = applied === undefined ? (awaiting ? undefined : context.readLevel()) : awaiting ? applied : minLevel(applied, context.readLevel());
      if (level !== undefined) {
        lastLevel = level;
        if (loaded) lowestSinceStart = minLevel(lowestSinceStart, level);
        if (lowerTo(level)) schedulePersist();
        // The queues of other instances, which may be gone, keep this decision for whoever takes them.
        const floor = floorFor(level);
        if (floor !== undefined) await recordFloor(floor);
      }
      await writesDone();
    },
    decidedOverUnread: async () => {
      // Once is enough: what arrives later is dropped as it arrives (see merge); a floor still pending is tried again.
      if (overwroteUnread && floorPending === undefined) return;
      await withTimeout(ready, storageTimeoutMs, 'reading the stored queue').catch(() => undefined);
      overwroteUnread = true;
      if (lowerTo('full')) schedulePersist();
      await storedWithFloor('off');
    },
    // The pending floor is off once this run decided over an unread decision (floors only go down).
    earlierRunsUnheld: () => overwroteUnread && floorPending !== undefined,
    followDecision: (level) => {
      if (lowerTo(level)) schedulePersist();
    },
    storeLowered: async () => {
      await ready;
      if (context.awaitingDecision()) return;
      const level = context.readLevel();
      if (lowerTo(level)) schedulePersist();
      await storedWithFloor(floorFor(level));
    },
    holds: (eventId) => byId.has(eventId) || inLimbo.has(eventId),
    droppedBefore(eventId) {
      if (!droppedIds.has(eventId)) return false;
      const entry = inLimbo.get(eventId);
      // The emitter retries only after a failure: the request that carried it did not deliver it.
      if (entry) settleEntry(entry, false);
      return true;
    },
    levelsOf: (eventId) => {
      const entry = byId.get(eventId);
      return entry && { capturedAt: entry.capturedAt, allowed: entry.level, payload: entry.payload };
    },
    stop: async () => {
      stopped = true;
      clock.clearTimeout(renewal);
      await recordFloor();
      // Whatever is still unsettled will not be sent by this store: count it.
      for (const entry of [...inLimbo.values()]) settleEntry(entry, false);
      if (handedOff) return;
      if (storage && writable && slots && slotKey !== undefined) {
        // Given up once the queue is stored as it stands, so the next instance takes it with what it holds.
        const key = slotKey;
        if (await storedAtStop(key)) await withTimeout(slots.release(key), storageTimeoutMs, 'releasing the queue slot').catch(() => undefined);
        return;
      }
      // A queue that is not stored (no storage, or a stored one that could not be read) ends here.
      for (const entry of entries) {
        if (!entry.removed) context.drop('stopped', 'eventStore', entry.payload.eid, 'still queued when the consent tracker stopped, in a queue that is not stored');
      }
      entries = [];
    },
    settle: (eventId, outcome, status) => {
      const entry = inLimbo.get(eventId);
      if (entry) settleEntry(entry, outcome !== 'failed');
      const queued = byId.get(eventId);
      if (queued) queued.refusedWith = outcome === 'failed' ? status : undefined;
    },
    handOff() {
      // A write under way or due could land once the next start has the slot, over its queue: then the lease lapses as for a kill.
      if (!slots || slotKey === undefined || stopped || !writable || writerRunning || dirty) return;
      handedOff = true;
      clock.clearTimeout(renewal);
      void slots.release(slotKey).catch(() => undefined);
    },
    resume() {
      if (!handedOff) return;
      handedOff = false;
      schedulePersist();
      renewLater();
    },
    persisted: async () => {
      await ready;
      await writesDone();
    },
  };
  return store;
}
