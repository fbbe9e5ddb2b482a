// ESLint flat config: typescript-eslint's recommended rules (syntax only, not type-aware, so a
// full run stays fast) plus the repository's boundaries, which are errors:
// - libs/saga-core is pure: no framework, no IO, no other lib, no app (an allowlist of imports);
// - libs never import apps/, scripts/ or test/;
// - libs/fault-points (test-only crash switches) imports no other lib;
// - libs/persistence never imports messaging, libs/messaging never imports persistence;
// - no import cycles between files;
// - the admin UI (apps/orchestrator/ui, browser code) imports only its own files.
// Style (quotes, commas, line length) is Prettier's business, not ESLint's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * `#saga/*` are package.json "imports" that point at dist/ (what node runs). For linting they
 * must land on the sources, as tsc and jest see them, or cycles through a lib's index and the
 * path zones below would go unseen (and dist/ may not exist yet in CI). Read from package.json,
 * so a new lib is covered as soon as it is declared there.
 */
const { imports } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const sagaLibs = Object.fromEntries(
  Object.entries(imports)
    .filter(([name]) => name.startsWith('#saga/'))
    .map(([name, target]) => [name, path.join(root, target.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))]),
);
const typescriptResolver = createTypeScriptImportResolver({ project: path.join(root, 'tsconfig.json') });
const sagaResolver = {
  interfaceVersion: 3,
  name: 'saga-libs',
  resolve(source, file) {
    if (sagaLibs[source]) return { found: true, path: sagaLibs[source] };
    return typescriptResolver.resolve(source, file);
  },
};

// ---- Boundaries -------------------------------------------------------------------------
// no-restricted-imports matches the import text; import-x/no-restricted-paths matches where it
// resolves to (so relative paths such as '../../../../apps/x' are caught too). A later config
// block replaces an earlier block's options for the same rule, so each block lists all of its own.

/** What saga-core may import besides its own files: pure code only. */
const coreAllowed = ['ajv', 'ajv/dist/2020', 'node:crypto'];
/** Its specs and testing/ helpers may also use these. */
const coreTestAllowed = [...coreAllowed, 'fast-check', 'node:assert/strict'];
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const onlyAllowed = (allowed, who) => ({
  regex: `^(?!\\.{1,2}(?:/|$))(?!(?:${allowed.map(escape).join('|')})$)`,
  message: `${who} is the pure saga engine: no framework, IO or other lib. It may import only its own files and: ${allowed.join(', ')}.`,
});

const libZones = [
  { target: './libs', from: './apps', message: 'libs never import apps.' },
  { target: './libs', from: './scripts', message: 'libs never import scripts/.' },
  { target: './libs', from: './test', message: "libs never import test/ (put shared test helpers in the lib's src/testing/)." },
];
const coreZones = [...libZones, { target: './libs/saga-core', from: './libs', except: ['./saga-core'], message: 'libs/saga-core imports no other lib.' }];
const faultPointZones = [...libZones, { target: './libs/fault-points', from: './libs', except: ['./fault-points'], message: 'libs/fault-points imports no other lib.' }];
const persistenceZones = [...libZones, { target: './libs/persistence', from: './libs/messaging', message: 'libs/persistence never imports libs/messaging.' }];
const messagingZones = [...libZones, { target: './libs/messaging', from: './libs/persistence', message: 'libs/messaging never imports libs/persistence.' }];

const noAppsText = { regex: '^(?:\\.{1,2}/)+(?:apps|scripts|test)/', message: 'libs never import apps/, scripts/ or test/.' };
const persistenceForbids = {
  paths: [{ name: '#saga/messaging', message: 'libs/persistence never imports messaging.' }],
  patterns: [{ regex: '^(?:amqplib|amqp-connection-manager)(?:/|$)', message: 'libs/persistence never talks AMQP.' }],
};
const messagingForbids = {
  paths: [{ name: '#saga/persistence', message: 'libs/messaging never imports persistence.' }],
  patterns: [{ regex: '^(?:typeorm|pg|@nestjs/typeorm)(?:/|$)', message: 'libs/messaging never touches the database.' }],
};

const restrict = (patterns, paths = [], zones = libZones) => ({
  'no-restricted-imports': ['error', { paths, patterns }],
  'import-x/no-restricted-paths': ['error', { zones }],
});

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    settings: {
      'import-x/resolver-next': [sagaResolver],
      'import-x/extensions': ['.ts', '.js', '.mjs', '.cjs'],
    },
    rules: {
      // Cycles between files. Type-only imports vanish at run time and are not counted.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // `any` is kept for deliberate variance holes (e.g. a union of handlers of any payload);
      // flagged, not failed.
      '@typescript-eslint/no-explicit-any': 'warn',
      // House style kept: `let { a, b } = …` where only b is reassigned later (const is asked for
      // only when every destructured name could be const), and `let app: App | undefined;`
      // declared before a closure that reads it, then assigned once.
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }],
      // Unused names are errors, except the `_`-prefixed ones the code keeps on purpose
      // (ignored parameters, the rest of a destructuring that drops a key).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  // Boundaries: the generic ones for every lib, then the stricter ones per lib.
  { files: ['libs/**/*.ts'], rules: restrict([noAppsText]) },
  { files: ['libs/saga-core/**/*.ts'], rules: restrict([noAppsText, onlyAllowed(coreAllowed, 'libs/saga-core')], [], coreZones) },
  {
    files: ['libs/saga-core/**/*.spec.ts', 'libs/saga-core/src/testing/**/*.ts'],
    rules: restrict([noAppsText, onlyAllowed(coreTestAllowed, 'libs/saga-core (specs and testing/)')], [], coreZones),
  },
  { files: ['libs/fault-points/**/*.ts'], rules: restrict([noAppsText], [], faultPointZones) },
  { files: ['libs/persistence/**/*.ts'], rules: restrict([noAppsText, ...persistenceForbids.patterns], persistenceForbids.paths, persistenceZones) },
  { files: ['libs/messaging/**/*.ts'], rules: restrict([noAppsText, ...messagingForbids.patterns], messagingForbids.paths, messagingZones) },
  // The admin UI runs in the browser (tsc checks it against the DOM types, apps/orchestrator/ui/tsconfig.json):
  // it imports only its own files, never Node, a package, the server's code or a lib.
  {
    files: ['apps/orchestrator/ui/**/*.ts'],
    rules: restrict(
      [{ regex: '^(?!\\.{1,2}/)', message: 'the admin UI imports only its own files (no packages, no Node): it is served as is to the browser.' }],
      [],
      [
        { target: './apps/orchestrator/ui', from: './apps/orchestrator/src', message: 'the admin UI never imports server code (types come from its own views.ts).' },
        { target: './apps/orchestrator/ui', from: './libs', message: 'the admin UI never imports a lib.' },
      ],
    ),
  },
  // Plain CommonJS config files.
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
