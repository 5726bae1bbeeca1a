/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/.devnet/'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 120_000,
};
