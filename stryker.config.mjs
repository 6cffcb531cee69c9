import process from 'node:process';

/**
 * One group of `npm run mutation` (scripts/mutation.ts sets `MUTATION_GROUP` and `MUTATE`):
 * StrykerJS over the code that decides what leaves, with per-test coverage so that each mutant runs
 * only the tests that reach it. Scores per file are kept in docs/testing.md.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: (process.env.MUTATE ?? 'machines/levels.ts').split(','),
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  ignoreStatic: process.env.MUTATION_IGNORE_STATIC === '1',
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${process.env.MUTATION_REPORT ?? process.env.MUTATION_GROUP ?? 'levels-and-codec'}.json` },
  // Runs side by side need temp dirs of their own.
  tempDirName: process.env.MUTATION_TMP ?? '.stryker-tmp',
  cleanTempDir: 'always',
};
