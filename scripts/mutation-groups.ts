/**
 * The files `npm run mutation` mutates, in groups, each with the test files that exercise it.
 * A mutant runs only the tests of its group that reach it (per-test coverage): a group's tests
 * are chosen so that the slow wire-level suites run only against the files they are there for.
 */
export interface MutationGroup {
  readonly name: string;
  readonly files: readonly string[];
  readonly tests: readonly string[];
  /**
   * Leave out the mutants of code that runs as the module loads (Stryker's static mutants): each
   * would run every test of the group, and they are scored apart (see docs/testing.md).
   */
  readonly ignoreStatic?: boolean;
}

export const MUTATION_GROUPS: readonly [MutationGroup, ...MutationGroup[]] = [
  {
    name: 'levels-and-codec',
    files: ['machines/levels.ts', 'src/policy.ts', 'src/sanitize.ts', 'src/tp2.ts', 'src/base64-url.ts'],
    tests: [
      'test/levels.test.ts',
      'test/policy.test.ts',
      'test/policy.load.test.ts',
      'test/sanitize.test.ts',
      'test/sanitize.property.test.ts',
      'test/tp2.test.ts',
      'test/base64-url.test.ts',
      'test/fetch-guard.test.ts',
      'test/app-entities.test.ts',
      'test/collector.test.ts',
    ],
  },
  {
    name: 'enforcement',
    files: ['src/enforce/consent-plugin.ts', 'src/enforce/consent-event-store.ts', 'src/enforce/consent-fetch.ts'],
    tests: ['test/fetch-guard.test.ts', 'test/enforcement.*.test.ts', 'test/consent-event-store.test.ts', 'test/app-entities.test.ts', 'test/react-native-adapter.test.ts', 'test/lifecycle.shared-storage.test.ts'],
  },
  {
    name: 'gate',
    files: ['src/gate.ts'],
    tests: ['test/consent.machine.test.ts', 'test/gate.test.ts', 'test/lifecycle.*.test.ts', 'test/enforcement.races.test.ts'],
  },
  {
    // The whole chart (its configuration, which runs as the module loads, and its guards, actions
    // and inputs) against its own suites, which drive every region with actors the test controls:
    // fast enough to run every mutant, static ones included.
    name: 'chart',
    files: ['machines/consent.machine.ts'],
    tests: ['test/consent.machine.test.ts', 'test/consent.machine.sync.test.ts'],
  },
];

/** The group named `name`; throws, naming the groups, for any other name. */
export function mutationGroup(name: string): MutationGroup {
  const group = MUTATION_GROUPS.find((g) => g.name === name);
  if (group === undefined) throw new Error(`No mutation group "${name}": pick one of ${MUTATION_GROUPS.map((g) => g.name).join(', ')}`);
  return group;
}
