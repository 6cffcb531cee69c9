import process from 'node:process';

/**
 * `npm run mutation`: StrykerJS over the code that decides what leaves, with per-test coverage so
 * that each mutant runs only the tests that reach it. Scores per file are kept in docs/testing.md.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: (process.env.MUTATE ?? 'machines/levels.ts,src/policy.ts,src/sanitize.ts,src/tp2.ts,src/base64-url.ts,src/enforce/consent-plugin.ts,src/enforce/consent-event-store.ts,src/enforce/consent-fetch.ts,machines/consent.machine.ts,src/gate.ts').split(','),
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
