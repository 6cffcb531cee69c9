/**
 * Whether two payloads hold the same fields with the same values (as strings, the way the emitter
 * sends them), `ignored` aside in the first: how an enforcement point recognises an event the
 * point before it already checked, and keeps it without checking it again.
 */
export function samePayload(payload: Readonly<Record<string, unknown>>, checked: Readonly<Record<string, unknown>>, ignored?: string): boolean {
  let count = 0;
  for (const key in payload) {
    if (!Object.prototype.hasOwnProperty.call(payload, key) || key === ignored) continue;
    count += 1;
    const value = checked[key];
    if (value === undefined || !Object.prototype.hasOwnProperty.call(checked, key) || String(payload[key]) !== String(value)) return false;
  }
  return count === Object.keys(checked).length;
}
