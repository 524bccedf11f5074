/**
 * The registry: every resource kind, in apply order (destroy deletes in reverse). Desired state,
 * observe, the planner and apply are orchestration over it. Adding a kind: write
 * `src/lib/resources/<kind>.ts` exporting a `ResourceKind<'<kind>'>`, add its type to
 * `desired/types.ts` (Resource union and KINDS) and one line below.
 */
import { KINDS, type Kind } from '../desired/types.js';
import { alarm } from './alarm.js';
import { ecrRepository } from './ecr-repository.js';
import { ecsCluster } from './ecs-cluster.js';
import { ecsService } from './ecs-service.js';
import { elasticIp } from './elastic-ip.js';
import { iamRole } from './iam-role.js';
import { internetGateway } from './internet-gateway.js';
import type { ResourceKind } from './kind.js';
import { listener } from './listener.js';
import { listenerRule } from './listener-rule.js';
import { loadBalancer } from './load-balancer.js';
import { logGroup } from './log-group.js';
import { natGateway } from './nat-gateway.js';
import { routeTable } from './route-table.js';
import { scalableTarget } from './scalable-target.js';
import { scalingPolicy } from './scaling-policy.js';
import { securityGroup } from './security-group.js';
import { stateTable } from './state-table.js';
import { subnet } from './subnet.js';
import { targetGroup } from './target-group.js';
import { vpc } from './vpc.js';
import { vpcEndpoint } from './vpc-endpoint.js';

export type Registry = { [K in Kind]: ResourceKind<K> };

export const REGISTRY: Registry = {
  vpc,
  'internet-gateway': internetGateway,
  subnet,
  'elastic-ip': elasticIp,
  'nat-gateway': natGateway,
  'route-table': routeTable,
  'state-table': stateTable,
  'ecr-repository': ecrRepository,
  'log-group': logGroup,
  'iam-role': iamRole,
  'ecs-cluster': ecsCluster,
  'security-group': securityGroup,
  'vpc-endpoint': vpcEndpoint,
  'load-balancer': loadBalancer,
  'target-group': targetGroup,
  listener,
  'listener-rule': listenerRule,
  'ecs-service': ecsService,
  'scalable-target': scalableTarget,
  'scaling-policy': scalingPolicy,
  alarm,
};

/** The kind's implementation, typed by its key. */
export const kindOf = <K extends Kind>(kind: K): ResourceKind<K> => REGISTRY[kind];

export type { DeleteOptions, ObservedOf, ObservedResource, ObservedState, ResourceKind } from './kind.js';
export { KINDS };
