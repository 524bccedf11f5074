/**
 * The local world's first-use IAM rules (test/emulator/pwemu/iamrules.py, README "First use in an
 * account"), with the AWS CLI v2 as the client: the ECS service-linked role that ECS creates on
 * first use and that is not assumable at once, CreateServiceLinkedRole as IAM answers it, the
 * RegisterScalableTarget race after CreateService, and roles IAM has not propagated yet.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createFargateServiceArgs, registerFargateTaskDefinition, serviceTaskArns } from '../helpers/emulator.js';
import { awsCli, emu, resetWorld, runAwsCli, waitFor } from '../helpers/localworld.js';

const CLUSTER = 'emu-iam';
const SLR_MESSAGE = 'Unable to assume the service linked role. Please verify that the ECS service linked role exists.';

/** The CLI's refusal: exit status and "An error occurred (Code) when calling the Op operation: message". */
function refused(args: string[]): string {
  const res = runAwsCli(args);
  expect(res.status, `aws ${args.join(' ')} should be refused; stdout: ${res.stdout}`).not.toBe(0);
  return res.stderr.trim();
}

function network() {
  const subnet = awsCli(['ec2', 'describe-subnets', '--filters', 'Name=default-for-az,Values=true']).Subnets[0];
  return { subnets: [subnet.SubnetId as string] };
}

function taskDefinition(family: string, executionRoleArn?: string): string {
  return registerFargateTaskDefinition(
    family,
    [{ name: 'web', image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1', essential: true }],
    executionRoleArn ? ['--execution-role-arn', executionRoleArn] : [],
  );
}

const createService = (name: string, td: string, net: { subnets: string[] }, desired = 0) =>
  createFargateServiceArgs({ cluster: CLUSTER, name, taskDefinition: td, network: net, desiredCount: desired });

function createRole(name: string): string {
  const trust = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  };
  return awsCli(['iam', 'create-role', '--role-name', name, '--assume-role-policy-document', JSON.stringify(trust)])
    .Role.Arn;
}

beforeEach(async () => {
  await resetWorld({ runContainers: false });
});

describe('service-linked roles (first use in an account)', () => {
  it('a reset world has none; the first CreateCluster is refused and creates AWSServiceRoleForECS, usable after slrPropagationSeconds', async () => {
    // Long enough for the CLI calls below (each starts a Python process) to fall inside it.
    await emu('config', { slrPropagationSeconds: 15 });
    const td = taskDefinition('emu-iam-web');
    const net = network();
    expect(refused(['iam', 'get-role', '--role-name', 'AWSServiceRoleForECS'])).toContain('(NoSuchEntity)');
    const first = refused(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
    expect(first).toContain('(InvalidParameterException) when calling the CreateCluster operation');
    expect(first).toContain(SLR_MESSAGE);
    const role = awsCli(['iam', 'get-role', '--role-name', 'AWSServiceRoleForECS']).Role;
    expect(role.Arn).toBe('arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS');
    expect(role.Path).toBe('/aws-service-role/ecs.amazonaws.com/');
    // Not yet assumable: CreateService is refused the same way, and CreateCluster still is.
    expect(refused(createService('web', td, net))).toContain(SLR_MESSAGE);
    expect(awsCli(['ecs', 'list-clusters']).clusterArns).toEqual([]);
    // Once propagated, both work.
    const cluster = await waitFor(
      () => {
        const res = runAwsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
        if (res.status !== 0) expect(res.stderr).toContain(SLR_MESSAGE);
        return res.status === 0 ? JSON.parse(res.stdout).cluster : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'CreateCluster accepted' },
    );
    expect(cluster.status).toBe('ACTIVE');
    expect(awsCli(createService('web', td, net)).service.status).toBe('ACTIVE');
  });

  it('CreateServiceLinkedRole names the roles as IAM does and answers a second call "has been taken"', async () => {
    const made = [
      'ecs.amazonaws.com',
      'elasticloadbalancing.amazonaws.com',
      'ecs.application-autoscaling.amazonaws.com',
    ].map((service) => awsCli(['iam', 'create-service-linked-role', '--aws-service-name', service]).Role);
    expect(made.map((r) => r.Arn)).toEqual([
      'arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS',
      'arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing',
      'arn:aws:iam::123456789012:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService',
    ]);
    const again = refused(['iam', 'create-service-linked-role', '--aws-service-name', 'ecs.amazonaws.com']);
    expect(again).toContain('(InvalidInput)');
    expect(again).toContain(
      'Service role name AWSServiceRoleForECS has been taken in this account, please try a different suffix.',
    );
    // A role made by CreateServiceLinkedRole propagates like one ECS made.
    await waitFor(() => runAwsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]).status === 0, {
      timeoutMs: 20_000,
      intervalMs: 500,
      what: 'CreateCluster accepted',
    });
  });

  it('switched off (requireServiceLinkedRoles: false), CreateCluster works in a fresh account', async () => {
    await emu('config', { requireServiceLinkedRoles: false });
    expect(awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]).cluster.status).toBe('ACTIVE');
    expect(refused(['iam', 'get-role', '--role-name', 'AWSServiceRoleForECS'])).toContain('(NoSuchEntity)');
  });
});

describe('RegisterScalableTarget right after CreateService', () => {
  const register = (resourceId: string) => [
    'application-autoscaling',
    'register-scalable-target',
    '--service-namespace',
    'ecs',
    '--resource-id',
    resourceId,
    '--scalable-dimension',
    'ecs:service:DesiredCount',
    '--min-capacity',
    '1',
    '--max-capacity',
    '3',
  ];

  it('is refused "ECS service doesn\'t exist" for scalableTargetLagSeconds, then accepted; 0 switches it off', async () => {
    await emu('config', { requireServiceLinkedRoles: false, scalableTargetLagSeconds: 6 });
    awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
    const td = taskDefinition('emu-iam-web');
    const net = network();
    awsCli(createService('web', td, net));
    const err = refused(register(`service/${CLUSTER}/web`));
    expect(err).toContain('(ValidationException) when calling the RegisterScalableTarget operation');
    expect(err).toContain(`ECS service doesn't exist: service/${CLUSTER}/web`);
    await waitFor(() => runAwsCli(register(`service/${CLUSTER}/web`)).status === 0, {
      timeoutMs: 20_000,
      intervalMs: 500,
      what: 'RegisterScalableTarget accepted',
    });
    await emu('config', { scalableTargetLagSeconds: 0 });
    awsCli(createService('api', td, net));
    expect(awsCli(register(`service/${CLUSTER}/api`)).ScalableTargetARN).toBeTruthy();
  });
});

describe('a role IAM has not propagated yet', () => {
  it('cannot be passed to CreateService or UpdateService, and a task started with it fails to start', async () => {
    await emu('config', { requireServiceLinkedRoles: false, iamPropagationSeconds: 60 });
    awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
    const net = network();
    const arn = createRole('emu-iam-exec');
    const fresh = taskDefinition('emu-iam-fresh', arn);
    const message = `ECS was unable to assume the role '${arn}' that was provided for this task.`;
    const created = refused(createService('web', fresh, net, 1));
    expect(created).toContain('(InvalidParameterException) when calling the CreateService operation');
    expect(created).toContain(message);
    awsCli(createService('web', taskDefinition('emu-iam-plain'), net));
    const updated = refused([
      'ecs',
      'update-service',
      '--cluster',
      CLUSTER,
      '--service',
      'web',
      '--task-definition',
      fresh,
    ]);
    expect(updated).toContain('(InvalidParameterException) when calling the UpdateService operation');
    expect(updated).toContain(message);

    // Made while the rule was off, started while it is on: the task never starts.
    await emu('config', { iamPropagationSeconds: 0 });
    awsCli(createService('api', fresh, net, 0));
    await emu('config', { iamPropagationSeconds: 60 });
    awsCli(['ecs', 'update-service', '--cluster', CLUSTER, '--service', 'api', '--desired-count', '1']);
    const task = await waitFor(
      () => {
        const arns = serviceTaskArns(CLUSTER, 'api', 'STOPPED');
        return arns.length
          ? awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', arns[0]!]).tasks[0]
          : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500, what: 'a stopped task' },
    );
    expect(task.stoppedReason).toContain(message);
    expect(task.stopCode).toBe('TaskFailedToStart');

    // Old enough (the rule off stands for "propagated"): CreateService accepts it.
    await emu('config', { iamPropagationSeconds: 0 });
    expect(awsCli(createService('late', fresh, net)).service.status).toBe('ACTIVE');
  });
});
