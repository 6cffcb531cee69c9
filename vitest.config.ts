import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));
const shim = (path: string) => fileURLToPath(new URL(`./test/shims/${path}`, import.meta.url));

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.{ts,tsx}'],
    // Tests import the package by its own name, as users do.
    alias: [
      { find: /^consent-tracker$/, replacement: src('index.ts') },
      { find: /^consent-tracker\/testing$/, replacement: src('testing/index.ts') },
      { find: /^consent-tracker\/react-native$/, replacement: src('react-native/index.ts') },
      { find: /^consent-tracker\/react$/, replacement: src('react/index.ts') },
      { find: /^consent-tracker\/visualize$/, replacement: src('visualize/index.ts') },
      // The React Native tracker runs under Node with shims for its native parts.
      { find: /^react-native$/, replacement: shim('react-native.ts') },
      { find: /^react-native-get-random-values$/, replacement: shim('get-random-values.ts') },
      { find: /^@react-native-async-storage\/async-storage$/, replacement: shim('async-storage.ts') },
    ],
    // Without inlining, Node loads the tracker itself and fails on react-native's Flow source.
    server: { deps: { inline: ['@snowplow/react-native-tracker'] } },
    testTimeout: 20_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
