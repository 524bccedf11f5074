/**
 * The foundation against the real local world: the client factory and its call counter on moto
 * (observed independently with the AWS CLI), and credential/endpoint/Docker errors from the CLI.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateClusterCommand, DescribeClustersCommand, ListClustersCommand } from '@aws-sdk/client-ecs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsClients } from '../../src/lib/aws/clients.js';
import { isolatedEnv, runCli } from '../helpers/cli.js';
import { awsCli, localWorld, resetWorld, worldAwsEnv } from '../helpers/localworld.js';

let configFile = '';
const world = () => localWorld();
const worldEnv = (extra: Record<string, string | undefined> = {}) => isolatedEnv({ ...worldAwsEnv(), ...extra });

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-foundation-'));
  configFile = join(dir, 'patchwork.yml');
  writeFileSync(
    configFile,
    `app: shop
region: ${world().region}
registry: ${world().registry}
services:
  web:
    build: { context: . }
    port: 8080
environments:
  local: { desiredCount: 1 }
`,
  );
});
beforeEach(async () => {
  // Counts exact calls: an account whose ECS service-linked role exists (emulator-iam.test.ts has the rule).
  await resetWorld({ requireServiceLinkedRoles: false });
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('client factory on moto', () => {
  it('counts logical calls and marks mutating ones; the AWS CLI sees what was made', async () => {
    const aws = new AwsClients({ region: world().region, endpoint: world().endpoint });
    const ecs = await aws.get('ecs');
    await ecs.send(
      new CreateClusterCommand({ clusterName: 'shop-local', tags: [{ key: 'managed-by', value: 'patchwork' }] }),
    );
    const described = await ecs.send(new DescribeClustersCommand({ clusters: ['shop-local'] }));
    await ecs.send(new ListClustersCommand({}));
    expect(described.clusters?.[0]?.clusterName).toBe('shop-local');
    expect(aws.counter.snapshot()).toMatchObject({
      total: 3,
      mutating: 1,
      byOperation: { 'ECS.CreateCluster': 1, 'ECS.DescribeClusters': 1, 'ECS.ListClusters': 1 },
    });
    expect(aws.counter.snapshot().attempts).toBeGreaterThanOrEqual(3);
    const seen = awsCli(['ecs', 'describe-clusters', '--clusters', 'shop-local']);
    expect(seen.clusters[0].status).toBe('ACTIVE');
    await aws.destroy();
  });

  it('CloudWatch works behind the endpoint (request compression off)', async () => {
    const aws = new AwsClients({ region: world().region, endpoint: world().endpoint });
    const cw = await aws.get('cloudwatch');
    // A body large enough that the SDK would otherwise gzip it.
    const MetricData = Array.from({ length: 200 }, (_, i) => ({
      MetricName: 'Requests',
      Dimensions: [{ Name: 'Service', Value: `svc-${i % 3}` }],
      Value: i,
      Unit: 'Count' as const,
    }));
    await cw.send(new PutMetricDataCommand({ Namespace: 'Patchwork/Test', MetricData }));
    const listed = awsCli(['cloudwatch', 'list-metrics', '--namespace', 'Patchwork/Test']);
    expect(listed.Metrics.length).toBe(3);
    await aws.destroy();
  });
});

describe('doctor through the CLI', () => {
  it('passes on the local world and reports exactly one read call', async () => {
    const run = await runCli(['doctor', '--env', 'local', '--config', configFile, '--json'], { env: worldEnv() });
    expect(run.stderr).not.toMatch(/PW_/);
    expect(run.code).toBe(0);
    expect(run.result).toMatchObject({ ok: true, exitCode: 0, command: 'doctor', account: '123456789012' });
    expect(run.result.apiCalls).toMatchObject({ total: 1, mutating: 0, byOperation: { 'STS.GetCallerIdentity': 1 } });
    const names = (run.result.checks as { name: string; ok: boolean }[]).map((c) => `${c.name}:${c.ok}`);
    expect(names).toEqual(['config:true', 'aws:true', 'docker:true', 'registry:true']);
  });

  it('no credentials → PW_NO_CREDENTIALS, exit 1, with a hint', async () => {
    const run = await runCli(['doctor', '--env', 'local', '--config', configFile, '--json'], {
      env: isolatedEnv({ AWS_ENDPOINT_URL: world().endpoint }),
    });
    expect(run.code).toBe(1);
    // A failed doctor reports its checks inside the error.
    const aws = ((run.result.error?.checks ?? []) as { name: string; code?: string }[]).find((c) => c.name === 'aws');
    expect(aws?.code).toBe('PW_NO_CREDENTIALS');
    expect(run.result.error?.code).toBe('PW_NO_CREDENTIALS');
    expect(run.stderr).toMatch(/PW_NO_CREDENTIALS: .*\n\s+try: set AWS_PROFILE/);
  });

  it('unreachable endpoint → PW_ENDPOINT_UNREACHABLE after the retries', async () => {
    const port = await closedPort();
    const run = await runCli(['doctor', '--env', 'local', '--config', configFile, '--json', '--skip-docker'], {
      env: worldEnv({ AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_MAX_ATTEMPTS: '3' }),
    });
    expect(run.code).toBe(1);
    expect(run.result.error?.code).toBe('PW_ENDPOINT_UNREACHABLE');
    expect(run.result.apiCalls?.total).toBe(1);
    expect(run.result.apiCalls?.attempts).toBe(3);
    expect(run.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+/);
  });

  it('no Docker engine → PW_NO_DOCKER, exit 1', async () => {
    const run = await runCli(['doctor', '--env', 'local', '--config', configFile, '--json'], {
      env: worldEnv({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' }),
    });
    expect(run.code).toBe(1);
    expect(run.result.error?.code).toBe('PW_NO_DOCKER');
    expect(run.stderr).toMatch(/try: start Docker/);
  });

  it('a registry that does not answer is reported', async () => {
    const port = await closedPort();
    const other = join(mkdtempSync(join(tmpdir(), 'pw-reg-')), 'patchwork.yml');
    writeFileSync(
      other,
      `app: shop\nregion: ${world().region}\nregistry: 127.0.0.1:${port}\nservices:\n  web:\n    image: x\n    port: 8080\nenvironments:\n  local: {}\n`,
    );
    const run = await runCli(['doctor', '--env', 'local', '--config', other, '--json'], { env: worldEnv() });
    expect(run.code).toBe(1);
    expect(run.result.error?.code).toBe('PW_REGISTRY_UNREACHABLE');
  });
});
