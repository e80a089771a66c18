import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'packages/shared/generated/**', '.lab/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' } },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.property.name='exec'][callee.object.name='child_process']", message: 'never run a shell string: use execFile/execa with an argument array' },
        { selector: "ImportSpecifier[imported.name='exec'][parent.source.value='node:child_process']", message: 'never run a shell string: use execFile/execa with an argument array' },
        { selector: "ImportSpecifier[imported.name='execSync'][parent.source.value='node:child_process']", message: 'never run a shell string: use execFileSync with an argument array' },
        { selector: "Property[key.name='shell'][value.value=true]", message: 'never spawn through a shell' },
      ],
    },
  },
  {
    // Test helpers are never shipped: shipped code must not depend on them.
    files: ['packages/*/src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: '@lbha/test-support', message: 'test helpers are for tests only' }] }] },
  },
  {
    // The web console runs in the browser, as a classic script.
    files: ['packages/coordinator/ui/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { document: 'readonly', window: 'readonly', fetch: 'readonly', sessionStorage: 'readonly', location: 'readonly', history: 'readonly', TextDecoderStream: 'readonly' },
    },
  },
  {
    // The CLI's output, lab scripts and tests may print.
    files: ['test/**/*.ts', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
);
