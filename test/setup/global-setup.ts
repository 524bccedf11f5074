/**
 * vitest globalSetup of the integration project: bring the local world up once
 * (scripts/localworld.sh up — idempotent, reuses what already runs), then hand its addresses to
 * the tests: `inject('localWorld')`, process.env (AWS_ENDPOINT_URL, ...), or
 * `localWorld()` from test/helpers/localworld.ts.
 * The world stays up for the next run and for the sandbox (`bash scripts/localworld.sh down` stops
 * it). The emulator checks every request against AWS's API models (test/emulator/pwemu/validate.py);
 * setup clears its counts, and teardown — after every test file of the run — fails the run when any
 * request but the emulator tests' deliberate ones (`expectViolation`) broke the model: patchwork's
 * own (the SDK) or the harness's (the AWS CLI).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  DEFAULT_EMULATOR_CONFIG,
  emu,
  type LocalWorld,
  localWorld,
  REPO_ROOT,
  unexpectedViolations,
  type ValidationReport,
  worldAwsEnv,
} from '../helpers/localworld.js';

declare module 'vitest' {
  export interface ProvidedContext {
    localWorld: LocalWorld;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const script = join(REPO_ROOT, 'scripts', 'localworld.sh');
  // Both streams to our stderr: progress and the summary line, never the reporter's stdout.
  const res = spawnSync('bash', [script, 'up'], { cwd: REPO_ROOT, stdio: ['ignore', 2, 2], timeout: 15 * 60_000 });
  if (res.error) throw new Error(`scripts/localworld.sh up: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`scripts/localworld.sh up exited ${res.status} (its message is above)`);
  const world = localWorld();
  Object.assign(process.env, worldAwsEnv(world));
  project.provide('localWorld', world);
  // A previous run may have left validation off (PATCHWORK_EMULATOR_VALIDATE=0): this run's setting.
  await emu('config', { validateRequests: DEFAULT_EMULATOR_CONFIG.validateRequests });
  await emu('validation', undefined, 'DELETE');
  return async () => {
    const report = await emu<ValidationReport>('validation');
    const bad = unexpectedViolations(report.sinceStart);
    if (Object.keys(bad).length === 0) return;
    const examples = report.recent
      .filter((r) => r.client !== 'expected')
      .map(
        (r) => `  ${r.operation} (${r.client}): ${r.violations.map((v) => `${v.member}: ${v.constraint}`).join('; ')}`,
      );
    // vitest only logs a teardown's error ("error during close"): the exit code is set here.
    process.exitCode = 1;
    throw new Error(
      `requests that AWS's API models refuse (GET /_patchwork/validation): ${JSON.stringify(bad)}\n${examples.join('\n')}`,
    );
  };
}
