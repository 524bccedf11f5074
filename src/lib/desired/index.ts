/**
 * Desired state: what AWS should hold for one environment, as plain objects (types.ts). Pure: the
 * resolved config plus a few facts read from AWS (account id, VPC, subnets) in, resources out.
 */
import { DEFAULT_USER, type ResolvedEnvironment, type ResolvedService } from '../config/resolve.js';
import * as n from './names.js';
import {
  type Alarm,
  type Bootstrap,
  canonicalJson,
  type DesiredState,
  type Facts,
  type Listener,
  type ListenerAction,
  type Resource,
  type ScalingPolicy,
  type Tags,
} from './types.js';

export * from './names.js';
export * from './types.js';

/** Seconds a target drains before it is removed (AWS default 300 is slow for web apps). */
export const DEREGISTRATION_DELAY = 30;
const TRUST_SERVICE = 'ecs-tasks.amazonaws.com';
const NOT_FOUND: ListenerAction = {
  type: 'fixed-response',
  statusCode: '404',
  contentType: 'text/plain',
  body: 'no route (patchwork)',
};

export function registryHost(target: ResolvedEnvironment, facts: Pick<Facts, 'accountId'>): string {
  return target.registry ?? `${facts.accountId}.dkr.ecr.${target.region}.amazonaws.com`;
}

export function lifecyclePolicy(keep: number): string {
  return canonicalJson({
    rules: [
      {
        rulePriority: 1,
        description: `keep the last ${keep} images`,
        selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: keep },
        action: { type: 'expire' },
      },
    ],
  });
}

/** The execution role may pull only its own repository, write only its own log group, read only its secrets. */
export function executionPolicy(target: ResolvedEnvironment, svc: ResolvedService, facts: Facts): string {
  const { partition, accountId } = facts;
  const statements: Record<string, unknown>[] = [];
  if (target.registry === null) {
    statements.push(
      { Sid: 'EcrToken', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: ['*'] },
      {
        Sid: 'PullOwnRepository',
        Effect: 'Allow',
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        Resource: [`arn:${partition}:ecr:${target.region}:${accountId}:repository/${n.repositoryName(svc)}`],
      },
    );
  }
  statements.push({
    Sid: 'WriteOwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: [`arn:${partition}:logs:${target.region}:${accountId}:log-group:${n.logGroupName(svc)}:*`],
  });
  const secretArns = [...new Set(Object.values(svc.secrets))].sort();
  const ssm = secretArns.filter((a) => a.split(':')[2] === 'ssm');
  const sm = secretArns.filter((a) => a.split(':')[2] === 'secretsmanager');
  if (ssm.length)
    statements.push({ Sid: 'ReadOwnParameters', Effect: 'Allow', Action: ['ssm:GetParameters'], Resource: ssm });
  if (sm.length)
    statements.push({
      Sid: 'ReadOwnSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: sm,
    });
  return canonicalJson({ Version: '2012-10-17', Statement: statements });
}

export function desiredState(target: ResolvedEnvironment, facts: Facts): DesiredState {
  const envTags: Tags = { ...target.tags };
  const resources: Resource[] = [];
  const warnings: DesiredState['warnings'] = [];
  const https = target.https;
  const servingPort = https ? 443 : 80;

  resources.push({
    kind: 'state-table',
    name: n.stateTableName(target),
    tags: envTags,
    keys: { pk: 'S', sk: 'S' },
    billingMode: 'PAY_PER_REQUEST',
    pointInTimeRecovery: true,
  });
  resources.push({ kind: 'ecs-cluster', name: n.clusterName(target), tags: envTags, containerInsights: 'enabled' });

  const albSg = n.albSecurityGroupName(target);
  const cidrs = [...new Set(target.allowedCidrs)];
  resources.push({
    kind: 'security-group',
    name: albSg,
    tags: envTags,
    vpcId: facts.vpcId,
    description: `patchwork ${target.name}: load balancer`,
    ingress: sortRules(
      (https ? [80, 443] : [80]).flatMap((port) =>
        cidrs.map((cidr) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidr })),
      ),
    ),
  });
  const lbName = n.loadBalancerName(target);
  resources.push({
    kind: 'load-balancer',
    name: lbName,
    tags: envTags,
    scheme: 'internet-facing',
    type: 'application',
    subnets: [...facts.publicSubnets].sort(),
    securityGroups: [albSg],
  });
  if (https) {
    resources.push(listener(target, 443, 'HTTPS', https.certificateArn, https.sslPolicy, NOT_FOUND, envTags));
    resources.push(
      listener(
        target,
        80,
        'HTTP',
        null,
        null,
        { type: 'redirect', protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' },
        envTags,
      ),
    );
  } else {
    resources.push(listener(target, 80, 'HTTP', null, null, NOT_FOUND, envTags));
  }
  if (!facts.tasksArePrivate) {
    warnings.push({
      code: 'PW_PUBLIC_TASKS',
      message:
        'no privateSubnets configured: tasks run in the public subnets with public IPs (reachable only through their security group); set network.privateSubnets to keep them private',
    });
  }

  const alarms = target.alarms;
  if (alarms?.http5xxPerMinute != null) {
    resources.push(
      alarm(`${target.name}-alb-5xx`, envTags, alarms.snsTopicArn, {
        namespace: 'AWS/ApplicationELB',
        metricName: 'HTTPCode_ELB_5XX_Count',
        statistic: 'Sum',
        dimensions: { LoadBalancer: lbName },
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: alarms.http5xxPerMinute,
        evaluationPeriods: 1,
      }),
    );
  }

  for (const svc of target.services) {
    const tags: Tags = { ...svc.tags };
    const s = svc.name;
    if (target.registry === null) {
      resources.push({
        kind: 'ecr-repository',
        name: n.repositoryName(svc),
        service: s,
        tags,
        tagMutability: 'IMMUTABLE',
        scanOnPush: true,
        encryption: 'AES256',
        lifecyclePolicy: lifecyclePolicy(target.keepImages),
      });
    }
    resources.push({
      kind: 'log-group',
      name: n.logGroupName(svc),
      service: s,
      tags,
      retentionDays: target.logRetentionDays,
    });
    const trust = TRUST_SERVICE;
    resources.push({
      kind: 'iam-role',
      name: n.executionRoleName(svc),
      service: s,
      tags,
      role: 'execution',
      trustService: trust,
      inlinePolicy: { name: n.EXECUTION_POLICY_NAME, document: executionPolicy(target, svc, facts) },
      managedPolicyArns: [],
    });
    resources.push({
      kind: 'iam-role',
      name: n.taskRoleName(svc),
      service: s,
      tags,
      role: 'task',
      trustService: trust,
      inlinePolicy: null,
      managedPolicyArns: [...new Set(svc.taskRolePolicyArns)].sort(),
    });
    const sgName = n.serviceSecurityGroupName(svc);
    resources.push({
      kind: 'security-group',
      name: sgName,
      service: s,
      tags,
      vpcId: facts.vpcId,
      description: `patchwork ${svc.fullName}: tasks, from the load balancer only`,
      ingress: [{ protocol: 'tcp', fromPort: svc.port, toPort: svc.port, sourceGroup: albSg }],
    });
    const tgName = n.targetGroupName(svc);
    const hc = svc.healthCheck;
    resources.push({
      kind: 'target-group',
      name: tgName,
      service: s,
      tags,
      vpcId: facts.vpcId,
      protocol: 'HTTP',
      port: svc.port,
      targetType: 'ip',
      healthCheck: {
        protocol: 'HTTP',
        port: 'traffic-port',
        path: hc.path,
        matcher: hc.matcher,
        intervalSeconds: hc.intervalSeconds,
        timeoutSeconds: hc.timeoutSeconds,
        healthyThreshold: hc.healthyThreshold,
        unhealthyThreshold: hc.unhealthyThreshold,
      },
      deregistrationDelaySeconds: DEREGISTRATION_DELAY,
    });
    resources.push({
      kind: 'listener-rule',
      name: `${svc.fullName}:${servingPort}`,
      service: s,
      tags,
      listenerPort: servingPort,
      priority: svc.route.priority,
      paths: [...svc.route.paths],
      hosts: svc.route.hosts ? [...svc.route.hosts] : null,
      targetGroup: tgName,
    });
    const bootstrap = bootstrapOf(target, svc, facts);
    const bounds = target.autoscaling ? { min: target.autoscaling.min, max: target.autoscaling.max } : null;
    resources.push({
      kind: 'ecs-service',
      name: n.ecsServiceName(svc),
      service: s,
      tags,
      cluster: n.clusterName(target),
      launchType: 'FARGATE',
      desiredCount: svc.desiredCount,
      scaleBounds: bounds,
      subnets: [...facts.taskSubnets].sort(),
      securityGroups: [sgName],
      assignPublicIp: facts.tasksArePrivate ? 'DISABLED' : 'ENABLED',
      loadBalancer: { targetGroup: tgName, containerName: n.containerName(svc), containerPort: svc.port },
      deployment: { minimumHealthyPercent: 100, maximumPercent: 200, circuitBreaker: true, rollback: true },
      healthCheckGracePeriodSeconds: hc.gracePeriodSeconds,
      enableExecuteCommand: false,
      propagateTags: 'SERVICE',
      taskFamily: bootstrap.family,
      bootstrap,
    });
    if (target.autoscaling) {
      const as = target.autoscaling;
      const resourceId = n.scalingResourceId(target, svc);
      resources.push({
        kind: 'scalable-target',
        name: resourceId,
        service: s,
        tags,
        resourceId,
        min: as.min,
        max: as.max,
      });
      const policy = (
        metric: 'cpu' | 'requests',
        m: ScalingPolicy['metric'],
        value: number,
        label: ScalingPolicy['resourceLabel'],
      ): ScalingPolicy => ({
        kind: 'scaling-policy',
        name: n.scalingPolicyName(svc, metric),
        service: s,
        tags,
        resourceId,
        metric: m,
        targetValue: value,
        resourceLabel: label,
        scaleInCooldownSeconds: as.scaleInCooldownSeconds,
        scaleOutCooldownSeconds: as.scaleOutCooldownSeconds,
      });
      if (as.cpuPercent !== null) resources.push(policy('cpu', 'ECSServiceAverageCPUUtilization', as.cpuPercent, null));
      if (as.requestsPerTarget !== null) {
        resources.push(
          policy('requests', 'ALBRequestCountPerTarget', as.requestsPerTarget, {
            loadBalancer: lbName,
            targetGroup: tgName,
          }),
        );
      }
    }
    if (alarms) {
      const topic = alarms.snsTopicArn;
      const ecsDims = { ClusterName: n.clusterName(target), ServiceName: n.ecsServiceName(svc) };
      const tgDims = { LoadBalancer: lbName, TargetGroup: tgName };
      if (alarms.http5xxPerMinute !== null) {
        resources.push(
          alarm(`${svc.fullName}-target-5xx`, tags, topic, {
            namespace: 'AWS/ApplicationELB',
            metricName: 'HTTPCode_Target_5XX_Count',
            statistic: 'Sum',
            dimensions: tgDims,
            comparison: 'GreaterThanOrEqualToThreshold',
            threshold: alarms.http5xxPerMinute,
            evaluationPeriods: 1,
          }),
        );
      }
      resources.push(
        alarm(`${svc.fullName}-unhealthy-hosts`, tags, topic, {
          namespace: 'AWS/ApplicationELB',
          metricName: 'UnHealthyHostCount',
          statistic: 'Maximum',
          dimensions: tgDims,
          comparison: 'GreaterThanThreshold',
          threshold: alarms.unhealthyHosts ?? 0,
          evaluationPeriods: 2,
        }),
      );
      if (alarms.cpuPercent !== null) {
        resources.push(
          alarm(`${svc.fullName}-cpu`, tags, topic, {
            namespace: 'AWS/ECS',
            metricName: 'CPUUtilization',
            statistic: 'Average',
            dimensions: ecsDims,
            comparison: 'GreaterThanOrEqualToThreshold',
            threshold: alarms.cpuPercent,
            evaluationPeriods: 3,
          }),
        );
      }
      if (alarms.memoryPercent !== null) {
        resources.push(
          alarm(`${svc.fullName}-memory`, tags, topic, {
            namespace: 'AWS/ECS',
            metricName: 'MemoryUtilization',
            statistic: 'Average',
            dimensions: ecsDims,
            comparison: 'GreaterThanOrEqualToThreshold',
            threshold: alarms.memoryPercent,
            evaluationPeriods: 3,
          }),
        );
      }
    }
    if (bootstrap.placeholder) {
      warnings.push({
        code: 'PW_NO_IMAGE_YET',
        message: `service ${s} has no image yet: it is created with a placeholder task definition and 0 tasks; run \`patchwork deploy --env ${target.env}\` next`,
      });
    }
  }
  return {
    env: { app: target.app, env: target.env, name: target.name, region: target.region },
    resources,
    warnings,
  };
}

/**
 * The task definition the first provision registers. A service with `image:` starts on that image
 * at its desired count. A service with `build:` has no image until the first deploy, so it gets a
 * placeholder (`<repo>:patchwork-bootstrap`, never pushed) in the `-bootstrap` family and 0 tasks.
 */
export function bootstrapOf(target: ResolvedEnvironment, svc: ResolvedService, facts: Facts): Bootstrap {
  const placeholder = svc.image === null;
  const roleArn = (role: string) => `arn:${facts.partition}:iam::${facts.accountId}:role/${role}`;
  return {
    family: placeholder ? n.bootstrapFamily(svc) : n.taskFamily(svc),
    image: svc.image ?? `${registryHost(target, facts)}/${n.repositoryName(svc)}:${n.BOOTSTRAP_TAG}`,
    placeholder,
    cpu: svc.cpu,
    memory: svc.memory,
    executionRole: roleArn(n.executionRoleName(svc)),
    taskRole: roleArn(n.taskRoleName(svc)),
    logGroup: n.logGroupName(svc),
    env: svc.env,
    secrets: svc.secrets,
    command: svc.command,
    readonlyRootFilesystem: svc.readonlyRootFilesystem,
    user: svc.user ?? DEFAULT_USER,
    healthCommand: svc.healthCheck.command,
  };
}

function listener(
  target: ResolvedEnvironment,
  port: number,
  protocol: 'HTTP' | 'HTTPS',
  certificateArn: string | null,
  sslPolicy: string | null,
  defaultAction: ListenerAction,
  tags: Tags,
): Listener {
  return {
    kind: 'listener',
    name: `${n.loadBalancerName(target)}:${port}`,
    tags,
    port,
    protocol,
    certificateArn,
    sslPolicy,
    defaultAction,
  };
}

function alarm(
  name: string,
  tags: Tags,
  topic: string | null,
  spec: Pick<
    Alarm,
    'namespace' | 'metricName' | 'statistic' | 'dimensions' | 'comparison' | 'threshold' | 'evaluationPeriods'
  >,
): Alarm {
  return {
    kind: 'alarm',
    name,
    tags,
    ...spec,
    periodSeconds: 60,
    treatMissingData: 'notBreaching',
    actions: topic ? [topic] : [],
  };
}

export function sortRules<
  T extends { protocol: string; fromPort: number; toPort: number; cidr?: string; sourceGroup?: string },
>(rules: T[]): T[] {
  const key = (r: T) =>
    `${r.protocol}|${String(r.fromPort).padStart(5, '0')}|${r.toPort}|${r.cidr ?? ''}|${r.sourceGroup ?? ''}`;
  const seen = new Map<string, T>();
  for (const r of rules) seen.set(key(r), r);
  return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, r]) => r);
}
