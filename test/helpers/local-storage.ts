/** A Web Storage object as browsers have it; `overQuota`: every write throws as a full quota does. */
export function fakeLocalStorage({ overQuota = false } = {}): Storage {
  const map = new Map<string, string>();
  return {
    get length() {
      return map.size;
    },
    key: (i: number) => [...map.keys()][i] ?? null,
    getItem: (key: string) => map.get(key) ?? null,
    setItem: (key: string, value: string) => {
      if (overQuota) throw new DOMException('quota exceeded', 'QuotaExceededError');
      map.set(key, value);
    },
    removeItem: (key: string) => void map.delete(key),
    clear: () => map.clear(),
  };
}
