// ESLint: typescript-eslint's type-checked recommended rules over every TypeScript source, zero warnings allowed.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Jest loads its config and sequencer untransformed, so those two stay plain JavaScript outside the typed project.
  { ignores: ['node_modules/**', 'cdk.out/**', 'bin/omics-archiver.js', 'jest.config.js', 'test/slow-first-sequencer.js', 'eslint.config.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // CommonJS everywhere (tsconfig): the few lazy `require`s are deliberate and say why.
      '@typescript-eslint/no-require-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
