import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';
import { MUTATION_GROUPS, mutationGroup } from './scripts/mutation-groups.js';

/**
 * The tests `npm run mutation` runs against each mutant of one group of files
 * (`MUTATION_GROUP`, see scripts/mutation-groups.ts): the suites that exercise those files,
 * without the Chromium, demo and React suites, which test other layers and take most of the
 * suite's time.
 */
export default mergeConfig(
  { ...base, test: { ...base.test, projects: undefined } },
  defineConfig({
    test: {
      include: [...mutationGroup(process.env.MUTATION_GROUP ?? MUTATION_GROUPS[0].name).tests],
      reporters: ['default'],
    },
  }),
);
