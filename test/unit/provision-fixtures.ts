/** Shared fixtures for the provision unit tests: a resolved environment, facts, and "as observed". */
import { parseConfig } from '../../src/lib/config/load.js';
import { type ResolvedEnvironment, resolveEnvironment } from '../../src/lib/config/resolve.js';
import { desiredState } from '../../src/lib/desired/index.js';
import type { DesiredState, Facts } from '../../src/lib/desired/types.js';
import type { ObservedResource } from '../../src/lib/observe/index.js';

export const FACTS: Facts = {
  accountId: '123456789012',
  partition: 'aws',
  vpcId: 'vpc-0123456789abcdef0',
  publicSubnets: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
  taskSubnets: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
  tasksArePrivate: false,
};

export function target(yaml: string, env = 'prod'): ResolvedEnvironment {
  return resolveEnvironment(parseConfig(yaml, 'patchwork.yml', '/tmp'), env, {});
}

export const ONE_SERVICE = `app: shop
region: eu-west-1
services:
  web:
    build: { context: . }
    port: 8080
    healthCheck: { path: /healthz }
environments:
  prod:
    desiredCount: 2
`;

export function desired(yaml = ONE_SERVICE, facts: Facts = FACTS): DesiredState {
  return desiredState(target(yaml), facts);
}

/** What observe would return if AWS held exactly the desired state (deploy has not run yet). */
export function asObserved(d: DesiredState): ObservedResource[] {
  return d.resources.map((r) => {
    const copy = structuredClone(r) as ObservedResource;
    copy.id = `id-${r.kind}-${r.name}`;
    if (copy.kind === 'ecs-service' && r.kind === 'ecs-service') {
      delete copy.bootstrap;
      copy.taskFamily = r.bootstrap!.family;
      if (r.bootstrap!.placeholder) copy.desiredCount = 0;
    }
    return copy;
  });
}

export function find<T extends ObservedResource['kind']>(
  list: ObservedResource[],
  kind: T,
  name?: string,
): Extract<ObservedResource, { kind: T }> {
  const r = list.find((x) => x.kind === kind && (name === undefined || x.name === name));
  if (!r) throw new Error(`no ${kind} ${name ?? ''}`);
  return r as Extract<ObservedResource, { kind: T }>;
}
