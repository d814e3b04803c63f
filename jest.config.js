// Tests are TypeScript ES modules; ts-jest compiles them without type-checking
// (`npm run typecheck` does that), which keeps the suite fast on two cores.
// grpc-js-xds 1.14 reads the RBAC filter (gRFC A41) only when this is set as it loads, as a user
// running AccessPolicy with grpc-node servers sets it (README, Security). Workers inherit it.
process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';

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
