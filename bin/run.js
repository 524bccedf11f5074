#!/usr/bin/env node
// Node ≥ 22.1 can cache compiled code across runs: a CLI that CI calls often starts faster.
import module from 'node:module';
import v8 from 'node:v8';

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

if (typeof module.enableCompileCache === 'function') module.enableCompileCache();

// oclif is CommonJS: require() spares Node's ESM pass over its sources for export names.
const { execute } = module.createRequire(import.meta.url)('@oclif/core');
await execute({ dir: import.meta.url });
