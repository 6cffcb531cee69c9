import { removeStored, type KeyValueStorage } from '../storage.js';
import { storeOrRemove } from './store-or-remove.js';
import { withTimeout } from './with-timeout.js';

/** How many events one segment of a stored queue holds at most: a write costs this much at worst, whatever the queue's length. */
export const SEGMENT_SIZE = 20;

/** One segment of a queue: its number (its key is `<slot key>.events.<number>`), its events in order, and whether it differs from what is stored. */
export interface QueueSegment<Entry> {
  readonly number: number;
  entries: Entry[];
  dirty: boolean;
}

/**
 * What a slot's key holds: the segments in order, and the segment keys that may still exist but
 * hold nothing of the queue (being written, or given up and not yet removed). Every segment key
 * of the slot that may exist on the device is listed here, so nothing is left behind.
 */
interface Manifest {
  version: 2;
  segments: number[];
  loose: number[];
}

/** A slot's queue as read: its events by segment, the keys to remove, and what could not be read. */
export interface ReadQueue {
  /** Each segment's stored events (raw, to be checked), in order; `undefined` for one that is unreadable. */
  readonly segments: ReadonlyArray<{ readonly number: number; readonly events: unknown[] | undefined }>;
  /** The events of a queue stored whole, by an earlier version, under the slot's key. */
  readonly legacy: unknown[];
  /** Segment keys that may hold what the queue gave up: to be removed. */
  readonly loose: readonly number[];
  /** Whether the slot's key could not be read as a queue (its events are lost). */
  readonly unreadable: boolean;
}

export const segmentKey = (slotKey: string, number: number) => `${slotKey}.events.${number}`;

/**
 * The segment numbers an unreadable slot key may have used. Numbers are taken lowest first, and
 * a queue of `maxSize` events has at most 2 maxSize / SEGMENT_SIZE + 1 segments, with as many
 * given up and not yet removed: the numbers in use stay below this.
 */
export const sweepRange = (maxSize: number) => 4 * Math.ceil(maxSize / SEGMENT_SIZE) + 8;

function parse(raw: unknown): unknown {
  try {
    return typeof raw === 'string' ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
}

const isNumberList = (value: unknown): value is number[] => Array.isArray(value) && value.every((n) => Number.isInteger(n) && n >= 0);

/**
 * Reads a slot's queue: its manifest, then each segment it lists. A storage error rejects (what
 * is stored is then unknown, not absent).
 */
export async function readQueue(storage: KeyValueStorage, slotKey: string, timeoutMs: number): Promise<ReadQueue> {
  const raw = await withTimeout(storage.getItem(slotKey), timeoutMs, 'storage.getItem');
  const empty = { segments: [], legacy: [], loose: [], unreadable: false };
  if (raw === null || raw === undefined || raw === '') return empty;
  const stored = parse(raw) as { version?: unknown; events?: unknown; segments?: unknown; loose?: unknown } | undefined;
  if (stored?.version === 1 && Array.isArray(stored.events)) return { ...empty, legacy: stored.events };
  if (stored?.version !== 2 || !isNumberList(stored.segments) || !isNumberList(stored.loose)) return { ...empty, unreadable: true };
  const segments: Array<{ number: number; events: unknown[] | undefined }> = [];
  for (const number of stored.segments) {
    const segment = await withTimeout(storage.getItem(segmentKey(slotKey, number)), timeoutMs, 'storage.getItem');
    // Missing: its write failed and it was removed (its events are in no stored queue).
    const events = segment === null || segment === undefined || segment === '' ? [] : parse(segment);
    segments.push({ number, events: Array.isArray(events) ? events : undefined });
  }
  return { segments, legacy: [], loose: stored.loose, unreadable: false };
}

/**
 * Removes every segment key `numbers` names under `slotKey`; one whose removal fails is emptied
 * instead (an empty segment reads as holding nothing). Resolves with the keys not removed (to be
 * removed later), and whether any of them may still hold what it held.
 */
export async function removeSegments(storage: KeyValueStorage, slotKey: string, numbers: Iterable<number>, timeoutMs: number): Promise<{ left: number[]; holding: boolean }> {
  const left: number[] = [];
  let holding = false;
  const attempt = (work: () => unknown, what: string) => withTimeout(Promise.resolve().then(work), timeoutMs, what).then(() => true, () => false);
  for (const number of numbers) {
    const key = segmentKey(slotKey, number);
    if (await attempt(() => removeStored(storage, key), 'storage.removeItem')) continue;
    left.push(number);
    holding ||= !(await attempt(() => storage.setItem(key, ''), 'storage.setItem'));
  }
  return { left, holding };
}

/**
 * How one slot's queue is laid out in storage, as this instance last wrote it. The queue is kept
 * in segments of {@link SEGMENT_SIZE} events, each under a key of its own, listed in order by a
 * manifest under the slot's key: a new event rewrites its segment only, so a write costs the
 * same whatever the queue's length. See docs/design.md, "The stored queue".
 */
export interface QueueLayout {
  readonly slotKey: string;
  /**
   * A segment number free to use, with `inUse` those of the queue in memory. A number listed as
   * loose may be taken again: until a manifest lists it as a segment, what is written there is
   * removed at the next start, as an event not yet stored would be lost.
   */
  freeNumber(inUse: ReadonlySet<number>): number;
  /**
   * Stores the queue: new segment keys are listed (as loose) before they are written, the dirty
   * segments are written (a failed one is removed and stays dirty), the manifest is updated, and
   * the keys given up are removed. Resolves with the first failure's cause (a removal that failed
   * included), or `undefined`.
   */
  write<Entry>(segments: ReadonlyArray<QueueSegment<Entry>>, serialize: (segment: QueueSegment<Entry>) => string): Promise<unknown>;
}

export interface QueueLayoutOptions {
  readonly storage: KeyValueStorage;
  readonly slotKey: string;
  readonly timeoutMs: number;
  /** What the slot's manifest lists now (nothing for a slot newly taken). */
  readonly stored?: { readonly segments: readonly number[]; readonly loose: readonly number[] } | undefined;
  /** The slot's key holds something else than a manifest (a queue stored whole, an unreadable one): it is replaced at the first write. */
  readonly replace?: boolean;
}

export function createQueueLayout({ storage, slotKey, timeoutMs, stored, replace = false }: QueueLayoutOptions): QueueLayout {
  /** What the manifest on the device lists, as far as this instance knows (after a failed write, the union of both). */
  let listed = { segments: new Set(stored?.segments ?? []), order: [...(stored?.segments ?? [])], loose: new Set(stored?.loose ?? []) };
  const isListed = (number: number) => listed.segments.has(number) || listed.loose.has(number);

  /** Whether the slot's key must be written even if the queue did not change. */
  let mustWrite = replace;

  /**
   * Writes the manifest, awaited to its end even past the timeout (a slow one must not land over
   * the next); after a failure either version may be stored, so both count as listed.
   */
  async function writeManifest(segments: number[], loose: Set<number>): Promise<unknown> {
    const manifest: Manifest = { version: 2, segments, loose: [...loose] };
    const write = Promise.resolve().then(() => storage.setItem(slotKey, JSON.stringify(manifest)));
    try {
      await withTimeout(write, timeoutMs, 'storage.setItem');
      listed = { segments: new Set(segments), order: segments, loose: new Set(loose) };
      mustWrite = false;
      return undefined;
    } catch (cause) {
      await write.catch(() => undefined);
      for (const number of [...segments, ...loose]) if (!listed.segments.has(number)) listed.loose.add(number);
      return cause ?? new Error('the write failed');
    }
  }

  /** Writes each changed segment (one that fails is removed, and stays changed); resolves with the first failure. */
  async function writeDirty<Entry>(segments: ReadonlyArray<QueueSegment<Entry>>, serialize: (segment: QueueSegment<Entry>) => string): Promise<unknown> {
    let failure: unknown;
    for (const segment of segments) {
      if (!segment.dirty) continue;
      segment.dirty = false;
      const cause = await storeOrRemove(storage, segmentKey(slotKey, segment.number), serialize(segment), timeoutMs);
      if (cause === undefined) continue;
      segment.dirty = true;
      failure ??= cause;
    }
    return failure;
  }

  return {
    slotKey,
    freeNumber(inUse) {
      let number = 0;
      while (inUse.has(number) || listed.segments.has(number)) number += 1;
      return number;
    },
    async write(segments, serialize) {
      // The usual write: the same segments, one or two of them changed. The manifest stays as it is.
      const sameList = !mustWrite && listed.loose.size === 0 && segments.length === listed.order.length && segments.every((segment, i) => segment.number === listed.order[i]);
      if (sameList) return writeDirty(segments, serialize);
      const numbers = segments.map((segment) => segment.number);
      const fresh = new Set(numbers.filter((number) => !isListed(number)));
      // A key no manifest lists is never written: a kill before the next manifest would leave it behind.
      const listing = fresh.size > 0 ? await writeManifest(listed.order, new Set([...listed.loose, ...fresh])) : undefined;
      // A fresh segment that could not be listed is not written (it stays dirty for the next write).
      const written = await writeDirty(listing === undefined ? segments : segments.filter((segment) => !fresh.has(segment.number)), serialize);
      let failure = listing ?? written;
      const live = new Set(numbers);
      const loose = new Set([...listed.loose, ...listed.order].filter((number) => !live.has(number)));
      const same = numbers.length === listed.order.length && numbers.every((n, i) => n === listed.order[i]) && loose.size === listed.loose.size;
      if (!same || mustWrite) failure ??= await writeManifest(numbers, loose);
      // Removed whether or not the manifest was written: a segment a manifest lists but storage
      // lacks reads as empty, and what it held may no longer be stored (a withdrawal).
      const { left, holding } = await removeSegments(storage, slotKey, loose, timeoutMs);
      for (const number of loose) if (!left.includes(number)) listed.loose.delete(number);
      if (holding) failure ??= new Error(`could not remove or empty ${left.length} segment(s) the queue gave up; they are tried again at the next write`);
      return failure;
    },
  };
}
