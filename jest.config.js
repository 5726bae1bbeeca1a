// multiformats is ESM-only. Node 20.19+ loads it through require(esm) (tsx, the workers), and webpack through its
// `import` condition (the workflow bundle), but Jest's CommonJS loader does neither: map it to its ESM files and
// let ts-jest turn them into CommonJS. Mapping only this package keeps every other package on its `require` build.
const esmOnly = {
  moduleNameMapper: {
    '^multiformats$': '<rootDir>/node_modules/multiformats/dist/src/index.js',
    '^multiformats/(.+)$': '<rootDir>/node_modules/multiformats/dist/src/$1.js',
  },
  transform: {
    '^.+\\.ts$': 'ts-jest',
    '/node_modules/multiformats/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!multiformats/)'],
};

const common = {
  ...esmOnly,
  testEnvironment: 'node',
  rootDir: __dirname,
  testPathIgnorePatterns: ['/node_modules/', '/.devnet/'],
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120_000,
  projects: [
    // Tests beside their code: pure functions and in-process fakes, no services.
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: [...common.testPathIgnorePatterns, '<rootDir>/test/'],
    },
    // Tests that start real services (Temporal, anvil, PostgreSQL, Docker, the devnet's processes) on free ports.
    // The workflows are bundled once per run for every test file that runs them (test/support/workflow-bundle.ts).
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/**/*.test.ts'], globalSetup: '<rootDir>/test/support/global-setup.ts' },
  ],
};
