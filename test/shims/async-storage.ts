/**
 * A Map-backed stand-in for `@react-native-async-storage/async-storage`'s default export. The
 * tracker imports it at load even when `asyncStorage` is injected; tests inject their own.
 */
const items = new Map<string, string>();
const AsyncStorage = {
  getItem: async (key: string) => items.get(key) ?? null,
  setItem: async (key: string, value: string) => {
    items.set(key, value);
  },
  removeItem: async (key: string) => {
    items.delete(key);
  },
  clear: async () => items.clear(),
  getAllKeys: async () => [...items.keys()],
};
export default AsyncStorage;
