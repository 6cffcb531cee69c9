/**
 * Everything a queue slot stores (its manifest and each of its segments, not its lease), as one
 * text: what a test looks for on the device, whatever the layout.
 */
export function storedQueue(entries: ReadonlyMap<string, string>, slotKey = 'consent-tracker.queue'): string {
  const parts: string[] = [];
  for (const [key, value] of entries) if (key === slotKey || key.startsWith(`${slotKey}.events.`)) parts.push(value);
  return parts.join('\n');
}
