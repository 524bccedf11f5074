/**
 * Observed state: what AWS holds now for the resources desired state names, found by name (and
 * tag), read in parallel, paginated, normalised into the same plain shapes as desired state so the
 * planner can compare them. Read-only.
 */
import {
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { DescribeLogGroupsCommand, ListTagsForResourceCommand as LogsListTags } from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  ListTagsOfResourceCommand,
} from '@aws-sdk/client-dynamodb';
import { DescribeSecurityGroupsCommand, type IpPermission } from '@aws-sdk/client-ec2';
import {
  DescribeRepositoriesCommand,
  ListTagsForResourceCommand as EcrListTags,
  GetLifecyclePolicyCommand,
} from '@aws-sdk/client-ecr';
import { DescribeClustersCommand, DescribeServicesCommand } from '@aws-sdk/client-ecs';
import {
  type Action,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  type TargetGroup as ElbTargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetRoleCommand, GetRolePolicyCommand, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import type { AwsClients } from '../aws/clients.js';
import { isAwsError } from '../aws/errors.js';
import { sortRules } from '../desired/index.js';
import {
  type Alarm,
  canonicalJson,
  type DesiredState,
  type EcsService,
  type Facts,
  type IamRole,
  keyOf,
  type ListenerAction,
  type Resource,
  type ScalingPolicy,
  type SgRule,
  type Tags,
} from '../desired/types.js';

/** An observed resource: the normalised shape plus its AWS id/ARN and facts the planner may need. */
export type ObservedResource = Resource & { id: string; meta?: Record<string, unknown> };

export interface ObservedState {
  facts: Facts;
  /** By `kind/name`. */
  resources: Map<string, ObservedResource>;
  /** Names → AWS ids, for apply to resolve references. */
  ids: {
    securityGroups: Map<string, string>;
    targetGroups: Map<string, string>;
    loadBalancers: Map<string, string>;
    listeners: Map<number, string>;
  };
}

const tagsFrom = (list: { Key?: string; Value?: string; key?: string; value?: string }[] | undefined): Tags =>
  Object.fromEntries((list ?? []).map((t) => [t.Key ?? t.key ?? '', t.Value ?? t.value ?? '']));

async function orNull<T>(p: Promise<T>, ...notFound: string[]): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (isAwsError(err, ...notFound)) return null;
    throw err;
  }
}

function names<K extends Resource['kind']>(desired: DesiredState, kind: K): Extract<Resource, { kind: K }>[] {
  return desired.resources.filter((r): r is Extract<Resource, { kind: K }> => r.kind === kind);
}

/**
 * Reads everything `desired` names (plus what patchwork made that is no longer desired: extra
 * listeners and rules on its load balancer, alarms and scaling policies of its services).
 */
export async function observe(aws: AwsClients, desired: DesiredState, facts: Facts): Promise<ObservedState> {
  const state: ObservedState = {
    facts,
    resources: new Map(),
    ids: { securityGroups: new Map(), targetGroups: new Map(), loadBalancers: new Map(), listeners: new Map() },
  };
  const add = (r: ObservedResource) => {
    let key = keyOf(r);
    for (let i = 2; state.resources.has(key); i++) {
      r.name = `${r.name.replace(/#\d+$/, '')}#${i}`;
      key = keyOf(r);
    }
    state.resources.set(key, r);
  };
  // Security groups first (cheap, one call): the ALB, rules and services refer to them by id.
  await observeSecurityGroups(aws, desired, facts, state, add);
  await Promise.all([
    observeTable(aws, desired, add),
    observeRepositories(aws, desired, add),
    observeLogGroups(aws, desired, add),
    observeRoles(aws, desired, add),
    observeCluster(aws, desired, add),
    observeLoadBalancing(aws, desired, state, add).then(() =>
      Promise.all([observeServices(aws, desired, state, add), observeScaling(aws, desired, state, add)]),
    ),
  ]);
  await observeAlarms(aws, desired, state, add);
  return state;
}

async function observeTable(aws: AwsClients, desired: DesiredState, add: (r: ObservedResource) => void) {
  const [want] = names(desired, 'state-table');
  if (!want) return;
  const ddb = await aws.get('dynamodb');
  const out = await orNull(ddb.send(new DescribeTableCommand({ TableName: want.name })), 'ResourceNotFoundException');
  const t = out?.Table;
  if (!t || t.TableStatus === 'DELETING') return;
  const [pitr, tags] = await Promise.all([
    ddb.send(new DescribeContinuousBackupsCommand({ TableName: want.name })),
    ddb.send(new ListTagsOfResourceCommand({ ResourceArn: t.TableArn })),
  ]);
  const attr = (name: string) => t.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
  const hash = t.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
  const range = t.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
  const keysOk = hash === 'pk' && range === 'sk' && attr('pk') === 'S' && attr('sk') === 'S';
  add({
    kind: 'state-table',
    name: want.name,
    id: t.TableArn ?? want.name,
    tags: tagsFrom(tags.Tags),
    keys: keysOk
      ? { pk: 'S', sk: 'S' }
      : ({ pk: `${hash}:${attr(hash ?? '')}`, sk: `${range}:${attr(range ?? '')}` } as never),
    billingMode: (t.BillingModeSummary?.BillingMode ?? 'PROVISIONED') as 'PAY_PER_REQUEST',
    pointInTimeRecovery:
      pitr.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus === 'ENABLED',
    meta: { status: t.TableStatus },
  });
}

async function observeRepositories(aws: AwsClients, desired: DesiredState, add: (r: ObservedResource) => void) {
  const wanted = new Set(names(desired, 'ecr-repository').map((r) => r.name));
  if (!wanted.size) return;
  const ecr = await aws.get('ecr');
  const repos = [];
  let token: string | undefined;
  do {
    // By name fails as a whole when one is missing, so list (one page for most accounts).
    const out = await ecr.send(new DescribeRepositoriesCommand({ nextToken: token, maxResults: 1000 }));
    repos.push(...(out.repositories ?? []).filter((r) => wanted.has(r.repositoryName ?? '')));
    token = out.nextToken;
  } while (token);
  await Promise.all(
    repos.map(async (repo) => {
      const [policy, tags] = await Promise.all([
        orNull(
          ecr.send(new GetLifecyclePolicyCommand({ repositoryName: repo.repositoryName })),
          'LifecyclePolicyNotFoundException',
        ),
        ecr.send(new EcrListTags({ resourceArn: repo.repositoryArn })),
      ]);
      const svc = names(desired, 'ecr-repository').find((r) => r.name === repo.repositoryName)?.service;
      add({
        kind: 'ecr-repository',
        name: repo.repositoryName!,
        ...(svc ? { service: svc } : {}),
        id: repo.repositoryArn!,
        tags: tagsFrom(tags.tags),
        tagMutability: (repo.imageTagMutability ?? 'MUTABLE') as 'IMMUTABLE',
        scanOnPush: repo.imageScanningConfiguration?.scanOnPush ?? false,
        encryption: repo.encryptionConfiguration?.encryptionType ?? 'AES256',
        lifecyclePolicy: policy?.lifecyclePolicyText ? canonicalJson(JSON.parse(policy.lifecyclePolicyText)) : null,
        meta: { uri: repo.repositoryUri },
      });
    }),
  );
}

async function observeLogGroups(aws: AwsClients, desired: DesiredState, add: (r: ObservedResource) => void) {
  const wanted = names(desired, 'log-group');
  if (!wanted.length) return;
  const logs = await aws.get('logs');
  const prefix = commonPrefix(wanted.map((w) => w.name));
  const groups = [];
  let token: string | undefined;
  do {
    const out = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: prefix, nextToken: token }));
    groups.push(...(out.logGroups ?? []).filter((g) => wanted.some((w) => w.name === g.logGroupName)));
    token = out.nextToken;
  } while (token);
  await Promise.all(
    groups.map(async (g) => {
      const arn = g.logGroupArn ?? g.arn?.replace(/:\*$/, '') ?? '';
      const tags = await logs.send(new LogsListTags({ resourceArn: arn }));
      const svc = wanted.find((w) => w.name === g.logGroupName)?.service;
      add({
        kind: 'log-group',
        name: g.logGroupName!,
        ...(svc ? { service: svc } : {}),
        id: arn,
        tags: tags.tags ?? {},
        retentionDays: g.retentionInDays ?? null,
      });
    }),
  );
}

/** The service of an assume-role trust policy, or the canonical document when it says more than that. */
export function trustServiceOf(document: string | undefined): string {
  if (!document) return '';
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(decodeURIComponent(document));
  } catch {
    return document;
  }
  const st = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  if (st.length === 1) {
    const s = st[0] as { Effect?: string; Action?: unknown; Principal?: { Service?: unknown }; Condition?: unknown };
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
    const svc = s.Principal?.Service;
    const services = Array.isArray(svc) ? svc : [svc];
    if (
      s.Effect === 'Allow' &&
      actions.length === 1 &&
      actions[0] === 'sts:AssumeRole' &&
      services.length === 1 &&
      !s.Condition
    ) {
      return String(services[0]);
    }
  }
  return canonicalJson(doc);
}

async function observeRoles(aws: AwsClients, desired: DesiredState, add: (r: ObservedResource) => void) {
  const wanted = names(desired, 'iam-role');
  if (!wanted.length) return;
  const iam = await aws.get('iam');
  await Promise.all(
    wanted.map(async (w: IamRole) => {
      const got = await orNull(
        iam.send(new GetRoleCommand({ RoleName: w.name })),
        'NoSuchEntity',
        'NoSuchEntityException',
      );
      if (!got?.Role) return;
      const [inline, attached] = await Promise.all([
        w.inlinePolicy
          ? orNull(
              iam.send(new GetRolePolicyCommand({ RoleName: w.name, PolicyName: w.inlinePolicy.name })),
              'NoSuchEntity',
              'NoSuchEntityException',
            )
          : Promise.resolve(null),
        w.role === 'task' ? iam.send(new ListAttachedRolePoliciesCommand({ RoleName: w.name })) : Promise.resolve(null),
      ]);
      add({
        kind: 'iam-role',
        name: w.name,
        ...(w.service ? { service: w.service } : {}),
        id: got.Role.Arn!,
        tags: tagsFrom(got.Role.Tags),
        role: w.role,
        trustService: trustServiceOf(got.Role.AssumeRolePolicyDocument),
        inlinePolicy:
          inline?.PolicyDocument && w.inlinePolicy
            ? {
                name: w.inlinePolicy.name,
                document: canonicalJson(JSON.parse(decodeURIComponent(inline.PolicyDocument))),
              }
            : null,
        // Only the task role's attachments are read (the execution role gets none from patchwork).
        managedPolicyArns: attached
          ? (attached.AttachedPolicies ?? []).map((p) => p.PolicyArn!).sort()
          : [...w.managedPolicyArns],
      });
    }),
  );
}

async function observeCluster(aws: AwsClients, desired: DesiredState, add: (r: ObservedResource) => void) {
  const [want] = names(desired, 'ecs-cluster');
  if (!want) return;
  const ecs = await aws.get('ecs');
  const out = await ecs.send(new DescribeClustersCommand({ clusters: [want.name], include: ['SETTINGS', 'TAGS'] }));
  const c = out.clusters?.find((x) => x.clusterName === want.name && x.status !== 'INACTIVE');
  if (!c) return;
  const insights = c.settings?.find((s) => s.name === 'containerInsights')?.value ?? 'disabled';
  add({
    kind: 'ecs-cluster',
    name: want.name,
    id: c.clusterArn!,
    tags: tagsFrom(c.tags),
    containerInsights: insights as 'enabled',
  });
}

export function rulesFrom(perms: IpPermission[] | undefined, groupNames: Map<string, string>): SgRule[] {
  const rules: SgRule[] = [];
  for (const p of perms ?? []) {
    const base = { protocol: p.IpProtocol ?? '-1', fromPort: p.FromPort ?? -1, toPort: p.ToPort ?? -1 };
    for (const r of p.IpRanges ?? []) rules.push({ ...base, cidr: r.CidrIp! });
    for (const r of p.Ipv6Ranges ?? []) rules.push({ ...base, cidr: r.CidrIpv6! });
    for (const r of p.PrefixListIds ?? []) rules.push({ ...base, cidr: r.PrefixListId! });
    for (const g of p.UserIdGroupPairs ?? [])
      rules.push({ ...base, sourceGroup: groupNames.get(g.GroupId!) ?? g.GroupId! });
  }
  return sortRules(rules);
}

async function observeSecurityGroups(
  aws: AwsClients,
  desired: DesiredState,
  facts: Facts,
  state: ObservedState,
  add: (r: ObservedResource) => void,
) {
  const wanted = names(desired, 'security-group');
  if (!wanted.length) return;
  const ec2 = await aws.get('ec2');
  const out = await ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [
        // No VPC (destroy of an environment whose network is gone): by name and environment tag.
        ...(facts.vpcId
          ? [{ Name: 'vpc-id', Values: [facts.vpcId] }]
          : [{ Name: 'tag:patchwork:env', Values: [wanted[0]!.tags['patchwork:env'] ?? ''] }]),
        { Name: 'group-name', Values: wanted.map((w) => w.name) },
      ],
    }),
  );
  const groups = out.SecurityGroups ?? [];
  const idToName = new Map(groups.map((g) => [g.GroupId!, g.GroupName!]));
  for (const g of groups) {
    state.ids.securityGroups.set(g.GroupName!, g.GroupId!);
    const svc = wanted.find((w) => w.name === g.GroupName)?.service;
    add({
      kind: 'security-group',
      name: g.GroupName!,
      ...(svc ? { service: svc } : {}),
      id: g.GroupId!,
      tags: tagsFrom(g.Tags),
      vpcId: g.VpcId!,
      description: g.Description ?? '',
      ingress: rulesFrom(g.IpPermissions, idToName),
      meta: { ipPermissions: g.IpPermissions ?? [] },
    });
  }
}

/** `app/<name>/<id>` from an ALB ARN; `targetgroup/<name>/<id>` from a target group ARN (CloudWatch dimensions). */
export const arnSuffix = (arn: string): string =>
  arn
    .split(':')
    .slice(5)
    .join(':')
    .replace(/^loadbalancer\//, '');

function actionFrom(actions: Action[] | undefined, tgNames: Map<string, string>): ListenerAction {
  const a = actions?.[0];
  if (a?.Type === 'redirect') {
    return {
      type: 'redirect',
      protocol: a.RedirectConfig?.Protocol ?? '#{protocol}',
      port: a.RedirectConfig?.Port ?? '#{port}',
      statusCode: a.RedirectConfig?.StatusCode ?? '',
    };
  }
  if (a?.Type === 'fixed-response') {
    return {
      type: 'fixed-response',
      statusCode: a.FixedResponseConfig?.StatusCode ?? '',
      contentType: a.FixedResponseConfig?.ContentType ?? '',
      body: a.FixedResponseConfig?.MessageBody ?? '',
    };
  }
  const arn = a?.TargetGroupArn ?? a?.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn ?? '';
  return { type: 'forward', targetGroup: tgNames.get(arn) ?? arn };
}

async function describeTargetGroups(aws: AwsClients, wanted: string[]): Promise<ElbTargetGroup[]> {
  if (!wanted.length) return [];
  const elb = await aws.get('elbv2');
  const batch = await orNull(
    elb.send(new DescribeTargetGroupsCommand({ Names: wanted })),
    'TargetGroupNotFoundException',
  );
  if (batch) return batch.TargetGroups ?? [];
  // One is missing (the whole call fails): ask for each.
  const each = await Promise.all(
    wanted.map((n) =>
      orNull(elb.send(new DescribeTargetGroupsCommand({ Names: [n] })), 'TargetGroupNotFoundException').then(
        (r) => r?.TargetGroups ?? [],
      ),
    ),
  );
  return each.flat();
}

async function observeLoadBalancing(
  aws: AwsClients,
  desired: DesiredState,
  state: ObservedState,
  add: (r: ObservedResource) => void,
) {
  const elb = await aws.get('elbv2');
  const [lbWant] = names(desired, 'load-balancer');
  const tgWanted = names(desired, 'target-group');
  const [lbOut, tgs] = await Promise.all([
    lbWant
      ? orNull(elb.send(new DescribeLoadBalancersCommand({ Names: [lbWant.name] })), 'LoadBalancerNotFoundException')
      : Promise.resolve(null),
    describeTargetGroups(
      aws,
      tgWanted.map((t) => t.name),
    ),
  ]);
  const lb = lbOut?.LoadBalancers?.[0];
  const tgNames = new Map(tgs.map((t) => [t.TargetGroupArn!, t.TargetGroupName!]));
  for (const t of tgs) state.ids.targetGroups.set(t.TargetGroupName!, t.TargetGroupArn!);
  if (lb) state.ids.loadBalancers.set(lb.LoadBalancerName!, lb.LoadBalancerArn!);

  const listeners = lb
    ? ((await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners ?? [])
    : [];
  for (const l of listeners) state.ids.listeners.set(l.Port!, l.ListenerArn!);
  const rulesByListener = await Promise.all(
    listeners.map(async (l) => {
      const rules = [];
      let marker: string | undefined;
      do {
        const out = await elb.send(new DescribeRulesCommand({ ListenerArn: l.ListenerArn, Marker: marker }));
        rules.push(...(out.Rules ?? []).filter((r) => !r.IsDefault));
        marker = out.NextMarker;
      } while (marker);
      return { listener: l, rules };
    }),
  );
  const arns = [
    ...(lb ? [lb.LoadBalancerArn!] : []),
    ...tgs.map((t) => t.TargetGroupArn!),
    ...listeners.map((l) => l.ListenerArn!),
    ...rulesByListener.flatMap((x) => x.rules.map((r) => r.RuleArn!)),
  ];
  const [tagSets, attrs] = await Promise.all([
    Promise.all(chunk(arns, 20).map((c) => elb.send(new DescribeTagsCommand({ ResourceArns: c })))),
    Promise.all(
      tgs.map((t) =>
        elb
          .send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: t.TargetGroupArn }))
          .then((a) => [t.TargetGroupArn!, a.Attributes ?? []] as const),
      ),
    ),
  ]);
  const tagsOf = new Map(
    tagSets.flatMap((s) => s.TagDescriptions ?? []).map((d) => [d.ResourceArn!, tagsFrom(d.Tags)]),
  );
  const sgName = (id: string) => [...state.ids.securityGroups.entries()].find(([, v]) => v === id)?.[0] ?? id;

  if (lb && lbWant) {
    add({
      kind: 'load-balancer',
      name: lb.LoadBalancerName!,
      id: lb.LoadBalancerArn!,
      tags: tagsOf.get(lb.LoadBalancerArn!) ?? {},
      scheme: (lb.Scheme ?? 'internet-facing') as 'internet-facing',
      type: (lb.Type ?? 'application') as 'application',
      subnets: (lb.AvailabilityZones ?? []).map((z) => z.SubnetId!).sort(),
      securityGroups: (lb.SecurityGroups ?? []).map(sgName).sort(),
      meta: { dnsName: lb.DNSName, vpcId: lb.VpcId, state: lb.State?.Code },
    });
  }
  const attrMap = new Map(attrs);
  for (const t of tgs) {
    const delay = attrMap.get(t.TargetGroupArn!)?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
    const svc = tgWanted.find((w) => w.name === t.TargetGroupName)?.service;
    add({
      kind: 'target-group',
      name: t.TargetGroupName!,
      ...(svc ? { service: svc } : {}),
      id: t.TargetGroupArn!,
      tags: tagsOf.get(t.TargetGroupArn!) ?? {},
      vpcId: t.VpcId ?? '',
      protocol: t.Protocol ?? '',
      port: t.Port ?? 0,
      targetType: t.TargetType ?? 'instance',
      healthCheck: {
        protocol: t.HealthCheckProtocol ?? 'HTTP',
        port: t.HealthCheckPort ?? 'traffic-port',
        path: t.HealthCheckPath ?? '/',
        matcher: t.Matcher?.HttpCode ?? '200',
        intervalSeconds: t.HealthCheckIntervalSeconds ?? 30,
        timeoutSeconds: t.HealthCheckTimeoutSeconds ?? 5,
        healthyThreshold: t.HealthyThresholdCount ?? 5,
        unhealthyThreshold: t.UnhealthyThresholdCount ?? 2,
      },
      deregistrationDelaySeconds: Number(delay ?? 300),
      meta: { loadBalancerArns: t.LoadBalancerArns ?? [] },
    });
  }
  const lbName = lbWant?.name ?? '';
  for (const { listener: l, rules } of rulesByListener) {
    add({
      kind: 'listener',
      name: `${lbName}:${l.Port}`,
      id: l.ListenerArn!,
      tags: tagsOf.get(l.ListenerArn!) ?? {},
      port: l.Port!,
      protocol: (l.Protocol ?? 'HTTP') as 'HTTP',
      certificateArn: l.Certificates?.[0]?.CertificateArn ?? null,
      sslPolicy: l.Protocol === 'HTTPS' ? (l.SslPolicy ?? null) : null,
      defaultAction: actionFrom(l.DefaultActions, tgNames),
    });
    for (const r of rules) {
      const action = actionFrom(r.Actions, tgNames);
      const target = action.type === 'forward' ? action.targetGroup : `${action.type}@${r.Priority}`;
      const paths = r.Conditions?.filter((c) => c.Field === 'path-pattern').flatMap(
        (c) => c.PathPatternConfig?.Values ?? c.Values ?? [],
      );
      const hosts = r.Conditions?.filter((c) => c.Field === 'host-header').flatMap(
        (c) => c.HostHeaderConfig?.Values ?? c.Values ?? [],
      );
      const svc = names(desired, 'listener-rule').find((w) => w.name === `${target}:${l.Port}`)?.service;
      add({
        kind: 'listener-rule',
        name: `${target}:${l.Port}`,
        ...(svc ? { service: svc } : {}),
        id: r.RuleArn!,
        tags: tagsOf.get(r.RuleArn!) ?? {},
        listenerPort: l.Port!,
        priority: Number(r.Priority),
        paths: paths ?? [],
        hosts: hosts?.length ? hosts : null,
        targetGroup: target,
      });
    }
  }
}

async function observeServices(
  aws: AwsClients,
  desired: DesiredState,
  state: ObservedState,
  add: (r: ObservedResource) => void,
) {
  const wanted = names(desired, 'ecs-service');
  if (!wanted.length) return;
  const ecs = await aws.get('ecs');
  const cluster = wanted[0]!.cluster;
  const tgName = (arn: string) => [...state.ids.targetGroups.entries()].find(([, v]) => v === arn)?.[0] ?? arn;
  const sgName = (id: string) => [...state.ids.securityGroups.entries()].find(([, v]) => v === id)?.[0] ?? id;
  for (const batch of chunk(wanted, 10)) {
    const out = await orNull(
      ecs.send(new DescribeServicesCommand({ cluster, services: batch.map((w) => w.name), include: ['TAGS'] })),
      'ClusterNotFoundException',
    );
    for (const s of out?.services ?? []) {
      if (s.status !== 'ACTIVE') continue;
      const vpc = s.networkConfiguration?.awsvpcConfiguration;
      const lb = s.loadBalancers?.[0];
      const dc = s.deploymentConfiguration;
      const w = wanted.find((x) => x.name === s.serviceName);
      const family = s.taskDefinition?.split('/').pop()?.replace(/:\d+$/, '') ?? null;
      const observed: EcsService & { id: string; meta?: Record<string, unknown> } = {
        kind: 'ecs-service',
        name: s.serviceName!,
        ...(w?.service ? { service: w.service } : {}),
        id: s.serviceArn!,
        tags: tagsFrom(s.tags),
        cluster,
        launchType: s.launchType ?? (s.capacityProviderStrategy?.length ? 'CAPACITY_PROVIDER' : 'EC2'),
        desiredCount: s.desiredCount ?? 0,
        scaleBounds: w?.scaleBounds ?? null,
        subnets: [...(vpc?.subnets ?? [])].sort(),
        securityGroups: (vpc?.securityGroups ?? []).map(sgName).sort(),
        assignPublicIp: (vpc?.assignPublicIp ?? 'DISABLED') as 'DISABLED',
        loadBalancer: {
          targetGroup: lb?.targetGroupArn ? tgName(lb.targetGroupArn) : '',
          containerName: lb?.containerName ?? '',
          containerPort: lb?.containerPort ?? 0,
        },
        deployment: {
          minimumHealthyPercent: dc?.minimumHealthyPercent ?? 100,
          maximumPercent: dc?.maximumPercent ?? 200,
          circuitBreaker: dc?.deploymentCircuitBreaker?.enable ?? false,
          rollback: dc?.deploymentCircuitBreaker?.rollback ?? false,
        },
        healthCheckGracePeriodSeconds: s.healthCheckGracePeriodSeconds ?? 0,
        enableExecuteCommand: s.enableExecuteCommand ?? false,
        propagateTags: s.propagateTags ?? 'NONE',
        taskFamily: family,
        meta: { taskDefinition: s.taskDefinition, runningCount: s.runningCount },
      };
      add(observed);
    }
  }
}

async function observeScaling(
  aws: AwsClients,
  desired: DesiredState,
  state: ObservedState,
  add: (r: ObservedResource) => void,
) {
  // Scaling of every configured service is read, so policies of switched-off metrics are found too.
  const services = names(desired, 'ecs-service');
  if (!services.length) return;
  const aas = await aws.get('autoscaling');
  const resourceIds = services.map((s) => `service/${s.cluster}/${s.name}`);
  const policyNames = services.flatMap((s) => [`${s.name}-cpu`, `${s.name}-requests`]);
  const [targets, policies] = await Promise.all([
    aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'ecs', ResourceIds: resourceIds })),
    aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'ecs', PolicyNames: policyNames })),
  ]);
  const svcOf = (resourceId: string) => services.find((s) => `service/${s.cluster}/${s.name}` === resourceId)?.service;
  for (const t of targets.ScalableTargets ?? []) {
    if (t.ScalableDimension !== 'ecs:service:DesiredCount' || !resourceIds.includes(t.ResourceId!)) continue;
    const svc = svcOf(t.ResourceId!);
    add({
      kind: 'scalable-target',
      name: t.ResourceId!,
      ...(svc ? { service: svc } : {}),
      id: t.ScalableTargetARN ?? t.ResourceId!,
      // Application Auto Scaling tags are written on create and not read back (one call per target).
      tags: names(desired, 'scalable-target').find((d) => d.name === t.ResourceId)?.tags ?? {},
      resourceId: t.ResourceId!,
      min: t.MinCapacity ?? 0,
      max: t.MaxCapacity ?? 0,
    });
  }
  const lbName = (arnPart: string) => arnPart.split('/')[1] ?? arnPart;
  for (const p of policies.ScalingPolicies ?? []) {
    if (!resourceIds.includes(p.ResourceId!)) continue;
    const c = p.TargetTrackingScalingPolicyConfiguration;
    const label = c?.PredefinedMetricSpecification?.ResourceLabel;
    let resourceLabel: ScalingPolicy['resourceLabel'] = null;
    if (label) {
      const [lbPart, tgPart] = label.split('/targetgroup/');
      resourceLabel = { loadBalancer: lbName(lbPart ?? ''), targetGroup: (tgPart ?? '').split('/')[0] ?? '' };
    }
    const svc = svcOf(p.ResourceId!);
    add({
      kind: 'scaling-policy',
      name: p.PolicyName!,
      ...(svc ? { service: svc } : {}),
      id: p.PolicyARN!,
      tags: names(desired, 'scaling-policy').find((d) => d.name === p.PolicyName)?.tags ?? {},
      resourceId: p.ResourceId!,
      metric: (c?.PredefinedMetricSpecification?.PredefinedMetricType ?? '') as ScalingPolicy['metric'],
      targetValue: c?.TargetValue ?? 0,
      resourceLabel,
      scaleInCooldownSeconds: c?.ScaleInCooldown ?? 0,
      scaleOutCooldownSeconds: c?.ScaleOutCooldown ?? 0,
    });
  }
  void state;
}

/** Alarm names patchwork may own for this desired state (including kinds switched off in config). */
export function alarmCandidates(desired: DesiredState): Set<string> {
  const out = new Set<string>([`${desired.env.name}-alb-5xx`]);
  for (const s of names(desired, 'ecs-service')) {
    for (const what of ['target-5xx', 'unhealthy-hosts', 'cpu', 'memory']) out.add(`${s.name}-${what}`);
  }
  return out;
}

function dimensionName(name: string, value: string): string {
  if (name === 'LoadBalancer') return value.split('/')[1] ?? value;
  if (name === 'TargetGroup') return value.split('/')[1] ?? value;
  return value;
}

async function observeAlarms(
  aws: AwsClients,
  desired: DesiredState,
  _state: ObservedState,
  add: (r: ObservedResource) => void,
) {
  const candidates = alarmCandidates(desired);
  if (!candidates.size) return;
  const cw = await aws.get('cloudwatch');
  const alarms: MetricAlarm[] = [];
  let token: string | undefined;
  do {
    const out = await cw.send(
      new DescribeAlarmsCommand({
        AlarmNamePrefix: `${desired.env.name}-`,
        AlarmTypes: ['MetricAlarm'],
        NextToken: token,
      }),
    );
    alarms.push(...(out.MetricAlarms ?? []).filter((a) => candidates.has(a.AlarmName ?? '')));
    token = out.NextToken;
  } while (token);
  const desiredAlarms = names(desired, 'alarm');
  for (const a of alarms) {
    const want = desiredAlarms.find((d) => d.name === a.AlarmName);
    const svc =
      want?.service ?? names(desired, 'ecs-service').find((s) => a.AlarmName!.startsWith(`${s.name}-`))?.service;
    const observed: Alarm & { id: string } = {
      kind: 'alarm',
      name: a.AlarmName!,
      ...(svc ? { service: svc } : {}),
      id: a.AlarmArn ?? a.AlarmName!,
      // Tags are written with PutMetricAlarm; reading them back costs a call per alarm.
      tags: want?.tags ?? {},
      namespace: a.Namespace ?? '',
      metricName: a.MetricName ?? '',
      statistic: a.Statistic ?? '',
      dimensions: Object.fromEntries(
        (a.Dimensions ?? [])
          .map((d) => [d.Name!, dimensionName(d.Name!, d.Value ?? '')])
          .sort(([x], [y]) => x!.localeCompare(y!)),
      ),
      comparison: a.ComparisonOperator ?? '',
      threshold: a.Threshold ?? 0,
      periodSeconds: a.Period ?? 0,
      evaluationPeriods: a.EvaluationPeriods ?? 0,
      treatMissingData: a.TreatMissingData ?? 'missing',
      actions: [...(a.AlarmActions ?? [])].sort(),
    };
    add(observed);
  }
}

function commonPrefix(values: string[]): string {
  if (!values.length) return '';
  let p = values[0]!;
  for (const v of values) while (!v.startsWith(p)) p = p.slice(0, -1);
  return p;
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
