import type { ConsentRecord, SyncedDecision } from '../machines/consent.machine.js';
import { parseConsentRecord, type RecordRules } from './consent-record.js';

/** Carries decisions between consent trackers on one storage in other tabs: what one posts, the others receive. */
export interface TabSync {
  /** Tells the other tabs of a decision made here (`null`: a reset), made at `at`. */
  post(record: ConsentRecord | null, at: number): void;
  stop(): void;
}

interface Channel {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/**
 * Keeps tabs in step: through a `BroadcastChannel` named after the storage key where the
 * platform has one, and through the `storage` event of the stored decision as well (a tab whose
 * platform has no channel, or a message lost), each received decision checked as a stored one is.
 * Every decision reaches `receive`; the chart keeps the newest (docs/design.md, "Tabs in step").
 */
export function createTabSync(options: { readonly name: string; readonly decisionKey: string; readonly rules: RecordRules; readonly receive: (decision: SyncedDecision) => void }): TabSync {
  const { name, decisionKey, rules, receive } = options;
  const Broadcast = (globalThis as { BroadcastChannel?: new (name: string) => Channel }).BroadcastChannel;
  const channel = Broadcast ? new Broadcast(`consent-tracker:${name}`) : undefined;
  const deliver = (raw: unknown, at: number | undefined, stored: boolean) => {
    const { record, problem } = parseConsentRecord(raw, rules);
    // What cannot be read is not a decision: the next start reads the stored one as it is.
    if (problem && problem.code !== 'STORED_DECISION_EXPIRED') return;
    receive({ type: 'CONSENT.SYNC', record, at: at ?? record?.decidedAt ?? Date.now(), ...(stored && { stored }) });
  };
  if (channel) {
    channel.onmessage = ({ data }) => {
      const { record, at } = (data ?? {}) as { record?: unknown; at?: unknown };
      if (typeof at === 'number') deliver(record === null ? null : JSON.stringify(record), at, false);
    };
  }
  const target = (globalThis as { addEventListener?: (type: string, listener: (event: { key: string | null; newValue: string | null }) => void) => void; removeEventListener?: (type: string, listener: unknown) => void });
  const onStorage = (event: { key: string | null; newValue: string | null }) => {
    // A removal is no decision (a reset is stored as one): it is a write that failed being cleared
    // and retried. Read as a reset, it would lift a withdrawal below the undecided level.
    if (event.key === decisionKey && event.newValue !== null) deliver(event.newValue, undefined, true);
  };
  target.addEventListener?.('storage', onStorage);
  return {
    post: (record, at) => channel?.postMessage({ record, at }),
    stop() {
      channel?.close();
      target.removeEventListener?.('storage', onStorage);
    },
  };
}
