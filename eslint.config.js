import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'

export default tseslint.config(
  {
    ignores: ['out/**', 'dist/**', '.cache/**', 'node_modules/**', 'test-results/**', 'models/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
    rules: {
      // vue-tsc checks names against the DOM types; ESLint's own list knows no browser globals.
      'no-undef': 'off',
      // Layout of templates is Prettier's job.
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/html-indent': 'off',
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'vue/multi-word-component-names': 'off',
    },
  },
  // Plain JavaScript entry points run in Node.
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  // Layering: shared code is imported by every process, so it must not depend on any of them.
  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['node:*', 'electron', 'vue', 'pinia', '**/main/**', '**/renderer/**'] },
      ],
    },
  },
  // The renderer knows the bridge and nothing else.
  {
    files: ['src/renderer/**/*.{ts,vue}'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'electron', '**/main/**'] }],
    },
  },
  // The engine runs in the CLI and the worker too: no electron there.
  {
    files: [
      'src/main/engine/**/*.ts',
      'src/main/store/**/*.ts',
      'src/main/formats/**/*.ts',
      'src/main/jobs/**/*.ts',
      'src/cli/**/*.ts',
    ],
    rules: { 'no-restricted-imports': ['error', { patterns: ['electron'] }] },
  },
)
