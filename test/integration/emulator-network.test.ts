/**
 * The world decides, as AWS does, whether a Fargate task can reach its registry (and CloudWatch Logs,
 * SSM, Secrets Manager) from its subnet: a NAT gateway route, an internet gateway route with a public
 * IP, or the VPC endpoints. The AWS CLI v2 builds the network and starts the tasks; describe-tasks observes.
 * One network, changed step by step (each AWS CLI run costs seconds here): the cases run in order.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createFargateService, registerFargateTaskDefinition, serviceTaskArns } from '../helpers/emulator.js';
import { awsCli, emu, localWorld, resetWorld, waitFor } from '../helpers/localworld.js';
import { addEndpoints, addNatRoute, createTestVpc, deleteEndpoints, type TestVpc } from '../helpers/network.js';

const CLUSTER = 'emu-net';
const ACCOUNT = '123456789012';
const region = () => localWorld().region;
const image = () => `${ACCOUNT}.dkr.ecr.${region()}.amazonaws.com/net-web:1`;

function register(extra: Record<string, unknown> = {}): string {
  return registerFargateTaskDefinition('emu-net', [{ name: 'web', image: image(), essential: true, ...extra }]);
}

function runTask(td: string, subnet: string, assignPublicIp: 'ENABLED' | 'DISABLED'): string {
  return awsCli([
    'ecs',
    'run-task',
    '--cluster',
    CLUSTER,
    '--task-definition',
    td,
    '--launch-type',
    'FARGATE',
    '--network-configuration',
    JSON.stringify({ awsvpcConfiguration: { subnets: [subnet], assignPublicIp } }),
  ]).tasks[0].taskArn;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the AWS CLI
function task(arn: string): any {
  return awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', arn]).tasks[0];
}

/** The task once it ran (RUNNING, or exited 0 as a simulated task does) or failed to start. */
async function outcome(
  arn: string,
): Promise<{ ran: boolean; reason: string; containerReason: string; stopCode: string }> {
  return waitFor(
    () => {
      const t = task(arn);
      const seen = {
        reason: t.stoppedReason ?? '',
        containerReason: t.containers?.[0]?.reason ?? '',
        stopCode: t.stopCode ?? '',
      };
      if (t.lastStatus === 'RUNNING' || (t.lastStatus === 'STOPPED' && t.stopCode !== 'TaskFailedToStart'))
        return { ran: true, ...seen };
      if (t.lastStatus === 'STOPPED') return { ran: false, ...seen };
      return false;
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'the task to run or stop' },
  );
}

const PULL_TIMEOUT =
  /^CannotPullContainerError: pull image manifest has been retried 5 time\(s\): failed to resolve ref .*net-web:1: failed to do request: Head "https:\/\/.*\/v2\/net-web\/manifests\/1": dial tcp [\d.]+:443: i\/o timeout$/;

describe('a task pulls its image only with a way out of its subnet (cases in order, one network)', () => {
  let net: TestVpc;
  let td: string;
  let priv: string;
  let pub: string;
  const run = (subnet: string, ip: 'ENABLED' | 'DISABLED', def = td) => outcome(runTask(def, subnet, ip));

  beforeAll(async () => {
    // Simulated tasks (the image is an ECR URI of this world, not pushed: checkImages off) so only the network decides.
    await resetWorld({ requireServiceLinkedRoles: false, runContainers: false, checkImages: false, rolloutSeconds: 1 });
    awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
    net = createTestVpc(42, [`${region()}a`], [`${region()}a`]);
    priv = net.privateSubnets[0]!;
    pub = net.publicSubnets[0]!;
    td = register();
  });

  it('no NAT route, no endpoints, no public IP (the main route table): CannotPullContainerError … i/o timeout', async () => {
    const t = await run(priv, 'DISABLED');
    expect(t.ran).toBe(false);
    expect(t.reason).toMatch(PULL_TIMEOUT);
    expect(t.containerReason).toBe(t.reason);
    expect(t.stopCode).toBe('TaskFailedToStart');
  });

  it('a public IP and an internet gateway route: runs; a public IP without that route, or that route without a public IP: fails', async () => {
    expect((await run(pub, 'ENABLED')).ran).toBe(true);
    expect((await run(priv, 'ENABLED')).reason).toMatch(PULL_TIMEOUT);
    expect((await run(pub, 'DISABLED')).reason).toMatch(PULL_TIMEOUT);
  });

  it('the default VPC: an internet gateway and a 0.0.0.0/0 route in its main route table, as AWS makes it', async () => {
    const subnet = awsCli(['ec2', 'describe-subnets', '--filters', 'Name=default-for-az,Values=true']).Subnets[0];
    const main = awsCli([
      'ec2',
      'describe-route-tables',
      '--filters',
      `Name=vpc-id,Values=${subnet.VpcId}`,
      'Name=association.main,Values=true',
    ]).RouteTables[0];
    // biome-ignore lint/suspicious/noExplicitAny: JSON from the AWS CLI
    expect(main.Routes.find((r: any) => r.DestinationCidrBlock === '0.0.0.0/0').GatewayId).toMatch(/^igw-/);
    expect((await run(subnet.SubnetId, 'ENABLED')).ran).toBe(true);
  });

  it('the ECR interface endpoints: the layers still time out without the S3 gateway endpoint; with it the task runs', async () => {
    addEndpoints(net, region(), ['ecr.api', 'ecr.dkr']);
    const noS3 = await run(priv, 'DISABLED');
    expect(noS3.ran).toBe(false);
    expect(noS3.reason).toMatch(/^CannotPullContainerError: .*starport-layer-bucket.*i\/o timeout$/);
    addEndpoints(net, region(), ['s3']);
    expect((await run(priv, 'DISABLED')).ran).toBe(true);
  });

  it('awslogs needs the logs endpoint (or a route), secrets the ssm endpoint', async () => {
    awsCli(['logs', 'create-log-group', '--log-group-name', '/emu/net']);
    const logged = register({
      logConfiguration: {
        logDriver: 'awslogs',
        options: { 'awslogs-group': '/emu/net', 'awslogs-region': region(), 'awslogs-stream-prefix': 'web' },
      },
    });
    expect((await run(priv, 'DISABLED', logged)).reason).toMatch(
      /^ResourceInitializationError: failed to validate logger args: .*logs\..*i\/o timeout/,
    );
    awsCli(['ssm', 'put-parameter', '--name', '/emu/net/db', '--type', 'String', '--value', 'x']);
    const secret = register({
      secrets: [{ name: 'DB', valueFrom: `arn:aws:ssm:${region()}:${ACCOUNT}:parameter/emu/net/db` }],
    });
    expect((await run(priv, 'DISABLED', secret)).reason).toMatch(
      /^ResourceInitializationError: unable to pull secrets or registry auth: .*unable to retrieve secrets from ssm: .*i\/o timeout$/,
    );
    addEndpoints(net, region(), ['logs', 'ssm']);
    expect((await run(priv, 'DISABLED', logged)).ran).toBe(true);
    expect((await run(priv, 'DISABLED', secret)).ran).toBe(true);
  });

  it('a 0.0.0.0/0 route to a NAT gateway (no endpoints): runs; once the NAT gateway is deleted: fails', async () => {
    deleteEndpoints(net);
    expect((await run(priv, 'DISABLED')).reason).toMatch(PULL_TIMEOUT);
    const nat = await addNatRoute(net);
    expect((await run(priv, 'DISABLED')).ran).toBe(true);
    awsCli(['ec2', 'delete-nat-gateway', '--nat-gateway-id', nat]);
    expect((await run(priv, 'DISABLED')).reason).toMatch(PULL_TIMEOUT);
  });

  it('a service task with no way out fails after a short delay and counts for the circuit breaker', async () => {
    createFargateService({
      cluster: CLUSTER,
      name: 'web',
      taskDefinition: td,
      network: { subnets: [priv] },
      assignPublicIp: 'DISABLED',
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false } },
    });
    const failed = await waitFor(
      () => {
        const s = awsCli(['ecs', 'describe-services', '--cluster', CLUSTER, '--services', 'web']).services[0];
        return s?.deployments?.[0]?.rolloutState === 'FAILED' ? s : false;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, what: 'the deployment to fail' },
    );
    expect(failed.deployments[0].failedTasks).toBeGreaterThanOrEqual(3);
    const stopped = serviceTaskArns(CLUSTER, 'web', 'STOPPED');
    const t = task(stopped[0]!);
    expect(t.stoppedReason).toMatch(PULL_TIMEOUT);
    // Not at once: ECS tries the pull (and times out) before the task stops.
    const ms = (v: string | number) => (typeof v === 'number' ? v * 1000 : Date.parse(v));
    expect(ms(t.stoppedAt) - ms(t.createdAt)).toBeGreaterThanOrEqual(400);
  });

  it('switch: networkReachability false runs the task whatever the routes', async () => {
    await emu('config', { networkReachability: false });
    expect((await run(priv, 'DISABLED')).ran).toBe(true);
  });
});
