/**
 * Switching one environment between deployment strategies on the local world, through the CLI:
 * rolling → blue-green → canary → linear → rolling. Each step is a `provision` (the service's
 * deploymentConfiguration as the AWS CLI shows it afterwards; the extra resources of a progressive
 * strategy there, and gone after the switch back) and a `deploy` of a new sha that goes live while a
 * load generator on the production listener sees 0 failed requests; `provision --dry-run --exit-code`
 * exits 0 after each. The world (bluegreen.py) keeps what UpdateService leaves out and refuses a
 * strategy change during a deployment, as ECS does. Bake minutes are scaled (deploymentBakeScale).
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { awsCli, emu, waitFor } from '../helpers/localworld.js';
import { commitRelease, currentSha, loadGenerator } from '../helpers/progressive.js';
import { webappProject } from '../helpers/webapp.js';

const app = `ps${Date.now().toString(36)}`;
const fullName = `${app}-it-web`;
let root = '';
let env: NodeJS.ProcessEnv;
let dns = '';

const COMMON = 'pollSeconds: 1, timeoutSeconds: 300, smoke: { path: /healthz }';
const ROLLING = `{ strategy: rolling, ${COMMON} }`;

const cli = (args: string[], timeoutMs = 600_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
const service = (): any =>
  awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', fullName]).services[0];

/** `provision`, then `deploy` of a new sha with `deploy` as the config: both with 0 failed requests. */
async function switchAndDeploy(label: string, deploy: string, strategy: string) {
  const sha = commitRelease(root, app, label, deploy);
  const load = loadGenerator(dns);
  const prov = await cli(['provision', '--yes']);
  expect(prov.code, prov.stderr).toBe(0);
  // ECS reads lag UpdateService (the world models it): wait for the new strategy to show.
  // biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
  const svc: any = await waitFor(() => {
    const s = service();
    return (s.deploymentConfiguration.strategy ?? 'ROLLING') === strategy ? s : undefined;
  });
  const again = await cli(['provision', '--dry-run', '--exit-code']);
  expect(again.code, again.stdout).toBe(0);
  const run = await cli(['deploy']);
  const { failed, seen } = await load.stop();
  expect(run.code, run.stderr).toBe(0);
  expect(failed, JSON.stringify(seen)).toBe(0);
  expect(await currentSha(dns)).toBe(sha);
  const after = await cli(['provision', '--dry-run', '--exit-code']);
  expect(after.code, after.stdout).toBe(0);
  return svc;
}

const progressiveParts = () => {
  const tgs = awsCli(['elbv2', 'describe-target-groups'])
    .TargetGroups.map((t: { TargetGroupName: string }) => t.TargetGroupName)
    .filter((n: string) => n.startsWith(fullName));
  const ports = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lbArn()]).Listeners.map(
    (l: { Port: number }) => l.Port,
  );
  const roles = awsCli(['iam', 'list-roles']).Roles.map((r: { RoleName: string }) => r.RoleName);
  return { tgs: tgs.sort(), ports: ports.sort(), lbRole: roles.includes(`${app}-it-ecs-lb`) };
};
const lbArn = () =>
  awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-it`]).LoadBalancers[0].LoadBalancerArn;

describe('switching strategies: rolling → blue-green → canary → linear → rolling (local world)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    // 3 s per minute: bakes of 1 min = 3 s; the pause hook's timeout (5 min) = 15 s, beyond the checks.
    await emu('config', { deploymentBakeScale: 3 });
    ({ root, env } = webappProject({ app, deploy: ROLLING, prefix: 'pw-switch-it-' }));
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    dns = awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-it`]).LoadBalancers[0].DNSName;
    const sha = commitRelease(root, app, 'first', ROLLING);
    const run = await cli(['deploy']);
    expect(run.code, run.stderr).toBe(0);
    expect(await currentSha(dns)).toBe(sha);
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 300_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('rolling → blue-green: the second group, test listener and role appear; a release goes live', async () => {
    const svc = await switchAndDeploy(
      'blue-green',
      `{ strategy: blue-green, bakeMinutes: 1, ${COMMON} }`,
      'BLUE_GREEN',
    );
    expect(svc.deploymentConfiguration).toMatchObject({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 1 });
    expect(svc.deploymentConfiguration.lifecycleHooks).toEqual([
      expect.objectContaining({ targetType: 'PAUSE', lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'] }),
    ]);
    expect(svc.loadBalancers[0].advancedConfiguration.alternateTargetGroupArn).toContain(`${fullName}-b`);
    expect(progressiveParts()).toEqual({ tgs: [fullName, `${fullName}-b`], ports: [80, 9000], lbRole: true });
  }, 900_000);

  it('blue-green → canary', async () => {
    const svc = await switchAndDeploy(
      'canary',
      `{ strategy: canary, bakeMinutes: 1, canary: { percent: 20, bakeMinutes: 1 }, ${COMMON} }`,
      'CANARY',
    );
    expect(svc.deploymentConfiguration).toMatchObject({
      strategy: 'CANARY',
      bakeTimeInMinutes: 1,
      canaryConfiguration: { canaryPercent: 20, canaryBakeTimeInMinutes: 1 },
    });
  }, 900_000);

  it('canary → linear (the canary configuration ECS keeps is ignored)', async () => {
    const svc = await switchAndDeploy(
      'linear',
      `{ strategy: linear, bakeMinutes: 1, linear: { stepPercent: 50, stepBakeMinutes: 1 }, ${COMMON} }`,
      'LINEAR',
    );
    expect(svc.deploymentConfiguration).toMatchObject({
      strategy: 'LINEAR',
      bakeTimeInMinutes: 1,
      linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 },
    });
    expect(svc.deploymentConfiguration.lifecycleHooks).toHaveLength(1);
  }, 900_000);

  it('linear → rolling: the hook and alarms cleared, the progressive parts gone; a release goes live', async () => {
    const svc = await switchAndDeploy('rolling', ROLLING, 'ROLLING');
    expect(svc.deploymentConfiguration.lifecycleHooks ?? []).toEqual([]);
    expect(svc.deploymentConfiguration.alarms?.enable ?? false).toBe(false);
    expect(service().loadBalancers[0].advancedConfiguration).toBeUndefined();
    expect(progressiveParts()).toEqual({ tgs: [fullName], ports: [80], lbRole: false });
  }, 900_000);
});
