import { useEffect, useState } from 'react';
import type { WireRow } from '../wire-log.js';

/** Posts JSON to the demo server; resolves with its answer. */
export async function post<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, { method: 'POST', body: JSON.stringify(body) });
  return (await response.json()) as T;
}

/** What the demo server serves at `path` (the page's wire, or the React Native run), kept fresh. */
export function usePolled<T>(path: string, every = 500): T | undefined {
  const [value, setValue] = useState<T>();
  useEffect(() => {
    let live = true;
    const load = () => void fetch(path).then((r) => r.json() as Promise<T>).then((next) => live && setValue(next));
    load();
    const timer = setInterval(load, every);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [path, every]);
  return value;
}

export type { WireRow };
