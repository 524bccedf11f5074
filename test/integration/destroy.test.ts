/**
 * destroy on the local world: refuses without --yes off a terminal, deletes in reverse order what
 * provision made (nothing tagged is left, counted with the AWS CLI), keeps ECR repositories holding
 * images unless --delete-images, and a second run finds nothing. With every EC2 rule of the world on
 * (DependencyViolation while a group is referenced or an ENI uses it, task ENIs lingering after
 * their task, new groups briefly invisible), a deployed two-service environment is destroyed too.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld, resetWorld, worldAwsEnv } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const world = () => localWorld();
const env = () => isolatedEnv(worldAwsEnv());
const run = (cwd: string, ...args: string[]) =>
  runCli([...args, '--env', 'prod', '--json'], { cwd, env: env(), timeoutMs: 120_000 });

function configDir(extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-destroy-'));
  writeFileSync(
    join(dir, 'patchwork.yml'),
    `app: shop
region: ${world().region}
services:
  web: { image: public.ecr.aws/docker/library/nginx:1.27, port: 8080 }
  api: { build: { context: . }, port: 9090, route: { paths: ["/api/*"] } }
environments:
  prod:
    desiredCount: 1
    autoscaling: { min: 1, max: 2, cpuPercent: 50 }
    alarms: { cpuPercent: 80 }
  staging: { desiredCount: 1 }
${extra}`,
  );
  return dir;
}

/** ARNs/names still carrying the environment's tags (ECS clusters and services only while ACTIVE). */
function tagged(envName = 'prod'): string[] {
  const left: string[] = [];
  const list = awsCli([
    'resourcegroupstaggingapi',
    'get-resources',
    '--tag-filters',
    `Key=patchwork:env,Values=${envName}`,
  ]);
  for (const m of list.ResourceTagMappingList ?? []) {
    const arn: string = m.ResourceARN;
    if (arn.includes(':cluster/')) {
      if (awsCli(['ecs', 'describe-clusters', '--clusters', arn]).clusters?.[0]?.status !== 'ACTIVE') continue;
    } else if (arn.includes(':service/') && arn.includes(':ecs:')) {
      const svc = awsCli(['ecs', 'describe-services', '--cluster', arn.split('/')[1]!, '--services', arn])
        .services?.[0];
      if (svc?.status !== 'ACTIVE') continue;
    } else if (arn.includes(':task-definition/')) {
      const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', arn]).taskDefinition;
      if (td?.status !== 'ACTIVE') continue;
    }
    left.push(arn);
  }
  for (const role of awsCli(['iam', 'list-roles']).Roles ?? []) {
    const tags = awsCli(['iam', 'list-role-tags', '--role-name', role.RoleName]).Tags ?? [];
    if (tags.some((t: { Key: string; Value: string }) => t.Key === 'patchwork:env' && t.Value === envName))
      left.push(role.Arn);
  }
  for (const repo of awsCli(['ecr', 'describe-repositories']).repositories ?? []) {
    const tags = awsCli(['ecr', 'list-tags-for-resource', '--resource-arn', repo.repositoryArn]).tags ?? [];
    if (tags.some((t: { Key: string; Value: string }) => t.Key === 'patchwork:env' && t.Value === envName))
      left.push(repo.repositoryArn);
  }
  const targets = awsCli(['application-autoscaling', 'describe-scalable-targets', '--service-namespace', 'ecs']);
  for (const t of targets.ScalableTargets ?? []) if (t.ResourceId.includes(`-${envName}-`)) left.push(t.ResourceId);
  return left.sort();
}

beforeEach(async () => {
  await resetWorld();
});

describe('destroy on the local world', () => {
  it('refuses without --yes when there is no terminal (exit 2, no AWS call)', async () => {
    const r = await run(configDir(), 'destroy');
    expect(r.code).toBe(2);
    expect(r.result.error).toMatchObject({ code: 'PW_CONFIRMATION_REQUIRED' });
    expect(r.result.apiCalls!.total).toBe(0);
  });

  it('deletes everything tagged for the environment, leaves other environments alone, and is idempotent', async () => {
    const cwd = configDir();
    expect((await run(cwd, 'provision')).code).toBe(0);
    const staging = await runCli(['provision', '--env', 'staging', '--json'], { cwd, env: env(), timeoutMs: 120_000 });
    expect(staging.code, staging.stderr).toBe(0);
    expect(tagged().length).toBeGreaterThan(15);
    const stagingBefore = tagged('staging');

    const dry = await run(cwd, 'destroy', '--dry-run', '--exit-code');
    expect(dry.code).toBe(6);
    expect(dry.result.apiCalls!.mutating).toBe(0);
    expect((dry.result.plan as { summary: { delete: number } }).summary.delete).toBeGreaterThan(15);

    const first = await run(cwd, 'destroy', '--yes');
    expect(first.code, first.stderr).toBe(0);
    expect(first.result.taskDefinitions).toHaveLength(2);
    expect(tagged()).toEqual([]);
    expect(tagged('staging')).toEqual(stagingBefore);

    const second = await run(cwd, 'destroy', '--yes');
    expect(second.code).toBe(0);
    expect(second.result.deleted).toBe(0);
    expect(second.result.apiCalls!.mutating).toBe(0);

    // And provision brings it back from nothing.
    const again = await run(cwd, 'provision');
    expect(again.code, again.stderr).toBe(0);
    // Three provisions, two destroys and ~100 AWS CLI calls (seconds each on a loaded machine).
  }, 600_000);

  it('keeps an ECR repository that holds images unless --delete-images (registryLayout: per-env)', async () => {
    const cwd = configDir('defaults: { registryLayout: per-env }\n');
    expect((await run(cwd, 'provision')).code).toBe(0);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { digest: 'sha256:1', size: 1, mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [],
    });
    awsCli([
      'ecr',
      'put-image',
      '--repository-name',
      'shop-prod-web',
      '--image-tag',
      'v1',
      '--image-manifest',
      manifest,
    ]);
    const first = await run(cwd, 'destroy', '--yes');
    expect(first.code, first.stderr).toBe(0);
    expect(first.result.keptRepositories).toEqual(['shop-prod-web']);
    expect(first.events.some((e) => e.type === 'warning' && e.code === 'PW_IMAGES_KEPT')).toBe(true);
    expect(
      awsCli(['ecr', 'describe-repositories']).repositories.map((r: { repositoryName: string }) => r.repositoryName),
    ).toEqual(['shop-prod-web']);

    const all = await run(cwd, 'destroy', '--yes', '--delete-images');
    expect(all.code, all.stderr).toBe(0);
    expect(awsCli(['ecr', 'describe-repositories']).repositories).toEqual([]);
    expect(tagged()).toEqual([]);
  }, 600_000);

  it('leaves the shared repositories (<app>-<svc>) alone, even with --delete-images: other environments pull from them', async () => {
    const cwd = configDir();
    expect((await run(cwd, 'provision')).code).toBe(0);
    const names = () =>
      awsCli(['ecr', 'describe-repositories'])
        .repositories.map((r: { repositoryName: string }) => r.repositoryName)
        .sort();
    expect(names()).toEqual(['shop-api', 'shop-web']);
    const gone = await run(cwd, 'destroy', '--yes', '--delete-images');
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.result.keptRepositories).toEqual([]);
    expect(names()).toEqual(['shop-api', 'shop-web']);
    expect(tagged()).toEqual([]);
    for (const name of names()) awsCli(['ecr', 'delete-repository', '--repository-name', name, '--force']);
  }, 600_000);
});

describe('destroy of a deployed environment (real task containers, every EC2 rule on)', () => {
  it('two services deployed: destroy exits 0, nothing tagged is left, a rerun has nothing to do', async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    const config = await emu('config');
    expect(config).toMatchObject({ sgDependencies: true, runContainers: true });
    expect(config.eniLingerSeconds).toBeGreaterThan(0);
    expect(config.sgVisibilitySeconds).toBeGreaterThan(0);
    const app = `dx${Date.now().toString(36)}`;
    const cwd = mkdtempSync(join(tmpdir(), 'pw-destroy-deployed-'));
    copyWebapp(cwd);
    writeFileSync(
      join(cwd, 'patchwork.yml'),
      [
        `app: ${app}`,
        `region: ${world().region}`,
        `registry: "${world().registry}"`,
        'services:',
        '  web: { build: { context: app }, port: 8080, healthCheck: { path: /healthz } }',
        '  api: { build: { context: app }, port: 8080, healthCheck: { path: /healthz }, route: { paths: ["/api/*"] } }',
        'environments:',
        '  it: { desiredCount: 1 }',
        'deploy: { pollSeconds: 1, timeoutSeconds: 240 }',
        '',
      ].join('\n'),
    );
    git(cwd, 'init', '-q', '-b', 'main');
    git(cwd, 'add', '-A');
    git(cwd, 'commit', '-q', '-m', 'webapp');
    const cli = (...args: string[]) =>
      runCli([...args, '--env', 'it', '--json'], { cwd, env: env(), timeoutMs: 600_000 });

    const prov = await cli('provision', '--yes');
    expect(prov.code, prov.stderr).toBe(0);
    const deployed = await cli('deploy');
    expect(deployed.code, deployed.stderr).toBe(0);
    const tasks = (await emu('tasks')).tasks as { service: string; mode: string; lastStatus: string }[];
    const running = tasks.filter((t) => t.lastStatus === 'RUNNING');
    expect(running.map((t) => t.service).sort()).toEqual([`${app}-it-api`, `${app}-it-web`]);
    expect(running.every((t) => t.mode === 'real')).toBe(true);

    const first = await cli('destroy', '--yes');
    expect(first.code, first.stderr).toBe(0);
    const byTag = (key: string, value: string) =>
      awsCli(['ec2', 'describe-security-groups', '--filters', `Name=tag:${key},Values=${value}`]).SecurityGroups;
    expect(byTag('patchwork:app', app)).toEqual([]);
    const lbs = awsCli(['elbv2', 'describe-load-balancers']).LoadBalancers as { LoadBalancerName: string }[];
    expect(lbs.filter((l) => l.LoadBalancerName.startsWith(app))).toEqual([]);
    const tgs = awsCli(['elbv2', 'describe-target-groups']).TargetGroups as { TargetGroupName: string }[];
    expect(tgs.filter((t) => t.TargetGroupName.startsWith(app))).toEqual([]);
    const clusters = awsCli(['ecs', 'describe-clusters', '--clusters', `${app}-it`]).clusters as { status: string }[];
    expect(clusters.filter((c) => c.status === 'ACTIVE')).toEqual([]);
    expect(tagged('it')).toEqual([]);

    const second = await cli('destroy', '--yes');
    expect(second.code, second.stderr).toBe(0);
    expect(second.result.deleted).toBe(0);
    expect(second.result.apiCalls!.mutating).toBe(0);
  }, 1_500_000);
});
