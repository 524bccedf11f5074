/**
 * A project on the per-environment layout before shared repositories became the default (issue
 * 17): its config never set registryLayout and `<app>-staging-web` holds its images. It must not
 * switch silently: provision and deploy keep using `<app>-staging-web` and warn
 * PW_PER_ENV_REPOSITORY saying how to migrate; once the config says `registryLayout: shared`, the
 * deploy builds into `<app>-web` and the warning is gone.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const app = `rl${Date.now().toString(36)}`;
let root = '';
let env: NodeJS.ProcessEnv;
let registry = '';

const cli = (args: string[], timeoutMs = 300_000) => runCli([...args, '--json'], { cwd: root, env, timeoutMs });
const warnings = (run: CliRun) =>
  run.events.filter((e) => e.type === 'warning') as { code?: string; message?: string }[];
const tags = async (repo: string) => {
  const res = await fetch(`http://${registry}/v2/${repo}/tags/list`);
  return res.status === 200 ? (((await res.json()) as { tags: string[] | null }).tags ?? []) : null;
};
const imageOfStaging = () => {
  const td = awsCli(['ecs', 'describe-services', '--cluster', `${app}-staging`, '--services', `${app}-staging-web`])
    .services[0].taskDefinition as string;
  return awsCli(['ecs', 'describe-task-definition', '--task-definition', td]).taskDefinition.containerDefinitions[0]
    .image as string;
};

describe('registryLayout not set and an old per-env repository with images: kept, with a warning', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    const world = localWorld();
    registry = world.registry;
    env = isolatedEnv({
      AWS_ENDPOINT_URL: world.endpoint,
      AWS_ACCESS_KEY_ID: world.accessKeyId,
      AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    });
    root = mkdtempSync(join(tmpdir(), 'pw-layout-it-'));
    copyWebapp(root);
    const config = (extra: string) =>
      [
        `app: ${app}`,
        `region: ${world.region}`,
        `registry: "${registry}"`,
        'services:',
        '  web:',
        '    build: { context: app }',
        '    port: 8080',
        '    healthCheck: { path: /healthz }',
        'environments:',
        '  staging: { desiredCount: 1 }',
        'deploy: { pollSeconds: 1, timeoutSeconds: 120 }',
        extra,
      ].join('\n');
    writeFileSync(join(root, 'patchwork.yml'), config(''));
    writeFileSync(join(root, 'shared.yml'), config('defaults: { registryLayout: shared }\n'));
    writeFileSync(join(root, '.gitignore'), 'shared.yml\n');
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
    // What the layout before left behind: images in <app>-staging-web.
    const old = `${registry}/${app}-staging-web:before-0.2`;
    execFileSync('docker', ['build', '-q', '-t', old, join(root, 'app')], { stdio: 'pipe', timeout: 300_000 });
    execFileSync('docker', ['push', old], { stdio: 'pipe', timeout: 120_000 });
    expect(await tags(`${app}-web`)).toBeNull();
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'staging', '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('provision and deploy keep <app>-staging-web and say how to migrate; nothing goes to <app>-web', async () => {
    const prov = await cli(['provision', '-e', 'staging']);
    expect(prov.code, prov.stderr).toBe(0);
    expect(warnings(prov).map((w) => w.code)).toContain('PW_PER_ENV_REPOSITORY');

    const dep = await cli(['deploy', '-e', 'staging']);
    expect(dep.code, dep.stderr).toBe(0);
    const warned = warnings(dep).filter((w) => w.code === 'PW_PER_ENV_REPOSITORY');
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toContain(`${app}-staging-web hold images`);
    expect(warned[0]!.message).toContain('set registryLayout');
    expect(dep.stderr).toContain('PW_PER_ENV_REPOSITORY');
    expect(imageOfStaging()).toMatch(new RegExp(`^${registry.replace(/\./g, '\\.')}/${app}-staging-web@sha256:`));
    expect(await tags(`${app}-web`)).toBeNull();
    expect((await tags(`${app}-staging-web`))?.length).toBeGreaterThan(1); // before-0.2 and the new sha
  }, 600_000);

  it('registryLayout: shared written: the deploy builds into <app>-web, no warning', async () => {
    const dep = await cli(['deploy', '-e', 'staging', '-c', 'shared.yml']);
    expect(dep.code, dep.stderr).toBe(0);
    expect(warnings(dep).map((w) => w.code)).not.toContain('PW_PER_ENV_REPOSITORY');
    expect(imageOfStaging()).toMatch(new RegExp(`^${registry.replace(/\./g, '\\.')}/${app}-web@sha256:`));
    expect((await tags(`${app}-web`))?.length).toBeGreaterThan(0);
    // And from then on the shared repository exists: with registryLayout unset again, no warning either.
    const unset = await cli(['deploy', '-e', 'staging', '--dry-run']);
    expect(unset.code, unset.stderr).toBe(0);
    expect(warnings(unset).map((w) => w.code)).not.toContain('PW_PER_ENV_REPOSITORY');
  }, 600_000);
});
