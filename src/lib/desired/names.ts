/**
 * Deterministic names of everything patchwork manages for an environment. AWS is the state: these
 * names (plus tags) are how every verb finds what provision made. Other verbs (deploy, status,
 * rollback) import them from here rather than rebuilding the strings.
 */
import type { ResolvedEnvironment, ResolvedService } from '../config/resolve.js';

/** `<app>-<env>-patchwork`: the DynamoDB table for deploy locks and release history. */
export const stateTableName = (t: Pick<ResolvedEnvironment, 'name'>): string => `${t.name}-patchwork`;
/** The ECS cluster and the ALB: `<app>-<env>`. */
export const clusterName = (t: Pick<ResolvedEnvironment, 'name'>): string => t.name;
export const loadBalancerName = (t: Pick<ResolvedEnvironment, 'name'>): string => t.name;
/** Security group of the ALB. */
export const albSecurityGroupName = (t: Pick<ResolvedEnvironment, 'name'>): string => `${t.name}-alb`;
/** Security group of a service's tasks. */
export const serviceSecurityGroupName = (s: Pick<ResolvedService, 'fullName'>): string => `${s.fullName}-tasks`;
/**
 * The image repository of a service: `<app>-<svc>` shared by the environments of one account and
 * region (the default), or `<app>-<env>-<svc>` with `registryLayout: per-env`.
 */
export const repositoryName = (s: Pick<ResolvedService, 'repository'>): string => s.repository;
/** The per-environment repository name (the layout before shared repositories; still pullable after migrating). */
export const perEnvRepositoryName = (s: Pick<ResolvedService, 'fullName'>): string => s.fullName;
/** Tags of a repository shared by environments: no `patchwork:env` (no one environment owns it). */
export const sharedRepositoryTags = (t: Pick<ResolvedEnvironment, 'app'>, s: Pick<ResolvedService, 'name'>) => ({
  'patchwork:app': t.app,
  'patchwork:service': s.name,
  'patchwork:shared': 'true',
  'managed-by': 'patchwork',
});
/** Log group, target group and ECS service of a service: `<app>-<env>-<svc>`. */
export const logGroupName = (s: Pick<ResolvedService, 'fullName'>): string => s.fullName;
export const targetGroupName = (s: Pick<ResolvedService, 'fullName'>): string => s.fullName;
export const ecsServiceName = (s: Pick<ResolvedService, 'fullName'>): string => s.fullName;
/** Progressive strategies: the green revision's target group `<app>-<env>-<svc>-b`. */
export const alternateTargetGroupName = (s: Pick<ResolvedService, 'fullName'>): string => `${s.fullName}-b`;
/** The role ECS assumes to shift listener rules during blue/green, canary and linear deployments. */
export const loadBalancerRoleName = (t: Pick<ResolvedEnvironment, 'name'>): string => `${t.name}-ecs-lb`;
/** The inline policy of that role. */
export const LOAD_BALANCER_POLICY_NAME = 'patchwork-ecs-load-balancer';
/** IAM roles: the execution role (pull, logs, secrets) and the task role (the app's own permissions). */
export const executionRoleName = (s: Pick<ResolvedService, 'fullName'>): string => `${s.fullName}-execution`;
export const taskRoleName = (s: Pick<ResolvedService, 'fullName'>): string => `${s.fullName}-task`;
/** The inline policy patchwork writes on the execution role. */
export const EXECUTION_POLICY_NAME = 'patchwork-execution';
/**
 * Task definition families. Deploy registers revisions of `<app>-<env>-<svc>`; provision registers
 * `<app>-<env>-<svc>-bootstrap` (a placeholder, 0 tasks) for a service that has no image yet.
 */
export const taskFamily = (s: Pick<ResolvedService, 'fullName'>): string => s.fullName;
export const bootstrapFamily = (s: Pick<ResolvedService, 'fullName'>): string => `${s.fullName}-bootstrap`;
/** The image tag of the bootstrap placeholder: never pushed, so the placeholder never runs. */
export const BOOTSTRAP_TAG = 'patchwork-bootstrap';
/** The container in every task definition is named after the service (the ALB routes to it). */
export const containerName = (s: Pick<ResolvedService, 'name'>): string => s.name;
/** Application Auto Scaling resource id of a service. */
export const scalingResourceId = (t: Pick<ResolvedEnvironment, 'name'>, s: Pick<ResolvedService, 'fullName'>): string =>
  `service/${clusterName(t)}/${ecsServiceName(s)}`;
export const scalingPolicyName = (s: Pick<ResolvedService, 'fullName'>, metric: 'cpu' | 'requests'): string =>
  `${s.fullName}-${metric}`;
/** CloudWatch alarms: `<app>-<env>-<svc>-<what>` and `<app>-<env>-alb-5xx`. */
export const alarmPrefix = (t: Pick<ResolvedEnvironment, 'name'>): string => `${t.name}-`;
/**
 * The per-service alarms: `<app>-<env>-<svc>-<what>`. With a progressive strategy the two that watch a
 * target group have a twin on the second one, `<what>-b` (`<svc>-target-5xx-b` watches `<svc>-b`): the
 * suffix goes last so no service name (e.g. `web-b`) can make another service's alarm name.
 */
export const SERVICE_ALARM_SUFFIXES = [
  'target-5xx',
  'unhealthy-hosts',
  'cpu',
  'memory',
  'target-5xx-b',
  'unhealthy-hosts-b',
] as const;
export type ServiceAlarmSuffix = (typeof SERVICE_ALARM_SUFFIXES)[number];
export const serviceAlarmName = (s: Pick<ResolvedService, 'fullName'>, what: ServiceAlarmSuffix): string =>
  `${s.fullName}-${what}`;

/** The tag prefix deploy gives every digest it releases (release/protect.ts; the ECR lifecycle policy keeps them). */
export const RELEASE_TAG_PREFIX = 'release-';

/** The stage the PAUSE hook waits at: the green revision has all test traffic, production none. */
export const PAUSE_STAGE = 'POST_TEST_TRAFFIC_SHIFT';

/** A task's awslogs stream: `<prefix>/<container>/<task-id>`, the prefix being the config service name (release/taskdef.ts). */
export const logStreamName = (svc: { name: string }, taskId: string): string =>
  `${svc.name}/${containerName(svc)}/${taskId}`;

/** The load balancer's 5xx alarm: `<app>-<env>-alb-5xx`. */
export const loadBalancerAlarmName = (t: Pick<ResolvedEnvironment, 'name'>): string => `${t.name}-alb-5xx`;

/** A name patchwork derives for one AWS resource: its namespace, the name, who owns it and as what. */
export interface DerivedName {
  /** Names are unique within a namespace (per account and region; IAM roles per account). */
  namespace: string;
  name: string;
  /** The config service that owns it, or null for the environment's own resources. */
  service: string | null;
  /** What it is to its owner, e.g. `alternate target group`. */
  role: string;
}

/**
 * Every name patchwork derives for one environment (pure), for the resources its settings create:
 * the alternate target group and the load-balancer role with a progressive strategy, alarms with
 * `alarms:`. Service names can make two of these one name (`x`'s alternate target group
 * `<app>-<env>-x-b` is service `x-b`'s target group): nameClashes finds them.
 */
export function derivedNames(
  t: Pick<ResolvedEnvironment, 'name'> & { progressive: boolean; alarms: boolean },
  services: Pick<ResolvedService, 'name' | 'fullName' | 'repository'>[],
): DerivedName[] {
  const out: DerivedName[] = [];
  const add = (namespace: string, name: string, service: string | null, role: string) =>
    out.push({ namespace, name, service, role });
  add('security group', albSecurityGroupName(t), null, "load balancer's security group");
  if (t.progressive) add('IAM role', loadBalancerRoleName(t), null, 'load-balancer role of ECS');
  if (t.alarms) add('CloudWatch alarm', loadBalancerAlarmName(t), null, "load balancer's 5xx alarm");
  for (const s of services) {
    add('target group', targetGroupName(s), s.name, 'target group');
    if (t.progressive) add('target group', alternateTargetGroupName(s), s.name, 'alternate target group');
    add('ECS service', ecsServiceName(s), s.name, 'ECS service');
    add('log group', logGroupName(s), s.name, 'log group');
    add('task definition family', taskFamily(s), s.name, 'task definition family');
    add('task definition family', bootstrapFamily(s), s.name, 'bootstrap task definition family');
    add('IAM role', executionRoleName(s), s.name, 'execution role');
    add('IAM role', taskRoleName(s), s.name, 'task role');
    add('security group', serviceSecurityGroupName(s), s.name, "tasks' security group");
    add('ECR repository', repositoryName(s), s.name, 'image repository');
    if (t.alarms)
      for (const what of SERVICE_ALARM_SUFFIXES)
        if (t.progressive || !what.endsWith('-b'))
          add('CloudWatch alarm', serviceAlarmName(s, what), s.name, `${what} alarm`);
  }
  return out;
}

/** Two derived names that are one AWS resource: `first` comes earlier in the list (file order). */
export interface NameClash {
  first: DerivedName;
  second: DerivedName;
}

/** Pure: the pairs of derived names with one namespace and name but different owners or roles. */
export function nameClashes(names: DerivedName[]): NameClash[] {
  const seen = new Map<string, DerivedName>();
  const out: NameClash[] = [];
  for (const n of names) {
    const key = `${n.namespace}\u0000${n.name}`;
    const first = seen.get(key);
    if (!first) seen.set(key, n);
    else if (first.service !== n.service || first.role !== n.role) out.push({ first, second: n });
  }
  return out;
}
