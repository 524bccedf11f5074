/**
 * The service-linked roles an environment needs, made before the first create that needs them.
 * AWS would create them on first use, but the call that triggers that is refused meanwhile
 * ("Unable to assume the service linked role"), so provision ensures them first: GetRole by
 * name, else CreateServiceLinkedRole (IAM answers InvalidInput "... has been taken ..." when
 * another run made it a moment ago: that is success). They are account-wide and shared by every
 * environment and tool, so nothing in patchwork ever deletes one (destroy leaves them).
 */
import { CreateServiceLinkedRoleCommand, GetRoleCommand } from '@aws-sdk/client-iam';
import type { AwsClients } from './aws/clients.js';
import { isAwsError } from './aws/errors.js';
import type { PlannedChange } from './plan/index.js';

export interface ServiceLinkedRole {
  /** IAM's AWSServiceName. */
  service: string;
  /** The role IAM creates for it. */
  roleName: string;
}

export const SERVICE_LINKED_ROLES = {
  ecs: { service: 'ecs.amazonaws.com', roleName: 'AWSServiceRoleForECS' },
  elb: { service: 'elasticloadbalancing.amazonaws.com', roleName: 'AWSServiceRoleForElasticLoadBalancing' },
  autoscaling: {
    service: 'ecs.application-autoscaling.amazonaws.com',
    roleName: 'AWSServiceRoleForApplicationAutoScaling_ECSService',
  },
} as const satisfies Record<string, ServiceLinkedRole>;

/** The roles the creates in `changes` need (none for a plan that creates none of their resources). */
export function serviceLinkedRolesFor(changes: Pick<PlannedChange, 'kind' | 'action'>[]): ServiceLinkedRole[] {
  const creates = new Set(changes.filter((c) => c.action === 'create' || c.action === 'replace').map((c) => c.kind));
  const out: ServiceLinkedRole[] = [];
  if (creates.has('ecs-cluster') || creates.has('ecs-service')) out.push(SERVICE_LINKED_ROLES.ecs);
  if (creates.has('load-balancer')) out.push(SERVICE_LINKED_ROLES.elb);
  if (creates.has('scalable-target')) out.push(SERVICE_LINKED_ROLES.autoscaling);
  return out;
}

export type EnsureOutcome = 'exists' | 'created';

/** Makes each role exist; returns what was found or done, by role name. */
export async function ensureServiceLinkedRoles(
  aws: AwsClients,
  roles: ServiceLinkedRole[],
): Promise<Record<string, EnsureOutcome>> {
  const out: Record<string, EnsureOutcome> = {};
  if (!roles.length) return out;
  const iam = await aws.get('iam');
  for (const role of roles) {
    try {
      await iam.send(new GetRoleCommand({ RoleName: role.roleName }));
      out[role.roleName] = 'exists';
      continue;
    } catch (err) {
      if (!isAwsError(err, 'NoSuchEntity', 'NoSuchEntityException')) throw err;
    }
    try {
      await iam.send(new CreateServiceLinkedRoleCommand({ AWSServiceName: role.service }));
      out[role.roleName] = 'created';
    } catch (err) {
      if (
        !(
          isAwsError(err, 'InvalidInput', 'InvalidInputException') &&
          /has been taken/i.test(String((err as Error).message))
        )
      )
        throw err;
      out[role.roleName] = 'exists';
    }
  }
  return out;
}
