import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests `npm run mutation` runs against each mutant: those that exercise what decides what
 * leaves (levels, policy, sanitiser, payload codec, enforcement points, chart, gate), without the
 * Chromium, demo and React suites, which test other layers and take most of the suite's time.
 */
export default mergeConfig(
  { ...base, test: { ...base.test, projects: undefined } },
  defineConfig({
    test: {
      include: [
        'test/levels.test.ts',
        'test/policy.test.ts',
        'test/sanitize.test.ts',
        'test/sanitize.property.test.ts',
        'test/base64-url.test.ts',
        'test/fetch-guard.test.ts',
        'test/consent.machine.test.ts',
        'test/enforcement.*.test.ts',
        'test/lifecycle.*.test.ts',
        'test/consent-tracker.property.test.ts',
        'test/react-native-adapter.test.ts',
        'test/app-entities.test.ts',
      ],
      reporters: ['default'],
    },
  }),
);
