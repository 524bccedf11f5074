/**
 * What the cost model prices, read off resources: the desired resources give what the environment
 * will run, the observed ones what runs now. Desired and observed resources have one shape per kind,
 * so one reader serves both; what the resources do not say (the network patchwork creates, from
 * `environments.<env>.network`) comes in beside them. Pure.
 */
import type { LoadedConfig } from '../config/load.js';
import type { ResolvedEnvironment } from '../config/resolve.js';
import { DEFAULTS } from '../config/resolve.js';
import type { RawEnvironment } from '../config/schema.js';
import type { EcsService, Resource } from '../desired/types.js';
import type { CostInputs, Egress } from './model.js';

/** `environments.<env>.network` with create: true (over `defaults:`), defaults applied; null otherwise. */
export interface CreatedNetwork {
  azs: 2 | 3;
  egress: Egress;
}

export function createdNetworkOf(config: Pick<LoadedConfig, 'raw'>, env: string): CreatedNetwork | null {
  const own: RawEnvironment['network'] = config.raw.environments[env]?.network;
  const n = { ...(config.raw.defaults?.network ?? {}), ...(own ?? {}) };
  if (!n.create) return null;
  return { azs: n.azs ?? 2, egress: n.egress ?? 'nat' };
}

/** The interface endpoints private tasks need without a NAT: ECR (API and Docker), logs, and the secret stores the services read. */
export function interfaceEndpointsFor(target: Pick<ResolvedEnvironment, 'services'>): string[] {
  const arns = target.services.flatMap((s) => Object.values(s.secrets));
  return [
    'ecr.api',
    'ecr.dkr',
    'logs',
    ...(arns.some((a) => a.includes(':ssm:')) ? ['ssm'] : []),
    ...(arns.some((a) => a.includes(':secretsmanager:')) ? ['secretsmanager'] : []),
  ];
}

/** The NAT gateways and interface endpoints a created network runs. */
export function networkCost(net: CreatedNetwork, endpoints: string[]): NonNullable<CostInputs['network']> {
  return {
    natGateways: net.egress === 'nat' ? 1 : net.egress === 'nat-per-az' ? net.azs : 0,
    interfaceEndpoints: net.egress === 'endpoints' ? endpoints.map((service) => ({ service, azs: net.azs })) : [],
  };
}

/**
 * NAT gateways and interface endpoints among observed resources. The merge point with network
 * creation: each `nat-gateway` counts one, each interface `vpc-endpoint` one per subnet (AZ); gateway
 * endpoints are free.
 */
export function observedNetwork(resources: readonly Resource[]): CostInputs['network'] {
  const natGateways = resources.filter((r) => r.kind === 'nat-gateway').length;
  const interfaceEndpoints = resources.flatMap((r) =>
    r.kind === 'vpc-endpoint' && r.type === 'Interface'
      ? [{ service: r.serviceName.replace(/^com\.amazonaws\.[a-z0-9-]+\./, ''), azs: Math.max(1, r.subnets.length) }]
      : [],
  );
  return natGateways || interfaceEndpoints.length ? { natGateways, interfaceEndpoints } : null;
}

export interface InputContext {
  region: string;
  network: CostInputs['network'];
  /** AZs of the load balancer when the resources do not say yet (a network still to create). */
  loadBalancerAzs?: number;
  /** Tasks run without public IPs whatever the resources say (a network still to create). */
  privateTasks?: boolean;
}

/** The task size: the desired service's bootstrap, the observed service's task definition in use. */
function sizeOf(s: EcsService): { cpu: number; memory: number } {
  const seen = (s as EcsService & { meta?: { size?: { cpu: number; memory: number } | null } }).meta?.size;
  if (seen) return seen;
  if (s.bootstrap) return { cpu: s.bootstrap.cpu, memory: s.bootstrap.memory };
  return { cpu: DEFAULTS.cpu, memory: DEFAULTS.memory };
}

export function costInputsOf(resources: readonly Resource[], ctx: InputContext): CostInputs {
  const services = resources.filter((r): r is EcsService => r.kind === 'ecs-service');
  const lb = resources.find((r) => r.kind === 'load-balancer');
  return {
    region: ctx.region,
    services: services.map((s) => {
      const size = sizeOf(s);
      const scaling = resources.find(
        (r) => r.kind === 'scalable-target' && r.resourceId === `service/${s.cluster}/${s.name}`,
      );
      const logGroup = resources.find((r) => r.kind === 'log-group' && r.service === s.service);
      return {
        name: s.service ?? s.name,
        cpu: size.cpu,
        memoryMiB: size.memory,
        architecture: s.runtimePlatform.cpuArchitecture,
        desired: s.desiredCount,
        max: scaling?.kind === 'scalable-target' ? Math.max(s.desiredCount, scaling.max) : s.desiredCount,
        publicIp: ctx.privateTasks ? false : s.assignPublicIp === 'ENABLED',
        ...(logGroup?.kind === 'log-group' ? { logRetentionDays: logGroup.retentionDays } : {}),
      };
    }),
    loadBalancer:
      lb?.kind === 'load-balancer' ? { azs: ctx.loadBalancerAzs ?? Math.max(1, new Set(lb.subnets).size) } : null,
    network: ctx.network,
    alarms: resources.filter((r) => r.kind === 'alarm').length,
    stateTable: resources.some((r) => r.kind === 'state-table'),
  };
}
