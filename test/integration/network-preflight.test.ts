/**
 * The preflight of a given network (issue 18): a VPC made with the AWS CLI whose private subnets have
 * no NAT route and no endpoints is refused before any change (exit 2, naming the subnet and the
 * missing route); with the preflight skipped (a test-only switch) the world refuses the same network
 * as AWS would (CannotPullContainerError … i/o timeout, deploy exit 3); a NAT gateway route makes it
 * pass; tasks in a zone the load balancer is not in are refused. Cases in order, one network.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, runCli } from '../helpers/cli.js';
import { awsCli, localWorld, resetWorld, settleEcsReads, worldAwsEnv } from '../helpers/localworld.js';
import { addNatRoute, createTestVpc, type TestVpc } from '../helpers/network.js';

const region = () => localWorld().region;
let net: TestVpc;
let dir = '';

const yaml = (privateSubnets: string[]) => `app: netpf
region: ${region()}
services:
  web:
    image: public.ecr.aws/docker/library/nginx:1.27
    port: 8080
    healthCheck: { path: /healthz }
environments:
  prod:
    desiredCount: 1
    network: { vpc: ${net.vpc}, publicSubnets: [${net.publicSubnets.join(', ')}], privateSubnets: [${privateSubnets.join(', ')}] }
`;

const cli = (args: string[], extra: Record<string, string> = {}) =>
  runCli([...args, '--env', 'prod', '--json'], {
    cwd: dir,
    env: isolatedEnv({ ...worldAwsEnv(), ...extra }),
    timeoutMs: 240_000,
  });

describe('network preflight', () => {
  beforeAll(async () => {
    await resetWorld();
    net = createTestVpc(43, [`${region()}a`, `${region()}b`]);
    dir = mkdtempSync(join(tmpdir(), 'pw-netpf-'));
    writeFileSync(join(dir, 'patchwork.yml'), yaml(net.privateSubnets));
  });

  it('private subnets without a NAT route or endpoints: provision exit 2, zero mutating calls, the subnet and the missing route named', async () => {
    const run = await cli(['provision']);
    expect(run.code, run.stderr).toBe(2);
    expect(run.result.error).toMatchObject({ code: 'PW_NETWORK_PREFLIGHT' });
    expect(run.result.apiCalls!.mutating).toBe(0);
    for (const s of net.privateSubnets) {
      expect(run.stderr).toMatch(
        new RegExp(
          `private subnet ${s} \\(${region()}[ab]\\): no 0\\.0\\.0\\.0/0 route to a NAT gateway \\(route table ${net.privateRouteTable}\\) and ${net.vpc} lacks the VPC endpoints ecr\\.api, ecr\\.dkr, s3, logs`,
        ),
      );
    }
    expect(run.stderr).toMatch(/patchwork\.yml:\d+ environments\.prod\.network\.privateSubnets: /);
    expect(run.stderr).toMatch(/try: .*--nat-gateway-id/);
    // doctor says the same, as its network check
    const doc = await cli(['doctor']);
    expect(doc.code, doc.stderr).toBe(2);
    expect(doc.stderr).toMatch(/network: .*no 0\.0\.0\.0\/0 route to a NAT gateway/);
  });

  it('the same network with the preflight skipped (test-only switch): the world refuses the tasks, deploy exit 3 with CannotPullContainerError', async () => {
    const skip = { PATCHWORK_SKIP_NETWORK_PREFLIGHT: '1' };
    const prov = await cli(['provision'], skip);
    expect(prov.code, prov.stderr).toBe(0);
    await settleEcsReads(); // ECS reads lag a just-created service
    const service = awsCli(['ecs', 'describe-services', '--cluster', 'netpf-prod', '--services', 'netpf-prod-web'])
      .services[0];
    expect(service.networkConfiguration.awsvpcConfiguration.assignPublicIp).toBe('DISABLED');
    const port = localWorld().registry.split(':')[1];
    const image = `localhost:${port}/netpf-web@sha256:${'e'.repeat(64)}`;
    const run = await cli(['deploy', '--image', image], skip);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(
      /CannotPullContainerError: pull image manifest has been retried 5 time\(s\): failed to resolve ref .*: dial tcp [\d.]+:443: i\/o timeout/,
    );
  });

  it('a 0.0.0.0/0 route to a NAT gateway: the preflight passes (provision, doctor)', async () => {
    await addNatRoute(net);
    const run = await cli(['provision', '--dry-run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/PW_NETWORK_PREFLIGHT/);
    const doc = await cli(['doctor']);
    expect(doc.stderr).toMatch(/network: the given subnets route/);
  });

  it('tasks in an availability zone the load balancer is not in: exit 2 naming the subnet and the zones', async () => {
    const c = awsCli([
      'ec2',
      'create-subnet',
      '--vpc-id',
      net.vpc,
      '--cidr-block',
      '10.43.200.0/24',
      '--availability-zone',
      `${region()}c`,
    ]).Subnet.SubnetId as string;
    writeFileSync(join(dir, 'patchwork.yml'), yaml([net.privateSubnets[0]!, c]));
    const run = await cli(['provision']);
    expect(run.code, run.stderr).toBe(2);
    expect(run.result.apiCalls!.mutating).toBe(0);
    expect(run.stderr).toMatch(
      new RegExp(
        `tasks' subnet ${c} \\(${region()}c\\) is in an availability zone the load balancer is not enabled in \\(${region()}a, ${region()}b\\)`,
      ),
    );
  });
});
