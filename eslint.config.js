// Lint rules for Weir: typescript-eslint's recommended set, the few habits STYLE.md asks for,
// and the direction of dependencies: operator/ and dataplane/ build on lib/ and crds/ and
// never on each other; nothing that ships imports hack/, bench/, e2e/ or test-only helpers.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const TESTS = ['**/*.test.ts', '**/testing/**'];

/** An import restriction for the folders named, with the reason in the message. */
function forbid(folders, why) {
  return folders.map((folder) => ({ group: [`**/${folder}/**`, `${folder}/**`], message: `${folder}/: ${why}` }));
}

const notShipped = (from) => forbid(['hack', 'bench', 'e2e'], `${from} ships; hack/, bench/ and e2e/ do not`);
const testOnly = { group: ['**/testing/**'], message: 'testing/ holds helpers for tests only' };

export default tseslint.config(
  { ignores: ['node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
    },
  },
  {
    files: ['crds/**/*.ts'],
    ignores: TESTS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbid(['lib', 'operator', 'dataplane'], 'the API depends on nothing of Weir'),
            ...notShipped('crds/'),
            testOnly,
          ],
        },
      ],
    },
  },
  {
    files: ['lib/**/*.ts'],
    ignores: TESTS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbid(['operator', 'dataplane'], 'the library is shared by both and depends on neither'),
            ...notShipped('lib/'),
            testOnly,
          ],
        },
      ],
    },
  },
  {
    files: ['operator/**/*.ts'],
    ignores: TESTS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbid(['dataplane'], 'the operator and the data plane share code only through lib/'),
            ...notShipped('operator/'),
            testOnly,
          ],
        },
      ],
    },
  },
  {
    files: ['dataplane/**/*.ts'],
    ignores: TESTS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbid(['operator'], 'the operator and the data plane share code only through lib/'),
            ...notShipped('dataplane/'),
            testOnly,
          ],
        },
      ],
    },
  },
  {
    // Tests may use the local environment's control client and test helpers, but the
    // operator's and the data plane's tests still do not reach into each other.
    files: ['operator/**/*.test.ts', 'lib/**/*.test.ts', 'lib/**/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: forbid(['dataplane'], 'the operator and the data plane share code only through lib/') },
      ],
    },
  },
  {
    files: ['dataplane/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: forbid(['operator'], 'the operator and the data plane share code only through lib/') },
      ],
    },
  },
);
