/**
 * Preflight of a network the user gives (network.publicSubnets / privateSubnets): before any
 * mutating call, check that the load balancer and the tasks can work there, as AWS decides it —
 * public subnets route 0.0.0.0/0 to an internet gateway; the tasks' private subnets route it to a
 * NAT gateway or their VPC has the endpoints the tasks need (ecr.api, ecr.dkr, the S3 gateway on
 * the subnet's route table, logs for awslogs, ssm / secretsmanager for the secrets they use); the
 * load balancer spans two availability zones or more and the tasks' zones are among its zones;
 * every subnet is in the given VPC. Otherwise PW_NETWORK_PREFLIGHT (exit 2) naming each subnet,
 * what is missing and the fix. Sources: ECS Developer Guide "Amazon ECS interface VPC endpoints",
 * "CannotPullContainer task errors"; ELB User Guide "Availability Zones for your Application Load
 * Balancer" (targets in a zone the load balancer is not enabled in receive no traffic).
 *
 * `checkNetwork` is pure (tested by equality); `readNetworkFacts` reads the facts with four
 * paginated Describe calls in parallel; `preflightNetwork` joins them. Networks patchwork creates
 * itself, and the default VPC without subnets given, are not checked here.
 */
import {
  DescribeSubnetsCommand,
  paginateDescribeNatGateways,
  paginateDescribeRouteTables,
  paginateDescribeSubnets,
  paginateDescribeVpcEndpoints,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from '../aws/clients.js';
import type { LoadedConfig } from '../config/load.js';
import { preflightApplies, type ResolvedEnvironment } from '../config/resolve.js';
import type { PatchworkEnv } from '../env.js';
import { PatchworkError } from '../errors.js';
import { networkWhere } from './facts.js';

export interface SubnetFact {
  id: string;
  vpcId: string;
  az: string;
}
export interface RouteTableFact {
  id: string;
  vpcId: string;
  main: boolean;
  subnetIds: string[];
  /** Targets of the 0.0.0.0/0 route: gateway id (igw-…) or NAT gateway id (nat-…); none = undefined. */
  defaultGateway?: string;
  defaultNat?: string;
}
export interface NatGatewayFact {
  id: string;
  state: string;
}
export interface EndpointFact {
  /** Short service name: ecr.api, ecr.dkr, s3, logs, ssm, secretsmanager, … */
  service: string;
  type: 'Interface' | 'Gateway' | string;
  state: string;
  routeTableIds: string[];
  privateDns: boolean;
}
export interface NetworkFacts {
  subnets: SubnetFact[];
  routeTables: RouteTableFact[];
  natGateways: NatGatewayFact[];
  endpoints: EndpointFact[];
}

export interface NetworkIntent {
  vpcId: string;
  /** The load balancer's subnets. */
  publicSubnets: string[];
  /** The tasks' subnets (no public IP); empty = tasks run in the public subnets with public IPs. */
  privateSubnets: string[];
  /** Endpoints the tasks need besides the image's (ecr.api, ecr.dkr, s3): logs, ssm, secretsmanager. */
  services: string[];
}

export interface NetworkProblem {
  key: 'vpc' | 'publicSubnets' | 'privateSubnets';
  subnet?: string;
  message: string;
  fix: string;
}

const IMAGE_ENDPOINTS = ['ecr.api', 'ecr.dkr', 's3'];

/** The subnet's route table: its explicit association, else its VPC's main route table. */
function tableOf(facts: NetworkFacts, subnet: SubnetFact): RouteTableFact | undefined {
  return (
    facts.routeTables.find((rt) => rt.subnetIds.includes(subnet.id)) ??
    facts.routeTables.find((rt) => rt.main && rt.vpcId === subnet.vpcId)
  );
}

/** What is wrong with the network for this intent (empty: nothing). Pure. */
export function checkNetwork(intent: NetworkIntent, facts: NetworkFacts): NetworkProblem[] {
  const problems: NetworkProblem[] = [];
  const byId = new Map(facts.subnets.map((s) => [s.id, s]));
  const natOk = (id?: string) => !!id && facts.natGateways.some((n) => n.id === id && n.state === 'available');
  for (const key of ['publicSubnets', 'privateSubnets'] as const) {
    for (const id of intent[key]) {
      const s = byId.get(id);
      if (!s) {
        problems.push({ key, subnet: id, message: `subnet ${id} does not exist`, fix: 'list subnets that exist' });
      } else if (s.vpcId !== intent.vpcId) {
        problems.push({
          key,
          subnet: id,
          message: `subnet ${id} is in ${s.vpcId}, not in ${intent.vpcId}`,
          fix: `use subnets of ${intent.vpcId}, or set network.vpc to ${s.vpcId}`,
        });
      }
    }
  }
  const inVpc = (ids: string[]) =>
    ids.map((id) => byId.get(id)).filter((s): s is SubnetFact => !!s && s.vpcId === intent.vpcId);
  const pub = inVpc(intent.publicSubnets);
  for (const s of pub) {
    const rt = tableOf(facts, s);
    if (!rt?.defaultGateway?.startsWith('igw-')) {
      problems.push({
        key: 'publicSubnets',
        subnet: s.id,
        message: `public subnet ${s.id} (${s.az}) has no 0.0.0.0/0 route to an internet gateway (route table ${rt?.id ?? 'none'}${rt?.defaultNat ? `: 0.0.0.0/0 goes to ${rt.defaultNat}` : ''})`,
        fix: `aws ec2 create-route --route-table-id ${rt?.id ?? '<its route table>'} --destination-cidr-block 0.0.0.0/0 --gateway-id <igw of ${intent.vpcId}>, or list public subnets that have one`,
      });
    }
  }
  const lbZones = new Set(pub.map((s) => s.az));
  if (intent.publicSubnets.length && lbZones.size < 2) {
    problems.push({
      key: 'publicSubnets',
      message: `the load balancer's subnets span ${lbZones.size} availability zone${lbZones.size === 1 ? '' : 's'} (${[...lbZones].join(', ') || 'none'}); an Application Load Balancer needs two or more`,
      fix: 'list public subnets in at least two availability zones',
    });
  }
  const priv = inVpc(intent.privateSubnets);
  const usable = (e: EndpointFact, rt?: RouteTableFact) =>
    e.state.toLowerCase() === 'available' &&
    (e.type === 'Gateway' ? !!rt && e.routeTableIds.includes(rt.id) : e.privateDns);
  for (const s of priv) {
    const rt = tableOf(facts, s);
    if (natOk(rt?.defaultNat)) continue;
    const need = [...IMAGE_ENDPOINTS, ...intent.services];
    const missing = need.filter((svc) => !facts.endpoints.some((e) => e.service === svc && usable(e, rt)));
    if (!missing.length) continue;
    const route = rt?.defaultNat
      ? `its 0.0.0.0/0 route goes to ${rt.defaultNat}, which is not available`
      : rt?.defaultGateway
        ? `its 0.0.0.0/0 route goes to ${rt.defaultGateway}, which tasks without a public IP cannot use`
        : 'no 0.0.0.0/0 route to a NAT gateway';
    problems.push({
      key: 'privateSubnets',
      subnet: s.id,
      message: `private subnet ${s.id} (${s.az}): ${route} (route table ${rt?.id ?? 'none'}) and ${intent.vpcId} lacks the VPC endpoints ${missing.join(', ')}: tasks there cannot pull their image (CannotPullContainerError)`,
      fix: `add a route 0.0.0.0/0 to a NAT gateway in a public subnet (aws ec2 create-route --route-table-id ${rt?.id ?? '<its route table>'} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id <nat>), or create the endpoints ${missing.map((m) => `com.amazonaws.<region>.${m}`).join(', ')}`,
    });
  }
  if (priv.length && pub.length) {
    const outside = priv.filter((s) => !lbZones.has(s.az));
    if (outside.length) {
      problems.push({
        key: 'privateSubnets',
        subnet: outside[0]!.id,
        message: `tasks' subnet${outside.length > 1 ? 's' : ''} ${outside.map((s) => `${s.id} (${s.az})`).join(', ')} ${outside.length > 1 ? 'are' : 'is'} in an availability zone the load balancer is not enabled in (${[...lbZones].sort().join(', ')}): its targets there would get no traffic`,
        fix: `add a public subnet in ${[...new Set(outside.map((s) => s.az))].join(', ')} to publicSubnets, or keep privateSubnets to the load balancer's zones`,
      });
    }
  }
  return problems;
}

async function all<T>(pages: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(page);
  return out;
}

/** The facts checkNetwork needs: four paginated reads, in parallel. */
export async function readNetworkFacts(aws: AwsClients, vpcId: string, subnetIds: string[]): Promise<NetworkFacts> {
  const ec2 = await aws.get('ec2');
  const client = { client: ec2 };
  const vpc = [{ Name: 'vpc-id', Values: [vpcId] }];
  const [subnets, tables, nats, endpoints] = await Promise.all([
    all(paginateDescribeSubnets(client, { Filters: [{ Name: 'subnet-id', Values: subnetIds }] })),
    all(paginateDescribeRouteTables(client, { Filters: vpc })),
    all(paginateDescribeNatGateways(client, { Filter: vpc })),
    all(paginateDescribeVpcEndpoints(client, { Filters: vpc })),
  ]);
  return {
    subnets: subnets.flatMap((p) =>
      (p.Subnets ?? []).map((s) => ({ id: s.SubnetId ?? '', vpcId: s.VpcId ?? '', az: s.AvailabilityZone ?? '' })),
    ),
    routeTables: tables.flatMap((p) =>
      (p.RouteTables ?? []).map((rt) => {
        const def = (rt.Routes ?? []).find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
        return {
          id: rt.RouteTableId ?? '',
          vpcId: rt.VpcId ?? '',
          main: (rt.Associations ?? []).some((a) => a.Main),
          subnetIds: (rt.Associations ?? []).flatMap((a) => (a.SubnetId ? [a.SubnetId] : [])),
          ...(def?.GatewayId ? { defaultGateway: def.GatewayId } : {}),
          ...(def?.NatGatewayId ? { defaultNat: def.NatGatewayId } : {}),
        };
      }),
    ),
    natGateways: nats.flatMap((p) =>
      (p.NatGateways ?? []).map((n) => ({ id: n.NatGatewayId ?? '', state: n.State ?? '' })),
    ),
    endpoints: endpoints.flatMap((p) =>
      (p.VpcEndpoints ?? []).map((e) => {
        const name = e.ServiceName ?? '';
        return {
          service: name.replace(/^com\.amazonaws\.[a-z0-9-]+\./, ''),
          type: e.VpcEndpointType ?? 'Gateway',
          state: e.State ?? '',
          routeTableIds: e.RouteTableIds ?? [],
          privateDns: e.PrivateDnsEnabled !== false,
        };
      }),
    ),
  };
}

/** Endpoints the tasks need besides the image's: logs (patchwork's tasks log with awslogs) and their secrets' services. */
export function servicesNeeded(target: ResolvedEnvironment): string[] {
  const out = new Set(['logs']);
  for (const svc of target.services) {
    for (const ref of Object.values(svc.secrets ?? {}))
      out.add(/^arn:[^:]+:secretsmanager:/.test(ref) ? 'secretsmanager' : 'ssm');
  }
  return [...out].sort();
}

export { preflightApplies } from '../config/resolve.js';

/**
 * Reads and checks a given network; throws PW_NETWORK_PREFLIGHT (exit 2) with every problem.
 * `vpcId`: the VPC's id when known (observeFacts found it); else the configured one, or (the
 * default VPC) the first given subnet's. `env.skipNetworkPreflight` (test-only) skips it.
 */
export async function preflightNetwork(
  aws: AwsClients,
  target: ResolvedEnvironment,
  env: Pick<PatchworkEnv, 'skipNetworkPreflight'>,
  config?: LoadedConfig,
  knownVpcId?: string,
): Promise<void> {
  if (env.skipNetworkPreflight || !preflightApplies(target)) return;
  const pub = target.network.publicSubnets ?? [];
  const priv = target.network.privateSubnets ?? [];
  const ids = [...new Set([...pub, ...priv])];
  let vpcId = knownVpcId ?? (target.network.vpc !== 'default' ? target.network.vpc : undefined);
  if (!vpcId) {
    const ec2 = await aws.get('ec2');
    const first = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [ids[0]!] }));
    vpcId = first.Subnets?.[0]?.VpcId ?? 'default';
  }
  const facts = await readNetworkFacts(aws, vpcId, ids);
  const problems = checkNetwork(
    { vpcId, publicSubnets: pub, privateSubnets: priv, services: priv.length ? servicesNeeded(target) : [] },
    facts,
  );
  if (!problems.length) return;
  const first = problems[0]!;
  const where = networkWhere(target, config, first.key);
  throw new PatchworkError('PW_NETWORK_PREFLIGHT', `${where}: ${problems.map((p) => p.message).join('; ')}`, {
    hint: problems.map((p) => p.fix).join('; '),
    data: { vpc: vpcId, problems },
  });
}
