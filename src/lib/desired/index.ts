/**
 * Desired state: what AWS should hold for one environment, as plain objects (types.ts). Pure: the
 * resolved config plus a few facts read from AWS (account id, VPC, subnets) in, resources out.
 * Each kind builds its own resources (src/lib/resources/<kind>.ts); this orders them: the
 * environment's first, then each service's, in kind order.
 */
import { DEFAULT_USER, isNonRootUser, type ResolvedEnvironment } from '../config/resolve.js';
import { KINDS, kindOf } from '../resources/index.js';
import type { DesiredInput } from '../resources/kind.js';
import type { DesiredState, Facts, Resource } from './types.js';

export { lifecyclePolicy } from '../resources/ecr-repository.js';
export { bootstrapOf, registryHost } from '../resources/ecs-service.js';
export { executionPolicy } from '../resources/iam-role.js';
export { sortRules } from '../resources/security-group.js';
export { DEREGISTRATION_DELAY } from '../resources/target-group.js';
export * from './names.js';
export * from './types.js';

export function desiredState(target: ResolvedEnvironment, facts: Facts): DesiredState {
  const input: DesiredInput = { target, facts };
  const resources: Resource[] = [];
  const warnings: DesiredState['warnings'] = [];
  for (const kind of KINDS) resources.push(...(kindOf(kind).desired.environment?.(input) ?? []));
  if (!facts.tasksArePrivate) {
    warnings.push({
      code: 'PW_PUBLIC_TASKS',
      message:
        'no privateSubnets configured: tasks run in the public subnets with public IPs (reachable only through their security group); set network.privateSubnets, or network: { create: true } for a VPC of its own, to keep them private',
    });
  }
  for (const svc of target.services) {
    const own: Resource[] = [];
    for (const kind of KINDS) own.push(...(kindOf(kind).desired.service?.(input, svc) ?? []));
    resources.push(...own);
    const image = svc.image ? facts.images?.[svc.name] : undefined;
    if (image && svc.user === null && !isNonRootUser(image.user)) {
      warnings.push({
        code: 'PW_IMAGE_RUNS_AS_ROOT',
        message: `service ${svc.name}: image ${svc.image} runs as root (no non-root USER); patchwork runs it as ${DEFAULT_USER}, which may not write where the image expects or bind ports below 1024; set user: root to keep root, or user: <uid> for another user`,
      });
    }
    // PW_NO_IMAGE_YET depends on what runs (a service already deployed has an image): the planner warns.
  }
  return {
    env: { app: target.app, env: target.env, name: target.name, region: target.region },
    resources,
    warnings,
  };
}
