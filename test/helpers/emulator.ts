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
