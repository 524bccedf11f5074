/**
 * Progressive delivery on the local world (the emulator's ECS native blue/green: bluegreen.py),
 * through the CLI: provision creates the second target group, the test listener and its rule, the
 * ECS load-balancer role and the service's deploymentConfiguration (AWS CLI); a good release goes
 * live through the stages (deployment.stage events) with the pause answered after the checks on the
 * test listener; a release failing its pre-traffic check never gets production traffic (a load
 * generator on the production port sees only the old sha) and exits 3, recorded rolled-back; an
 * alarm set to ALARM during the bake of a `deploy --no-wait` makes the world roll back with no help
 * from the CLI. The load generator counts 0 failed requests throughout. Bake minutes are scaled.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { awsCli, emu, waitFor } from '../helpers/localworld.js';
import { commitRelease, inFlightDeployment, lines, loadGenerator as progressiveLoad } from '../helpers/progressive.js';
import { webappProject } from '../helpers/webapp.js';

const app = `pg${Date.now().toString(36)}`;
const fullName = `${app}-it-web`;
let root = '';
let env: NodeJS.ProcessEnv;
let dns = '';

const DEPLOY =
  '{ strategy: blue-green, bakeMinutes: 2, pollSeconds: 1, timeoutSeconds: 300, smoke: { path: /healthz } }';

const cli = (args: string[], timeoutMs = 600_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });
const loadGenerator = () => progressiveLoad(dns);
const commit = (label: string, deploy = DEPLOY): string => commitRelease(root, app, label, deploy);

const service = () =>
  awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', fullName]).services[0];

describe('progressive delivery: blue-green through the CLI (local world)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    // 5 s per minute: bake 2 min = 10 s; the pause hook's timeout (5 min) = 25 s, beyond the checks' 10 s.
    await emu('config', { deploymentBakeScale: 5 });
    ({ root, env } = webappProject({ app, deploy: DEPLOY, prefix: 'pw-progressive-it-' }));
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    dns = awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-it`]).LoadBalancers[0].DNSName;
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 300_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('provision: the second target group, the test listener and rule, the role, the strategy', () => {
    const tgs = awsCli(['elbv2', 'describe-target-groups', '--names', fullName, `${fullName}-b`]).TargetGroups;
    expect(tgs.map((t: { TargetGroupName: string }) => t.TargetGroupName).sort()).toEqual([fullName, `${fullName}-b`]);
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-it`]).LoadBalancers[0];
    const listeners = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners;
    expect(listeners.map((l: { Port: number }) => l.Port).sort()).toEqual([80, 9000]);
    const role = awsCli(['iam', 'get-role', '--role-name', `${app}-it-ecs-lb`]).Role;
    expect(JSON.stringify(role.AssumeRolePolicyDocument)).toContain('ecs.amazonaws.com');
    const svc = service();
    expect(svc.deploymentConfiguration.strategy).toBe('BLUE_GREEN');
    expect(svc.deploymentConfiguration.bakeTimeInMinutes).toBe(2);
    expect(svc.deploymentConfiguration.lifecycleHooks[0]).toMatchObject({
      targetType: 'PAUSE',
      lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'],
      timeoutConfiguration: { action: 'ROLLBACK' },
    });
    expect(svc.loadBalancers[0].advancedConfiguration.roleArn).toContain(`role/${app}-it-ecs-lb`);
    const again = awsCli(['ec2', 'describe-security-groups', '--filters', `Name=group-name,Values=${app}-it-alb`])
      .SecurityGroups[0];
    expect(again.IpPermissions.map((p: { FromPort: number }) => p.FromPort).sort()).toEqual([80, 9000]);
  });

  it('a provision right after changes nothing (ECS-owned weights are not drift)', async () => {
    const run = await cli(['provision', '--dry-run', '--exit-code']);
    expect(run.code, run.stdout).toBe(0);
  });

  it('the first release, then a good one live through the stages with 0 failed requests', async () => {
    const first = await cli(['deploy']);
    expect(first.code, first.stderr).toBe(0);
    // Waited for through the stages: the result says so (not the `watch: null` of --no-wait).
    const firstResult = lines(first.stdout).at(-1);
    expect(firstResult.watch).toMatchObject({ state: 'done' });
    expect(firstResult.phases.rollout).toBeGreaterThan(0);
    expect(first.stderr).toMatch(/: rolled out in [\d.]+s/);
    // The first release went live on the second target group (ECS swaps the pair at each
    // deployment): status counts the targets of both, so it is healthy, not "no healthy target".
    await waitFor(async () => {
      const st = await cli(['status']);
      return st.code === 0 ? true : undefined;
    });
    const st = await cli(['status']);
    expect(st.code, st.stdout).toBe(0);
    expect(
      lines(st.stdout)
        .at(-1)
        .status.services[0].targets.some((t: { state: string }) => t.state === 'healthy'),
    ).toBe(true);
    const sha2 = commit('second');
    const load = loadGenerator();
    const run = await cli(['deploy']);
    const { seen, failed } = await load.stop();
    expect(run.code, run.stderr).toBe(0);
    const stages = lines(run.stdout)
      .filter((e) => e.type === 'data' && e.kind === 'deployment.stage')
      .map((e) => e.data.stage);
    // Sampled each second: the pause and the bake last long enough to be seen every time.
    expect(stages).toEqual(expect.arrayContaining(['POST_TEST_TRAFFIC_SHIFT', 'BAKE_TIME']));
    expect(failed).toBe(0);
    await waitFor(async () => {
      const res = await fetch(`http://${dns}:80/version`);
      return ((await res.json()) as { sha: string }).sha.startsWith(sha2) ? true : undefined;
    });
    expect(Object.keys(seen).length).toBeGreaterThan(0);
  }, 900_000);

  it('a release failing its pre-traffic check never gets production traffic: exit 3, rolled-back', async () => {
    const before = ((await (await fetch(`http://${dns}:80/version`)).json()) as { sha: string }).sha.slice(0, 12);
    commit('third', `${DEPLOY.slice(0, -2)}, preTraffic: [{ path: /no-such-page }] }`);
    const load = loadGenerator();
    const run = await cli(['deploy']);
    const { seen, failed } = await load.stop();
    expect(run.code, run.stderr).toBe(3);
    const result = lines(run.stdout).at(-1);
    expect(result.error.code).toBe('PW_DEPLOY_ROLLED_BACK');
    expect(result.error.message).toMatch(
      /before production traffic moved: pre-traffic check GET .*:9000\/no-such-page/,
    );
    expect(Object.keys(seen)).toEqual([before]);
    expect(failed).toBe(0);
    const releases = await cli(['releases']);
    expect(releases.stdout).toContain('rolled-back');
  }, 900_000);

  it('an alarm in ALARM during the bake of deploy --no-wait: the world rolls back by itself', async () => {
    const before = ((await (await fetch(`http://${dns}:80/version`)).json()) as { sha: string }).sha.slice(0, 12);
    await emu('config', { deploymentBakeScale: 30 });
    commit('fourth');
    const load = loadGenerator();
    const run = await cli(['deploy', '--no-wait']);
    expect(run.code, run.stderr).toBe(0);
    expect(lines(run.stdout).some((e) => e.type === 'warning' && e.code === 'PW_PAUSE_UNANSWERED')).toBe(true);
    // Nobody answers the pause: answer it as a CLI would not, to reach the bake, then fire the alarm.
    const sd = await waitFor(
      () => {
        const d = inFlightDeployment(`${app}-it`, fullName);
        const hook = (d?.lifecycleHookDetails ?? []).find((h) => h.status === 'AWAITING_ACTION');
        return d && hook ? { arn: d.serviceDeploymentArn, hookId: hook.hookId } : undefined;
      },
      { timeoutMs: 300_000 },
    );
    awsCli(['ecs', 'continue-service-deployment', '--service-deployment-arn', sd.arn, '--hook-id', sd.hookId]);
    await waitFor(
      async () => {
        const d = awsCli(['ecs', 'describe-service-deployments', '--service-deployment-arns', sd.arn])
          .serviceDeployments[0];
        return d.lifecycleStage === 'BAKE_TIME' ? true : undefined;
      },
      { timeoutMs: 300_000 },
    );
    awsCli([
      'cloudwatch',
      'set-alarm-state',
      '--alarm-name',
      `${fullName}-cpu`,
      '--state-value',
      'ALARM',
      '--state-reason',
      'test',
    ]);
    await waitFor(
      async () => {
        const d = awsCli(['ecs', 'describe-service-deployments', '--service-deployment-arns', sd.arn])
          .serviceDeployments[0];
        return d.status === 'ROLLBACK_SUCCESSFUL' ? true : undefined;
      },
      { timeoutMs: 300_000 },
    );
    const after = ((await (await fetch(`http://${dns}:80/version`)).json()) as { sha: string }).sha.slice(0, 12);
    const { failed } = await load.stop();
    expect(after).toBe(before);
    expect(failed).toBe(0);
  }, 900_000);

  it('switching to canary is an update; a good canary release goes live through its share, 0 failures', async () => {
    awsCli([
      'cloudwatch',
      'set-alarm-state',
      '--alarm-name',
      `${fullName}-cpu`,
      '--state-value',
      'OK',
      '--state-reason',
      'test',
    ]);
    await emu('config', { deploymentBakeScale: 5 });
    const canary = DEPLOY.replace('strategy: blue-green', 'strategy: canary, canary: { percent: 20, bakeMinutes: 1 }');
    const sha = commit('fifth', canary);
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    // ECS reads lag UpdateService (the world models it): wait for the new configuration to show.
    const dc = await waitFor(() => {
      const d = service().deploymentConfiguration;
      return d.strategy === 'CANARY' ? d : undefined;
    });
    expect(dc).toMatchObject({
      strategy: 'CANARY',
      canaryConfiguration: { canaryPercent: 20, canaryBakeTimeInMinutes: 1 },
    });
    const load = loadGenerator();
    const run = await cli(['deploy']);
    const { failed } = await load.stop();
    expect(run.code, run.stderr).toBe(0);
    const weights = lines(run.stdout)
      .filter((e) => e.type === 'data' && e.kind === 'deployment.stage')
      .map((e) => e.data.productionWeight);
    expect(weights).toContain(20);
    expect(failed).toBe(0);
    const now = ((await (await fetch(`http://${dns}:80/version`)).json()) as { sha: string }).sha;
    expect(now.startsWith(sha)).toBe(true);
  }, 900_000);
});
