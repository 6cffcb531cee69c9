import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { REACT_18 } from './test/react-18/react-18-paths.js';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));
const shim = (path: string) => fileURLToPath(new URL(`./test/shims/${path}`, import.meta.url));

export default defineConfig({
  test: {
    environment: 'node',
    // Tests import the package by its own name, as users do.
    alias: [
      { find: /^consent-tracker$/, replacement: src('index.ts') },
      { find: /^consent-tracker\/testing$/, replacement: src('testing/index.ts') },
      { find: /^consent-tracker\/react-native$/, replacement: src('react-native/index.ts') },
      { find: /^consent-tracker\/react$/, replacement: src('react/index.ts') },
      { find: /^consent-tracker\/browser$/, replacement: src('browser/index.ts') },
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
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.{ts,tsx}'], exclude: ['test/react-18/**', '**/node_modules/**'] } },
      {
        extends: true,
        test: {
          name: 'react-18',
          include: ['test/react-18/**/*.test.tsx'],
          // The same server-rendering and hydration checks, with React 18 in place of React 19.
          alias: Object.entries(REACT_18).map(([name, path]) => ({ find: new RegExp(`^${name}$`), replacement: path ?? name })),
          setupFiles: ['test/react-18/use-react-18.ts'],
          server: { deps: { inline: ['@snowplow/react-native-tracker', '@xstate/react'] } },
        },
      },
    ],
  },
});
