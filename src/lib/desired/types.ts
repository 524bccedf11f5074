/**
 * The resource model shared by desired state, observed state, the planner and apply. Desired and
 * observed resources have the same shape per kind, so the planner compares plain objects. Other
 * resources are referenced by NAME (security groups, target groups, the ALB); observe turns AWS ids
 * and ARNs back into names, apply turns names into ids.
 */

/** Every kind, in the order apply creates them (destroy deletes in reverse). */
export const KINDS = [
  'vpc',
  'internet-gateway',
  'subnet',
  'elastic-ip',
  'nat-gateway',
  'route-table',
  'state-table',
  'ecr-repository',
  'log-group',
  'iam-role',
  'ecs-cluster',
  'security-group',
  'vpc-endpoint',
  'load-balancer',
  'target-group',
  'listener',
  'listener-rule',
  'ecs-service',
  'scalable-target',
  'scaling-policy',
  'alarm',
] as const;
export type Kind = (typeof KINDS)[number];

export type Tags = Record<string, string>;

interface Base {
  name: string;
  /** The config service this belongs to (absent for environment-wide resources). */
  service?: string;
  tags: Tags;
}

/** network.create: the environment's VPC (DNS support and hostnames on, for interface endpoints). */
export interface Vpc extends Base {
  kind: 'vpc';
  cidr: string;
}

/** The VPC's internet gateway; `vpc` is the VPC it is attached to (a name), or null. */
export interface InternetGateway extends Base {
  kind: 'internet-gateway';
  vpc: string | null;
}

/** A public (load balancer, NAT) or private (tasks) subnet of the created VPC, in one zone. */
export interface Subnet extends Base {
  kind: 'subnet';
  /** VPC name. */
  vpc: string;
  cidr: string;
  zone: string;
}

/** An Elastic IP of a NAT gateway. */
export interface ElasticIp extends Base {
  kind: 'elastic-ip';
}

/** A NAT gateway in a public subnet, with its Elastic IP (both by name). */
export interface NatGateway extends Base {
  kind: 'nat-gateway';
  subnet: string;
  eip: string;
  /**
   * `available` (desired). Observed `pending` is one a run made and did not wait for (killed while
   * waiting): apply waits for it (no call that changes anything) before routes name it.
   */
  state?: 'available' | 'pending';
}

/** A route: a destination CIDR to a gateway, by kind and name (`internet-gateway/<name>`, `nat-gateway/<name>`). */
export interface Route {
  destination: string;
  target: string;
}

/** A route table with its routes (sorted; the local route and endpoints' prefix-list routes are not listed) and the subnets it is associated with (names, sorted). */
export interface RouteTable extends Base {
  kind: 'route-table';
  vpc: string;
  routes: Route[];
  subnets: string[];
}

/** A VPC endpoint: Interface (in the private subnets, with the endpoints' security group) or the S3 Gateway (on route tables). */
export interface VpcEndpoint extends Base {
  kind: 'vpc-endpoint';
  vpc: string;
  serviceName: string;
  type: 'Interface' | 'Gateway';
  /** Interface: subnet names, sorted. */
  subnets: string[];
  /** Interface: security group names, sorted. */
  securityGroups: string[];
  /** Gateway: route table names, sorted. */
  routeTables: string[];
  privateDns: boolean;
}

export interface StateTable extends Base {
  kind: 'state-table';
  keys: { pk: 'S'; sk: 'S' };
  billingMode: 'PAY_PER_REQUEST';
  pointInTimeRecovery: boolean;
}

export interface EcrRepository extends Base {
  kind: 'ecr-repository';
  tagMutability: 'IMMUTABLE' | 'MUTABLE';
  scanOnPush: boolean;
  encryption: string;
  /** Canonical JSON (sorted keys) of the lifecycle policy, or null for none. */
  lifecyclePolicy: string | null;
}

export interface LogGroup extends Base {
  kind: 'log-group';
  retentionDays: number | null;
}

export interface IamRole extends Base {
  kind: 'iam-role';
  /** execution, task (per service), or load-balancer: the role ECS shifts listener rules with (progressive strategies). */
  role: 'execution' | 'task' | 'load-balancer';
  trustService: string;
  /** patchwork's inline policy (canonical JSON document), or null for none. */
  inlinePolicy: { name: string; document: string } | null;
  managedPolicyArns: string[];
}

export interface EcsCluster extends Base {
  kind: 'ecs-cluster';
  containerInsights: 'enabled' | 'disabled' | 'enhanced';
}

export interface SgRule {
  protocol: string;
  fromPort: number;
  toPort: number;
  /** Exactly one of cidr / sourceGroup (a security group NAME, or an id patchwork does not manage). */
  cidr?: string;
  sourceGroup?: string;
}

export interface SecurityGroup extends Base {
  kind: 'security-group';
  vpcId: string;
  description: string;
  /** Sorted, de-duplicated. */
  ingress: SgRule[];
}

export interface LoadBalancer extends Base {
  kind: 'load-balancer';
  scheme: 'internet-facing' | 'internal';
  type: 'application' | 'network' | 'gateway';
  /** Sorted subnet ids. */
  subnets: string[];
  /** Security group names, sorted. */
  securityGroups: string[];
}

export interface HealthCheck {
  protocol: string;
  port: string;
  path: string;
  matcher: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface TargetGroup extends Base {
  kind: 'target-group';
  vpcId: string;
  protocol: string;
  port: number;
  targetType: string;
  healthCheck: HealthCheck;
  deregistrationDelaySeconds: number;
}

export type ListenerAction =
  | { type: 'fixed-response'; statusCode: string; contentType: string; body: string }
  | { type: 'redirect'; protocol: string; port: string; statusCode: string }
  | { type: 'forward'; targetGroup: string };

export interface Listener extends Base {
  kind: 'listener';
  port: number;
  protocol: 'HTTP' | 'HTTPS';
  certificateArn: string | null;
  sslPolicy: string | null;
  defaultAction: ListenerAction;
}

export interface ListenerRule extends Base {
  kind: 'listener-rule';
  listenerPort: number;
  priority: number;
  paths: string[];
  hosts: string[] | null;
  targetGroup: string;
  /**
   * Progressive strategies: the service's second target group. ECS moves the rule's weights
   * between the two during a deployment, so forwarding to either, in any weights, is not drift.
   */
  alternateTargetGroup: string | null;
}

/** How a container is checked from inside (ECS bounds applied). */
export interface ContainerHealth {
  command: string[];
  interval: number;
  timeout: number;
  retries: number;
  startPeriod: number;
}

/** The task's CPU architecture and OS, from the service's `build.platform`. */
export interface RuntimePlatform {
  cpuArchitecture: 'X86_64' | 'ARM64';
  operatingSystemFamily: 'LINUX';
}

/** What the service's container is made of, shared by the bootstrap placeholder and every release. */
export interface ContainerContent {
  image: string;
  logGroup: string;
  env: Record<string, string>;
  secrets: Record<string, string>;
  command: string[] | null;
  readonlyRootFilesystem: boolean;
  /** Paths given a fresh writable volume (`/tmp` when the root filesystem is read-only, + `writablePaths`). */
  writablePaths: string[];
  /** Container user (never root unless the config says so). */
  user: string;
  healthCheck: ContainerHealth | null;
}

export interface Bootstrap extends ContainerContent {
  /** Task definition family to register when the service is created. */
  family: string;
  /** True: a placeholder image that was never pushed; the service starts with 0 tasks. */
  placeholder: boolean;
  cpu: number;
  memory: number;
  executionRole: string;
  taskRole: string;
}

export interface EcsService extends Base {
  kind: 'ecs-service';
  cluster: string;
  launchType: string;
  /**
   * The configured count. The planner widens it: a service still on its bootstrap placeholder wants 0,
   * and with autoscaling any count inside the bounds is accepted.
   */
  desiredCount: number;
  /** Autoscaling bounds, when configured: a desired count inside them is not drift. */
  scaleBounds: { min: number; max: number } | null;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: 'ENABLED' | 'DISABLED';
  loadBalancer: { targetGroup: string; containerName: string; containerPort: number };
  deployment: { minimumHealthyPercent: number; maximumPercent: number; circuitBreaker: boolean; rollback: boolean };
  /** ECS's deployment strategy; BLUE_GREEN, CANARY and LINEAR come with `progressive`. */
  strategy: EcsStrategy;
  progressive: Progressive | null;
  healthCheckGracePeriodSeconds: number;
  enableExecuteCommand: boolean;
  propagateTags: string;
  /** Observed: the family of the task definition in use. Desired: used only to create. */
  taskFamily: string | null;
  /** Desired: from `build.platform`. Observed: the task definition in use (absent there means X86_64). */
  runtimePlatform: RuntimePlatform;
  bootstrap?: Bootstrap;
}

export type EcsStrategy = 'ROLLING' | 'BLUE_GREEN' | 'CANARY' | 'LINEAR';

/** A listener rule, by where it is (its ARN is found at apply time). */
export interface RuleRef {
  listenerPort: number;
  priority: number;
}

/** What ECS needs to run a blue/green, canary or linear deployment of a service. */
export interface Progressive {
  bakeTimeInMinutes: number;
  canary: { canaryPercent: number; canaryBakeTimeInMinutes: number } | null;
  linear: { stepPercent: number; stepBakeTimeInMinutes: number } | null;
  /** Target group NAME of the green revision. */
  alternateTargetGroup: string;
  productionListenerRule: RuleRef;
  testListenerRule: RuleRef;
  /** IAM role NAME ECS assumes to modify the listener rules. */
  role: string;
  /** The PAUSE hook after test traffic moved: the CLI continues or rolls back; nobody within this → ECS rolls back. */
  pauseHookTimeoutMinutes: number;
  /** Alarm NAMES that make ECS roll back by itself (enable + rollback). */
  alarms: string[];
}

export interface ScalableTarget extends Base {
  kind: 'scalable-target';
  resourceId: string;
  min: number;
  max: number;
}

export interface ScalingPolicy extends Base {
  kind: 'scaling-policy';
  resourceId: string;
  metric: 'ECSServiceAverageCPUUtilization' | 'ALBRequestCountPerTarget';
  targetValue: number;
  /** ALB and target group NAMES for ALBRequestCountPerTarget. */
  resourceLabel: { loadBalancer: string; targetGroup: string } | null;
  scaleInCooldownSeconds: number;
  scaleOutCooldownSeconds: number;
}

export interface Alarm extends Base {
  kind: 'alarm';
  namespace: string;
  metricName: string;
  statistic: string;
  /** Dimension name → value; ALB and target group dimensions hold the NAME (observe maps back). */
  dimensions: Record<string, string>;
  comparison: string;
  threshold: number;
  periodSeconds: number;
  evaluationPeriods: number;
  treatMissingData: string;
  actions: string[];
}

export type Resource =
  | Vpc
  | InternetGateway
  | Subnet
  | ElasticIp
  | NatGateway
  | RouteTable
  | VpcEndpoint
  | StateTable
  | EcrRepository
  | LogGroup
  | IamRole
  | EcsCluster
  | SecurityGroup
  | LoadBalancer
  | TargetGroup
  | Listener
  | ListenerRule
  | EcsService
  | ScalableTarget
  | ScalingPolicy
  | Alarm;

export type ResourceOf<K extends Kind> = Extract<Resource, { kind: K }>;

/** `kind/name`: the identity of a resource in plans and maps. */
export const keyOf = (r: Pick<Resource, 'kind' | 'name'>): string => `${r.kind}/${r.name}`;

/** Facts found by reading AWS that desired state depends on (account, network). */
export interface Facts {
  accountId: string;
  partition: string;
  vpcId: string;
  publicSubnets: string[];
  /** Where tasks run: private subnets when given, else the public ones. */
  taskSubnets: string[];
  tasksArePrivate: boolean;
  /** network.create: the availability zones the environment spans (DescribeAvailabilityZones, sorted). */
  zones?: string[];
  /** What the registry says of each `image:` service's image (config service name → facts); absent: unknown. */
  images?: Record<string, ImageFacts>;
}

/** An image's own configuration, read from its registry (manifest + config blob) or the local engine. */
export interface ImageFacts {
  /** The image's USER ('' when it sets none: root). */
  user: string;
  /** The architectures it has for linux (`amd64`, `arm64`, …): one for a single image, several for an index. */
  architectures: string[];
}

export interface DesiredState {
  env: { app: string; env: string; name: string; region: string };
  resources: Resource[];
  warnings: { code: import('../warnings.js').WarningCode; message: string }[];
}

/** Sorted keys, no whitespace: policies and documents compare as strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
