import type { FetchFunction } from 'consent-tracker';

/** The events of a tp2 POST body (none for anything else). */
function eventsIn(body: string): Array<{ eid?: unknown; se_ac?: unknown }> {
  try {
    return (JSON.parse(body) as { data?: Array<{ eid?: unknown; se_ac?: unknown }> }).data ?? [];
  } catch {
    return [];
  }
}

/** The header that numbers each request the device sends, so that what the collector got can be told apart by send. */
export const SEND_HEADER = 'x-soak-send';

/** Waits `ms` on the (simulated) global clock, or rejects as `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', abort, { once: true });
  });
}

/**
 * A device's network for the soak: real requests to the collector, whose answers can be made
 * slow on the simulated clock (they arrive `slowMs` after the collector has taken the events, so
 * a tracker that times out first may send them again). It tells the soak's scheduler whether a
 * request is waiting on real I/O (then time must not move), and which event ids may have reached
 * the collector without the device learning it (an answer timed out, or the process was killed
 * with the request in flight): those alone may arrive twice, or arrive and be counted as dropped.
 * `onSend` is called, with the request's number (the {@link SEND_HEADER} the collector sees), as
 * the request is handed to the network, the moment it leaves the library's hands; the function it
 * returns is told the request's structured-event actions once its body is read.
 */
export function simulatedNetwork(base: FetchFunction, onSend: (send: number) => (actions: readonly string[]) => void) {
  let sends = 0;
  let slowMs = 0;
  let onIo = 0;
  const inFlight = new Set<readonly string[]>();
  const unanswered = new Set<string>();
  let wakers: Array<() => void> = [];
  const woken = () => {
    const now = wakers;
    wakers = [];
    for (const wake of now) wake();
  };

  const fetch: FetchFunction = async (input, init) => {
    const send = ++sends;
    const carries = onSend(send);
    const sent = input instanceof Request && init === undefined ? input : new Request(input, init);
    // The body read once and sent as read: a copy of the request without a clone of its stream.
    const body = sent.body === null ? undefined : await sent.text();
    const headers = new Headers(sent.headers);
    headers.set(SEND_HEADER, String(send));
    const request = new Request(sent, { headers, body });
    const events = eventsIn(body ?? '');
    const ids = events.flatMap((event) => (typeof event.eid === 'string' ? [event.eid] : []));
    carries(events.flatMap((event) => (typeof event.se_ac === 'string' ? [event.se_ac] : [])));
    inFlight.add(ids);
    try {
      onIo += 1;
      let answer: Response;
      try {
        const response = await base(request);
        // Read whole, so that no real I/O is left once the request is off the wire.
        answer = new Response(await response.arrayBuffer(), { status: response.status, statusText: response.statusText, headers: response.headers });
      } catch (error) {
        // Timed out or cut off on the way: the collector may have taken the events all the same.
        for (const id of ids) unanswered.add(id);
        throw error;
      } finally {
        onIo -= 1;
        woken();
      }
      if (slowMs > 0) {
        await delay(slowMs, request.signal).catch((error: unknown) => {
          for (const id of ids) unanswered.add(id);
          throw error;
        });
      }
      return answer;
    } finally {
      inFlight.delete(ids);
    }
  };

  return {
    fetch,
    /** Answers arrive `ms` of simulated time late (0: at once). */
    slowBy(ms: number): void {
      slowMs = ms;
    },
    /** Whether a request is on the wire: the scheduler waits for it rather than moving time. */
    onIo: () => onIo > 0,
    /** Resolves once a request comes off the wire. */
    ioSettled: () => new Promise<void>((wake) => wakers.push(wake)),
    /** The process was killed: what it had in flight may have reached the collector unanswered. */
    killed(): void {
      for (const ids of inFlight) for (const id of ids) unanswered.add(id);
    },
    /** The ids of the events in requests not answered yet. */
    inFlight: (): string[] => [...inFlight].flat(),
    /** Ids that may have reached the collector without the device learning it. */
    unanswered: (): ReadonlySet<string> => unanswered,
  };
}

export type SimulatedNetwork = ReturnType<typeof simulatedNetwork>;
