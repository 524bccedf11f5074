/**
 * Security groups against EC2's real rules (aws-sdk-client-mock): InvalidGroup.NotFound right after
 * a create is retried briefly (EC2 eventual consistency); DeleteSecurityGroup's DependencyViolation
 * is met by revoking this environment's referencing rules, by a bounded wait for lingering ENIs
 * (PW_TIMEOUT, exit 4, "run destroy again"), and never by touching groups patchwork does not own;
 * destroy deletes the tasks groups before the load balancer's.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApplyContext } from '../../src/lib/apply/context.js';
import { apply } from '../../src/lib/apply/index.js';
import { isPatchworkError } from '../../src/lib/errors.js';
import { Emitter } from '../../src/lib/events.js';
import type { PlannedChange } from '../../src/lib/plan/index.js';
import { REGISTRY } from '../../src/lib/resources/index.js';
import { whenVisible } from '../../src/lib/resources/security-group.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { asObserved, desired, FACTS, find } from './provision-fixtures.js';

afterAll(restoreAwsMocks);

const awsError = (name: string, message = name) => Object.assign(new Error(message), { name, $metadata: {} });
const ENV_TAGS = [
  { Key: 'patchwork:app', Value: 'shop' },
  { Key: 'patchwork:env', Value: 'prod' },
];

function context(over: Partial<ApplyContext> = {}): ApplyContext {
  return {
    aws: testClients(),
    region: 'eu-west-1',
    facts: FACTS,
    ids: {
      securityGroups: new Map([['shop-prod-alb', 'sg-0a1b']]),
      targetGroups: new Map(),
      loadBalancers: new Map(),
      listeners: new Map(),
    },
    events: new Emitter(),
    pollMs: 1,
    waitMs: 1_000,
    ...over,
  };
}

const observed = () => asObserved(desired());
const tasksGroup = () => find(observed(), 'security-group', 'shop-prod-web-tasks');
const albGroup = () => find(observed(), 'security-group', 'shop-prod-alb');

describe('a just-created group answering InvalidGroup.NotFound', () => {
  it('create: the ingress naming the load balancer group is retried until EC2 sees the groups', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-0new' });
    ec2
      .on(AuthorizeSecurityGroupIngressCommand)
      .rejectsOnce(awsError('InvalidGroup.NotFound', "The security group 'sg-0a1b' does not exist"))
      .rejectsOnce(awsError('InvalidGroup.NotFound', "The security group 'sg-0new' does not exist"))
      .resolves({});
    const want = desired().resources.find((r) => r.kind === 'security-group' && r.name === 'shop-prod-web-tasks');
    await REGISTRY['security-group'].create(context(), want as never);
    expect(ec2.commandCalls(CreateSecurityGroupCommand)).toHaveLength(1);
    expect(ec2.commandCalls(AuthorizeSecurityGroupIngressCommand)).toHaveLength(3);
  });

  it('is bounded: a group that stays unknown fails with EC2’s error after the budget', async () => {
    let calls = 0;
    const started = Date.now();
    const err = await whenVisible(async () => {
      calls++;
      throw awsError('InvalidGroup.NotFound');
    }, 500).catch((e: unknown) => e);
    expect((err as Error).name).toBe('InvalidGroup.NotFound');
    expect(calls).toBeGreaterThan(1);
    expect(calls).toBeLessThan(6);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('other errors are not retried', async () => {
    let calls = 0;
    await expect(
      whenVisible(async () => {
        calls++;
        throw awsError('InvalidPermission.Malformed');
      }),
    ).rejects.toThrow('InvalidPermission.Malformed');
    expect(calls).toBe(1);
  });
});

describe('security-group delete: DependencyViolation', () => {
  const inUse = () => awsError('DependencyViolation', 'resource sg-x has a dependent object');

  it('revokes the rules of this environment’s groups that name it, then deletes', async () => {
    const ec2 = awsMock(EC2Client);
    const have = albGroup();
    ec2.on(DeleteSecurityGroupCommand).rejectsOnce(inUse()).resolves({});
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    ec2
      .on(DescribeSecurityGroupsCommand, { Filters: [{ Name: 'ip-permission.group-id', Values: [have.id] }] })
      .resolves({
        SecurityGroups: [
          {
            GroupId: 'sg-tasks',
            Tags: ENV_TAGS,
            IpPermissions: [
              {
                IpProtocol: 'tcp',
                FromPort: 8080,
                ToPort: 8080,
                UserIdGroupPairs: [{ GroupId: have.id, UserId: '1' }],
              },
              { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
            ],
            IpPermissionsEgress: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: have.id }] }],
          },
        ],
      });
    ec2.on(RevokeSecurityGroupIngressCommand).resolves({});
    ec2.on(RevokeSecurityGroupEgressCommand).resolves({});
    await REGISTRY['security-group'].delete(context(), have, {});
    expect(ec2.commandCalls(RevokeSecurityGroupIngressCommand).map((c) => c.args[0].input)).toEqual([
      {
        GroupId: 'sg-tasks',
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: have.id }] }],
      },
    ]);
    expect(ec2.commandCalls(RevokeSecurityGroupEgressCommand).map((c) => c.args[0].input)).toEqual([
      { GroupId: 'sg-tasks', IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: have.id }] }] },
    ]);
    expect(ec2.commandCalls(DeleteSecurityGroupCommand)).toHaveLength(2);
  });

  it('never changes a group patchwork does not own: PW_CONFLICT naming it', async () => {
    const ec2 = awsMock(EC2Client);
    const have = albGroup();
    ec2.on(DeleteSecurityGroupCommand).rejects(inUse());
    ec2.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        {
          GroupId: 'sg-theirs',
          Tags: [{ Key: 'team', Value: 'db' }],
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: have.id }] },
          ],
        },
      ],
    });
    const err = await REGISTRY['security-group'].delete(context(), have, {}).catch((e: unknown) => e);
    expect(isPatchworkError(err) && err.code).toBe('PW_CONFLICT');
    expect((err as Error).message).toContain('sg-theirs');
    expect(ec2.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0);
  });

  it('waits for lingering ENIs (bounded poll), then deletes', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(DeleteSecurityGroupCommand).rejectsOnce(inUse()).rejectsOnce(inUse()).resolves({});
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    await REGISTRY['security-group'].delete(context({ pollMs: 5 }), tasksGroup(), {});
    expect(ec2.commandCalls(DeleteSecurityGroupCommand)).toHaveLength(3);
  });

  it('an ENI that outlives the wait: PW_TIMEOUT (exit 4) naming it, with a hint that a rerun finishes', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(DeleteSecurityGroupCommand).rejects(inUse());
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-0task' }] });
    const started = Date.now();
    const err = await REGISTRY['security-group']
      .delete(context({ pollMs: 20, waitMs: 200 }), tasksGroup(), {})
      .catch((e: unknown) => e);
    expect(isPatchworkError(err) && err.code).toBe('PW_TIMEOUT');
    expect((err as Error).message).toContain('eni-0task');
    expect(isPatchworkError(err) && err.hint).toMatch(/run destroy again/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a group already gone is not an error', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(DeleteSecurityGroupCommand).rejects(awsError('InvalidGroup.NotFound'));
    await expect(REGISTRY['security-group'].delete(context(), tasksGroup(), {})).resolves.toBeUndefined();
  });
});

describe('destroy order', () => {
  it('the tasks groups are deleted before the load balancer group their rules name', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(DeleteSecurityGroupCommand).resolves({});
    const changes: PlannedChange[] = [albGroup(), tasksGroup()].map((r) => ({
      kind: r.kind,
      name: r.name,
      ...(r.service ? { service: r.service } : {}),
      action: 'delete',
      reason: 'destroy',
      observed: r,
    }));
    await apply(context(), changes);
    expect(ec2.commandCalls(DeleteSecurityGroupCommand).map((c) => c.args[0].input.GroupId)).toEqual([
      'id-security-group-shop-prod-web-tasks',
      'id-security-group-shop-prod-alb',
    ]);
  });
});
