/**
 * AWS CLI set-up the emulator tests share: the default network of the world's account, and small
 * Fargate task definitions registered the way the ECS docs' examples do (awsvpc, 256 CPU, 512 MiB).
 */
import { awsCli } from './localworld.js';

export interface Net {
  vpc: string;
  subnet: string;
  sg: string;
}

/** The first default subnet of the default VPC, and that VPC's default security group. */
export function defaultNetwork(): Net {
  const subnet = awsCli(['ec2', 'describe-subnets', '--filters', 'Name=default-for-az,Values=true']).Subnets[0];
  const sg = awsCli([
    'ec2',
    'describe-security-groups',
    '--filters',
    `Name=vpc-id,Values=${subnet.VpcId}`,
    'Name=group-name,Values=default',
  ]).SecurityGroups[0].GroupId;
  return { vpc: subnet.VpcId, subnet: subnet.SubnetId, sg };
}

/** `aws ecs register-task-definition` arguments: a Fargate task of these containers, then `extra`. */
export function fargateTaskDefinitionArgs(family: string, containers: unknown[], extra: string[] = []): string[] {
  return [
    'ecs',
    'register-task-definition',
    '--family',
    family,
    '--network-mode',
    'awsvpc',
    '--requires-compatibilities',
    'FARGATE',
    '--cpu',
    '256',
    '--memory',
    '512',
    '--container-definitions',
    JSON.stringify(containers),
    ...extra,
  ];
}

/** Registers that task definition with the harness's credentials; its ARN. */
export function registerFargateTaskDefinition(family: string, containers: unknown[], extra: string[] = []): string {
  return awsCli(fargateTaskDefinitionArgs(family, containers, extra)).taskDefinition.taskDefinitionArn;
}

/** `aws elbv2 create-target-group`: HTTP on 8080 in `net`'s VPC, `ip` targets (awsvpc tasks), this health path; its ARN. */
export function createTargetGroup(net: Pick<Net, 'vpc'>, name: string, healthCheckPath = '/healthz'): string {
  return awsCli([
    'elbv2',
    'create-target-group',
    '--name',
    name,
    '--protocol',
    'HTTP',
    '--port',
    '8080',
    '--vpc-id',
    net.vpc,
    '--target-type',
    'ip',
    '--health-check-path',
    healthCheckPath,
  ]).TargetGroups[0].TargetGroupArn as string;
}

/** `--load-balancers` entries: container `web` on 8080 in this target group. */
export const webTarget = (targetGroupArn: string) => [{ targetGroupArn, containerName: 'web', containerPort: 8080 }];

export interface FargateService {
  cluster: string;
  name: string;
  taskDefinition: string;
  /** The tasks' subnets and security groups: a Net's one subnet and group, or these (no group: the VPC's default). */
  network: Net | { subnets: string[]; securityGroups?: string[] };
  /** Default 1. */
  desiredCount?: number;
  /** Default ENABLED (a default subnet's task reaches the registry through its public IP). */
  assignPublicIp?: 'ENABLED' | 'DISABLED';
  deploymentConfiguration?: Record<string, unknown>;
  loadBalancers?: unknown[];
}

/** `aws ecs create-service` arguments for a Fargate service in awsvpc mode. */
export function createFargateServiceArgs(s: FargateService): string[] {
  const { subnets, securityGroups } =
    'subnet' in s.network ? { subnets: [s.network.subnet], securityGroups: [s.network.sg] } : s.network;
  const awsvpcConfiguration = {
    subnets,
    ...(securityGroups ? { securityGroups } : {}),
    assignPublicIp: s.assignPublicIp ?? 'ENABLED',
  };
  return [
    'ecs',
    'create-service',
    '--cluster',
    s.cluster,
    '--service-name',
    s.name,
    '--task-definition',
    s.taskDefinition,
    '--desired-count',
    String(s.desiredCount ?? 1),
    '--launch-type',
    'FARGATE',
    '--network-configuration',
    JSON.stringify({ awsvpcConfiguration }),
    ...(s.deploymentConfiguration ? ['--deployment-configuration', JSON.stringify(s.deploymentConfiguration)] : []),
    ...(s.loadBalancers ? ['--load-balancers', JSON.stringify(s.loadBalancers)] : []),
  ];
}

/** Creates that service with the harness's credentials; the service as ECS returns it. */
// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
export function createFargateService(s: FargateService): any {
  return awsCli(createFargateServiceArgs(s)).service;
}

/** ARNs of the service's tasks of this desired status (list-tasks). */
export function serviceTaskArns(cluster: string, service: string, desiredStatus: 'RUNNING' | 'STOPPED'): string[] {
  return awsCli([
    'ecs',
    'list-tasks',
    '--cluster',
    cluster,
    '--service-name',
    service,
    '--desired-status',
    desiredStatus,
  ]).taskArns;
}

/** The service's tasks of this desired status (list-tasks, then describe-tasks; none: []). */
// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
export function serviceTasks(cluster: string, service: string, desiredStatus: 'RUNNING' | 'STOPPED'): any[] {
  const arns = serviceTaskArns(cluster, service, desiredStatus);
  return arns.length ? awsCli(['ecs', 'describe-tasks', '--cluster', cluster, '--tasks', ...arns]).tasks : [];
}
