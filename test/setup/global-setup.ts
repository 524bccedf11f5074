/**
 * vitest globalSetup of the integration project: bring the local world up once
 * (scripts/localworld.sh up — idempotent, reuses what already runs), then hand its addresses to
 * the tests: `inject('localWorld')`, process.env (AWS_ENDPOINT_URL, ...), or
 * `localWorld()` from test/helpers/localworld.ts.
 * No teardown: the world stays up for the next run and for the sandbox
 * (`bash scripts/localworld.sh down` stops it).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type LocalWorld, localWorld, REPO_ROOT, worldAwsEnv } from '../helpers/localworld.js';

declare module 'vitest' {
  export interface ProvidedContext {
    localWorld: LocalWorld;
  }
}

export default function setup(project: TestProject): void {
  const script = join(REPO_ROOT, 'scripts', 'localworld.sh');
  // Both streams to our stderr: progress and the summary line, never the reporter's stdout.
  const res = spawnSync('bash', [script, 'up'], { cwd: REPO_ROOT, stdio: ['ignore', 2, 2], timeout: 15 * 60_000 });
  if (res.error) throw new Error(`scripts/localworld.sh up: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`scripts/localworld.sh up exited ${res.status} (its message is above)`);
  const world = localWorld();
  Object.assign(process.env, worldAwsEnv(world));
  project.provide('localWorld', world);
}
