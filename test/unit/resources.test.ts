/**
 * Request payloads per resource handler (aws-sdk-client-mock): the exact input each create and
 * update sends, the shared task definition builder, and the SDK waiters' timeout as PW_TIMEOUT.
 */
import { CloudWatchClient, DeleteAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import {
  CreateRuleCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  SetRulePrioritiesCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, describe, expect, it } from 'vitest';
import { type ApplyContext, settled } from '../../src/lib/apply/context.js';
import type { Kind, ResourceOf } from '../../src/lib/desired/types.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { Emitter } from '../../src/lib/events.js';
import { type PlannedChange, plan } from '../../src/lib/plan/index.js';
import { deriveTaskDefinition } from '../../src/lib/release/taskdef.js';
import { REGISTRY } from '../../src/lib/resources/index.js';
import type { ObservedOf } from '../../src/lib/resources/kind.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { asObserved, desired, FACTS, find, ONE_SERVICE, target } from './provision-fixtures.js';

afterAll(restoreAwsMocks);

const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-prod-web/0123456789abcdef';
const LB_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop-prod/fedcba9876543210';
const LISTENER_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop-prod/fedcba9876543210/1';
const TAGS = [
  { Key: 'patchwork:app', Value: 'shop' },
  { Key: 'patchwork:env', Value: 'prod' },
  { Key: 'managed-by', Value: 'patchwork' },
];
const SVC_TAGS = [...TAGS, { Key: 'patchwork:service', Value: 'web' }];
const lower = (tags: { Key: string; Value: string }[]) => tags.map((t) => ({ key: t.Key, value: t.Value }));

function context(over: Partial<ApplyContext> = {}): ApplyContext {
  return {
    aws: testClients(),
    region: 'eu-west-1',
    facts: FACTS,
    ids: {
      securityGroups: new Map([
        ['shop-prod-alb', 'sg-0a1b'],
        ['shop-prod-web-tasks', 'sg-0c2d'],
      ]),
      targetGroups: new Map([['shop-prod-web', TG_ARN]]),
      loadBalancers: new Map([['shop-prod', LB_ARN]]),
      listeners: new Map([[80, LISTENER_ARN]]),
    },
    events: new Emitter(),
    pollMs: 1,
    waitMs: 1_000,
    ...over,
  };
}

const ALARMS = ONE_SERVICE.replace(
  'desiredCount: 2',
  'desiredCount: 2\n    alarms: { http5xxPerMinute: 5, snsTopicArn: "arn:aws:sns:eu-west-1:123456789012:ops" }',
);
const IMAGE = ONE_SERVICE.replace('build: { context: . }', 'image: public.ecr.aws/docker/library/nginx:1.27');

function want<K extends Kind>(kind: K, name?: string, yaml = ONE_SERVICE): ResourceOf<K> {
  const r = desired(yaml).resources.find((x) => x.kind === kind && (name === undefined || x.name === name));
  if (!r || r.kind !== kind) throw new Error(`no desired ${kind}`);
  return r as ResourceOf<K>;
}

/** The planned update of one resource after `edit` changed what AWS holds. */
function updateOf<K extends Kind>(
  kind: K,
  edit: (have: ObservedOf<K>) => void,
  yaml = ONE_SERVICE,
  name?: string,
): PlannedChange {
  const d = desired(yaml);
  const observed = asObserved(d);
  edit(find(observed, kind, name) as ObservedOf<K>);
  const c = plan(d, observed).changes.find((x) => x.kind === kind && x.action === 'update');
  if (!c) throw new Error(`no update of ${kind}`);
  return c;
}

async function runUpdate<K extends Kind>(kind: K, c: PlannedChange, ctx = context()): Promise<void> {
  const handler = REGISTRY[kind];
  await handler.update(ctx, c.desired as ResourceOf<K>, c.observed as ObservedOf<K>, c.diff ?? []);
}

describe('security-group handler', () => {
  it('create: the group with its tags in the VPC, then its ingress by source group id', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-0new' });
    ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({});
    const ctx = context();
    await REGISTRY['security-group'].create(ctx, want('security-group', 'shop-prod-web-tasks'));
    expect(ec2.commandCalls(CreateSecurityGroupCommand).map((c) => c.args[0].input)).toEqual([
      {
        GroupName: 'shop-prod-web-tasks',
        Description: 'patchwork shop-prod-web: tasks, from the load balancer only',
        VpcId: FACTS.vpcId,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: SVC_TAGS }],
      },
    ]);
    expect(ec2.commandCalls(AuthorizeSecurityGroupIngressCommand).map((c) => c.args[0].input)).toEqual([
      {
        GroupId: 'sg-0new',
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: 'sg-0a1b' }] },
        ],
      },
    ]);
    expect(ctx.ids.securityGroups.get('shop-prod-web-tasks')).toBe('sg-0new');
  });

  it('update: revokes what is extra and authorizes what is missing, nothing else', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(RevokeSecurityGroupIngressCommand).resolves({});
    ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({});
    const c = updateOf('security-group', (have) => {
      if (have.name === 'shop-prod-alb')
        have.ingress = [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.0.0.0/8' }];
    });
    await runUpdate('security-group', c);
    expect(ec2.commandCalls(RevokeSecurityGroupIngressCommand).map((x) => x.args[0].input)).toEqual([
      {
        GroupId: 'id-security-group-shop-prod-alb',
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
      },
    ]);
    expect(ec2.commandCalls(AuthorizeSecurityGroupIngressCommand).map((x) => x.args[0].input)).toEqual([
      {
        GroupId: 'id-security-group-shop-prod-alb',
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      },
    ]);
    expect(ec2.calls()).toHaveLength(2);
  });
});

describe('target-group handler', () => {
  it('create: IP targets with the health check and tags, then the deregistration delay', async () => {
    const elb = awsMock(ElasticLoadBalancingV2Client);
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: TG_ARN }] });
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});
    const ctx = context({ ids: { ...context().ids, targetGroups: new Map() } });
    await REGISTRY['target-group'].create(ctx, want('target-group'));
    expect(elb.commandCalls(CreateTargetGroupCommand)[0]!.args[0].input).toEqual({
      Name: 'shop-prod-web',
      Protocol: 'HTTP',
      Port: 8080,
      VpcId: FACTS.vpcId,
      TargetType: 'ip',
      HealthCheckEnabled: true,
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: 'traffic-port',
      HealthCheckPath: '/healthz',
      HealthCheckIntervalSeconds: 15,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 3,
      Matcher: { HttpCode: '200-399' },
      Tags: SVC_TAGS,
    });
    expect(elb.commandCalls(ModifyTargetGroupAttributesCommand)[0]!.args[0].input).toEqual({
      TargetGroupArn: TG_ARN,
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }],
    });
    expect(ctx.ids.targetGroups.get('shop-prod-web')).toBe(TG_ARN);
  });

  it('update: a changed health check path is one ModifyTargetGroup with the whole check', async () => {
    const elb = awsMock(ElasticLoadBalancingV2Client);
    elb.on(ModifyTargetGroupCommand).resolves({});
    const c = updateOf('target-group', (have) => {
      have.healthCheck.path = '/';
    });
    await runUpdate('target-group', c);
    expect(elb.calls()).toHaveLength(1);
    expect(elb.commandCalls(ModifyTargetGroupCommand)[0]!.args[0].input).toEqual({
      TargetGroupArn: 'id-target-group-shop-prod-web',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: 'traffic-port',
      HealthCheckPath: '/healthz',
      HealthCheckIntervalSeconds: 15,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 3,
      Matcher: { HttpCode: '200-399' },
    });
  });
});

describe('listener-rule handler', () => {
  it('create: the path condition forwarding to the target group at its priority, tagged', async () => {
    const elb = awsMock(ElasticLoadBalancingV2Client);
    elb.on(CreateRuleCommand).resolves({ Rules: [{ RuleArn: 'arn:rule' }] });
    await REGISTRY['listener-rule'].create(context(), want('listener-rule'));
    expect(elb.commandCalls(CreateRuleCommand)[0]!.args[0].input).toEqual({
      ListenerArn: LISTENER_ARN,
      Priority: want('listener-rule').priority,
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: TG_ARN }],
      Tags: SVC_TAGS,
    });
  });

  it('update: priority by SetRulePriorities, paths by ModifyRule (conditions only: ECS may own the weights)', async () => {
    const elb = awsMock(ElasticLoadBalancingV2Client);
    elb.on(SetRulePrioritiesCommand).resolves({});
    elb.on(ModifyRuleCommand).resolves({});
    const c = updateOf('listener-rule', (have) => {
      have.priority = 7;
      have.paths = ['/old/*'];
    });
    await runUpdate('listener-rule', c);
    expect(elb.commandCalls(SetRulePrioritiesCommand)[0]!.args[0].input).toEqual({
      RulePriorities: [{ RuleArn: 'id-listener-rule-shop-prod-web:80', Priority: want('listener-rule').priority }],
    });
    expect(elb.commandCalls(ModifyRuleCommand)[0]!.args[0].input).toEqual({
      RuleArn: 'id-listener-rule-shop-prod-web:80',
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }],
    });
  });

  it('update: a rule forwarding elsewhere is pointed back at its target group', async () => {
    const elb = awsMock(ElasticLoadBalancingV2Client);
    elb.on(ModifyRuleCommand).resolves({});
    const c = updateOf('listener-rule', (have) => {
      have.targetGroup = 'someone-elses';
    });
    await runUpdate('listener-rule', c);
    expect(elb.commandCalls(ModifyRuleCommand)[0]!.args[0].input).toEqual({
      RuleArn: 'id-listener-rule-shop-prod-web:80',
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: TG_ARN }],
    });
  });
});

describe('ecs-service handler', () => {
  const arm = ONE_SERVICE.replace('build: { context: . }', 'build: { context: ., platform: linux/arm64 }');

  it('create: registers the bootstrap task definition (the shared builder) and the service at 0 tasks', async () => {
    const ecs = awsMock(ECSClient);
    ecs.on(DescribeTaskDefinitionCommand).rejects(Object.assign(new Error('none'), { name: 'ClientException' }));
    ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: 'arn:td:1' } });
    ecs.on(CreateServiceCommand).resolves({});
    await REGISTRY['ecs-service'].create(context(), want('ecs-service', undefined, arm));
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input).toEqual({
      family: 'shop-prod-web-bootstrap',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
      executionRoleArn: 'arn:aws:iam::123456789012:role/shop-prod-web-execution',
      taskRoleArn: 'arn:aws:iam::123456789012:role/shop-prod-web-task',
      containerDefinitions: [
        {
          name: 'web',
          image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-web:patchwork-bootstrap',
          essential: true,
          portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
          environment: [],
          secrets: [],
          readonlyRootFilesystem: true,
          // The read-only root keeps a writable /tmp: a fresh task volume.
          mountPoints: [{ sourceVolume: 'writable-tmp', containerPath: '/tmp', readOnly: false }],
          user: '65532',
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': 'shop-prod-web',
              'awslogs-region': 'eu-west-1',
              'awslogs-stream-prefix': 'web',
            },
          },
        },
      ],
      volumes: [{ name: 'writable-tmp' }],
      tags: lower([...SVC_TAGS, { Key: 'patchwork:bootstrap', Value: 'placeholder' }]),
    });
    expect(ecs.commandCalls(CreateServiceCommand)[0]!.args[0].input).toEqual({
      cluster: 'shop-prod',
      serviceName: 'shop-prod-web',
      taskDefinition: 'arn:td:1',
      desiredCount: 0,
      launchType: 'FARGATE',
      schedulingStrategy: 'REPLICA',
      enableECSManagedTags: true,
      networkConfiguration: {
        awsvpcConfiguration: { subnets: FACTS.taskSubnets, securityGroups: ['sg-0c2d'], assignPublicIp: 'ENABLED' },
      },
      loadBalancers: [{ targetGroupArn: TG_ARN, containerName: 'web', containerPort: 8080 }],
      deploymentConfiguration: {
        minimumHealthyPercent: 100,
        maximumPercent: 200,
        deploymentCircuitBreaker: { enable: true, rollback: true },
      },
      healthCheckGracePeriodSeconds: 30,
      enableExecuteCommand: false,
      propagateTags: 'SERVICE',
      tags: lower(SVC_TAGS),
    });
  });

  it('update: only the changed settings go into one UpdateService', async () => {
    const ecs = awsMock(ECSClient);
    ecs.on(UpdateServiceCommand).resolves({});
    const c = updateOf('ecs-service', (have) => {
      have.deployment.circuitBreaker = false;
      have.healthCheckGracePeriodSeconds = 0;
    });
    await runUpdate('ecs-service', c);
    expect(ecs.calls()).toHaveLength(1);
    expect(ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input).toEqual({
      cluster: 'shop-prod',
      service: 'shop-prod-web',
      deploymentConfiguration: {
        minimumHealthyPercent: 100,
        maximumPercent: 200,
        deploymentCircuitBreaker: { enable: true, rollback: true },
      },
      healthCheckGracePeriodSeconds: 30,
    });
  });

  it('platform drift: the running revision again on the configured platform, and the service moved to it', async () => {
    const ecs = awsMock(ECSClient);
    const running = {
      family: 'shop-prod-web',
      taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-prod-web:4',
      containerDefinitions: [{ name: 'web', image: 'repo@sha256:abc' }],
      requiresCompatibilities: ['FARGATE' as const],
      networkMode: 'awsvpc' as const,
      cpu: '256',
      memory: '512',
      executionRoleArn: 'arn:exec',
      taskRoleArn: 'arn:task',
      runtimePlatform: { cpuArchitecture: 'X86_64' as const, operatingSystemFamily: 'LINUX' as const },
    };
    ecs
      .on(DescribeTaskDefinitionCommand)
      .resolves({ taskDefinition: running, tags: [{ key: 'patchwork:sha', value: 'abc' }] });
    ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: 'arn:td:5' } });
    ecs.on(UpdateServiceCommand).resolves({});
    const c = updateOf(
      'ecs-service',
      (have) => {
        have.runtimePlatform = { cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' };
        have.meta = { taskDefinition: running.taskDefinitionArn };
      },
      arm,
    );
    expect(c.diff).toEqual([{ field: 'runtimePlatform.cpuArchitecture', from: 'X86_64', to: 'ARM64' }]);
    await runUpdate('ecs-service', c);
    expect(ecs.commandCalls(DescribeTaskDefinitionCommand)[0]!.args[0].input).toEqual({
      taskDefinition: running.taskDefinitionArn,
      include: ['TAGS'],
    });
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input).toEqual({
      family: 'shop-prod-web',
      containerDefinitions: [{ name: 'web', image: 'repo@sha256:abc' }],
      runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      executionRoleArn: 'arn:exec',
      taskRoleArn: 'arn:task',
      tags: [{ key: 'patchwork:sha', value: 'abc' }],
    });
    expect(ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input).toEqual({
      cluster: 'shop-prod',
      service: 'shop-prod-web',
      taskDefinition: 'arn:td:5',
    });
  });

  it('delete: scales to 0, deletes, and waits with the SDK waiter until ECS says INACTIVE', async () => {
    const ecs = awsMock(ECSClient);
    ecs.on(UpdateServiceCommand).resolves({});
    ecs.on(DeleteServiceCommand).resolves({ service: { status: 'DRAINING' } });
    ecs
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [{ serviceName: 'shop-prod-web', status: 'DRAINING' }] })
      .resolves({ services: [{ serviceName: 'shop-prod-web', status: 'INACTIVE' }] });
    const have = find(asObserved(desired(IMAGE)), 'ecs-service');
    await REGISTRY['ecs-service'].delete(context({ pollMs: 5 }), have, {});
    expect(ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input).toEqual({
      cluster: 'shop-prod',
      service: 'shop-prod-web',
      desiredCount: 0,
    });
    expect(ecs.commandCalls(DeleteServiceCommand)[0]!.args[0].input).toEqual({
      cluster: 'shop-prod',
      service: 'shop-prod-web',
      force: true,
    });
    expect(ecs.commandCalls(DescribeServicesCommand).length).toBe(2);
  });

  it('delete: a service ECS reports MISSING is gone (not a failure)', async () => {
    const ecs = awsMock(ECSClient);
    ecs.on(DeleteServiceCommand).resolves({});
    ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: 'x', reason: 'MISSING' }] });
    const have = { ...find(asObserved(desired()), 'ecs-service'), desiredCount: 0 };
    await expect(REGISTRY['ecs-service'].delete(context(), have, {})).resolves.toBeUndefined();
  });
});

describe('alarm handler', () => {
  it('create and update: PutMetricAlarm with ARN-suffix dimensions, the topic on alarm and OK, tags', async () => {
    const cw = awsMock(CloudWatchClient);
    cw.on(PutMetricAlarmCommand).resolves({});
    cw.on(DeleteAlarmsCommand).resolves({});
    const alarm = want('alarm', 'shop-prod-web-unhealthy-hosts', ALARMS);
    const expected = {
      AlarmName: 'shop-prod-web-unhealthy-hosts',
      AlarmDescription: 'patchwork: UnHealthyHostCount GreaterThanThreshold 0',
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'UnHealthyHostCount',
      Statistic: 'Maximum',
      Dimensions: [
        { Name: 'LoadBalancer', Value: 'app/shop-prod/fedcba9876543210' },
        { Name: 'TargetGroup', Value: 'targetgroup/shop-prod-web/0123456789abcdef' },
      ],
      Period: 60,
      EvaluationPeriods: 2,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: ['arn:aws:sns:eu-west-1:123456789012:ops'],
      OKActions: ['arn:aws:sns:eu-west-1:123456789012:ops'],
      Tags: SVC_TAGS,
    };
    await REGISTRY.alarm.create(context(), alarm);
    const c = updateOf(
      'alarm',
      (have) => {
        have.threshold = 3;
      },
      ALARMS,
      'shop-prod-web-unhealthy-hosts',
    );
    await runUpdate('alarm', c);
    expect(cw.commandCalls(PutMetricAlarmCommand).map((x) => x.args[0].input)).toEqual([expected, expected]);
  });
});

describe('state-table handler', () => {
  it('create: pk/sk on demand with tags, waits until ACTIVE (SDK waiter), then point-in-time recovery', async () => {
    const ddb = awsMock(DynamoDBClient);
    ddb.on(CreateTableCommand).resolves({});
    ddb
      .on(DescribeTableCommand)
      .resolvesOnce({ Table: { TableStatus: 'CREATING' } })
      .resolves({ Table: { TableStatus: 'ACTIVE' } });
    ddb.on(UpdateContinuousBackupsCommand).resolves({});
    await REGISTRY['state-table'].create(context({ pollMs: 5 }), want('state-table'));
    expect(ddb.commandCalls(CreateTableCommand)[0]!.args[0].input).toEqual({
      TableName: 'shop-prod-patchwork',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      Tags: TAGS,
    });
    expect(ddb.commandCalls(DescribeTableCommand)).toHaveLength(2);
    expect(ddb.commandCalls(UpdateContinuousBackupsCommand)[0]!.args[0].input).toEqual({
      TableName: 'shop-prod-patchwork',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('update: billing mode and recovery, each only when it differs', async () => {
    const ddb = awsMock(DynamoDBClient);
    ddb.on(UpdateTableCommand).resolves({});
    const c = updateOf('state-table', (have) => {
      have.billingMode = 'PROVISIONED' as 'PAY_PER_REQUEST';
    });
    await runUpdate('state-table', c);
    expect(ddb.calls()).toHaveLength(1);
    expect(ddb.commandCalls(UpdateTableCommand)[0]!.args[0].input).toEqual({
      TableName: 'shop-prod-patchwork',
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('a table that never becomes ACTIVE: the waiter times out as PW_TIMEOUT (exit 4), not PW_UNEXPECTED', async () => {
    const ddb = awsMock(DynamoDBClient);
    ddb.on(CreateTableCommand).resolves({});
    ddb.on(DescribeTableCommand).resolves({ Table: { TableStatus: 'CREATING' } });
    const err = await REGISTRY['state-table']
      .create(context({ pollMs: 10, waitMs: 60 }), want('state-table'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PatchworkError);
    expect(err).toMatchObject({ code: 'PW_TIMEOUT', exitCode: 4 });
    expect((err as Error).message).toBe('timed out waiting for table shop-prod-patchwork');
  });
});

describe('waiter outcomes', () => {
  it('SUCCESS returns; TIMEOUT is PW_TIMEOUT; FAILURE is PW_AWS_ERROR unless it means gone', () => {
    expect(() => settled('x', { state: 'SUCCESS' })).not.toThrow();
    expect(() => settled('x', { state: 'TIMEOUT' })).toThrow(
      expect.objectContaining({ code: 'PW_TIMEOUT', exitCode: 4 }),
    );
    expect(() => settled('x', { state: 'FAILURE' })).toThrow(expect.objectContaining({ code: 'PW_AWS_ERROR' }));
    expect(() => settled('x', { state: 'FAILURE', reason: 'gone' }, (r) => r === 'gone')).not.toThrow();
  });
});

describe('one container builder for bootstrap and deploy', () => {
  const yaml = ONE_SERVICE.replace(
    '    healthCheck: { path: /healthz }',
    `    healthCheck: { path: /healthz, command: ["/app/web", "-healthcheck"] }
    env: { ZED: "1", ALPHA: "2" }`,
  ).replace('build: { context: . }', 'build: { context: ., platform: linux/arm64 }');

  it('the same container (env sorted, health check timings, log stream prefix) and platform from both', async () => {
    const ecs = awsMock(ECSClient);
    ecs.on(DescribeTaskDefinitionCommand).rejects(Object.assign(new Error('none'), { name: 'ClientException' }));
    ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: 'arn:td:1' } });
    ecs.on(CreateServiceCommand).resolves({});
    await REGISTRY['ecs-service'].create(context(), want('ecs-service', undefined, yaml));
    const boot = ecs.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input;
    const t = target(yaml);
    const digest = `sha256:${'a'.repeat(64)}`;
    const image = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-prod-web@${digest}`;
    const base: TaskDefinition = { ...boot };
    const release = deriveTaskDefinition(t, t.services[0]!, base, {
      image,
      sha: 'abc',
      deployer: 'arn:aws:iam::123456789012:user/dev',
      time: '2026-01-01T00:00:00Z',
    });
    const container = boot.containerDefinitions![0]!;
    expect(container.environment).toEqual([
      { name: 'ALPHA', value: '2' },
      { name: 'ZED', value: '1' },
    ]);
    expect(container.healthCheck).toEqual({
      command: ['CMD', '/app/web', '-healthcheck'],
      interval: 15,
      timeout: 5,
      retries: 3,
      startPeriod: 30,
    });
    expect(release.containerDefinitions).toEqual([{ ...container, image }]);
    expect(release.runtimePlatform).toEqual({ cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' });
    expect(boot.runtimePlatform).toEqual({ cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' });
  });

  it('no build (image:) and linux/amd64 are X86_64', () => {
    for (const yaml of [
      IMAGE,
      ONE_SERVICE.replace('build: { context: . }', 'build: { context: ., platform: linux/amd64 }'),
    ])
      expect(want('ecs-service', undefined, yaml).runtimePlatform).toEqual({
        cpuArchitecture: 'X86_64',
        operatingSystemFamily: 'LINUX',
      });
  });
});
