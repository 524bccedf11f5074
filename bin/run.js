#!/usr/bin/env node
// Node ≥ 22.1 can cache compiled code across runs: a CLI that CI calls often starts faster.
import module from 'node:module';

if (typeof module.enableCompileCache === 'function') module.enableCompileCache();

const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
