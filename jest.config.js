// Jest runs TypeScript through SWC (fast, no type check); `npm test` runs `tsc --noEmit` first for types.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
  testSequencer: '<rootDir>/test/slow-first-sequencer.js',
  testTimeout: 30000,
  // bin/omics-archiver.js is the installed launcher (it runs the CLI when loaded); tests mean the .ts beside it.
  moduleFileExtensions: ['ts', 'js', 'json'],
};
