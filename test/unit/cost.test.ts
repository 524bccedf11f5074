/** The cost model by equality: known inputs → known dollars; and its rendering. */
import { describe, expect, it } from 'vitest';
import { describeCost } from '../../src/cli/format/cost.js';
import { KNOWN_REGIONS } from '../../src/lib/aws/regions.js';
import { parseConfig } from '../../src/lib/config/load.js';
import {
  type CostInputs,
  cents,
  createdNetworkOf,
  estimateCost,
  interfaceEndpointsFor,
  networkCost,
  PRICE_TABLE,
  planCost,
  pricesFor,
} from '../../src/lib/cost/index.js';
import { asObserved, desired, FACTS, target } from './provision-fixtures.js';

const WEB = {
  name: 'web',
  cpu: 256,
  memoryMiB: 512,
  architecture: 'X86_64' as const,
  desired: 2,
  max: 4,
  publicIp: true,
  logRetentionDays: 30,
};
const BASE: CostInputs = {
  region: 'us-east-1',
  services: [WEB],
  loadBalancer: { azs: 2 },
  network: null,
  alarms: 3,
  stateTable: true,
};
const byComponent = (inputs: CostInputs) =>
  Object.fromEntries(estimateCost(inputs).lines.map((l) => [l.component, [l.desired, l.max]]));

describe('price table', () => {
  it('is dated, names its sources, and prices every region patchwork knows (or says why not)', () => {
    expect(PRICE_TABLE.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Object.keys(PRICE_TABLE.sources).sort()).toEqual(
      ['cloudwatch', 'dynamodb', 'elb', 'fargate', 'privatelink', 'vpc'].sort(),
    );
    for (const region of KNOWN_REGIONS) {
      const known = region in PRICE_TABLE.prices || region in PRICE_TABLE.carried || region in PRICE_TABLE.unpriced;
      expect(known, region).toBe(true);
    }
  });

  it('carries a region without its own figures from us-east-1 times its multiplier, except public IPv4', () => {
    const eu = pricesFor('eu-west-1')!;
    expect(eu.carried).toEqual({ from: 'us-east-1', multiplier: 1.1 });
    expect(cents(eu.prices.natGatewayHour * 730)).toBe(36.14); // 0.045 × 1.1 × 730
    expect(eu.prices.publicIpv4Hour).toBe(0.005);
    expect(pricesFor('us-east-1')!.carried).toBeNull();
    expect(pricesFor('cn-north-1')).toBeNull();
  });

  it('cents rounds half away from zero without binary noise', () => {
    expect(cents(22.265)).toBe(22.27);
    expect(cents(9.010025)).toBe(9.01);
    expect(cents(-22.265)).toBe(-22.27);
    expect(cents(0)).toBe(0);
  });
});

describe('cost model', () => {
  it('default VPC, one x86 service at 2 (max 4): every component in dollars', () => {
    // Fargate: (0.25 × 0.04048 + 0.5 × 0.004445) × 730 = 9.010025 a task.
    // ALB: (0.0225 + 1 LCU × 0.008) × 730 = 22.265. Public IPv4: 0.005 × 730 = 3.65 an address.
    // Logs a task: 0.05 GB × 730/24 d × 0.50 + 0.05 GB × 30 d × 0.03 = 0.805417.
    expect(byComponent(BASE)).toEqual({
      fargate: [18.02, 36.04],
      'load-balancer': [22.27, 22.27],
      'nat-gateway': [0, 0],
      'vpc-endpoints': [0, 0],
      'public-ipv4': [14.6, 21.9], // ALB 2 + tasks 2 (max 4)
      logs: [1.61, 3.22],
      alarms: [0.3, 0.3],
      'state-table': [0, 0],
    });
    const e = estimateCost(BASE);
    expect(e.total).toEqual({ desired: 56.8, max: 83.73 });
    expect(e).toMatchObject({ currency: 'USD', hoursPerMonth: 730, carried: null, unpriced: null });
    expect(e.table.date).toBe(PRICE_TABLE.date);
  });

  it('ARM tasks cost less than x86 ones of the same size', () => {
    const arm = byComponent({ ...BASE, services: [{ ...WEB, architecture: 'ARM64', desired: 1, max: 1 }] });
    // (0.25 × 0.03238 + 0.5 × 0.00356) × 730 = 7.20875
    expect(arm.fargate).toEqual([7.21, 7.21]);
  });

  it('cpu and memory scale the Fargate line', () => {
    const big = byComponent({ ...BASE, services: [{ ...WEB, cpu: 1024, memoryMiB: 2048, desired: 1, max: 1 }] });
    // (1 × 0.04048 + 2 × 0.004445) × 730 = 36.0394
    expect(big.fargate).toEqual([36.04, 36.04]);
  });

  it('egress: one NAT, a NAT per AZ, or interface endpoints per AZ; none costs nothing', () => {
    const net = (egress: 'nat' | 'nat-per-az' | 'endpoints' | 'none', azs: 2 | 3 = 2) => ({
      ...BASE,
      services: [{ ...WEB, publicIp: false }],
      loadBalancer: { azs },
      network: networkCost({ azs, egress }, ['ecr.api', 'ecr.dkr', 'logs']),
    });
    const nat = byComponent(net('nat'));
    expect([nat['nat-gateway'], nat['public-ipv4'], nat['vpc-endpoints']]).toEqual([
      [32.85, 32.85], // 0.045 × 730
      [10.95, 10.95], // ALB 2 + NAT's Elastic IP 1
      [0, 0],
    ]);
    const perAz = byComponent(net('nat-per-az', 3));
    expect([perAz['nat-gateway'], perAz['public-ipv4']]).toEqual([
      [98.55, 98.55],
      [21.9, 21.9], // ALB 3 + 3 Elastic IPs
    ]);
    const endpoints = byComponent(net('endpoints'));
    expect([endpoints['nat-gateway'], endpoints['vpc-endpoints'], endpoints['public-ipv4']]).toEqual([
      [0, 0],
      [43.8, 43.8], // 3 endpoints × 2 AZs × 0.01 × 730
      [7.3, 7.3],
    ]);
    const none = byComponent(net('none'));
    expect([none['nat-gateway'], none['vpc-endpoints'], none['public-ipv4']]).toEqual([
      [0, 0],
      [0, 0],
      [7.3, 7.3],
    ]);
  });

  it('a carried region multiplies every figure but public IPv4; an unpriced one is all zero and says why', () => {
    const eu = estimateCost({ ...BASE, region: 'eu-west-1' });
    expect(eu.lines.find((l) => l.component === 'fargate')!.desired).toBe(19.82); // 18.02005 × 1.1
    expect(eu.lines.find((l) => l.component === 'public-ipv4')!.desired).toBe(14.6);
    expect(eu.carried).toEqual({ from: 'us-east-1', multiplier: 1.1 });
    const cn = estimateCost({ ...BASE, region: 'cn-north-1' });
    expect(cn.total).toEqual({ desired: 0, max: 0 });
    expect(cn.unpriced).toMatch(/CNY/);
  });

  it('endpoints follow the secrets the services use', () => {
    const t = target(`app: shop
region: us-east-1
services:
  web:
    image: nginx
    port: 8080
    user: "101"
    secrets:
      A: arn:aws:ssm:us-east-1:123456789012:parameter/a
      B: arn:aws:secretsmanager:us-east-1:123456789012:secret:b
environments:
  prod: {}
`);
    expect(interfaceEndpointsFor(t)).toEqual(['ecr.api', 'ecr.dkr', 'logs', 'ssm', 'secretsmanager']);
  });
});

const WITH_NETWORK = (egress: string, extra = '') => `app: shop
region: us-east-1
services:
  web:
    build: { context: . }
    port: 8080
environments:
  prod:
    desiredCount: 2
    network: { create: true, egress: ${egress} }${extra}
`;

describe('plan cost', () => {
  const cfg = (yaml: string) => parseConfig(yaml, 'patchwork.yml', '/tmp');
  const cost = (yaml: string, observed: 'none' | 'same' = 'none') => {
    const d = desired(yaml, FACTS);
    return planCost({
      config: cfg(yaml),
      target: target(yaml),
      desired: d.resources,
      observed: observed === 'none' ? [] : asObserved(d),
    });
  };

  it('network.create defaults: 2 AZs, nat; absent → null', () => {
    expect(createdNetworkOf(cfg(WITH_NETWORK('nat')), 'prod')).toEqual({ azs: 2, egress: 'nat' });
    expect(createdNetworkOf(cfg(WITH_NETWORK('endpoints', '\n    ')), 'prod')).toEqual({
      azs: 2,
      egress: 'endpoints',
    });
  });

  it('a new environment: before is zero, every component is a change', () => {
    const c = cost(WITH_NETWORK('nat-per-az'));
    expect(c.before.total).toBe(0);
    const fargate = c.changes.find((x) => x.component === 'fargate');
    expect(fargate).toEqual({ component: 'fargate', before: 0, after: 18.02, delta: 18.02 });
    expect(c.changes.find((x) => x.component === 'nat-gateway')).toEqual({
      component: 'nat-gateway',
      before: 0,
      after: 65.7,
      delta: 65.7,
    });
    expect(c.delta).toBe(c.total.desired);
    // Created network: tasks are private (no task addresses): ALB 2 + 2 Elastic IPs.
    expect(c.lines.find((l) => l.component === 'public-ipv4')!.desired).toBe(14.6);
  });

  it('changing egress nat-per-az → endpoints changes the NAT and endpoint lines and the total', () => {
    const perAz = cost(WITH_NETWORK('nat-per-az'));
    const endpoints = cost(WITH_NETWORK('endpoints'));
    const line = (c: typeof perAz, k: string) => c.lines.find((l) => l.component === k)!.desired;
    expect([line(perAz, 'nat-gateway'), line(endpoints, 'nat-gateway')]).toEqual([65.7, 0]);
    expect([line(perAz, 'vpc-endpoints'), line(endpoints, 'vpc-endpoints')]).toEqual([0, 43.8]);
    expect(cents(endpoints.total.desired - perAz.total.desired)).toBe(-29.2); // -65.70 + 43.80 - 7.30 (EIPs)
  });

  it('nothing changed: before equals after for the resources observed (the network is not observed here)', () => {
    const yaml = WITH_NETWORK('none');
    const c = cost(yaml, 'same');
    // asObserved leaves a build: service on its placeholder at 0 tasks: only Fargate and the tasks' logs differ.
    expect(c.changes.filter((x) => x.delta !== 0).map((x) => x.component)).toEqual(['fargate', 'logs']);
  });

  it('now is read off the observed resources: the task definition in use gives size and architecture', () => {
    const yaml = WITH_NETWORK('none');
    const d = desired(yaml, FACTS);
    const observed = asObserved(d).map((r) =>
      r.kind === 'ecs-service'
        ? {
            ...r,
            desiredCount: 2,
            runtimePlatform: { cpuArchitecture: 'ARM64' as const, operatingSystemFamily: 'LINUX' as const },
            meta: { size: { cpu: 1024, memory: 2048 } },
          }
        : r,
    );
    const c = planCost({ config: cfg(yaml), target: target(yaml), desired: d.resources, observed });
    // Now: 2 × (1 × 0.03238 + 2 × 0.00356) × 730 = 57.6664; planned: 2 × 9.010025 (x86, 0.25 vCPU / 0.5 GB).
    expect(c.changes.find((x) => x.component === 'fargate')).toEqual({
      component: 'fargate',
      before: 57.67,
      after: 18.02,
      delta: -39.65,
    });
    expect(describeCost(c)).toMatch(/Fargate tasks {4}\$57\.67 → \$18\.02 {2}-\$39\.65/);
  });

  it('an unpriced region says so instead of dollars', () => {
    const yaml = WITH_NETWORK('nat').replace('region: us-east-1', 'region: cn-north-1');
    const d = desired(yaml, FACTS);
    const c = planCost({ config: cfg(yaml), target: target(yaml), desired: d.resources, observed: [] });
    expect(c.total).toEqual({ desired: 0, max: 0 });
    expect(describeCost(c).split('\n')[0]).toBe(
      `Estimated monthly cost (USD, 730 h, prices of ${PRICE_TABLE.date}; cn-north-1: not priced (AWS China prices are in CNY, on amazonaws.cn))`,
    );
  });

  it('renders now → planned with the delta, max, the table date and what is not included', () => {
    const d = desired(WITH_NETWORK('nat'), FACTS);
    const observed = asObserved(d).map((r) => (r.kind === 'ecs-service' ? { ...r, desiredCount: 2 } : r));
    const c = planCost({
      config: cfg(WITH_NETWORK('nat')),
      target: target(WITH_NETWORK('nat')),
      desired: d.resources.map((r) => (r.kind === 'ecs-service' ? { ...r, desiredCount: 3 } : r)),
      observed,
    });
    expect(describeCost(c)).toBe(
      [
        `Estimated monthly cost (USD, 730 h, prices of ${PRICE_TABLE.date}; us-east-1)`,
        '  Fargate tasks    $18.02 → $27.03   +$9.01  web: 3 × 0.25 vCPU / 0.5 GB x86',
        '  load balancer               $22.27           1 ALB, 1 LCU assumed on average',
        '  NAT gateways      $0.00 → $32.85  +$32.85  1 NAT gateway',
        '  public IPv4      $14.60 → $10.95   -$3.65  addresses: ALB 2, NAT 1',
        '  CloudWatch Logs   $1.61 →  $2.42   +$0.81  ingested and kept 30 d',
        '  total            $56.50 → $95.52  +$39.02',
        '  assumes 730 hours a month; the load balancer uses 1 LCU on average; each task writes 0.05 GB of logs a day',
        '  not included: data processing (NAT gateway and endpoint GBs, LCUs above the assumption), data transfer, ECR storage, Container Insights, log queries',
      ].join('\n'),
    );
  });
});
