/**
 * status on the local world (moto + the ECS extension), with out-of-band changes made by the AWS
 * CLI: never provisioned → exit 2; after provision (an `image:` service running at its desired
 * count) healthy → exit 0; an alarm set to ALARM → exit 6; metric data put with the CLI shows up in
 * the JSON; a new task definition revision tagged with a sha rolls out and shows as the PRIMARY
 * deployment's release; release history and the lock are read from the state table; --watch
 * without a terminal prints plain repeated frames.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ReleaseRecord, toReleaseItem } from '../../src/lib/release/history.js';
import { toItem } from '../../src/lib/release/lock.js';
import type { StatusReport } from '../../src/lib/status/model.js';
import { type CliRun, isolatedEnv, runCli } from '../helpers/cli.js';
import { awsCli, DEFAULT_EMULATOR_CONFIG, emu, localWorld, resetWorld, worldAwsEnv } from '../helpers/localworld.js';

const world = () => localWorld();
const env = () => isolatedEnv(worldAwsEnv());

const YAML = (region: string) => `app: shop
region: ${region}
services:
  web:
    image: public.ecr.aws/docker/library/nginx:1.27
    port: 8080
    healthCheck: { path: /healthz }
environments:
  prod:
    desiredCount: 2
    alarms: { http5xxPerMinute: 5, cpuPercent: 80, memoryPercent: 80 }
`;

let cwd = '';
let released: ReleaseRecord | undefined;

const stateClient = () =>
  new DynamoDBClient({
    region: world().region,
    endpoint: world().endpoint,
    credentials: { accessKeyId: world().accessKeyId, secretAccessKey: world().secretAccessKey },
  });
const RELEASE_BASE = {
  kind: 'deploy' as const,
  services: [],
  deployer: 'ci@runner',
  fast: false,
  durationMs: 1000,
  reason: null,
};
async function putRelease(item: ReleaseRecord, app = 'shop'): Promise<void> {
  const ddb = stateClient();
  await ddb.send(new PutItemCommand({ TableName: `${app}-prod-patchwork`, Item: toReleaseItem(item) }));
  ddb.destroy();
}
async function deleteRelease(item: ReleaseRecord): Promise<void> {
  const ddb = stateClient();
  const { pk, sk } = toReleaseItem(item);
  await ddb.send(new DeleteItemCommand({ TableName: 'shop-prod-patchwork', Key: { pk: pk!, sk: sk! } }));
  ddb.destroy();
}
const status = (...args: string[]) =>
  runCli(['status', '--env', 'prod', '--json', ...args], { cwd, env: env(), timeoutMs: 60_000 });
const report = (run: CliRun) => run.result.status as StatusReport;

async function until(fn: () => Promise<CliRun>, ok: (r: CliRun) => boolean, ms = 60_000): Promise<CliRun> {
  const deadline = Date.now() + ms;
  let last = await fn();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await fn();
  }
  return last;
}

beforeAll(async () => {
  await resetWorld();
  cwd = mkdtempSync(join(tmpdir(), 'pw-status-'));
  writeFileSync(join(cwd, 'patchwork.yml'), YAML(world().region));
});

describe('status', () => {
  it('an environment never provisioned: a clear message, the fixing command, exit 2', async () => {
    const run = await status();
    expect(run.code).toBe(2);
    expect(run.result.error?.code).toBe('PW_NOT_PROVISIONED');
    expect(run.result.error?.hint).toBe('patchwork provision --env prod');
    expect(run.stderr).toContain('try: patchwork provision --env prod');
  });

  it('after provision: healthy, exit 0, one documented object', async () => {
    const prov = await runCli(['provision', '--env', 'prod', '--json'], { cwd, env: env(), timeoutMs: 120_000 });
    expect(prov.code, prov.stderr).toBe(0);
    const run = await until(status, (r) => r.code === 0);
    expect(run.code, run.stderr).toBe(0);
    const s = report(run);
    expect(s.schemaVersion).toBe(1);
    expect(s.healthy).toBe(true);
    expect(s.problems).toEqual([]);
    // The load balancer's DNS name as AWS reports it (the emulator's is a loopback address it serves).
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', 'shop-prod']).LoadBalancers[0];
    expect(s.url).toBe(`http://${lb.DNSName}`);
    const web = s.services[0]!;
    expect(web.counts).toEqual({ running: 2, desired: 2, pending: 0 });
    expect(web.deployments).toHaveLength(1);
    expect(web.deployments[0]).toMatchObject({ status: 'PRIMARY', rolloutState: 'COMPLETED', running: 2 });
    expect(web.targets).toHaveLength(2);
    expect(web.targets.every((t) => t.state === 'healthy')).toBe(true);
    expect(web.alarms.map((a) => a.name).sort()).toEqual([
      'shop-prod-web-cpu',
      'shop-prod-web-memory',
      'shop-prod-web-target-5xx',
      'shop-prod-web-unhealthy-hosts',
    ]);
    expect(s.alarms.map((a) => a.name)).toEqual(['shop-prod-alb-5xx']);
    expect(web.events[0]?.message).toMatch(/steady state/);
    expect(s.releases).toEqual({ current: null, previous: [], lock: null });
    // Batched reads: 8 calls for one service, one GetMetricData, nothing mutating. (The first status
    // right after provision may also re-ask a service that still reads MISSING in the ECS read lag: a
    // settled status is the one counted.)
    const settled = await status();
    expect(settled.code, settled.stderr).toBe(0);
    expect(settled.result.apiCalls?.mutating).toBe(0);
    expect(settled.result.apiCalls?.byOperation['CloudWatch.GetMetricData']).toBe(1);
    expect(settled.result.apiCalls?.byOperation['ECS.DescribeServices']).toBe(1);
    expect(settled.result.apiCalls?.total).toBeLessThanOrEqual(8);
  });

  it('metric data put with the AWS CLI shows up in the JSON', async () => {
    const tg = awsCli(['elbv2', 'describe-target-groups', '--names', 'shop-prod-web']).TargetGroups[0].TargetGroupArn;
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', 'shop-prod']).LoadBalancers[0].LoadBalancerArn;
    const tgDim = `TargetGroup=${tg.split(':').pop()},LoadBalancer=${lb.split(':loadbalancer/').pop()}`;
    const put = (ns: string, metric: string, dims: string, value: number) =>
      awsCli([
        'cloudwatch',
        'put-metric-data',
        '--namespace',
        ns,
        '--metric-name',
        metric,
        '--dimensions',
        dims,
        '--value',
        String(value),
      ]);
    put('AWS/ECS', 'CPUUtilization', 'ClusterName=shop-prod,ServiceName=shop-prod-web', 42.5);
    put('AWS/ECS', 'MemoryUtilization', 'ClusterName=shop-prod,ServiceName=shop-prod-web', 61);
    put('AWS/ApplicationELB', 'RequestCount', tgDim, 17);
    put('AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', tgDim, 2);
    const run = await status();
    expect(run.code, run.stderr).toBe(0);
    const m = report(run).services[0]!.metrics;
    expect(m.cpu).toMatchObject({ stat: 'Average', latest: 42.5, values: [42.5] });
    expect(m.memory.latest).toBe(61);
    expect(m.requests).toMatchObject({ stat: 'Sum', latest: 17 });
    expect(m.target5xx.latest).toBe(2);
    expect(m.cpu.timestamps).toHaveLength(1);
    expect(run.result.apiCalls?.byOperation['CloudWatch.GetMetricData']).toBe(1);
  });

  it('an alarm set to ALARM with the AWS CLI: unhealthy, exit 6; back to OK: exit 0', async () => {
    awsCli([
      'cloudwatch',
      'set-alarm-state',
      '--alarm-name',
      'shop-prod-web-cpu',
      '--state-value',
      'ALARM',
      '--state-reason',
      'test',
    ]);
    const run = await status();
    expect(run.code).toBe(6);
    expect(run.result.ok).toBe(false);
    expect(report(run).healthy).toBe(false);
    expect(report(run).problems).toContain('alarm shop-prod-web-cpu is ALARM');
    expect(report(run).services[0]!.alarms.find((a) => a.name === 'shop-prod-web-cpu')?.state).toBe('ALARM');
    awsCli([
      'cloudwatch',
      'set-alarm-state',
      '--alarm-name',
      'shop-prod-web-cpu',
      '--state-value',
      'OK',
      '--state-reason',
      'test',
    ]);
    expect((await status()).code).toBe(0);
  });

  it('a sha-tagged revision rolling out: two deployments (exit 6), then the PRIMARY carries the sha (exit 0)', async () => {
    const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', 'shop-prod-web']).taskDefinition;
    const input = {
      family: td.family,
      containerDefinitions: td.containerDefinitions,
      cpu: td.cpu,
      memory: td.memory,
      networkMode: td.networkMode,
      requiresCompatibilities: td.requiresCompatibilities,
      executionRoleArn: td.executionRoleArn,
      ...(td.taskRoleArn ? { taskRoleArn: td.taskRoleArn } : {}),
      tags: [{ key: 'patchwork:sha', value: 'abc1234' }],
    };
    const file = join(cwd, 'td.json');
    writeFileSync(file, JSON.stringify(input));
    const arn = awsCli(['ecs', 'register-task-definition', '--cli-input-json', `file://${file}`]).taskDefinition
      .taskDefinitionArn;
    // The release that registered it, as deploy records it: the sha is read from this record.
    released = {
      ...RELEASE_BASE,
      id: 'r0',
      sha: 'abc1234',
      services: [{ service: 'web', image: td.containerDefinitions[0].image, digest: null, taskDefinitionArn: arn }],
      startedAt: '2025-12-01T00:00:00.000Z',
      finishedAt: '2025-12-01T00:01:00.000Z',
      outcome: 'succeeded',
    };
    await putRelease(released);
    // A slower rollout: ECS reads lag behind UpdateService (consistencyLagSeconds), so the new deployment
    // shows up in DescribeServices a moment after the call; it must still be rolling out by then.
    await emu('config', { rolloutSeconds: 12 });
    awsCli(['ecs', 'update-service', '--cluster', 'shop-prod', '--service', 'shop-prod-web', '--task-definition', arn]);
    const during = await until(status, (r) => report(r)?.services[0]?.deployments.length === 2);
    await emu('config', { rolloutSeconds: DEFAULT_EMULATOR_CONFIG.rolloutSeconds });
    expect(during.code).toBe(6);
    const deps = report(during).services[0]!.deployments;
    expect(deps[0]).toMatchObject({ status: 'PRIMARY', sha: 'abc1234', taskDefinition: arn });
    expect(report(during).problems.join('\n')).toMatch(/rollout in progress|in progress|tasks running/);
    const after = await until(status, (r) => r.code === 0);
    expect(after.code, JSON.stringify(report(after)?.problems)).toBe(0);
    expect(report(after).services[0]!.deployments).toHaveLength(1);
    expect(report(after).services[0]!.deployments[0]).toMatchObject({
      sha: 'abc1234',
      shaSource: 'release',
      rolloutState: 'COMPLETED',
    });
  });

  it('a revision another tool registered with the tags copied but another image: status does not claim the sha', async () => {
    const current = awsCli(['ecs', 'describe-services', '--cluster', 'shop-prod', '--services', 'shop-prod-web'])
      .services[0].taskDefinition;
    const described = awsCli(['ecs', 'describe-task-definition', '--task-definition', current, '--include', 'TAGS']);
    const td = described.taskDefinition;
    expect(described.tags).toContainEqual({ key: 'patchwork:sha', value: 'abc1234' });
    const digest = `sha256:${'f'.repeat(64)}`;
    const input = {
      family: td.family,
      containerDefinitions: [{ ...td.containerDefinitions[0], image: `public.ecr.aws/docker/library/nginx@${digest}` }],
      cpu: td.cpu,
      memory: td.memory,
      networkMode: td.networkMode,
      requiresCompatibilities: td.requiresCompatibilities,
      executionRoleArn: td.executionRoleArn,
      ...(td.taskRoleArn ? { taskRoleArn: td.taskRoleArn } : {}),
      // As ecs-deploy does by default: every tag of the old revision, patchwork:sha included.
      tags: described.tags,
    };
    const file = join(cwd, 'td-copied.json');
    writeFileSync(file, JSON.stringify(input));
    const arn = awsCli(['ecs', 'register-task-definition', '--cli-input-json', `file://${file}`]).taskDefinition
      .taskDefinitionArn;
    awsCli(['ecs', 'update-service', '--cluster', 'shop-prod', '--service', 'shop-prod-web', '--task-definition', arn]);
    // ECS reads lag behind UpdateService (the world's consistencyLagSeconds): wait until status sees it.
    const run = await until(status, (r) => report(r)?.services[0]?.deployments[0]?.taskDefinition === arn);
    const primary = report(run).services[0]!.deployments[0]!;
    expect(primary).toMatchObject({ status: 'PRIMARY', taskDefinition: arn, sha: null, shaSource: null });
    expect(primary.shaNote).toBe('unknown (image sha256:ffffffffffff… not from a patchwork release)');
    const human = await runCli(['status', '--env', 'prod'], { cwd, env: env() });
    expect(human.stdout).toMatch(
      /PRIMARY +shop-prod-web:\d+ unknown \(image sha256:ffffffffffff… not from a patchwork release\)/,
    );
    expect(human.stdout).not.toMatch(/PRIMARY +abc1234/);
    // Back to the released revision; its record is removed so the history below starts clean.
    awsCli([
      'ecs',
      'update-service',
      '--cluster',
      'shop-prod',
      '--service',
      'shop-prod-web',
      '--task-definition',
      current,
    ]);
    const back = await until(
      status,
      (r) => r.code === 0 && report(r)?.services[0]?.deployments[0]?.taskDefinition === current,
    );
    expect(back.code, JSON.stringify(report(back)?.problems)).toBe(0);
    expect(report(back).services[0]!.deployments[0]).toMatchObject({ taskDefinition: current, sha: 'abc1234' });
    await deleteRelease(released!);
  });

  it('release history and the lock holder from the state table', async () => {
    const ddb = stateClient();
    const base = RELEASE_BASE;
    const put = putRelease;
    await put({
      ...base,
      id: 'r1',
      sha: 'old0001',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:01:00.000Z',
      outcome: 'succeeded',
    });
    await put({
      ...base,
      id: 'r2',
      sha: 'abc1234',
      startedAt: '2026-01-02T00:00:00.000Z',
      finishedAt: '2026-01-02T00:01:00.000Z',
      outcome: 'succeeded',
    });
    await put({
      ...base,
      id: 'r3',
      sha: 'bad0003',
      startedAt: '2026-01-03T00:00:00.000Z',
      finishedAt: '2026-01-03T00:01:00.000Z',
      outcome: 'rolled-back',
    });
    const now = Date.now();
    await ddb.send(
      new PutItemCommand({
        TableName: 'shop-prod-patchwork',
        Item: toItem({
          holder: 'alice@laptop',
          command: 'deploy',
          token: 't',
          startedAt: now,
          expiresAt: now + 600_000,
        }),
      }),
    );
    ddb.destroy();
    const run = await status();
    const r = report(run).releases;
    expect(r.current).toMatchObject({ id: 'r2', sha: 'abc1234', outcome: 'succeeded' });
    expect(r.previous.map((p) => p.id)).toEqual(['r1']);
    expect(r.lock).toMatchObject({ holder: 'alice@laptop', command: 'deploy', expired: false });
    const human = await runCli(['status', '--env', 'prod'], { cwd, env: env() });
    expect(human.stdout).toContain('release: abc1234 by ci@runner');
    expect(human.stdout).toContain('lock: held by alice@laptop (deploy)');
  });

  it('--watch without a terminal prints plain repeated frames and stops after --watch-count', async () => {
    const run = await runCli(['status', '--env', 'prod', '--watch', '--interval', '1', '--watch-count', '2'], {
      cwd,
      env: env(),
    });
    expect(run.code).toBe(0);
    expect(run.stdout.match(/^shop prod \(.*\) — ✓ healthy$/gm)).toHaveLength(2);
    expect(run.stdout).not.toContain('\x1b[');
    const json = await status('--watch', '--interval', '1', '--watch-count', '2');
    expect(json.events.filter((e) => e.type === 'data' && e.kind === 'status')).toHaveLength(1);
    // Task definition revisions are immutable: their tags are read once per session, not per frame.
    expect(json.result.apiCalls?.byOperation['ECS.DescribeTaskDefinition']).toBe(1);
    expect(json.result.apiCalls?.byOperation['CloudWatch.GetMetricData']).toBe(2);
    expect(report(json).healthy).toBe(true);
  });

  it('--service narrows to one service; an unknown one is a usage error (exit 2)', async () => {
    const run = await status('--service', 'web');
    expect(report(run).services.map((s) => s.name)).toEqual(['web']);
    const bad = await status('--service', 'nope');
    expect(bad.code).toBe(2);
    expect(bad.result.error?.code).toBe('PW_UNKNOWN_SERVICE');
  });
});

describe('status of an environment provisioned but never deployed', () => {
  it('only the bootstrap placeholder: not deployed, exit 6, the deploy command as the hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-status-nd-'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(
      join(dir, 'patchwork.yml'),
      `app: cart\nregion: ${world().region}\nservices:\n  web:\n    build: { context: . }\n    port: 8080\nenvironments:\n  prod: { desiredCount: 1 }\n`,
    );
    const prov = await runCli(['provision', '--env', 'prod', '--json'], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect(prov.code, prov.stderr).toBe(0);
    const run = await runCli(['status', '--env', 'prod', '--json'], { cwd: dir, env: env(), timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(6);
    const s = report(run);
    expect(s.state).toBe('not-deployed');
    expect(run.result.state).toBe('not-deployed');
    expect(s.healthy).toBe(false);
    expect(s.hint).toBe('patchwork deploy --env prod');
    expect(s.services[0]).toMatchObject({ name: 'web', deployed: false });
    expect(s.problems).toEqual(['web: not deployed (only the bootstrap placeholder is in place)']);
    expect(run.result.apiCalls?.mutating).toBe(0);
    const human = await runCli(['status', '--env', 'prod'], { cwd: dir, env: env() });
    expect(human.code).toBe(6);
    expect(human.stdout).toMatch(/^cart prod \(.*\) — ✗ not deployed$/m);
    expect(human.stdout).toContain('try: patchwork deploy --env prod');
    expect(human.stdout).not.toContain('✓ healthy');
  });
});
