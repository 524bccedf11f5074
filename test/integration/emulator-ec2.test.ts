/**
 * The local world's EC2 rules (test/emulator/pwemu/ec2.py), with the AWS CLI as the client:
 * DeleteSecurityGroup answers DependencyViolation while another group's rule references the group
 * or an ENI uses it (a running task's, a stopped task's for eniLingerSeconds); a just-created group
 * answers InvalidGroup.NotFound for sgVisibilitySeconds. Each rule is switchable.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createFargateService, registerFargateTaskDefinition } from '../helpers/emulator.js';
import { awsCli, emu, resetWorld, runAwsCli, waitFor } from '../helpers/localworld.js';

const CLUSTER = 'emu-ec2';

function vpc(): { vpc: string; subnet: string } {
  const subnet = awsCli(['ec2', 'describe-subnets', '--filters', 'Name=default-for-az,Values=true']).Subnets[0];
  return { vpc: subnet.VpcId, subnet: subnet.SubnetId };
}

function group(name: string, vpcId: string): string {
  return awsCli(['ec2', 'create-security-group', '--group-name', name, '--description', name, '--vpc-id', vpcId])
    .GroupId;
}

const fromGroup = (source: string) => `IpProtocol=tcp,FromPort=80,ToPort=80,UserIdGroupPairs=[{GroupId=${source}}]`;

/** The CLI's error line for a request that must fail (throws if it succeeds). */
function refusal(args: string[]): string {
  const r = runAwsCli(args);
  if (r.status === 0) throw new Error(`aws ${args.join(' ')} succeeded`);
  return r.stderr.trim();
}

const deleteGroup = (id: string) => ['ec2', 'delete-security-group', '--group-id', id];
const dependent = (id: string) =>
  `An error occurred (DependencyViolation) when calling the DeleteSecurityGroup operation: resource ${id} has a dependent object`;
const notFound = (op: string, id: string) =>
  `An error occurred (InvalidGroup.NotFound) when calling the ${op} operation: The security group '${id}' does not exist`;

describe('DeleteSecurityGroup: DependencyViolation while the group is in use (AWS CLI)', () => {
  beforeEach(async () => {
    // The account is not new (first-use rules: emulator-iam.test.ts); the test images need not be pulled.
    await resetWorld({
      sgVisibilitySeconds: 0,
      runContainers: false,
      rolloutSeconds: 1,
      requireServiceLinkedRoles: false,
      checkImages: false,
    });
  });

  it('a group referenced by another group’s ingress or egress rule is refused, and deletable once revoked', () => {
    const { vpc: v } = vpc();
    const alb = group('ec2-alb', v);
    const tasks = group('ec2-tasks', v);
    const other = group('ec2-other', v);
    awsCli(['ec2', 'authorize-security-group-ingress', '--group-id', tasks, '--ip-permissions', fromGroup(alb)]);
    awsCli(['ec2', 'authorize-security-group-egress', '--group-id', other, '--ip-permissions', fromGroup(alb)]);
    // A group referencing itself does not block its own deletion; the referencing group is free.
    awsCli(['ec2', 'authorize-security-group-ingress', '--group-id', tasks, '--ip-permissions', fromGroup(tasks)]);

    expect(refusal(deleteGroup(alb))).toBe(dependent(alb));
    awsCli(['ec2', 'revoke-security-group-ingress', '--group-id', tasks, '--ip-permissions', fromGroup(alb)]);
    expect(refusal(deleteGroup(alb))).toBe(dependent(alb)); // the egress rule still names it
    awsCli(['ec2', 'revoke-security-group-egress', '--group-id', other, '--ip-permissions', fromGroup(alb)]);
    awsCli(deleteGroup(alb));
    awsCli(deleteGroup(tasks));
    expect(
      awsCli(['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=ec2-alb,ec2-tasks'])
        .SecurityGroups,
    ).toEqual([]);
  });

  it('switchable: sgDependencies off deletes a referenced group', async () => {
    const { vpc: v } = vpc();
    const alb = group('ec2-alb', v);
    const tasks = group('ec2-tasks', v);
    awsCli(['ec2', 'authorize-security-group-ingress', '--group-id', tasks, '--ip-permissions', fromGroup(alb)]);
    await emu('config', { sgDependencies: false });
    awsCli(deleteGroup(alb));
  });

  it('a group a task ENI uses is refused while the task runs and for eniLingerSeconds after it stopped', async () => {
    await emu('config', { eniLingerSeconds: 20 });
    const { vpc: v, subnet } = vpc();
    const sg = group('ec2-svc', v);
    awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
    const td = registerFargateTaskDefinition('ec2-web', [
      { name: 'web', image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v1', essential: true },
    ]);
    createFargateService({
      cluster: CLUSTER,
      name: 'web',
      taskDefinition: td,
      network: { subnets: [subnet], securityGroups: [sg] },
    });
    const eni = () =>
      awsCli(['ec2', 'describe-network-interfaces', '--filters', `Name=group-id,Values=${sg}`]).NetworkInterfaces;
    await waitFor(() => eni().length === 1, { what: 'the task ENI' });
    expect(refusal(deleteGroup(sg))).toBe(dependent(sg));

    awsCli(['ecs', 'delete-service', '--cluster', CLUSTER, '--service', 'web', '--force']);
    await waitFor(
      async () => (await emu('tasks')).tasks.every((t: { lastStatus: string }) => t.lastStatus === 'STOPPED'),
      { what: 'the task stopped' },
    );
    const stopped = Date.now();
    // The task has stopped; its ENI (and so the group's use) lingers.
    expect(refusal(deleteGroup(sg))).toBe(dependent(sg));
    expect(eni()).toHaveLength(1);
    await waitFor(() => runAwsCli(deleteGroup(sg)).status === 0, {
      what: 'the group deletable',
      timeoutMs: 60_000,
      intervalMs: 1_000,
    });
    expect(Date.now() - stopped).toBeGreaterThan(10_000);
    expect(eni()).toEqual([]);
  });
});

describe('a just-created security group is not visible at once (AWS CLI)', () => {
  beforeEach(async () => {
    await resetWorld({ sgVisibilitySeconds: 25 });
  });

  it('Authorize… referencing it and DescribeSecurityGroups by its id answer InvalidGroup.NotFound, then succeed', async () => {
    const { vpc: v } = vpc();
    // The VPC's default group was not made by CreateSecurityGroup: visible all along.
    const tasks = awsCli([
      'ec2',
      'describe-security-groups',
      '--filters',
      `Name=vpc-id,Values=${v}`,
      'Name=group-name,Values=default',
    ]).SecurityGroups[0].GroupId;
    const alb = group('ec2-alb', v);
    const created = Date.now();
    expect(
      refusal(['ec2', 'authorize-security-group-ingress', '--group-id', tasks, '--ip-permissions', fromGroup(alb)]),
    ).toBe(notFound('AuthorizeSecurityGroupIngress', alb));
    expect(refusal(['ec2', 'describe-security-groups', '--group-ids', alb])).toBe(
      notFound('DescribeSecurityGroups', alb),
    );
    expect(
      refusal(['ec2', 'authorize-security-group-egress', '--group-id', tasks, '--ip-permissions', fromGroup(alb)]),
    ).toBe(notFound('AuthorizeSecurityGroupEgress', alb));
    // Authorizing rules on the new group itself is refused too (its id is not propagated yet).
    expect(
      refusal([
        'ec2',
        'authorize-security-group-ingress',
        '--group-id',
        alb,
        '--ip-permissions',
        'IpProtocol=tcp,FromPort=80,ToPort=80,IpRanges=[{CidrIp=0.0.0.0/0}]',
      ]),
    ).toBe(notFound('AuthorizeSecurityGroupIngress', alb));
    // Listed by its name already (a filter reads what exists); only the id is not propagated.
    expect(
      awsCli(['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=ec2-alb']).SecurityGroups,
    ).toHaveLength(1);
    // Nothing was half-applied.
    expect(
      awsCli(['ec2', 'describe-security-groups', '--group-ids', tasks]).SecurityGroups[0].IpPermissions.some(
        (p: { UserIdGroupPairs?: { GroupId: string }[] }) => p.UserIdGroupPairs?.some((g) => g.GroupId === alb),
      ),
    ).toBe(false);

    await waitFor(
      () =>
        runAwsCli(['ec2', 'authorize-security-group-ingress', '--group-id', tasks, '--ip-permissions', fromGroup(alb)])
          .status === 0,
      { what: 'the group visible', timeoutMs: 60_000, intervalMs: 1_000 },
    );
    expect(Date.now() - created).toBeGreaterThan(15_000);
    expect(awsCli(['ec2', 'describe-security-groups', '--group-ids', alb]).SecurityGroups).toHaveLength(1);
  });

  it('switchable: sgVisibilitySeconds 0 makes a new group usable at once', async () => {
    await emu('config', { sgVisibilitySeconds: 0 });
    const { vpc: v } = vpc();
    const alb = group('ec2-alb', v);
    const tasks = group('ec2-tasks', v);
    awsCli(['ec2', 'authorize-security-group-ingress', '--group-id', tasks, '--ip-permissions', fromGroup(alb)]);
    expect(awsCli(['ec2', 'describe-security-groups', '--group-ids', alb]).SecurityGroups).toHaveLength(1);
  });
});

describe('NAT gateways: pending → available, deleting → deleted; their address and subnet are held until deleted (AWS CLI)', () => {
  const natState = (id: string): string =>
    awsCli(['ec2', 'describe-nat-gateways', '--nat-gateway-ids', id]).NatGateways[0].State;
  function natInNewSubnet(cidr: string): { subnet: string; allocation: string; nat: string } {
    const vpcId = awsCli(['ec2', 'create-vpc', '--cidr-block', `${cidr}.0.0/16`]).Vpc.VpcId;
    const subnet = awsCli([
      'ec2',
      'create-subnet',
      '--vpc-id',
      vpcId,
      '--cidr-block',
      `${cidr}.0.0/24`,
      '--availability-zone',
      'eu-west-1a',
    ]).Subnet.SubnetId;
    const allocation = awsCli(['ec2', 'allocate-address', '--domain', 'vpc']).AllocationId;
    const nat = awsCli(['ec2', 'create-nat-gateway', '--subnet-id', subnet, '--allocation-id', allocation]).NatGateway;
    return { subnet, allocation, nat: nat.NatGatewayId };
  }

  it('a new gateway is pending, then available; deleted, it is deleting and holds its Elastic IP and subnet until deleted', async () => {
    await resetWorld({ natPendingSeconds: 12, natDeletingSeconds: 12 });
    const { subnet, allocation, nat } = natInNewSubnet('10.61');
    expect(natState(nat)).toBe('pending');
    await waitFor(() => natState(nat) === 'available', { what: 'NAT available', timeoutMs: 30_000, intervalMs: 500 });

    awsCli(['ec2', 'delete-nat-gateway', '--nat-gateway-id', nat]);
    expect(natState(nat)).toBe('deleting');
    expect(refusal(['ec2', 'release-address', '--allocation-id', allocation])).toBe(
      'An error occurred (AuthFailure) when calling the ReleaseAddress operation: You do not have permission to access the specified resource.',
    );
    expect(refusal(['ec2', 'delete-subnet', '--subnet-id', subnet])).toBe(
      `An error occurred (DependencyViolation) when calling the DeleteSubnet operation: The subnet '${subnet}' has dependencies and cannot be deleted.`,
    );
    await waitFor(() => natState(nat) === 'deleted', { what: 'NAT deleted', timeoutMs: 30_000, intervalMs: 500 });
    expect(runAwsCli(['ec2', 'release-address', '--allocation-id', allocation]).status).toBe(0);
    expect(runAwsCli(['ec2', 'delete-subnet', '--subnet-id', subnet]).status).toBe(0);
  }, 90_000);

  it('switchable: with 0 seconds and natHoldsAddress / subnetDependencies off, moto’s immediate behaviour', async () => {
    await resetWorld({
      natPendingSeconds: 0,
      natDeletingSeconds: 0,
      natHoldsAddress: false,
      subnetDependencies: false,
    });
    const { subnet, allocation, nat } = natInNewSubnet('10.62');
    expect(natState(nat)).toBe('available');
    awsCli(['ec2', 'delete-nat-gateway', '--nat-gateway-id', nat]);
    expect(natState(nat)).toBe('deleted');
    expect(runAwsCli(['ec2', 'release-address', '--allocation-id', allocation]).status).toBe(0);
    expect(runAwsCli(['ec2', 'delete-subnet', '--subnet-id', subnet]).status).toBe(0);
  }, 60_000);
});
