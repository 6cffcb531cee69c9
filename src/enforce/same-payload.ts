/**
 * Whether two payloads hold the same fields with the same values (as strings, the way the emitter
 * sends them), `ignored` aside in the first: how an enforcement point recognises an event the
 * point before it already checked, and keeps it without checking it again.
 */
export function samePayload(payload: Readonly<Record<string, unknown>>, checked: Readonly<Record<string, unknown>>, ignored?: string): boolean {
  const keys = Object.keys(payload);
  const expected = Object.keys(checked).length;
  if (keys.length !== expected + (ignored !== undefined && ignored in payload ? 1 : 0)) return false;
  for (const key of keys) {
    if (key === ignored) continue;
    const a = payload[key];
    const b = checked[key];
    if (a === b) continue;
    if (b === undefined || !Object.prototype.hasOwnProperty.call(checked, key) || String(a) !== String(b)) return false;
  }
  return true;
}
