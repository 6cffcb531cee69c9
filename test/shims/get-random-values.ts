// Node has crypto.getRandomValues; the React Native polyfill is not needed.
export {};
