/**
 * Build once, promote the exact digest (issue 17): staging and prod in one patchwork.yml share the
 * repository `<app>-web`; `deploy --env staging` builds and pushes once, `promote --from staging
 * --env prod` deploys the very digest (nothing built or pushed), and prod's release records
 * staging's git sha and `promotedFrom`. A sha staging never released is exit 2 naming what it did.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../helpers/cli.js';
import { awsCli, localWorld } from '../helpers/localworld.js';
import { deployWorld, destroyEach, provisionEach, webappProject } from '../helpers/webapp.js';

const app = `pr${Date.now().toString(36)}`;
let root = '';
let env: NodeJS.ProcessEnv;
let registry = '';
let sha = '';

const cli = (args: string[], timeoutMs = 300_000) => runCli([...args, '--json'], { cwd: root, env, timeoutMs });
const taskDefinitionOf = (e: string) =>
  awsCli(['ecs', 'describe-services', '--cluster', `${app}-${e}`, '--services', `${app}-${e}-web`]).services[0]
    .taskDefinition as string;
const imageOf = (td: string) =>
  awsCli(['ecs', 'describe-task-definition', '--task-definition', td]).taskDefinition.containerDefinitions[0]
    .image as string;
/** Events of a run that build or push anything: image results, push layers, build tasks. */
const buildsOrPushes = (run: CliRun) =>
  run.events.filter(
    (e) =>
      (e.type === 'data' && (e.kind === 'image' || e.kind === 'push.layer')) ||
      (e.type === 'task' && String((e as { id?: string }).id ?? '').startsWith('build:')),
  );

describe('promote: build once, deploy the exact digest (local world)', () => {
  beforeAll(async () => {
    await deployWorld();
    registry = localWorld().registry;
    ({ root, env, sha } = webappProject({
      app,
      prefix: 'pw-promote-it-',
      environments: ['  staging: { desiredCount: 1 }', '  prod: { desiredCount: 1 }'],
      deploy: '{ pollSeconds: 1, timeoutSeconds: 120, smoke: { path: /healthz } }',
    }));
    await provisionEach(root, env, ['staging', 'prod']);
  }, 1_200_000);

  afterAll(async () => {
    await destroyEach(root, env, ['prod', 'staging']);
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('deploy staging, then promote to prod: the same @sha256 digest, staging’s sha and promotedFrom, nothing built or pushed', async () => {
    const staged = await cli(['deploy', '-e', 'staging']);
    expect(staged.code, staged.stderr).toBe(0);
    const stagingImage = imageOf(taskDefinitionOf('staging'));
    // One repository for both environments: <app>-<svc>.
    expect(stagingImage).toMatch(new RegExp(`^${registry.replace(/\./g, '\\.')}/${app}-web@sha256:[0-9a-f]{64}$`));

    const dry = await cli(['promote', '--from', 'staging', '-e', 'prod', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.result).toMatchObject({
      from: 'staging',
      sha,
      dryRun: true,
      services: [{ service: 'web', change: true }],
    });
    expect(dry.result.apiCalls?.mutating).toBe(0);

    const promoted = await cli(['promote', '--from', 'staging', '-e', 'prod']);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(buildsOrPushes(promoted)).toEqual([]);
    expect(promoted.stderr).not.toMatch(/dry run: would build/);
    expect(promoted.result).toMatchObject({ from: 'staging', sha, release: { outcome: 'succeeded' } });
    expect(promoted.result.smoke).toMatchObject({ ok: true });

    // The AWS CLI: both environments' task definitions pin the very same digest.
    const prodImage = imageOf(taskDefinitionOf('prod'));
    expect(prodImage).toBe(stagingImage);
    expect(prodImage).toMatch(/@sha256:[0-9a-f]{64}$/);

    const releases = await cli(['releases', '-e', 'prod']);
    expect(releases.code, releases.stderr).toBe(0);
    const latest = (releases.result.releases as Record<string, unknown>[])[0]!;
    expect(latest).toMatchObject({
      kind: 'deploy',
      sha,
      promotedFrom: 'staging',
      outcome: 'succeeded',
      services: [{ service: 'web', image: stagingImage, digest: stagingImage.split('@')[1] }],
    });

    // Promoting again is a no-op plan: prod already runs that digest.
    const again = await cli(['promote', '--from', 'staging', '-e', 'prod', '--dry-run', '--exit-code']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.result.services).toMatchObject([{ service: 'web', change: false }]);
  }, 900_000);

  it('a sha staging never released is exit 2 naming the ones it did, with nothing written', async () => {
    const before = taskDefinitionOf('prod');
    const run = await cli(['promote', '--from', 'staging', '-e', 'prod', '--sha', '0123456789abcdef']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PW_UNKNOWN_RELEASE: staging never released 0123456789abcdef');
    expect(run.stderr).toContain(`staging has successful releases of: ${sha.slice(0, 12)}`);
    expect(run.result.apiCalls?.mutating).toBe(0);
    const self = await cli(['promote', '--from', 'prod', '-e', 'prod']);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/PW_USAGE: --from prod is the target environment itself/);
    expect(taskDefinitionOf('prod')).toBe(before);
  }, 300_000);
});
