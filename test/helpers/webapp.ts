/**
 * The app most integration and reliability tests deploy: this repository's webapp copied into
 * `<root>/app` (sources only: no test files, no built binary), and a patchwork.yml for it that
 * uses the local world's registry and region.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isolatedEnv, ROOT, runCli } from './cli.js';
import { commitAll } from './git.js';
import { emu, localWorld } from './localworld.js';

export function copyWebapp(root: string): void {
  cpSync(join(ROOT, 'webapp'), join(root, 'app'), {
    recursive: true,
    filter: (src) => !/\.test$/.test(src) && basename(src) !== 'bin',
  });
}

/**
 * patchwork.yml text: service `web` built from `app/`; `deploy` is the YAML flow map. The environments:
 * `environments` (the lines under `environments:`), by default one (`env`, default `it`) of one task
 * with a CPU alarm.
 */
export function webappConfig(o: { app: string; env?: string; environments?: string[]; deploy: string }): string {
  const world = localWorld();
  return [
    `app: ${o.app}`,
    `region: ${world.region}`,
    `registry: "${world.registry}"`,
    'services:',
    '  web:',
    '    build: { context: app }',
    '    port: 8080',
    '    healthCheck: { path: /healthz }',
    'environments:',
    ...(o.environments ?? [`  ${o.env ?? 'it'}: { desiredCount: 1, alarms: { cpuPercent: 90 } }`]),
    `deploy: ${o.deploy}`,
    '',
  ].join('\n');
}

/**
 * A new git repository in a temp dir (`prefix`) holding the webapp and its patchwork.yml, committed
 * once, and a CLI environment for the local world (isolated: no other credentials). The caller
 * removes `root`.
 */
export function webappProject(o: { app: string; deploy: string; prefix: string; environments?: string[] }): {
  root: string;
  env: NodeJS.ProcessEnv;
  sha: string;
} {
  const env = worldCliEnv();
  const root = mkdtempSync(join(tmpdir(), o.prefix));
  copyWebapp(root);
  writeFileSync(
    join(root, 'patchwork.yml'),
    webappConfig({ app: o.app, environments: o.environments, deploy: o.deploy }),
  );
  const sha = commitAll(root, 'webapp');
  return { root, env, sha };
}

/** A CLI environment for the local world: isolated (no other credentials), its endpoint and keys. */
export function worldCliEnv(): NodeJS.ProcessEnv {
  const world = localWorld();
  return isolatedEnv({
    AWS_ENDPOINT_URL: world.endpoint,
    AWS_ACCESS_KEY_ID: world.accessKeyId,
    AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
  });
}

/**
 * Before a file that deploys the webapp: its base image built (scripts/golang-image.sh) and the
 * emulator's defaults back (every AWS rule on, real containers), whatever an earlier file set.
 */
export async function deployWorld(): Promise<void> {
  execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
  await emu('config', undefined, 'DELETE');
}

/** `provision -e <e>` of each environment in turn, in `root`; one that does not exit 0 throws (with its stderr). */
export async function provisionEach(root: string, env: NodeJS.ProcessEnv, environments: string[]): Promise<void> {
  for (const e of environments) {
    const run = await runCli(['provision', '-e', e, '--json'], { cwd: root, env, timeoutMs: 180_000 });
    if (run.code !== 0) throw new Error(`provision -e ${e}: exit ${run.code}\n${run.stderr}`);
  }
}

/** `destroy -e <e> --yes` of each environment in turn (clean-up: failures are ignored). */
export async function destroyEach(root: string, env: NodeJS.ProcessEnv, environments: string[]): Promise<void> {
  for (const e of environments)
    await runCli(['destroy', '-e', e, '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
}
