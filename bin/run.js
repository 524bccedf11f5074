#!/usr/bin/env node
// Node ≥ 22.1 can cache compiled code across runs: a CLI that CI calls often starts faster.
import module from 'node:module';

// patchwork pins its AWS SDK version; the SDK's warning about its own future Node requirement
// is not actionable for CLI users (set the variable to "false" to see it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (typeof module.enableCompileCache === 'function') module.enableCompileCache();

const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
