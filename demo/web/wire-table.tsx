import { describeRows } from '../describe-rows.js';
import type { WireRow } from '../wire-log.js';

const HEADINGS = ['event', 'tracked at', 'sent at', 'SP-Anonymous', 'cookie', 'network_userid', 'identifiers', 'leaks'];

/** What a collector received, one row per event, each checked by the testing kit's leak finder. */
export function WireTable({ rows, caption }: { rows: readonly WireRow[]; caption: string }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>{HEADINGS.map((heading) => <th key={heading}>{heading}</th>)}</tr>
      </thead>
      <tbody>
        {describeRows(rows).map((row) => (
          <tr key={row.key}>
            <td>{row.event}</td>
            <td><span className={`pill ${row.trackedAt}`}>{row.trackedAt}</span></td>
            <td>
              <span className={`pill ${row.sentAt}`}>{row.sentAt}</span>
              {row.lowestBetween ? <span className="between"> ({row.lowestBetween} between)</span> : null}
            </td>
            <td>{row.anonymous}</td>
            <td>{row.cookie}</td>
            <td>{row.networkUserId}</td>
            <td>{row.identifiers.length > 0 ? row.identifiers.map(([field, name]) => <span key={field} className="id">{field} <b>{name}</b></span>) : <span className="muted">none</span>}</td>
            <td className={row.leaks.length > 0 ? 'leak' : row.trackedAt === '…' ? 'muted' : 'clean'}>{row.leaks.length > 0 ? row.leaks.join('; ') : row.trackedAt === '…' ? 'checking…' : 'none'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
