/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/.devnet/'],
  // multiformats is ESM-only. Node 20.19+ loads it through require(esm) (tsx, the workers), and webpack through its
  // `import` condition (the workflow bundle), but Jest's CommonJS loader does neither: map it to its ESM files and
  // let ts-jest turn them into CommonJS. Mapping only this package keeps every other package on its `require` build.
  moduleNameMapper: {
    '^multiformats$': '<rootDir>/node_modules/multiformats/dist/src/index.js',
    '^multiformats/(.+)$': '<rootDir>/node_modules/multiformats/dist/src/$1.js',
  },
  transform: {
    '^.+\\.ts$': 'ts-jest',
    '/node_modules/multiformats/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!multiformats/)'],
  testTimeout: 120_000,
};
