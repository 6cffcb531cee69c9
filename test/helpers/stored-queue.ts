/**
 * Everything a queue slot stores (its manifest and each of its segments, not its lease), as one
 * text: what a test looks for on the device, whatever the layout.
 */
export function storedQueue(entries: ReadonlyMap<string, string>, slotKey = 'consent-tracker.queue'): string {
  const parts: string[] = [];
  for (const [key, value] of entries) if (key === slotKey || key.startsWith(`${slotKey}.events.`)) parts.push(value);
  return parts.join('\n');
}

/** A slot's manifest as stored, parsed; `null` if there is none. */
export const manifestOf = (entries: ReadonlyMap<string, string>, slotKey = 'consent-tracker.queue') =>
  JSON.parse(entries.get(slotKey) ?? 'null') as { version: number; segments: number[]; loose: number[] } | null;

/** The payloads a slot stores, in order, as the next start reads them (the segments its manifest lists; an emptied one holds none). */
const storedPayloads = (entries: ReadonlyMap<string, string>, slotKey = 'consent-tracker.queue') =>
  (manifestOf(entries, slotKey)?.segments ?? []).flatMap((n) => (JSON.parse(entries.get(`${slotKey}.events.${n}`) || '[]') as Array<{ payload: { eid: string; se_ac: string } }>).map((e) => e.payload));

/** The actions of the structured events a slot stores, in order, as the next start reads them. */
export const storedActions = (entries: ReadonlyMap<string, string>, slotKey?: string) => storedPayloads(entries, slotKey).map((p) => p.se_ac);

/** The event ids a slot stores, in order, as the next start reads them. */
export const storedIds = (entries: ReadonlyMap<string, string>, slotKey?: string) => storedPayloads(entries, slotKey).map((p) => p.eid);
