// Mutation testing (StrykerJS): `npm run mutation` mutates the core folders and reports which
// changes to the code no test notices. Not part of CI: it runs the related tests once per mutant.
//   npm run mutation                                         # cache/, xds/, translate/, model/
//   npm run mutation -- --mutate src/translate/lb-policy.ts  # one module
//   MUTATION_TESTS=test/unit/translate.test.ts,test/unit/model.test.ts npm run mutation -- ...
//                                                            # only these test files or folders
// docs/testing.md has the figures and the survivors judged equivalent.
const testPaths = (process.env.MUTATION_TESTS ?? 'test/unit,test/integration').split(',').filter(Boolean);
const testMatch = testPaths.map((p) => (p.endsWith('.ts') ? `<rootDir>/${p}` : `<rootDir>/${p.replace(/\/$/, '')}/**/*.test.ts`));

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  // The suite is ES modules: Jest needs Node's VM modules, in Stryker's test-runner processes too.
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  // Each mutant runs only the tests that reached it; Jest runs them all anyway, so every test
  // that kills a mutant is reported (the JSON report's killedBy), not only the first.
  coverageAnalysis: 'perTest',
  disableBail: true,
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    enableFindRelatedTests: true,
    config: {
      testMatch,
      // jest.config.js ends the process once results are in; Stryker runs Jest in-process, many times.
      forceExit: false,
      // A mutant loads only the test files holding its covering tests, not every related one.
      testSequencer: '<rootDir>/scripts/mutation-covering-tests.cjs',
      // What that sequencer does to a sampled run's unsampled mutants: no tests, not a failure.
      passWithNoTests: true,
    },
  },
  mutate: ['src/cache/**/*.ts', 'src/xds/**/*.ts', 'src/translate/**/*.ts', 'src/model/**/*.ts'],
  mutator: {
    // A changed log or error message is not a changed behaviour this suite should pin.
    excludedMutations: ['StringLiteral'],
  },
  // A mutant in code that runs when a module loads (a constant table) is "static": it reruns every
  // related test file in a fresh environment, ~100x a normal mutant here. Left out by default;
  // `--ignoreStatic false` includes them when there is time.
  ignoreStatic: true,
  // Two cores shared with other work: raise with --concurrency when the machine is free.
  concurrency: 1,
  timeoutMS: 60000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['dist', 'reports', 'bench/results', '.stryker-tmp'],
  thresholds: { high: 85, low: 70, break: null },
};
