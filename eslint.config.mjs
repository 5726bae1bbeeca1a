import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// As temporalio/samples-typescript lints: workflows run in Temporal's deterministic sandbox, whose bundler refuses
// Node built-ins (all but stand-ins for assert, url and util; the samples allow only assert, and so do we), and
// domain/ is imported by workflows, so it must do without them too. Said here, it fails at lint, not at bundling.
const ALLOWED_NODE_BUILTINS = new Set(['assert']);
const nodeBuiltins = builtinModules
  .filter((name) => !name.startsWith('_') && !ALLOWED_NODE_BUILTINS.has(name))
  .flatMap((name) => [name, `node:${name}`]);

export default defineConfig(
  // What .gitignore keeps out: installed, generated or built files.
  { ignores: ['node_modules/', 'generated/', '.devnet/', 'contracts/build/', 'coverage/', '.jest-cache/', 'deployments/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Forgetting to await an activity, a workflow API or a shutdown loses its failure, or the work itself.
      '@typescript-eslint/no-floating-promises': 'error',
      // A leading underscore marks what is unused on purpose: a mock's ignored argument, a field dropped from a copy.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          // A type import is erased before bundling, so it is harmless.
          paths: nodeBuiltins.map((name) => ({
            name,
            allowTypeImports: true,
            message: 'workflows and domain/ run in the workflow sandbox: no Node built-ins',
          })),
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  { files: ['**/*.js', '**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },
);
