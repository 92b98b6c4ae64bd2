/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  // Transpile-only: tsconfig's isolatedModules makes ts-jest use transpileModule, no type-check;
  // `npm run typecheck` (tsc --noEmit) checks types.
  transform: {
    "^.+\\.ts$": ["ts-jest", {}],
  },
  // One build cache per run: each stack is built once, whichever test files read it.
  globalSetup: "<rootDir>/tests/buildCache.setup.ts",
  globalTeardown: "<rootDir>/tests/buildCache.teardown.ts",
  testTimeout: 60000,
};
