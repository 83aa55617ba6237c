// @ts-check
import js from '@eslint/js';
import prettierConfig from 'eslint-config-prettier/flat';
import pluginVue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/data/**',
      '**/*.config.*',
      'scripts/**',
      'eslint.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  // The web app: Vue's recommended rules; `<script setup lang="ts">` parsed by vue-eslint-parser
  // handing the script to typescript-eslint's parser (type-aware through the project service).
  ...pluginVue.configs['flat/recommended'],
  // Layout is Prettier's job (`pnpm format:check`): its conflicting Vue template rules are off.
  prettierConfig,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
        extraFileExtensions: ['.vue'],
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
    },
  },
  {
    files: ['apps/web/**/*.{ts,vue}'],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { parser: tseslint.parser },
    },
    rules: {
      // Optional props typed in defineProps<…>() are `undefined` when absent, by design.
      'vue/require-default-prop': 'off',
    },
  },
  {
    files: ['apps/web/**/*.vue'],
    rules: {
      // typescript-eslint sees an imported .vue component as `any` (only vue-tsc resolves
      // them), so unions with component types look redundant here; vue-tsc checks them.
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      // `reactive({ kind: 'video' as Kind })` pins the inferred type of a form field; the
      // rule calls that assertion unnecessary and its autofix would widen the field to string.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    // Pages are routed, never used as tags in a template: a one-word name cannot clash.
    files: ['apps/web/src/pages/**/*.vue'],
    rules: { 'vue/multi-word-component-names': 'off' },
  },
  {
    files: [
      '**/*.test.ts',
      '**/*.spec.ts',
      '**/test/**/*.ts',
      '**/e2e/**/*.ts',
      '**/bench/**/*.ts',
    ],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  // Plain JavaScript entry points (the store worker's boot file): linted without types.
  { files: ['**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
