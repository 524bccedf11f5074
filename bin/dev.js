#!/usr/bin/env node
// Development entry: runs the compiled CLI after a fresh `tsc` (npm run build).
// oclif's development mode needs ts-node; we keep one toolchain (tsc) and build first.
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { execute } from '@oclif/core';

execSync('npx tsc -p tsconfig.build.json', { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit' });
await execute({ dir: import.meta.url });
