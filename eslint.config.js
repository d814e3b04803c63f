// ESLint: typescript-eslint's recommended rules over every TypeScript folder, plus the
// import boundaries of docs/architecture.md and DESIGN.md ("data flows one way"):
//   sources/ -> model/ -> translate/ -> cache/ -> xds/, with analysis/ beside translate/
// Nothing imports downstream, and each layer reads only the layers above it. The rule is no-restricted-imports with one pattern list per src/
// folder, built from the table below, so each folder's boundary is written once.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// What each src/ folder (or top-level file) must not import. Names are folders of src/ or the
// top-level modules app.ts and log.ts. `onlyFromOwnFolder` folders are leaves: they import nothing of
// ours except what is listed in `except`.
const DOWNSTREAM_OF_MODEL = ['translate', 'cache', 'xds', 'admin', 'kubernetes', 'pipeline', 'cli', 'app'];
const BOUNDARIES = {
  sources: { forbid: ['model', 'analysis', ...DOWNSTREAM_OF_MODEL] },
  model: { forbid: ['analysis', ...DOWNSTREAM_OF_MODEL] },
  analysis: { forbid: DOWNSTREAM_OF_MODEL },
  // translate/ reads only the model: never sources/ (the model is the one intermediate form).
  translate: { forbid: ['sources', 'analysis', 'cache', 'xds', 'admin', 'kubernetes', 'pipeline', 'cli', 'app', 'security'] },
  cache: { forbid: ['sources', 'model', 'analysis', 'translate', 'xds', 'admin', 'kubernetes', 'pipeline', 'cli', 'app'] },
  xds: { forbid: ['sources', 'model', 'analysis', 'translate', 'admin', 'kubernetes', 'pipeline', 'cli', 'app'] },
  pipeline: { forbid: ['xds', 'admin', 'kubernetes', 'cli', 'app'] },
  admin: { forbid: ['kubernetes', 'cli', 'app'] },
  kubernetes: { forbid: ['cli'] },
  security: { forbid: ['admin', 'kubernetes', 'pipeline', 'cli', 'app'] },
  // Sidecar injection stands beside the flow: it builds pods' containers, not Envoy resources.
  injection: { forbid: ['sources', 'model', 'analysis', 'translate', 'cache', 'xds', 'admin', 'kubernetes', 'pipeline', 'cli', 'app'] },
  envoy: { onlyFromOwnFolder: true, except: ['log'] },
  clients: { onlyFromOwnFolder: true, except: [] },
};
// Single files held to the leaf rule: the shared Problem type is imported by every layer.
const LEAF_FILES = { 'src/analysis/problem.ts': ['log'] };
// Files any layer may import, whatever the table says of their folder: the shared Problem type
// (every layer reports problems), and the flag parser, because flag specs live with the layer they
// configure (sources/kube-flags.ts, security/flags.ts).
const SHARED_FILES = { analysis: ['problem'], cli: ['flags'] };
// Layers with an index.ts are entered only through it (or a shared file above) from other folders.
const INDEXED_LAYERS = ['translate', 'model', 'analysis', 'clients'];

const DESIGN = 'data flows one way (docs/architecture.md): sources/ -> model/ -> translate/ -> cache/ -> xds/, analysis/ beside translate/';

/** A regex matching an import of `target` (a src/ folder or top-level module) from a file in src/<folder>/. */
function importOf(target, fromTopLevel) {
  const up = fromTopLevel ? '\\./' : '\\.\\./';
  const shared = SHARED_FILES[target];
  if (shared) return `^${up}${target}/(?!(${shared.join('|')})\\.js$)`;
  return `^${up}${target}(/|\\.js$)`;
}

function restrictions(folder, rule, fromTopLevel = false) {
  const patterns = [];
  if (rule.forbid) {
    for (const target of rule.forbid) {
      patterns.push({ regex: importOf(target, fromTopLevel), message: `${folder}/ must not import ${target}: ${DESIGN}.` });
    }
  }
  if (rule.onlyFromOwnFolder) {
    const allowed = rule.except.map((name) => `${name}(/|\\.js$)`).join('|');
    patterns.push({
      regex: allowed ? `^\\.\\./(?!${allowed})` : '^\\.\\./',
      message: `${folder} is a leaf: it imports nothing of ours${allowed ? ` except ${rule.except.join(', ')}` : ''}.`,
    });
  }
  for (const layer of INDEXED_LAYERS) {
    if (layer === folder) continue;
    const allowed = ['index', ...(SHARED_FILES[layer] ?? [])].map((file) => `${file}\\.js$`).join('|');
    patterns.push({
      regex: `^${fromTopLevel ? '\\./' : '\\.\\./'}${layer}/(?!${allowed})`,
      message: `import ${layer}/ through its index.ts (${layer}/index.js), so its inside can change freely.`,
    });
  }
  return { 'no-restricted-imports': ['error', { patterns }] };
}

const boundaryConfigs = [
  { files: ['src/*.ts'], rules: restrictions('src', {}, true) },
  ...Object.entries(BOUNDARIES).map(([folder, rule]) => ({ files: [`src/${folder}/**/*.ts`], rules: restrictions(folder, rule) })),
  ...Object.entries(LEAF_FILES).map(([file, except]) => ({
    files: [file],
    rules: restrictions(file.replace(/^src\//, ''), { onlyFromOwnFolder: true, except }),
  })),
];

export default defineConfig(
  // What .gitignore lists: build output, reports, the mutation runner's sandbox.
  { ignores: ['dist/', 'coverage/', 'bench/results/', '.stryker-tmp/', 'reports/'] },
  js.configs.recommended,
  // Not the type-aware set: it costs three times as long (a whole TypeScript program, 47 s of CPU
  // against 14 s) and, run once over the tree, found no real fault the type-check and these rules miss.
  tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names are deliberately unused (a callback's position, a destructured rest).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read decoded Envoy resources as loose JSON; `any` is the honest type there.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Plain JavaScript run by Node: config files and the Jest reporter.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
    // require() is how a CommonJS file imports.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  ...boundaryConfigs,
);
