import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
    // Tests import the package by its own name, as users do.
    alias: [
      { find: /^consent-tracker$/, replacement: src('index.ts') },
      { find: /^consent-tracker\/testing$/, replacement: src('testing/index.ts') },
    ],
    testTimeout: 20_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
