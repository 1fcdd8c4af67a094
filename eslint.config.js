// @ts-check
/**
 * `npm run lint` (part of `npm test`): typescript-eslint's type-checked recommended rules over every TypeScript
 * file of the project, the plain recommended rules over the few JavaScript ones, and eslint-config-prettier last so
 * no rule argues with the formatter (`prettier --check` is the other half of `npm run lint`).
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Build outputs, downloaded weights, generated fixtures and screenshots written by the browser tests.
    ignores: ['build/', 'dist/', 'node_modules/', 'weights/', 'test/fixtures/', 'test/browser/artifacts/'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          // vitest.config.ts is outside tsconfig.json's include; type-check it with the same compiler options.
          allowDefaultProject: ['vitest.config.ts'],
          defaultProject: 'tsconfig.json',
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A leading underscore marks a parameter kept on purpose: one the interface passes that this implementation
      // does not need (Adam's `encodeStep(encoder, _iteration)` beside L-BFGS's, which uses it).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Error messages print shapes and vectors as `[${shape}]` on purpose (Array#toString joins with commas);
      // the defaults (numbers, booleans, ...) stay allowed and everything else (objects, unknown) is still caught.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowAny: true, allowBoolean: true, allowNullish: true, allowNumber: true, allowRegExp: true, allowArray: true },
      ],
      // `interface HTMLElementEventMap extends StyleTransferEventMap {}` inside `declare global` is how the
      // element's events are merged into the DOM's typed addEventListener; an interface with one `extends` and no
      // body is that merge, not an empty type.
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
    },
  },
  {
    // Lit calls `@event=${this.method}` listeners with the element as `this`, and the browser-test instrumentation
    // takes methods off DOM/WebGPU prototypes only to wrap them and call them back with `.call(this, ...)`.
    files: ['src/ui/**/*.ts', 'test/browser/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
  {
    // Test fakes of async contracts (`evaluate: (t) => Promise<...>`) are `async` without awaiting anything so
    // that a throw becomes a rejection, exactly as in the real implementation.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // The JavaScript files (bin/, the config files) are not part of any TypeScript program: no type information.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  prettier,
);
