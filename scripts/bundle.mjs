#!/usr/bin/env node
/**
 * Bundles the CLI into one CommonJS file, dist/cli.cjs (run by `npm run build` after tsc): the
 * commands (src/cli/commands.ts, oclif's `explicit` discovery) with everything they import —
 * patchwork's own modules, oclif, zod, yaml. bin/run.js loads it. The library (dist/index.js and
 * the rest of dist/) stays tsc's ES modules, for programs that import patchwork.
 *
 * Left out, loaded from node_modules when used: the AWS SDK (src/lib/aws/sdk.ts loads each client
 * package on first use, and a verb loads only the clients it calls), dockerode (with its optional
 * native modules; loaded only when something is built), oclif's plugins (each loads its own copy of
 * oclif, only for `help` and `autocomplete`), and TypeScript (which oclif asks for only when it runs
 * a project's .ts sources).
 *
 * `createRequire(import.meta.url)(<literal>)` in our modules becomes a plain require of the same
 * literal, so what it loads (yaml, the price table) goes into the bundle; `import.meta.url` is the
 * bundle's own URL, so any other createRequire still resolves from dist/.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const requireLiterals = {
  name: 'require-literals',
  setup(build) {
    build.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replace(/createRequire\(import\.meta\.url\)\((?=['"])/g, 'require('), loader: 'js' };
    });
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
  external: ['@aws-sdk/*', '@smithy/*', 'dockerode', '@oclif/*'],
  // Every package the bundle loads at run time is CommonJS: import() becomes require(), which
  // bin/run.js's code cache (a vm.Script) can serve without an ES-module loader.
  supported: { 'dynamic-import': false },
  plugins: [requireLiterals],
  define: { 'import.meta.url': '__patchworkBundleUrl' },
  banner: { js: 'const __patchworkBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
  metafile: true,
});
if (result.errors.length > 0) process.exit(1);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
if (process.argv.includes('--verbose')) console.error(`dist/cli.cjs: ${(bytes / 1024).toFixed(0)} KiB`);
