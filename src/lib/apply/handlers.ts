/**
 * One handler per resource kind: create (with tags, atomically where AWS allows), update (only
 * what differs) and delete. Every handler is idempotent against a rerun after a crash, because the
 * planner only asks to create what observe did not find by name.
 */
import {
  DeleteScalingPolicyCommand,
  DeregisterScalableTargetCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DeleteAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateLogGroupCommand,
  DeleteLogGroupCommand,
  DeleteRetentionPolicyCommand,
  TagResourceCommand as LogsTagResource,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateTableCommand,
  TagResourceCommand as DdbTagResource,
  DeleteTableCommand,
  DescribeTableCommand,
  UpdateContinuousBackupsCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  type IpPermission,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  TagResourceCommand as EcrTagResource,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  PutLifecyclePolicyCommand,
} from '@aws-sdk/client-ecr';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeleteClusterCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  TagResourceCommand as EcsTagResource,
  RegisterTaskDefinitionCommand,
  UpdateClusterSettingsCommand,
  UpdateServiceCommand,
  type UpdateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import {
  type Action,
  AddTagsCommand,
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteListenerCommand,
  DeleteLoadBalancerCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  ModifyListenerCommand,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  type RuleCondition,
  SetRulePrioritiesCommand,
  SetSecurityGroupsCommand,
  SetSubnetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  TagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { isAwsError } from '../aws/errors.js';
import { canonicalJson, type ResourceOf, type SgRule } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import { arnSuffix, type ObservedResource } from '../observe/index.js';
import type { FieldDiff, PlannedChange } from '../plan/index.js';
import { type ApplyContext, lbArn, retryOn, sgId, tagList, tagListLower, tgArn, waitUntil } from './context.js';

type Obs<K extends ObservedResource['kind']> = Extract<ObservedResource, { kind: K }>;
const changed = (diff: FieldDiff[] | undefined, field: string) =>
  (diff ?? []).some((d) => d.field === field || d.field.startsWith(`${field}.`));
const hasTagDiff = (diff: FieldDiff[] | undefined) => (diff ?? []).some((d) => d.field.startsWith('tags.'));

export interface Handler<K extends ObservedResource['kind']> {
  create(ctx: ApplyContext, want: ResourceOf<K>): Promise<void>;
  update(ctx: ApplyContext, want: ResourceOf<K>, have: Obs<K>, diff: FieldDiff[]): Promise<void>;
  delete(ctx: ApplyContext, have: Obs<K>, opts: DeleteOptions): Promise<void>;
}

export interface DeleteOptions {
  /** destroy --delete-images: delete ECR repositories that still hold images. */
  deleteImages?: boolean;
}

function refuse(what: string, why: string): never {
  throw new PatchworkError('PW_CONFLICT', `${what}: ${why}`, {
    hint: 'patchwork will not delete data it holds; move or delete it yourself, then run provision again',
  });
}

const stateTable: Handler<'state-table'> = {
  async create(ctx, want) {
    const ddb = await ctx.aws.get('dynamodb');
    await ddb
      .send(
        new CreateTableCommand({
          TableName: want.name,
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          BillingMode: want.billingMode,
          Tags: tagList(want.tags),
        }),
      )
      .catch(ignore('ResourceInUseException'));
    await waitUntil(ctx, `table ${want.name}`, async () => {
      const t = await ddb.send(new DescribeTableCommand({ TableName: want.name }));
      return t.Table?.TableStatus === 'ACTIVE';
    });
    await retryOn(ctx, ['ContinuousBackupsUnavailableException'], () =>
      ddb.send(
        new UpdateContinuousBackupsCommand({
          TableName: want.name,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: want.pointInTimeRecovery },
        }),
      ),
    );
  },
  async update(ctx, want, have, diff) {
    const ddb = await ctx.aws.get('dynamodb');
    if (changed(diff, 'billingMode'))
      await ddb.send(new UpdateTableCommand({ TableName: want.name, BillingMode: want.billingMode }));
    if (changed(diff, 'pointInTimeRecovery')) {
      await ddb.send(
        new UpdateContinuousBackupsCommand({
          TableName: want.name,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: want.pointInTimeRecovery },
        }),
      );
    }
    if (hasTagDiff(diff)) await ddb.send(new DdbTagResource({ ResourceArn: have.id, Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ddb = await ctx.aws.get('dynamodb');
    await ddb.send(new DeleteTableCommand({ TableName: have.name })).catch(ignore('ResourceNotFoundException'));
  },
};

const ecrRepository: Handler<'ecr-repository'> = {
  async create(ctx, want) {
    const ecr = await ctx.aws.get('ecr');
    await ecr
      .send(
        new CreateRepositoryCommand({
          repositoryName: want.name,
          imageTagMutability: want.tagMutability,
          imageScanningConfiguration: { scanOnPush: want.scanOnPush },
          encryptionConfiguration: { encryptionType: want.encryption as 'AES256' },
          tags: tagList(want.tags),
        }),
      )
      .catch(ignore('RepositoryAlreadyExistsException'));
    if (want.lifecyclePolicy)
      await ecr.send(
        new PutLifecyclePolicyCommand({ repositoryName: want.name, lifecyclePolicyText: want.lifecyclePolicy }),
      );
  },
  async update(ctx, want, have, diff) {
    const ecr = await ctx.aws.get('ecr');
    if (changed(diff, 'tagMutability'))
      await ecr.send(
        new PutImageTagMutabilityCommand({ repositoryName: want.name, imageTagMutability: want.tagMutability }),
      );
    if (changed(diff, 'scanOnPush')) {
      await ecr.send(
        new PutImageScanningConfigurationCommand({
          repositoryName: want.name,
          imageScanningConfiguration: { scanOnPush: want.scanOnPush },
        }),
      );
    }
    if (changed(diff, 'lifecyclePolicy') && want.lifecyclePolicy)
      await ecr.send(
        new PutLifecyclePolicyCommand({ repositoryName: want.name, lifecyclePolicyText: want.lifecyclePolicy }),
      );
    if (hasTagDiff(diff)) await ecr.send(new EcrTagResource({ resourceArn: have.id, tags: tagList(want.tags) }));
  },
  async delete(ctx, have, opts) {
    const ecr = await ctx.aws.get('ecr');
    await ecr
      .send(new DeleteRepositoryCommand({ repositoryName: have.name, force: !!opts.deleteImages }))
      .catch(ignore('RepositoryNotFoundException'));
  },
};

const logGroup: Handler<'log-group'> = {
  async create(ctx, want) {
    const logs = await ctx.aws.get('logs');
    await logs
      .send(new CreateLogGroupCommand({ logGroupName: want.name, tags: want.tags }))
      .catch(ignore('ResourceAlreadyExistsException'));
    if (want.retentionDays)
      await logs.send(new PutRetentionPolicyCommand({ logGroupName: want.name, retentionInDays: want.retentionDays }));
  },
  async update(ctx, want, have, diff) {
    const logs = await ctx.aws.get('logs');
    if (changed(diff, 'retentionDays')) {
      if (want.retentionDays)
        await logs.send(
          new PutRetentionPolicyCommand({ logGroupName: want.name, retentionInDays: want.retentionDays }),
        );
      else await logs.send(new DeleteRetentionPolicyCommand({ logGroupName: want.name }));
    }
    if (hasTagDiff(diff)) await logs.send(new LogsTagResource({ resourceArn: have.id, tags: want.tags }));
  },
  async delete(ctx, have) {
    const logs = await ctx.aws.get('logs');
    await logs.send(new DeleteLogGroupCommand({ logGroupName: have.name })).catch(ignore('ResourceNotFoundException'));
  },
};

function trustDocument(service: string): string {
  return canonicalJson({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
}

const iamRole: Handler<'iam-role'> = {
  async create(ctx, want) {
    const iam = await ctx.aws.get('iam');
    await iam
      .send(
        new CreateRoleCommand({
          RoleName: want.name,
          AssumeRolePolicyDocument: trustDocument(want.trustService),
          Description: `patchwork ${want.role} role`,
          Tags: tagList(want.tags),
        }),
      )
      .catch(ignore('EntityAlreadyExists', 'EntityAlreadyExistsException'));
    if (want.inlinePolicy) {
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: want.name,
          PolicyName: want.inlinePolicy.name,
          PolicyDocument: want.inlinePolicy.document,
        }),
      );
    }
    for (const arn of want.managedPolicyArns)
      await iam.send(new AttachRolePolicyCommand({ RoleName: want.name, PolicyArn: arn }));
  },
  async update(ctx, want, have, diff) {
    const iam = await ctx.aws.get('iam');
    if (changed(diff, 'trustService')) {
      await iam.send(
        new UpdateAssumeRolePolicyCommand({ RoleName: want.name, PolicyDocument: trustDocument(want.trustService) }),
      );
    }
    if (changed(diff, 'inlinePolicy') && want.inlinePolicy) {
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: want.name,
          PolicyName: want.inlinePolicy.name,
          PolicyDocument: want.inlinePolicy.document,
        }),
      );
    }
    if (changed(diff, 'managedPolicyArns')) {
      for (const arn of want.managedPolicyArns.filter((a) => !have.managedPolicyArns.includes(a)))
        await iam.send(new AttachRolePolicyCommand({ RoleName: want.name, PolicyArn: arn }));
      for (const arn of have.managedPolicyArns.filter((a) => !want.managedPolicyArns.includes(a)))
        await iam.send(new DetachRolePolicyCommand({ RoleName: want.name, PolicyArn: arn }));
    }
    if (hasTagDiff(diff)) await iam.send(new TagRoleCommand({ RoleName: want.name, Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const iam = await ctx.aws.get('iam');
    const gone = ignore('NoSuchEntity', 'NoSuchEntityException');
    const [attached, inline] = await Promise.all([
      iam.send(new ListAttachedRolePoliciesCommand({ RoleName: have.name })).catch(gone),
      iam.send(new ListRolePoliciesCommand({ RoleName: have.name })).catch(gone),
    ]);
    for (const p of attached?.AttachedPolicies ?? [])
      await iam.send(new DetachRolePolicyCommand({ RoleName: have.name, PolicyArn: p.PolicyArn })).catch(gone);
    for (const name of inline?.PolicyNames ?? [])
      await iam.send(new DeleteRolePolicyCommand({ RoleName: have.name, PolicyName: name })).catch(gone);
    await iam.send(new DeleteRoleCommand({ RoleName: have.name })).catch(gone);
  },
};

const ecsCluster: Handler<'ecs-cluster'> = {
  async create(ctx, want) {
    const ecs = await ctx.aws.get('ecs');
    await ecs.send(
      new CreateClusterCommand({
        clusterName: want.name,
        settings: [{ name: 'containerInsights', value: want.containerInsights }],
        tags: tagListLower(want.tags),
      }),
    );
  },
  async update(ctx, want, have, diff) {
    const ecs = await ctx.aws.get('ecs');
    if (changed(diff, 'containerInsights')) {
      await ecs.send(
        new UpdateClusterSettingsCommand({
          cluster: want.name,
          settings: [{ name: 'containerInsights', value: want.containerInsights }],
        }),
      );
    }
    if (hasTagDiff(diff)) await ecs.send(new EcsTagResource({ resourceArn: have.id, tags: tagListLower(want.tags) }));
  },
  async delete(ctx, have) {
    const ecs = await ctx.aws.get('ecs');
    await retryOn(ctx, ['ClusterContainsServicesException', 'ClusterContainsTasksException'], () =>
      ecs.send(new DeleteClusterCommand({ cluster: have.name })),
    ).catch(ignore('ClusterNotFoundException'));
  },
};

const ruleKey = (r: SgRule) => canonicalJson(r);
function permission(ctx: ApplyContext, r: SgRule): IpPermission {
  const p: IpPermission = { IpProtocol: r.protocol };
  if (r.protocol !== '-1') {
    p.FromPort = r.fromPort;
    p.ToPort = r.toPort;
  }
  if (r.sourceGroup) p.UserIdGroupPairs = [{ GroupId: sgId(ctx, r.sourceGroup) }];
  else if (r.cidr?.startsWith('pl-')) p.PrefixListIds = [{ PrefixListId: r.cidr }];
  else if (r.cidr?.includes(':')) p.Ipv6Ranges = [{ CidrIpv6: r.cidr }];
  else p.IpRanges = [{ CidrIp: r.cidr }];
  return p;
}

const securityGroup: Handler<'security-group'> = {
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const groupId = await ec2
      .send(
        new CreateSecurityGroupCommand({
          GroupName: want.name,
          Description: want.description,
          VpcId: want.vpcId,
          TagSpecifications: [{ ResourceType: 'security-group', Tags: tagList(want.tags) }],
        }),
      )
      .then(
        (out) => out.GroupId!,
        ifExists(['InvalidGroup.Duplicate'], async () => {
          const found = await ec2.send(
            new DescribeSecurityGroupsCommand({
              Filters: [
                { Name: 'group-name', Values: [want.name] },
                { Name: 'vpc-id', Values: [want.vpcId] },
              ],
            }),
          );
          return found.SecurityGroups?.[0]?.GroupId;
        }),
      );
    ctx.ids.securityGroups.set(want.name, groupId);
    if (want.ingress.length) {
      await ec2
        .send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: want.ingress.map((r) => permission(ctx, r)),
          }),
        )
        .catch(ignore('InvalidPermission.Duplicate'));
    }
  },
  async update(ctx, want, have, diff) {
    const ec2 = await ctx.aws.get('ec2');
    if (changed(diff, 'ingress')) {
      const haveKeys = new Set(have.ingress.map(ruleKey));
      const wantKeys = new Set(want.ingress.map(ruleKey));
      const revoke = have.ingress.filter((r) => !wantKeys.has(ruleKey(r)));
      const add = want.ingress.filter((r) => !haveKeys.has(ruleKey(r)));
      if (revoke.length) {
        await ec2.send(
          new RevokeSecurityGroupIngressCommand({
            GroupId: have.id,
            IpPermissions: revoke.map((r) => permission(ctx, r)),
          }),
        );
      }
      if (add.length) {
        await ec2
          .send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: have.id,
              IpPermissions: add.map((r) => permission(ctx, r)),
            }),
          )
          .catch(ignore('InvalidPermission.Duplicate'));
      }
    }
    if (hasTagDiff(diff)) await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    // Network interfaces of a deleted load balancer or tasks linger for a while.
    await retryOn(ctx, ['DependencyViolation', 'InvalidGroup.InUse'], () =>
      ec2.send(new DeleteSecurityGroupCommand({ GroupId: have.id })),
    ).catch(ignore('InvalidGroup.NotFound'));
  },
};

const loadBalancer: Handler<'load-balancer'> = {
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const arn = await elb
      .send(
        new CreateLoadBalancerCommand({
          Name: want.name,
          Subnets: want.subnets,
          SecurityGroups: want.securityGroups.map((g) => sgId(ctx, g)),
          Scheme: want.scheme,
          Type: want.type,
          Tags: tagList(want.tags),
        }),
      )
      .then(
        (out) => out.LoadBalancers![0]!.LoadBalancerArn!,
        ifExists(['DuplicateLoadBalancerName', 'DuplicateLoadBalancerNameException'], async () => {
          const found = await elb.send(new DescribeLoadBalancersCommand({ Names: [want.name] }));
          return found.LoadBalancers?.[0]?.LoadBalancerArn;
        }),
      );
    ctx.ids.loadBalancers.set(want.name, arn);
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (changed(diff, 'subnets'))
      await elb.send(new SetSubnetsCommand({ LoadBalancerArn: have.id, Subnets: want.subnets }));
    if (changed(diff, 'securityGroups')) {
      await elb.send(
        new SetSecurityGroupsCommand({
          LoadBalancerArn: have.id,
          SecurityGroups: want.securityGroups.map((g) => sgId(ctx, g)),
        }),
      );
    }
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: have.id }));
    ctx.ids.loadBalancers.delete(have.name);
    for (const [port] of ctx.ids.listeners) ctx.ids.listeners.delete(port);
    await waitUntil(ctx, `load balancer ${have.name} to be deleted`, async () => {
      const out = await elb
        .send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [have.id] }))
        .catch(ignore('LoadBalancerNotFoundException'));
      return !out?.LoadBalancers?.length;
    });
  },
};

function healthCheckInput(want: ResourceOf<'target-group'>) {
  const hc = want.healthCheck;
  return {
    HealthCheckProtocol: hc.protocol as 'HTTP',
    HealthCheckPort: hc.port,
    HealthCheckPath: hc.path,
    HealthCheckIntervalSeconds: hc.intervalSeconds,
    HealthCheckTimeoutSeconds: hc.timeoutSeconds,
    HealthyThresholdCount: hc.healthyThreshold,
    UnhealthyThresholdCount: hc.unhealthyThreshold,
    Matcher: { HttpCode: hc.matcher },
  };
}

const targetGroup: Handler<'target-group'> = {
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const arn = await elb
      .send(
        new CreateTargetGroupCommand({
          Name: want.name,
          Protocol: want.protocol as 'HTTP',
          Port: want.port,
          VpcId: want.vpcId,
          TargetType: want.targetType as 'ip',
          HealthCheckEnabled: true,
          ...healthCheckInput(want),
          Tags: tagList(want.tags),
        }),
      )
      .then(
        (out) => out.TargetGroups![0]!.TargetGroupArn!,
        ifExists(['DuplicateTargetGroupName', 'DuplicateTargetGroupNameException'], async () => {
          const found = await elb.send(new DescribeTargetGroupsCommand({ Names: [want.name] }));
          return found.TargetGroups?.[0]?.TargetGroupArn;
        }),
      );
    ctx.ids.targetGroups.set(want.name, arn);
    await elb.send(
      new ModifyTargetGroupAttributesCommand({
        TargetGroupArn: arn,
        Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(want.deregistrationDelaySeconds) }],
      }),
    );
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (changed(diff, 'healthCheck'))
      await elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: have.id, ...healthCheckInput(want) }));
    if (changed(diff, 'deregistrationDelaySeconds')) {
      await elb.send(
        new ModifyTargetGroupAttributesCommand({
          TargetGroupArn: have.id,
          Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(want.deregistrationDelaySeconds) }],
        }),
      );
    }
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await retryOn(ctx, ['ResourceInUse', 'ResourceInUseException'], () =>
      elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: have.id })),
    ).catch(ignore('TargetGroupNotFound', 'TargetGroupNotFoundException'));
    ctx.ids.targetGroups.delete(have.name);
  },
};

function actionInput(ctx: ApplyContext, a: ResourceOf<'listener'>['defaultAction']): Action {
  if (a.type === 'redirect')
    return {
      Type: 'redirect',
      RedirectConfig: { Protocol: a.protocol, Port: a.port, StatusCode: a.statusCode as 'HTTP_301' },
    };
  if (a.type === 'fixed-response') {
    return {
      Type: 'fixed-response',
      FixedResponseConfig: { StatusCode: a.statusCode, ContentType: a.contentType, MessageBody: a.body },
    };
  }
  return { Type: 'forward', TargetGroupArn: tgArn(ctx, a.targetGroup) };
}

function listenerInput(ctx: ApplyContext, want: ResourceOf<'listener'>) {
  return {
    Port: want.port,
    Protocol: want.protocol,
    ...(want.certificateArn ? { Certificates: [{ CertificateArn: want.certificateArn }] } : {}),
    ...(want.sslPolicy ? { SslPolicy: want.sslPolicy } : {}),
    DefaultActions: [actionInput(ctx, want.defaultAction)],
  };
}

const listener: Handler<'listener'> = {
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const lb = lbArn(ctx, want.name.replace(/:\d+$/, ''));
    const arn = await elb
      .send(new CreateListenerCommand({ LoadBalancerArn: lb, ...listenerInput(ctx, want), Tags: tagList(want.tags) }))
      .then(
        (out) => out.Listeners![0]!.ListenerArn!,
        ifExists(['DuplicateListener', 'DuplicateListenerException'], async () => {
          const found = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb }));
          return found.Listeners?.find((l) => l.Port === want.port)?.ListenerArn;
        }),
      );
    ctx.ids.listeners.set(want.port, arn);
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (diff.some((d) => !d.field.startsWith('tags.')))
      await elb.send(new ModifyListenerCommand({ ListenerArn: have.id, ...listenerInput(ctx, want) }));
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await elb
      .send(new DeleteListenerCommand({ ListenerArn: have.id }))
      .catch(ignore('ListenerNotFound', 'ListenerNotFoundException'));
    ctx.ids.listeners.delete(have.port);
  },
};

function conditions(want: ResourceOf<'listener-rule'>): RuleCondition[] {
  const out: RuleCondition[] = [{ Field: 'path-pattern', PathPatternConfig: { Values: want.paths } }];
  if (want.hosts) out.push({ Field: 'host-header', HostHeaderConfig: { Values: want.hosts } });
  return out;
}

const listenerRule: Handler<'listener-rule'> = {
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const listenerArn = ctx.ids.listeners.get(want.listenerPort);
    if (!listenerArn)
      throw new PatchworkError('PW_UNEXPECTED', `listener on port ${want.listenerPort} does not exist yet`);
    const targetGroupArn = tgArn(ctx, want.targetGroup);
    await elb
      .send(
        new CreateRuleCommand({
          ListenerArn: listenerArn,
          Priority: want.priority,
          Conditions: conditions(want),
          Actions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }],
          Tags: tagList(want.tags),
        }),
      )
      .then(
        () => 'created',
        // Our own rule at that priority (the create was applied, its answer lost) is success;
        // someone else's rule there is still a conflict.
        ifExists(['PriorityInUse', 'PriorityInUseException'], async () => {
          const found = await elb.send(new DescribeRulesCommand({ ListenerArn: listenerArn }));
          const rule = found.Rules?.find((r) => r.Priority === String(want.priority));
          const ours = rule?.Actions?.some((a) => a.TargetGroupArn === targetGroupArn);
          return ours ? rule?.RuleArn : undefined;
        }),
      );
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (changed(diff, 'priority'))
      await elb.send(new SetRulePrioritiesCommand({ RulePriorities: [{ RuleArn: have.id, Priority: want.priority }] }));
    if (changed(diff, 'paths') || changed(diff, 'hosts') || changed(diff, 'targetGroup')) {
      await elb.send(
        new ModifyRuleCommand({
          RuleArn: have.id,
          Conditions: conditions(want),
          Actions: [{ Type: 'forward', TargetGroupArn: tgArn(ctx, want.targetGroup) }],
        }),
      );
    }
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await elb.send(new DeleteRuleCommand({ RuleArn: have.id })).catch(ignore('RuleNotFound', 'RuleNotFoundException'));
  },
};

/** Registers the bootstrap task definition, or reuses the family's latest revision (a rerun after a crash). */
async function bootstrapTaskDefinition(ctx: ApplyContext, want: ResourceOf<'ecs-service'>): Promise<string> {
  const ecs = await ctx.aws.get('ecs');
  const b = want.bootstrap!;
  const existing = await ecs
    .send(new DescribeTaskDefinitionCommand({ taskDefinition: b.family }))
    .catch(ignore('ClientException', 'InvalidParameterException'));
  const td = existing?.taskDefinition;
  if (td?.status === 'ACTIVE' && td.taskDefinitionArn) return td.taskDefinitionArn;
  const out = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: b.family,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(b.cpu),
      memory: String(b.memory),
      executionRoleArn: b.executionRole,
      taskRoleArn: b.taskRole,
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
      containerDefinitions: [
        {
          name: want.loadBalancer.containerName,
          image: b.image,
          essential: true,
          portMappings: [{ containerPort: want.loadBalancer.containerPort, protocol: 'tcp' }],
          environment: Object.entries(b.env).map(([name, value]) => ({ name, value })),
          secrets: Object.entries(b.secrets).map(([name, valueFrom]) => ({ name, valueFrom })),
          readonlyRootFilesystem: b.readonlyRootFilesystem,
          user: b.user,
          ...(b.command ? { command: b.command } : {}),
          ...(b.healthCommand ? { healthCheck: { command: ['CMD', ...b.healthCommand] } } : {}),
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': b.logGroup,
              'awslogs-region': ctx.region,
              'awslogs-stream-prefix': want.service ?? 'app',
            },
          },
        },
      ],
      tags: tagListLower({ ...want.tags, 'patchwork:bootstrap': b.placeholder ? 'placeholder' : 'image' }),
    }),
  );
  return out.taskDefinition!.taskDefinitionArn!;
}

function serviceShape(ctx: ApplyContext, want: ResourceOf<'ecs-service'>) {
  return {
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: want.subnets,
        securityGroups: want.securityGroups.map((g) => sgId(ctx, g)),
        assignPublicIp: want.assignPublicIp,
      },
    },
    loadBalancers: [
      {
        targetGroupArn: tgArn(ctx, want.loadBalancer.targetGroup),
        containerName: want.loadBalancer.containerName,
        containerPort: want.loadBalancer.containerPort,
      },
    ],
    deploymentConfiguration: {
      minimumHealthyPercent: want.deployment.minimumHealthyPercent,
      maximumPercent: want.deployment.maximumPercent,
      deploymentCircuitBreaker: { enable: want.deployment.circuitBreaker, rollback: want.deployment.rollback },
    },
    healthCheckGracePeriodSeconds: want.healthCheckGracePeriodSeconds,
    enableExecuteCommand: want.enableExecuteCommand,
    propagateTags: want.propagateTags as 'SERVICE',
  };
}

const ecsService: Handler<'ecs-service'> = {
  async create(ctx, want) {
    const ecs = await ctx.aws.get('ecs');
    const taskDefinition = await bootstrapTaskDefinition(ctx, want);
    await ecs
      .send(
        new CreateServiceCommand({
          cluster: want.cluster,
          serviceName: want.name,
          taskDefinition,
          desiredCount: want.bootstrap?.placeholder ? 0 : want.desiredCount,
          launchType: 'FARGATE',
          schedulingStrategy: 'REPLICA',
          enableECSManagedTags: true,
          ...serviceShape(ctx, want),
          tags: tagListLower(want.tags),
        }),
      )
      .then(
        () => 'created',
        // ECS answers a second CreateService for an ACTIVE service "Creation of service was not idempotent".
        ifExists(['InvalidParameterException'], async (err) => {
          if (!/not idempotent|already exists/i.test((err as Error).message ?? '')) return undefined;
          const found = await ecs.send(new DescribeServicesCommand({ cluster: want.cluster, services: [want.name] }));
          return found.services?.find((s) => s.status === 'ACTIVE')?.serviceArn;
        }),
      );
  },
  async update(ctx, want, have, diff) {
    const ecs = await ctx.aws.get('ecs');
    const shape = serviceShape(ctx, want);
    const input: UpdateServiceCommandInput = { cluster: want.cluster, service: want.name };
    const count = diff.find((d) => d.field === 'desiredCount');
    if (count) input.desiredCount = count.to as number;
    if (changed(diff, 'subnets') || changed(diff, 'securityGroups') || changed(diff, 'assignPublicIp'))
      input.networkConfiguration = shape.networkConfiguration;
    if (changed(diff, 'loadBalancer')) input.loadBalancers = shape.loadBalancers;
    if (changed(diff, 'deployment')) input.deploymentConfiguration = shape.deploymentConfiguration;
    if (changed(diff, 'healthCheckGracePeriodSeconds'))
      input.healthCheckGracePeriodSeconds = shape.healthCheckGracePeriodSeconds;
    if (changed(diff, 'enableExecuteCommand')) input.enableExecuteCommand = shape.enableExecuteCommand;
    if (changed(diff, 'propagateTags')) input.propagateTags = shape.propagateTags;
    if (Object.keys(input).length > 2) await ecs.send(new UpdateServiceCommand(input));
    if (hasTagDiff(diff)) await ecs.send(new EcsTagResource({ resourceArn: have.id, tags: tagListLower(want.tags) }));
  },
  async delete(ctx, have) {
    const ecs = await ctx.aws.get('ecs');
    const gone = ignore('ServiceNotFoundException', 'ServiceNotActiveException', 'ClusterNotFoundException');
    if (have.desiredCount > 0)
      await ecs
        .send(new UpdateServiceCommand({ cluster: have.cluster, service: have.name, desiredCount: 0 }))
        .catch(gone);
    await ecs.send(new DeleteServiceCommand({ cluster: have.cluster, service: have.name, force: true })).catch(gone);
    await waitUntil(ctx, `service ${have.name} to drain`, async () => {
      const out = await ecs
        .send(new DescribeServicesCommand({ cluster: have.cluster, services: [have.name] }))
        .catch(ignore('ClusterNotFoundException'));
      return !(out?.services ?? []).some((s) => s.status === 'ACTIVE' || s.status === 'DRAINING');
    });
  },
};

const scalableTarget: Handler<'scalable-target'> = {
  async create(ctx, want) {
    const aas = await ctx.aws.get('autoscaling');
    await aas.send(
      new RegisterScalableTargetCommand({
        ServiceNamespace: 'ecs',
        ResourceId: want.resourceId,
        ScalableDimension: 'ecs:service:DesiredCount',
        MinCapacity: want.min,
        MaxCapacity: want.max,
        Tags: want.tags,
      }),
    );
  },
  async update(ctx, want, _have, diff) {
    if (!diff.some((d) => d.field === 'min' || d.field === 'max')) return;
    const aas = await ctx.aws.get('autoscaling');
    await aas.send(
      new RegisterScalableTargetCommand({
        ServiceNamespace: 'ecs',
        ResourceId: want.resourceId,
        ScalableDimension: 'ecs:service:DesiredCount',
        MinCapacity: want.min,
        MaxCapacity: want.max,
      }),
    );
  },
  async delete(ctx, have) {
    const aas = await ctx.aws.get('autoscaling');
    await aas
      .send(
        new DeregisterScalableTargetCommand({
          ServiceNamespace: 'ecs',
          ResourceId: have.resourceId,
          ScalableDimension: 'ecs:service:DesiredCount',
        }),
      )
      .catch(ignore('ObjectNotFoundException'));
  },
};

const putPolicy = async (ctx: ApplyContext, want: ResourceOf<'scaling-policy'>) => {
  const aas = await ctx.aws.get('autoscaling');
  const label = want.resourceLabel
    ? `${arnSuffix(lbArn(ctx, want.resourceLabel.loadBalancer))}/${arnSuffix(tgArn(ctx, want.resourceLabel.targetGroup))}`
    : undefined;
  await aas.send(
    new PutScalingPolicyCommand({
      PolicyName: want.name,
      ServiceNamespace: 'ecs',
      ResourceId: want.resourceId,
      ScalableDimension: 'ecs:service:DesiredCount',
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: want.targetValue,
        PredefinedMetricSpecification: {
          PredefinedMetricType: want.metric,
          ...(label ? { ResourceLabel: label } : {}),
        },
        ScaleInCooldown: want.scaleInCooldownSeconds,
        ScaleOutCooldown: want.scaleOutCooldownSeconds,
      },
    }),
  );
};

const scalingPolicy: Handler<'scaling-policy'> = {
  create: putPolicy,
  update: (ctx, want) => putPolicy(ctx, want),
  async delete(ctx, have) {
    const aas = await ctx.aws.get('autoscaling');
    await aas
      .send(
        new DeleteScalingPolicyCommand({
          PolicyName: have.name,
          ServiceNamespace: 'ecs',
          ResourceId: have.resourceId,
          ScalableDimension: 'ecs:service:DesiredCount',
        }),
      )
      .catch(ignore('ObjectNotFoundException'));
  },
};

const putAlarm = async (ctx: ApplyContext, want: ResourceOf<'alarm'>) => {
  const cw = await ctx.aws.get('cloudwatch');
  const dims = Object.entries(want.dimensions).map(([Name, v]) => ({
    Name,
    Value: Name === 'LoadBalancer' ? arnSuffix(lbArn(ctx, v)) : Name === 'TargetGroup' ? arnSuffix(tgArn(ctx, v)) : v,
  }));
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: want.name,
      AlarmDescription: `patchwork: ${want.metricName} ${want.comparison} ${want.threshold}`,
      Namespace: want.namespace,
      MetricName: want.metricName,
      Statistic: want.statistic as 'Sum',
      Dimensions: dims,
      Period: want.periodSeconds,
      EvaluationPeriods: want.evaluationPeriods,
      Threshold: want.threshold,
      ComparisonOperator: want.comparison as 'GreaterThanThreshold',
      TreatMissingData: want.treatMissingData,
      AlarmActions: want.actions,
      OKActions: want.actions,
      Tags: tagList(want.tags),
    }),
  );
};

const alarm: Handler<'alarm'> = {
  create: putAlarm,
  update: (ctx, want) => putAlarm(ctx, want),
  async delete(ctx, have) {
    const cw = await ctx.aws.get('cloudwatch');
    await cw.send(new DeleteAlarmsCommand({ AlarmNames: [have.name] }));
  },
};

export const HANDLERS: { [K in ObservedResource['kind']]: Handler<K> } = {
  'state-table': stateTable,
  'ecr-repository': ecrRepository,
  'log-group': logGroup,
  'iam-role': iamRole,
  'ecs-cluster': ecsCluster,
  'security-group': securityGroup,
  'load-balancer': loadBalancer,
  'target-group': targetGroup,
  listener,
  'listener-rule': listenerRule,
  'ecs-service': ecsService,
  'scalable-target': scalableTarget,
  'scaling-policy': scalingPolicy,
  alarm,
};

/** Kinds whose replacement would destroy data: apply refuses and says what to do. */
export function assertReplaceable(change: PlannedChange): void {
  if (change.kind === 'state-table')
    refuse(`table ${change.name}`, 'its key schema is not pk/sk strings and it may hold release history');
  if (change.kind === 'ecr-repository')
    refuse(`repository ${change.name}`, 'its encryption cannot change without deleting its images');
}

/**
 * For the rejection of a create: when AWS says the resource already exists (the request was
 * carried out but its answer lost, and the SDK's retry was refused; or a concurrent run made it),
 * `find` looks it up and its id is the result; when `find` finds nothing of ours, the error stands.
 */
function ifExists(names: string[], find: (err: unknown) => Promise<string | undefined>) {
  return async (err: unknown): Promise<string> => {
    if (!isAwsError(err, ...names)) throw err;
    const id = await find(err);
    if (!id) throw err;
    return id;
  };
}

function ignore(...names: string[]) {
  return (err: unknown): undefined => {
    if (isAwsError(err, ...names)) return undefined;
    throw err;
  };
}
