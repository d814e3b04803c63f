// Tests are TypeScript ES modules; ts-jest compiles them without type-checking
// (`npm run typecheck` does that), which keeps the suite fast on two cores.
export default {
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true }],
  },
  testEnvironment: 'node',
  testTimeout: 60000,
  // @grpc/grpc-js-xds keeps internal timers and channels alive after its clients close (the e2e
  // tests close every client and server they start); exit once the results are in, so CI never hangs.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/summary-reporter.cjs'],
};
