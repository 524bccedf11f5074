/**
 * The first provision in a fresh account (issue 14 item 2), on a reset world with every first-use
 * rule on: no service-linked roles (CreateCluster/CreateService refused until AWSServiceRoleForECS
 * is assumable), RegisterScalableTarget refused right after CreateService, new roles not yet
 * assumable. patchwork ensures the service-linked roles and retries the propagation errors:
 * provision exits 0, and a deploy after it exits 0.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, DEFAULT_EMULATOR_CONFIG, emu, resetWorld, runAwsCli, worldAwsEnv } from '../helpers/localworld.js';
import { copyWebapp, webappConfig } from '../helpers/webapp.js';

const app = 'fresh';
let root = '';
let env: NodeJS.ProcessEnv;

const cli = (args: string[], timeoutMs = 300_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

const SLRS = [
  'AWSServiceRoleForECS',
  'AWSServiceRoleForElasticLoadBalancing',
  'AWSServiceRoleForApplicationAutoScaling_ECSService',
];
const roleExists = (name: string) => runAwsCli(['iam', 'get-role', '--role-name', name]).status === 0;

describe('first provision into a fresh account (local world, every rule on)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await resetWorld();
    env = isolatedEnv(worldAwsEnv());
    root = mkdtempSync(join(tmpdir(), 'pw-first-provision-'));
    copyWebapp(root);
    writeFileSync(
      join(root, 'patchwork.yml'),
      webappConfig({ app, deploy: '{ pollSeconds: 1, timeoutSeconds: 120 }' }).replace(
        'alarms: { cpuPercent: 90 } }',
        'alarms: { cpuPercent: 90 }, autoscaling: { min: 1, max: 2, cpuPercent: 60 } }',
      ),
    );
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
  }, 1_200_000);

  afterAll(async () => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('provision exits 0 and makes the service-linked roles; deploy after it exits 0', async () => {
    const config = await emu<typeof DEFAULT_EMULATOR_CONFIG>('config');
    expect(config).toMatchObject({
      requireServiceLinkedRoles: true,
      slrPropagationSeconds: DEFAULT_EMULATOR_CONFIG.slrPropagationSeconds,
      scalableTargetLagSeconds: DEFAULT_EMULATOR_CONFIG.scalableTargetLagSeconds,
      iamPropagationSeconds: DEFAULT_EMULATOR_CONFIG.iamPropagationSeconds,
    });
    expect(config.slrPropagationSeconds).toBeGreaterThan(0);
    for (const name of SLRS) expect(roleExists(name), name).toBe(false);

    const prov: CliRun = await cli(['provision', '--yes'], 240_000);
    expect(prov.code, prov.stderr).toBe(0);
    const ensured = prov.events.find(
      (e) => e.type === 'task' && (e as { id?: string }).id === 'iam/service-linked-roles',
    );
    expect(ensured, 'the ensure step ran').toBeTruthy();
    for (const name of SLRS) expect(roleExists(name), name).toBe(true);
    const ecsRole = awsCli(['iam', 'get-role', '--role-name', 'AWSServiceRoleForECS']).Role;
    expect(ecsRole.Path).toBe('/aws-service-role/ecs.amazonaws.com/');
    const target = awsCli([
      'application-autoscaling',
      'describe-scalable-targets',
      '--service-namespace',
      'ecs',
    ]).ScalableTargets;
    expect(target.map((t: { ResourceId: string }) => t.ResourceId)).toEqual([`service/${app}-it/${app}-it-web`]);

    const again = await cli(['provision', '--yes']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.result.apiCalls!.mutating).toBe(0);

    const deploy = await cli(['deploy']);
    expect(deploy.code, deploy.stderr).toBe(0);
    expect((deploy.result as { release?: { outcome?: string } }).release?.outcome).toBe('succeeded');
  }, 900_000);
});
