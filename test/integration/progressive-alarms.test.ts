/**
 * Progressive delivery on the local world: the green revision's target group is watched too. With a
 * canary strategy, provision makes the target-group alarms (target 5xx, unhealthy hosts) for both
 * target groups of the pair — the `-b` ones on `<svc>-b`, tagged — lists them all in the service's
 * deploymentConfiguration.alarms (rollback on), repairs a deleted one, and destroy deletes them (the
 * switch back to rolling deleting them is a plan, test/unit/progressive.test.ts). During a canary bake of `deploy --no-wait`, the alarm of the target
 * group green is on set to ALARM (the world computes no ALB metrics: the AWS CLI sets the state, as
 * CloudWatch would after green's 5xx) makes the world roll back with no help from the CLI:
 * production traffic returns to the old sha, the load generator counts 0 failed requests, status
 * shows the rollback and the alarm. Bake minutes are scaled (deploymentBakeScale).
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, waitFor } from '../helpers/localworld.js';
import { currentSha, inFlightDeployment, loadGenerator } from '../helpers/progressive.js';
import { webappConfig, webappProject } from '../helpers/webapp.js';

const app = `pa${Date.now().toString(36)}`;
const cluster = `${app}-it`;
const fullName = `${app}-it-web`;
let root = '';
let env: NodeJS.ProcessEnv;
let dns = '';

// 30 s per minute: the canary step (1 min) lasts 30 s, long enough to fire the alarm inside it.
const SCALE = 30;
const CANARY =
  '{ strategy: canary, canary: { percent: 20, bakeMinutes: 1 }, bakeMinutes: 1, pollSeconds: 1, timeoutSeconds: 300, smoke: { path: /healthz } }';
const GREEN_ALARMS = [`${fullName}-target-5xx-b`, `${fullName}-unhealthy-hosts-b`];

const cli = (args: string[], timeoutMs = 600_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

/** patchwork.yml with a 5xx alarm besides the webapp's cpu one. */
function writeConfig(deploy: string): void {
  const yaml = webappConfig({ app, deploy }).replace(
    'alarms: { cpuPercent: 90 }',
    'alarms: { cpuPercent: 90, http5xxPerMinute: 5 }',
  );
  writeFileSync(join(root, 'patchwork.yml'), yaml);
}

function commit(label: string, deploy = CANARY): string {
  writeConfig(deploy);
  writeFileSync(join(root, 'app', 'VARIANT'), `${label}\n`);
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', label);
  return git(root, 'rev-parse', 'HEAD').slice(0, 12);
}

interface MetricAlarm {
  AlarmName: string;
  AlarmArn: string;
  StateValue: string;
  Dimensions: { Name: string; Value: string }[];
}
const alarms = (): MetricAlarm[] =>
  awsCli(['cloudwatch', 'describe-alarms', '--alarm-name-prefix', `${fullName}-`]).MetricAlarms;
const service = () => awsCli(['ecs', 'describe-services', '--cluster', cluster, '--services', fullName]).services[0];
const setAlarm = (name: string, state: 'ALARM' | 'OK') =>
  awsCli(['cloudwatch', 'set-alarm-state', '--alarm-name', name, '--state-value', state, '--state-reason', 'test']);

describe('progressive delivery: alarms on the green target group (local world)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    await emu('config', { deploymentBakeScale: 5 });
    ({ root, env } = webappProject({ app, deploy: CANARY, prefix: 'pw-progressive-alarms-it-' }));
    writeConfig(CANARY);
    git(root, 'commit', '-q', '-am', 'alarms');
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    dns = awsCli(['elbv2', 'describe-load-balancers', '--names', cluster]).LoadBalancers[0].DNSName;
    // Each release that goes live swaps the pair: the first one runs on `-b`, the second on `<svc>`,
    // so the third (the test's) starts green on `-b` again.
    for (const label of ['first', 'second']) {
      if (label !== 'first') commit(label);
      const run = await cli(['deploy']);
      expect(run.code, run.stderr).toBe(0);
    }
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 300_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('provision: target 5xx and unhealthy hosts on both target groups, tagged, in deploymentConfiguration.alarms', () => {
    const byName = new Map(alarms().map((a) => [a.AlarmName, a]));
    const tgOf = (name: string) =>
      byName
        .get(name)
        ?.Dimensions.find((d) => d.Name === 'TargetGroup')
        ?.Value.split('/')[1];
    expect(tgOf(`${fullName}-target-5xx`)).toBe(fullName);
    expect(tgOf(`${fullName}-unhealthy-hosts`)).toBe(fullName);
    expect(tgOf(`${fullName}-target-5xx-b`)).toBe(`${fullName}-b`);
    expect(tgOf(`${fullName}-unhealthy-hosts-b`)).toBe(`${fullName}-b`);
    const tags = awsCli([
      'cloudwatch',
      'list-tags-for-resource',
      '--resource-arn',
      byName.get(GREEN_ALARMS[0]!)!.AlarmArn,
    ]).Tags as { Key: string; Value: string }[];
    expect(Object.fromEntries(tags.map((t) => [t.Key, t.Value]))).toMatchObject({
      'patchwork:app': app,
      'patchwork:env': 'it',
      'patchwork:service': 'web',
      'managed-by': 'patchwork',
    });
    expect(service().deploymentConfiguration.alarms).toEqual({
      alarmNames: [
        `${app}-it-alb-5xx`,
        `${fullName}-cpu`,
        `${fullName}-target-5xx`,
        `${fullName}-target-5xx-b`,
        `${fullName}-unhealthy-hosts`,
        `${fullName}-unhealthy-hosts-b`,
      ],
      enable: true,
      rollback: true,
    });
  });

  it('a deleted green alarm is drift: provision puts it back, then changes nothing', async () => {
    awsCli(['cloudwatch', 'delete-alarms', '--alarm-names', GREEN_ALARMS[1]!]);
    const dry = await cli(['provision', '--dry-run', '--exit-code']);
    expect(dry.code, dry.stdout).toBe(6);
    const { changes } = dry.result.plan as { changes: { kind: string; name: string; action: string }[] };
    expect(changes.filter((c) => c.action !== 'noop').map((c) => `${c.action} ${c.kind}/${c.name}`)).toEqual([
      `create alarm/${GREEN_ALARMS[1]}`,
    ]);
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    expect(alarms().map((a) => a.AlarmName)).toContain(GREEN_ALARMS[1]);
    const again = await cli(['provision', '--dry-run', '--exit-code']);
    expect(again.code, again.stdout).toBe(0);
  }, 600_000);

  it("the green target group's alarm in ALARM during the canary step of deploy --no-wait: the world rolls back", async () => {
    const before = await currentSha(dns);
    await emu('config', { deploymentBakeScale: SCALE });
    const sha = commit('third');
    const load = loadGenerator(dns);
    const run = await cli(['deploy', '--no-wait']);
    expect(run.code, run.stderr).toBe(0);
    // Nobody answers the pause: answer it as a CLI would not, to reach the canary step.
    const sd = await waitFor(
      () => {
        const d = inFlightDeployment(cluster, fullName);
        const hook = (d?.lifecycleHookDetails ?? []).find((h) => h.status === 'AWAITING_ACTION');
        return d && hook ? { arn: d.serviceDeploymentArn, hookId: hook.hookId } : undefined;
      },
      { timeoutMs: 300_000, what: 'the pause hook' },
    );
    awsCli(['ecs', 'continue-service-deployment', '--service-deployment-arn', sd.arn, '--hook-id', sd.hookId]);
    const describe = () =>
      awsCli(['ecs', 'describe-service-deployments', '--service-deployment-arns', sd.arn]).serviceDeployments[0];
    await waitFor(
      () => (describe().targetServiceRevision?.requestedProductionTrafficWeight === 20 ? true : undefined),
      { timeoutMs: 300_000, what: 'the canary step' },
    );
    // Green is on the target group the production rule gives the canary's 20 %: the second one.
    const rules = awsCli(['elbv2', 'describe-rules', '--listener-arn', listenerArn(80)]).Rules as {
      Actions: { ForwardConfig?: { TargetGroups: { TargetGroupArn: string; Weight: number }[] } }[];
    }[];
    const forward = rules.flatMap((r) => r.Actions).find((a) => a.ForwardConfig?.TargetGroups.length === 2)!;
    const green = forward.ForwardConfig!.TargetGroups.find((g) => g.Weight === 20)!.TargetGroupArn;
    expect(green.split('/')[1]).toBe(`${fullName}-b`);
    // Users are on both revisions now.
    await waitFor(() => (load.samples.some((s) => s.sha === sha) ? true : undefined), { what: 'a canary answer' });
    setAlarm(`${fullName}-target-5xx-b`, 'ALARM');
    const done = await waitFor(() => (describe().status === 'ROLLBACK_SUCCESSFUL' ? describe() : undefined), {
      timeoutMs: 300_000,
      what: 'ROLLBACK_SUCCESSFUL',
    });
    const rolledBackAt = Date.now();
    expect(done.alarms.triggeredAlarmNames).toEqual([`${fullName}-target-5xx-b`]);
    expect(await currentSha(dns)).toBe(before);
    await new Promise((r) => setTimeout(r, 2000));
    const { seen, failed, samples } = await load.stop();
    expect(failed).toBe(0);
    expect(Object.keys(seen).sort()).toEqual([before, sha].sort());
    expect(samples.filter((s) => s.t > rolledBackAt).every((s) => s.sha === before)).toBe(true);
    // status: the rollback, the service event naming the alarm, the alarm itself in ALARM. Green's failed
    // deployment is INACTIVE once its tasks are gone: only blue's PRIMARY is left (as ECS lists them).
    // biome-ignore lint/suspicious/noExplicitAny: the status JSON
    const status = (await cli(['status'])).result.status as { services: Record<string, any>[] };
    const web = status.services.find((s) => s.name === 'web')!;
    expect(web.delivery).toMatchObject({ strategy: 'CANARY', status: 'ROLLBACK_SUCCESSFUL' });
    expect(web.deployments.find((d: { status: string }) => d.status === 'PRIMARY').sha.startsWith(before)).toBe(true);
    expect(web.deployments).toHaveLength(1);
    expect(
      web.events.some(
        (e: { message: string }) => e.message.includes(`${fullName}-target-5xx-b`) && /rolling back/.test(e.message),
      ),
    ).toBe(true);
    expect(web.alarms.find((a: { name: string }) => a.name === `${fullName}-target-5xx-b`)?.state).toBe('ALARM');
    // releases: the --no-wait deploy was recorded as started and not waited for; nobody followed it.
    const releases = (await cli(['releases'])).result as { releases: { sha: string; outcome: string }[] };
    expect(releases.releases[0]!.outcome).toBe('started');
    expect(releases.releases[0]!.sha.startsWith(sha)).toBe(true);
    setAlarm(`${fullName}-target-5xx-b`, 'OK');
  }, 900_000);

  it('destroy deletes the alarms of both target groups', async () => {
    const run = await cli(['destroy', '--yes']);
    expect(run.code, run.stderr).toBe(0);
    expect(alarms().map((a) => a.AlarmName)).toEqual([]);
  }, 600_000);
});

function listenerArn(port: number): string {
  const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', cluster]).LoadBalancers[0];
  const ls = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners as {
    Port: number;
    ListenerArn: string;
  }[];
  return ls.find((l) => l.Port === port)!.ListenerArn;
}
