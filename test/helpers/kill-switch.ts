import type { FetchFunction, KeyValueStorage } from 'consent-tracker';

/**
 * An app process as far as the outside world sees it: its storage and its network. `kill()`
 * abandons the process where it stands (at whatever it awaits): from then on none of its storage
 * calls or requests has any effect, and none answers, as if the process had died. What its
 * storage calls had done before stays on the device, for the next launch.
 *
 * `killAtStorageCall(n)` kills it as its n-th storage call (counting from 0) starts, before that
 * call has any effect, so that a test can kill at every await point of a scenario in turn.
 * `killAtAwaitPoint(n)` counts requests too: it kills as the n-th storage call or request starts.
 */
export function killSwitch(network: FetchFunction = (input, init) => globalThis.fetch(input, init)) {
  let killed = false;
  let storageCalls = 0;
  let awaitPoints = 0;
  let killAt = Number.POSITIVE_INFINITY;
  let killAtAwait = Number.POSITIVE_INFINITY;
  /** One more await point (a storage call or a request) starts: it may be the one that dies. */
  const reach = () => {
    if (awaitPoints++ >= killAtAwait) killed = true;
  };
  const never = new Promise<never>(() => undefined);
  const cut = <T>(work: () => Promise<T> | T): Promise<T> => {
    if (storageCalls++ >= killAt) killed = true;
    reach();
    if (killed) return never;
    return Promise.resolve(work()).then((value) => (killed ? never : value));
  };
  return {
    kill() {
      killed = true;
    },
    killAtStorageCall(n: number) {
      killAt = n;
    },
    killAtAwaitPoint(n: number) {
      killAtAwait = n;
    },
    killed: () => killed,
    /** How many storage calls and requests the process has started (those cut off included). */
    awaitPoints: () => awaitPoints,
    /** How many storage calls the process has made (those cut off included). */
    storageCalls: () => storageCalls,
    storage(base: KeyValueStorage): KeyValueStorage & { getItem(key: string): Promise<string | null> } {
      return {
        getItem: (key) => cut(async () => (await base.getItem(key)) ?? null),
        setItem: (key, value) => cut(() => base.setItem(key, value)),
        removeItem: (key) => cut(() => base.removeItem?.(key)),
        // The lock is the device's, not the process's: it stays usable after a kill, as another process's would.
        ...(base.lock && { lock: base.lock.bind(base) }),
      };
    },
    fetch: ((input, init) => {
      reach();
      return killed ? never : network(input, init);
    }) as FetchFunction,
  };
}
