#!/usr/bin/env node
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

// A CLI run allocates most of its heap once (loading code) and then waits on AWS: V8's young
// generation growing to 16 MiB × 2 buys it nothing but resident memory. Kept at its initial size,
// a deploy peaks ~8 MiB lower (Node 20; ~13 MiB on Node 24) for no measurable CPU. The library
// (programmatic use) is not affected: this is the CLI's process.
v8.setFlagsFromString('--semi-space-growth-factor=1');
// patchwork pins its AWS SDK version; the SDK's warning about its own future Node requirement
// is not actionable for CLI users (set the variable to "false" to see it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// oclif checks the Node version against its own `engines` with semver at load (~50 files, ~20 ms
// of CPU on every run); patchwork's own floor (package.json engines: Node 20) is checked here.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true';
if (Number(process.versions.node.split('.')[0]) < 20) {
  process.emitWarning(`patchwork needs Node 20 or later; this is Node ${process.versions.node}`);
}

// The CLI is one bundled file (scripts/bundle.mjs): oclif, zod, yaml and patchwork's own modules.
const bundle = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));

/**
 * Which code cache a run uses: one per verb (V8 caches the functions a run compiled, and each verb
 * runs its own), one for help, one for the rest (no verb, an unknown one).
 */
function cacheName(args) {
  if (args.some((a) => a === '--help' || a === '-h') || args[0] === 'help') return 'help';
  const verb = args[0] ?? '';
  return /^[a-z]{2,20}$/.test(verb) &&
    existsSync(fileURLToPath(new URL(`../dist/commands/${verb}.js`, import.meta.url)))
    ? verb
    : 'cli';
}

/**
 * Loads the bundle through V8's code cache, kept per user under ~/.cache/patchwork (XDG_CACHE_HOME)
 * and named by the bundle's content hash, V8's version and the verb: a run then deserializes the functions an
 * earlier run compiled instead of parsing and compiling them again (~70 ms of a deploy's start on
 * Node 20). Node ≥ 22.1 does this itself (module.enableCompileCache). Any failure here falls back to
 * a plain require; PATCHWORK_NO_COMPILE_CACHE=1 turns the cache off.
 */
function loadBundle() {
  const requireHere = module.createRequire(import.meta.url);
  // --debug: stack traces name src/*.ts lines (dist/cli.cjs.map, chained from tsc's maps). Node
  // maps only what its module loader compiled, not a vm.Script: on Node 20, no code cache then.
  if (debugging(process.argv.slice(2))) process.setSourceMapsEnabled(true);
  const off = process.env.PATCHWORK_NO_COMPILE_CACHE === '1';
  // XDG: a relative XDG_CACHE_HOME is ignored.
  const xdg = process.env.XDG_CACHE_HOME;
  let cacheRoot;
  try {
    cacheRoot = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  } catch {
    return requireHere(bundle); // no home directory: no cache
  }
  if (typeof module.enableCompileCache === 'function') {
    // Node's own cache, in the same per-user directory (its default, under os.tmpdir(), spins
    // forever when TMPDIR cannot be created, as mkdir's `recursive` does under /proc).
    const dir = join(cacheRoot, 'patchwork');
    if (!off && makeDir(cacheRoot, dir)) module.enableCompileCache(join(dir, 'node'));
    return requireHere(bundle);
  }
  if (off || process.sourceMapsEnabled) return requireHere(bundle);
  let source;
  let key;
  let cacheFile;
  let cachedData;
  try {
    source = readFileSync(bundle, 'utf8');
    key = createHash('sha1').update(source).update(process.versions.v8).digest('hex').slice(0, 20);
    cacheFile = join(cacheRoot, 'patchwork', `cli-${key}-${cacheName(process.argv.slice(2))}.v8cache`);
    try {
      cachedData = verified(readFileSync(cacheFile));
    } catch {
      cachedData = undefined;
    }
  } catch {
    return requireHere(bundle);
  }
  const script = new vm.Script(module.wrap(source), {
    filename: bundle,
    cachedData,
  });
  const Module = module.Module;
  const mod = new Module(bundle, null);
  mod.filename = bundle;
  mod.paths = Module._nodeModulePaths(dirname(bundle));
  // oclif loads the commands from this same file (package.json: oclif.commands): it finds it here.
  Module._cache[bundle] = mod;
  try {
    script.runInThisContext()(mod.exports, module.createRequire(bundle), mod, bundle, dirname(bundle));
  } catch (err) {
    delete Module._cache[bundle];
    throw err;
  }
  mod.loaded = true;
  if (cachedData === undefined || script.cachedDataRejected) {
    // At exit the cache holds every function this run compiled (not only the top level).
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        if (!makeDir(cacheRoot, dirname(cacheFile))) return;
        const data = script.createCachedData();
        writeFileSync(tmp, Buffer.concat([createHash('sha1').update(data).digest(), data]), { mode: 0o600 });
        try {
          renameSync(tmp, cacheFile);
        } catch (err) {
          unlinkSync(tmp);
          throw err;
        }
        // Caches of other builds (an upgrade, a rebuild) go once a day old.
        const dir = dirname(cacheFile);
        for (const name of readdirSync(dir)) {
          const path = join(dir, name);
          if (
            name.startsWith('cli-') &&
            !name.startsWith(`cli-${key}-`) &&
            Date.now() - statSync(path).mtimeMs > 86_400_000
          )
            unlinkSync(path);
        }
      } catch {
        // A read-only or full disk: the next run compiles again.
      }
    });
  }
  return mod.exports;
}

/** `--debug` before any `--`. */
function debugging(args) {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--debug');
}

/**
 * A cache file is the SHA-1 of V8's data, then the data: V8 checks only the data's header (its
 * version, flags and source hash), and a damaged body crashes the process (SIGSEGV) on every run.
 * Returns the data when the digest matches, else undefined (the run compiles and rewrites it).
 */
function verified(file) {
  if (file.length <= 20) return undefined;
  const data = file.subarray(20);
  return createHash('sha1').update(data).digest().equals(file.subarray(0, 20)) ? data : undefined;
}

/**
 * Creates `dir` (<root>/patchwork) and, when missing, `root` (~/.cache) — no deeper; false when it
 * cannot. Not mkdirSync's `recursive`: under /proc (XDG_CACHE_HOME=/proc/x) it retries forever.
 */
function makeDir(root, dir) {
  for (const path of [root, dir]) {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (err) {
      if (err.code !== 'EEXIST') return false;
    }
  }
  return true;
}

// The bundle's loaders (oclif's, for commands, hooks and plugins that may be ES modules) import
// through this module: a vm.Script has no import() of its own (scripts/bundle.mjs).
globalThis[Symbol.for('patchwork.import')] = (specifier) => import(specifier);
const { execute } = loadBundle();
await execute({ dir: import.meta.url });
