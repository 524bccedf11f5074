/**
 * The layout of a network patchwork creates (`network: { create: true }`): names, zones and
 * subnet CIDRs, derived deterministically from the config and the region's zones. Pure: the
 * network kinds (src/lib/resources/{vpc,subnet,…}.ts) and the facts reader share it.
 */
import type { NetworkCreate, ResolvedEnvironment } from '../config/resolve.js';
import type { Kind, Tags } from './types.js';

type Env = Pick<ResolvedEnvironment, 'name' | 'network' | 'tags'>;

/** The network kinds provision applies before the rest (their ids are facts the rest needs). */
export const NETWORK_KINDS = ['vpc', 'internet-gateway', 'subnet', 'elastic-ip', 'nat-gateway', 'route-table'] as const;
export const isNetworkKind = (kind: Kind): boolean => (NETWORK_KINDS as readonly string[]).includes(kind);

export type Tier = 'public' | 'private';

export const vpcName = (t: Pick<ResolvedEnvironment, 'name'>): string => t.name;
export const internetGatewayName = (t: Pick<ResolvedEnvironment, 'name'>): string => t.name;
export const subnetName = (t: Pick<ResolvedEnvironment, 'name'>, tier: Tier, zone: string): string =>
  `${t.name}-${tier}-${zone}`;
export const natName = (t: Pick<ResolvedEnvironment, 'name'>, zone: string): string => `${t.name}-nat-${zone}`;
export const publicRouteTableName = (t: Pick<ResolvedEnvironment, 'name'>): string => `${t.name}-public`;
export const privateRouteTableName = (t: Pick<ResolvedEnvironment, 'name'>, zone: string): string =>
  `${t.name}-private-${zone}`;
export const endpointName = (t: Pick<ResolvedEnvironment, 'name'>, service: string): string => `${t.name}-${service}`;
export const endpointSecurityGroupName = (t: Pick<ResolvedEnvironment, 'name'>): string => `${t.name}-endpoints`;

/** The environment's tags plus `Name` (what the EC2 console shows; also how observe names what it finds). */
export const networkTags = (t: Pick<ResolvedEnvironment, 'tags'>, name: string): Tags => ({ ...t.tags, Name: name });

/** The zones the network spans: the first `azs` of the region's (sorted), or all there are. */
export const zonesOf = (create: NetworkCreate, zones: readonly string[]): string[] =>
  [...zones].sort().slice(0, create.azs);

const toInt = (addr: string) => addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
const toAddr = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/**
 * The VPC's block cut in 8 (3 more prefix bits): public subnets take slots 0..2 (one per zone),
 * private subnets slots 4..6. A /16 gives /19 subnets (8 190 addresses each), a /24 gives /27.
 */
export function subnetCidr(vpcCidr: string, tier: Tier, zoneIndex: number): string {
  const [addr, prefix] = vpcCidr.split('/') as [string, string];
  const bits = Number(prefix) + 3;
  const slot = (tier === 'public' ? 0 : 4) + zoneIndex;
  return `${toAddr(toInt(addr) + slot * 2 ** (32 - bits))}/${bits}`;
}

/** The zones that get a NAT gateway: the first for `nat`, every zone for `nat-per-az`, none otherwise. */
export function natZones(create: NetworkCreate, zones: string[]): string[] {
  if (create.egress === 'nat') return zones.slice(0, 1);
  if (create.egress === 'nat-per-az') return zones;
  return [];
}

/** The NAT gateway a private subnet in `zone` routes 0.0.0.0/0 to (null: none, with endpoints or none). */
export function natFor(t: Env & { network: { create: NetworkCreate } }, zones: string[], zone: string): string | null {
  const nats = natZones(t.network.create, zones);
  if (!nats.length) return null;
  return natName(t, nats.includes(zone) ? zone : nats[0]!);
}

/**
 * The facts the other kinds need from a created network: the VPC's and subnets' ids where they
 * exist (`found`: `kind/name` → id), else their names (a plan that creates them; apply reads the
 * ids after creating the network). A VPC not created yet has no id: ''.
 */
export function createdNetworkFacts(
  t: Env,
  zones: string[],
  found: Map<string, string>,
): { vpcId: string; publicSubnets: string[]; taskSubnets: string[]; tasksArePrivate: boolean; zones: string[] } {
  const create = t.network.create!;
  const spanned = zonesOf(create, zones);
  const id = (kind: Kind, name: string) => found.get(`${kind}/${name}`) ?? name;
  return {
    vpcId: found.get(`vpc/${vpcName(t)}`) ?? '',
    publicSubnets: spanned.map((z) => id('subnet', subnetName(t, 'public', z))).sort(),
    taskSubnets: spanned.map((z) => id('subnet', subnetName(t, 'private', z))).sort(),
    tasksArePrivate: true,
    zones: spanned,
  };
}

/** The interface endpoints private tasks need without a NAT: ECR (API and registry), logs, and the secrets' services. */
export function interfaceEndpoints(t: Pick<ResolvedEnvironment, 'services'>): string[] {
  const out = ['ecr.api', 'ecr.dkr', 'logs'];
  const arns = t.services.flatMap((s) => Object.values(s.secrets));
  if (arns.some((a) => a.split(':')[2] === 'ssm')) out.push('ssm');
  if (arns.some((a) => a.split(':')[2] === 'secretsmanager')) out.push('secretsmanager');
  return out;
}
