// Tests are compiled by tsc together with the code (`npm test` builds first), so Jest runs plain ESM
// JavaScript with no transform: one compiler, real decorator metadata, and no ts-jest ESM quirks.
export default {
  rootDir: 'dist',
  testEnvironment: 'node',
  transform: {},
  testMatch: ['**/*.spec.js', '**/*.e2e-spec.js'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 120000,
  maxWorkers: 2,
  // Each e2e file boots its own gateway on its own database; two at once fit two cores.
};
