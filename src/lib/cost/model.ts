/**
 * The cost model: what an environment costs a month (730 h) at list prices, from plain inputs and a
 * price table. Pure: the same inputs and table give the same dollars (tests compare by equality).
 * Usage-priced dimensions (data processed by NAT, endpoints and the load balancer beyond the
 * assumed LCU, data transfer) are not estimated: the estimate says so.
 */
import { createRequire } from 'node:module';

type PriceTableFile = typeof import('./prices.json');

/** One region's figures, in USD. */
export interface Prices {
  fargateX86VcpuHour: number;
  fargateX86GbHour: number;
  fargateArmVcpuHour: number;
  fargateArmGbHour: number;
  albHour: number;
  albLcuHour: number;
  natGatewayHour: number;
  publicIpv4Hour: number;
  interfaceEndpointHour: number;
  logsIngestGb: number;
  logsStorageGbMonth: number;
  alarmMonth: number;
  dynamodbStorageGbMonth: number;
}

export interface PriceTable {
  date: string;
  currency: 'USD';
  hoursPerMonth: number;
  sources: Record<string, string>;
  method: string;
  base: string;
  prices: Record<string, Prices>;
  /** Region → multiplier applied to the base region's figures (public IPv4 excepted). */
  carried: Record<string, number>;
  /** Region → why it has no prices. */
  unpriced: Record<string, string>;
}

/** The table shipped in the repository (src/lib/cost/prices.json). */
export const PRICE_TABLE: PriceTable = createRequire(import.meta.url)('./prices.json') as PriceTableFile as PriceTable;

/** Assumptions that are not configurable anywhere: shown with every estimate. */
export const ASSUMPTIONS = {
  /** Load balancer capacity units used on average, every hour. */
  albLcus: 1,
  /** Log volume each task writes a day, in GB. */
  logGbPerTaskDay: 0.05,
  /** A log group without retention ("never expire") is counted at this many days of logs. */
  unboundedRetentionDays: 365,
} as const;

export type Egress = 'nat' | 'nat-per-az' | 'endpoints' | 'none';
export type CpuArchitecture = 'X86_64' | 'ARM64';

export interface ServiceCostInput {
  name: string;
  /** Fargate CPU units (1024 = 1 vCPU) and memory in MiB of one task. */
  cpu: number;
  memoryMiB: number;
  architecture: CpuArchitecture;
  /** Tasks normally running, and the most autoscaling may run (= desired without autoscaling). */
  desired: number;
  max: number;
  /** Each task has a public IPv4 address (tasks in public subnets). */
  publicIp: boolean;
  /** Retention of the service's log group in days; null = never expires; undefined = no log group. */
  logRetentionDays?: number | null;
}

export interface CostInputs {
  region: string;
  services: ServiceCostInput[];
  /** The internet-facing load balancer: one public IPv4 address per AZ it is enabled in. */
  loadBalancer: { azs: number } | null;
  /** NAT gateways (each with an Elastic IP) and interface endpoints patchwork runs for the environment. */
  network: { natGateways: number; interfaceEndpoints: { service: string; azs: number }[] } | null;
  alarms: number;
  stateTable: boolean;
}

export const COMPONENTS = [
  'fargate',
  'load-balancer',
  'nat-gateway',
  'vpc-endpoints',
  'public-ipv4',
  'logs',
  'alarms',
  'state-table',
] as const;
export type Component = (typeof COMPONENTS)[number];

export interface CostLine {
  component: Component;
  /** Monthly USD with the desired task counts, and with every service at its autoscaling max. */
  desired: number;
  max: number;
  /** How it was counted, for people. */
  detail: string;
}

export interface CostEstimate {
  region: string;
  currency: 'USD';
  hoursPerMonth: number;
  /** The price table's date and where its figures come from. */
  table: { date: string; sources: string[] };
  /** Set when the region's figures are the base region's times a multiplier (an estimate). */
  carried: { from: string; multiplier: number } | null;
  /** Set when the region has no prices at all: every line is 0. */
  unpriced: string | null;
  lines: CostLine[];
  total: { desired: number; max: number };
  assumptions: string[];
  excluded: string;
}

/** Dollars to whole cents, half away from zero, immune to binary noise (22.265 is 22.27, not 22.26). */
export function cents(x: number): number {
  const c = Number((x * 100).toPrecision(12));
  return (Math.sign(c) * Math.round(Math.abs(c))) / 100 || 0;
}

/** The figures of a region: its own, else the base region's times its multiplier; null when unpriced. */
export function pricesFor(
  region: string,
  table: PriceTable = PRICE_TABLE,
): { prices: Prices; carried: CostEstimate['carried'] } | null {
  const own = table.prices[region];
  if (own) return { prices: own, carried: null };
  const base = table.prices[table.base];
  if (!base || table.unpriced[region] !== undefined) return null;
  // A region the table does not know is carried at 1.0: said so, like any carried region.
  const multiplier = table.carried[region] ?? 1;
  const prices = Object.fromEntries(
    Object.entries(base).map(([k, v]) => [k, k === 'publicIpv4Hour' ? v : v * multiplier]),
  ) as unknown as Prices;
  return { prices, carried: { from: table.base, multiplier } };
}

const vcpu = (cpu: number) => cpu / 1024;
const gb = (mib: number) => mib / 1024;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function estimateCost(inputs: CostInputs, table: PriceTable = PRICE_TABLE): CostEstimate {
  const H = table.hoursPerMonth;
  const found = pricesFor(inputs.region, table);
  const p = found?.prices;
  const line = (component: Component, desired: number, max: number, detail: string): CostLine => ({
    component,
    desired: p ? cents(desired) : 0,
    max: p ? cents(max) : 0,
    detail,
  });
  // An unpriced region counts every quantity at 0 (the estimate says why).
  const P: Prices = p ?? (new Proxy({}, { get: () => 0 }) as Prices);
  const days = H / 24;

  // Fargate: vCPU-hours and GB-hours of every task, per architecture.
  const perTask = (s: ServiceCostInput) =>
    s.architecture === 'ARM64'
      ? vcpu(s.cpu) * P.fargateArmVcpuHour * H + gb(s.memoryMiB) * P.fargateArmGbHour * H
      : vcpu(s.cpu) * P.fargateX86VcpuHour * H + gb(s.memoryMiB) * P.fargateX86GbHour * H;
  const fargate = line(
    'fargate',
    inputs.services.reduce((sum, s) => sum + perTask(s) * s.desired, 0),
    inputs.services.reduce((sum, s) => sum + perTask(s) * s.max, 0),
    inputs.services
      .map(
        (s) =>
          `${s.name}: ${s.desired}${s.max !== s.desired ? ` (max ${s.max})` : ''} × ${vcpu(s.cpu)} vCPU / ${gb(s.memoryMiB)} GB ${s.architecture === 'ARM64' ? 'ARM' : 'x86'}`,
      )
      .join('; ') || 'no services',
  );

  const lb = inputs.loadBalancer;
  const albMonth = lb ? (P.albHour + ASSUMPTIONS.albLcus * P.albLcuHour) * H : 0;
  const loadBalancer = line(
    'load-balancer',
    albMonth,
    albMonth,
    lb ? `1 ALB, ${ASSUMPTIONS.albLcus} LCU assumed on average` : 'none',
  );

  const net = inputs.network;
  const nats = net?.natGateways ?? 0;
  const nat = line(
    'nat-gateway',
    nats * P.natGatewayHour * H,
    nats * P.natGatewayHour * H,
    plural(nats, 'NAT gateway'),
  );

  const endpointHours = (net?.interfaceEndpoints ?? []).reduce((sum, e) => sum + e.azs, 0);
  const endpoints = line(
    'vpc-endpoints',
    endpointHours * P.interfaceEndpointHour * H,
    endpointHours * P.interfaceEndpointHour * H,
    net?.interfaceEndpoints.length
      ? `${net.interfaceEndpoints.map((e) => e.service).join(', ')} × ${plural(Math.max(...net.interfaceEndpoints.map((e) => e.azs)), 'AZ')} (S3 gateway endpoint free)`
      : 'none',
  );

  // Public IPv4: the load balancer's (one per AZ), each NAT gateway's Elastic IP, each public task's.
  const fixedIps = (lb?.azs ?? 0) + nats;
  const taskIps = (n: 'desired' | 'max') => inputs.services.reduce((sum, s) => sum + (s.publicIp ? s[n] : 0), 0);
  const ipMonth = P.publicIpv4Hour * H;
  const ipParts = [
    lb ? `ALB ${lb.azs}` : '',
    nats ? `NAT ${nats}` : '',
    taskIps('desired') || taskIps('max') ? `tasks ${taskIps('desired')} (max ${taskIps('max')})` : '',
  ].filter(Boolean);
  const publicIpv4 = line(
    'public-ipv4',
    (fixedIps + taskIps('desired')) * ipMonth,
    (fixedIps + taskIps('max')) * ipMonth,
    ipParts.length ? `addresses: ${ipParts.join(', ')}` : 'none',
  );

  // Logs: each task's assumed volume ingested, and kept for the group's retention.
  const logged = inputs.services.filter((s) => s.logRetentionDays !== undefined);
  const logsFor = (n: 'desired' | 'max') =>
    logged.reduce((sum, s) => {
      const keep = s.logRetentionDays ?? ASSUMPTIONS.unboundedRetentionDays;
      const perTask =
        ASSUMPTIONS.logGbPerTaskDay * days * P.logsIngestGb + ASSUMPTIONS.logGbPerTaskDay * keep * P.logsStorageGbMonth;
      return sum + perTask * s[n];
    }, 0);
  const retentions = [...new Set(logged.map((s) => s.logRetentionDays ?? 'never-expiring'))];
  const logs = line(
    'logs',
    logsFor('desired'),
    logsFor('max'),
    logged.length
      ? `ingested and kept ${retentions.map((r) => (typeof r === 'number' ? `${r} d` : r)).join('/')}`
      : 'none',
  );

  const alarms = line(
    'alarms',
    inputs.alarms * P.alarmMonth,
    inputs.alarms * P.alarmMonth,
    plural(inputs.alarms, 'alarm'),
  );
  const stateTable = line(
    'state-table',
    0,
    0,
    inputs.stateTable ? 'on-demand: a few requests per deploy, < 1 MB stored (25 GB free)' : 'none',
  );

  const lines = [fargate, loadBalancer, nat, endpoints, publicIpv4, logs, alarms, stateTable];
  return {
    region: inputs.region,
    currency: 'USD',
    hoursPerMonth: H,
    table: { date: table.date, sources: Object.values(table.sources) },
    carried: found?.carried ?? null,
    unpriced: found ? null : (table.unpriced[inputs.region] ?? 'no prices for this region'),
    lines,
    total: {
      desired: cents(lines.reduce((s, l) => s + l.desired, 0)),
      max: cents(lines.reduce((s, l) => s + l.max, 0)),
    },
    assumptions: [
      `${H} hours a month`,
      `the load balancer uses ${ASSUMPTIONS.albLcus} LCU on average`,
      `each task writes ${ASSUMPTIONS.logGbPerTaskDay} GB of logs a day`,
    ],
    excluded:
      'data processing (NAT gateway and endpoint GBs, LCUs above the assumption), data transfer, ECR storage, Container Insights, log queries',
  };
}

export interface CostLineChange {
  component: Component;
  before: number;
  after: number;
  delta: number;
}

/** Per component: monthly USD (desired counts) before and after a change, and the difference. */
export function costChange(before: CostEstimate, after: CostEstimate): CostLineChange[] {
  return after.lines.map((l) => {
    const was = before.lines.find((b) => b.component === l.component)?.desired ?? 0;
    return { component: l.component, before: was, after: l.desired, delta: cents(l.desired - was) };
  });
}
