#!/usr/bin/env node
/**
 * Bundles the CLI into one CommonJS file, dist/cli.cjs (run by `npm run build` after tsc): the
 * commands (src/cli/commands.ts, oclif's `explicit` discovery) with everything they import —
 * patchwork's own modules, oclif, zod, yaml. bin/run.js loads it. The library (dist/index.js and
 * the rest of dist/) stays tsc's ES modules, for programs that import patchwork.
 *
 * Left out, loaded from node_modules when used: the AWS SDK (src/lib/aws/sdk.ts loads each client
 * package on first use, and a verb loads only the clients it calls), dockerode (with its optional
 * native modules; loaded only when something is built), oclif's plugins (ES modules, each with its
 * own copy of oclif, loaded only for `help` and `autocomplete`), and TypeScript (which oclif asks for
 * only when it runs a project's .ts sources).
 *
 * import(): on Node 20, bin/run.js runs the bundle as a vm.Script (for V8's code cache), where
 * import() has no module loader. So every import() becomes require() (`dynamic-import: false`: the
 * packages the bundle imports by name are CommonJS), except where oclif and lilconfig load a file
 * that may be an ES module (a command, a hook, a plugin), by a computed name: those call bin/run.js's
 * import() instead, through IMPORT below (an import() of a literal name is bundled). The build fails if an import() of a computed name is left to become
 * require().
 *
 * `createRequire(import.meta.url)(<literal>)` in our modules becomes a plain require of the same
 * literal, so what it loads (yaml, the price table) goes into the bundle; `import.meta.url` is the
 * bundle's own URL, so any other createRequire still resolves from dist/.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where bin/run.js leaves its import() (a function of a specifier). */
const IMPORT = 'globalThis[Symbol.for("patchwork.import")]';

let loaderImports = 0;
const plugin = {
  name: 'patchwork-cli',
  setup(build) {
    build.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replace(/createRequire\(import\.meta\.url\)\((?=['"])/g, 'require('), loader: 'js' };
    });
    build.onLoad(
      { filter: /[\\/]node_modules[\\/](@oclif[\\/]core[\\/]lib|lilconfig[\\/]src)[\\/].*\.js$/ },
      async (args) => {
        const source = await readFile(args.path, 'utf8');
        const contents = source.replace(/\bawait import\((?!\s*['"])/g, () => {
          loaderImports += 1;
          return `await ${IMPORT}(`;
        });
        return { contents, loader: 'js' };
      },
    );
  },
};

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/commands.js'],
  outfile: 'dist/cli.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['@aws-sdk/*', '@smithy/*', 'dockerode', '@oclif/plugin-*', 'typescript'],
  supported: { 'dynamic-import': false },
  plugins: [plugin],
  define: { 'import.meta.url': '__patchworkBundleUrl' },
  banner: {
    js: [
      'const __patchworkBundleUrl = require("node:url").pathToFileURL(__filename).href;',
      // Loaded by require() (Node ≥ 22, PATCHWORK_NO_COMPILE_CACHE=1), import() works here.
      `${IMPORT} ??= (specifier) => import(specifier);`,
    ].join('\n'),
  },
  logLevel: 'warning',
  metafile: true,
  sourcemap: 'linked',
  write: false,
});
if (result.errors.length > 0) process.exit(1);
const out = result.outputFiles.find((f) => f.path.endsWith('.cjs'));
// oclif's module loader (3), its TypeScript path (1) and lilconfig (1) at the time of writing.
if (loaderImports < 3) throw new Error(`bundle: expected oclif's import() calls to rewrite, found ${loaderImports}`);
const computed = out.text.match(/__toESM\(require\((?!["'])[^)]*\)/g);
if (computed)
  throw new Error(`bundle: an import() of a computed name would become require(): ${computed.slice(0, 3).join(', ')}`);
for (const f of result.outputFiles) await writeFile(f.path, f.contents);
if (process.argv.includes('--verbose'))
  console.error(`dist/cli.cjs: ${(out.contents.length / 1024).toFixed(0)} KiB, ${loaderImports} loader import() calls`);
