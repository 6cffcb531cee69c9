import { findLeaks, type Leak } from '../src/testing/find-leaks.js';
import { findRelinks } from '../src/testing/find-relinks.js';
import type { WireRow } from './wire-log.js';

/** A leak in the demo's table: the leak finder's finding, and why it is one, in words. */
export interface RowLeak extends Leak {
  readonly why: string;
}

const why = (leak: Leak, labels: ReadonlyMap<string | undefined, string>): string => {
  if (leak.kind === 'relink') return `${leak.field} was sent before the withdrawal too (${labels.get(leak.linkedTo) ?? 'an earlier event'})`;
  if (leak.kind === 'request') return `the request gave away ${leak.field} at ${leak.level}`;
  return `${leak.field} is not allowed at ${leak.level}`;
};

/**
 * What the testing kit's leak finder reports for the demo's rows: each event checked against the
 * lowest level in force from its capture to its arrival (an event whose capture is not known yet
 * is left for the next look), and the events of each identity period (after a withdrawal)
 * against those before it, for re-linking.
 */
export function findRowLeaks(rows: readonly WireRow[]): RowLeak[] {
  const levels = new Map(rows.flatMap((row) => (row.allowed === undefined ? [] : [[row.event, row.allowed] as const])));
  const leaks: Leak[] = findLeaks([...levels.keys()], (event) => levels.get(event) ?? 'off');
  const periods = new Set(rows.map((row) => row.period));
  for (const period of periods) {
    if (period === 0) continue;
    const before = rows.filter((row) => row.period < period).map((row) => row.event);
    const after = rows.filter((row) => row.period === period).map((row) => row.event);
    for (const relink of findRelinks(before, after)) {
      leaks.push({ kind: 'relink', eventId: relink.after, level: 'full', field: relink.field, value: relink.value, linkedTo: relink.before });
    }
  }
  const labels = new Map(rows.map((row) => [row.event.id, row.label]));
  return leaks.map((leak) => ({ ...leak, why: why(leak, labels) }));
}
