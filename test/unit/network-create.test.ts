/**
 * network.create, pure parts: the config keys (defaults, exclusive with given networks, file:line),
 * the CIDR derivation, the desired network (by equality: names, zones, routes per egress; 3 AZs with
 * a NAT gateway per AZ), the facts of a network not yet made, and the planner on route drift.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/lib/config/load.js';
import { isVpcCidr } from '../../src/lib/config/schema.js';
import { starterConfig } from '../../src/lib/config/starter.js';
import { createdNetworkFacts, interfaceEndpoints, subnetCidr } from '../../src/lib/desired/network.js';
import type { Facts, Resource } from '../../src/lib/desired/types.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { plan } from '../../src/lib/plan/index.js';
import { routeTablesOf } from '../../src/lib/resources/route-table.js';
import { asObserved, desired, target } from './provision-fixtures.js';

const ZONES = ['eu-west-1c', 'eu-west-1a', 'eu-west-1b'];
const config = (network: string, extra = '') => `app: shop
region: eu-west-1
services:
  web:
    build: { context: . }
    port: 8080${extra}
environments:
  prod:
    network: ${network}
`;
const NET = ['vpc', 'internet-gateway', 'subnet', 'elastic-ip', 'nat-gateway', 'route-table', 'vpc-endpoint'];
const facts = (t: ReturnType<typeof target>): Facts => ({
  accountId: '123456789012',
  partition: 'aws',
  ...createdNetworkFacts(t, ZONES, new Map()),
});
const network = (yaml: string) => {
  const t = target(yaml);
  return desired(yaml, facts(t)).resources.filter((r) => NET.includes(r.kind));
};
const summary = (rs: Resource[]) => rs.map((r) => `${r.kind}/${r.name}`);

function issues(text: string): { line: number; path: string; message: string }[] {
  try {
    target(text);
  } catch (err) {
    expect(err).toBeInstanceOf(PatchworkError);
    expect((err as PatchworkError).code).toBe('PW_CONFIG_INVALID');
    return ((err as PatchworkError).data.issues as never) ?? [];
  }
  throw new Error('expected a config error');
}

describe('network.create config', () => {
  it('defaults: 2 AZs, 10.0.0.0/16, one NAT gateway', () => {
    expect(target(config('{ create: true }')).network).toEqual({
      vpc: 'default',
      publicSubnets: null,
      privateSubnets: null,
      create: { azs: 2, cidr: '10.0.0.0/16', egress: 'nat' },
    });
    expect(target(config('{ vpc: default }')).network.create).toBeNull();
  });

  it('create is exclusive with vpc / publicSubnets / privateSubnets: file:line path', () => {
    expect(issues(config('{ create: true, vpc: vpc-0123456789abcdef0 }'))).toEqual([
      expect.objectContaining({ line: 9, path: 'environments.prod.network.vpc' }),
    ]);
    const both = issues(
      config(
        '\n      create: true\n      privateSubnets: [subnet-0aaaaaaaaaaaaaaaa]\n      publicSubnets: [subnet-0aaaaaaaaaaaaaaaa, subnet-0bbbbbbbbbbbbbbbb]',
      ),
    );
    expect(both.map((i) => [i.line, i.path])).toEqual([
      [11, 'environments.prod.network.privateSubnets'],
      [12, 'environments.prod.network.publicSubnets'],
    ]);
    expect(both[0]!.message).toMatch(/network.create makes the VPC/);
    expect(issues(config('{ egress: nat }'))[0]).toMatchObject({ path: 'environments.prod.network.egress' });
  });

  it('cidr is an IPv4 /16../24 block without host bits; azs 2 or 3; egress one of four', () => {
    expect(['10.0.0.0/16', '192.168.4.0/24', '172.16.0.0/20'].map(isVpcCidr)).toEqual([true, true, true]);
    expect(['10.0.0.0/8', '10.0.0.0/25', '10.0.1.0/16', 'fd00::/56', '10.0.0.0'].map(isVpcCidr)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(issues(config('{ create: true, cidr: 10.0.0.0/8 }'))[0]).toMatchObject({
      line: 9,
      path: 'environments.prod.network.cidr',
    });
    expect(issues(config('{ create: true, azs: 4 }'))[0]).toMatchObject({ path: 'environments.prod.network.azs' });
    expect(issues(config('{ create: true, egress: gateway }'))[0]).toMatchObject({
      path: 'environments.prod.network.egress',
    });
  });

  it("init's starter config creates the production network", () => {
    const cfg = parseConfig(starterConfig({ app: 'shop', region: 'eu-west-1', context: '.', port: 8080 }));
    expect(cfg.raw.environments.prod?.network).toEqual({ create: true, azs: 2, cidr: '10.0.0.0/16', egress: 'nat' });
  });
});

describe('CIDR derivation', () => {
  it('cuts the VPC in eight: public slots 0..2, private slots 4..6', () => {
    expect([0, 1, 2].map((i) => subnetCidr('10.0.0.0/16', 'public', i))).toEqual([
      '10.0.0.0/19',
      '10.0.32.0/19',
      '10.0.64.0/19',
    ]);
    expect([0, 1, 2].map((i) => subnetCidr('10.0.0.0/16', 'private', i))).toEqual([
      '10.0.128.0/19',
      '10.0.160.0/19',
      '10.0.192.0/19',
    ]);
    expect(subnetCidr('192.168.4.0/24', 'private', 2)).toBe('192.168.4.192/27');
    expect(subnetCidr('172.16.16.0/20', 'public', 1)).toBe('172.16.18.0/23');
  });
});

describe('desired network', () => {
  it('nat over 2 AZs: VPC, IGW, 2 public + 2 private subnets, 1 EIP + NAT, public and per-AZ private route tables', () => {
    const rs = network(config('{ create: true }'));
    expect(summary(rs)).toEqual([
      'vpc/shop-prod',
      'internet-gateway/shop-prod',
      'subnet/shop-prod-public-eu-west-1a',
      'subnet/shop-prod-public-eu-west-1b',
      'subnet/shop-prod-private-eu-west-1a',
      'subnet/shop-prod-private-eu-west-1b',
      'elastic-ip/shop-prod-nat-eu-west-1a',
      'nat-gateway/shop-prod-nat-eu-west-1a',
      'route-table/shop-prod-public',
      'route-table/shop-prod-private-eu-west-1a',
      'route-table/shop-prod-private-eu-west-1b',
    ]);
    expect(rs.find((r) => r.kind === 'subnet' && r.name === 'shop-prod-private-eu-west-1b')).toEqual({
      kind: 'subnet',
      name: 'shop-prod-private-eu-west-1b',
      tags: {
        'patchwork:app': 'shop',
        'patchwork:env': 'prod',
        'managed-by': 'patchwork',
        Name: 'shop-prod-private-eu-west-1b',
        'patchwork:tier': 'private',
      },
      vpc: 'shop-prod',
      cidr: '10.0.160.0/19',
      zone: 'eu-west-1b',
    });
    expect(rs.find((r) => r.kind === 'nat-gateway')).toMatchObject({
      subnet: 'shop-prod-public-eu-west-1a',
      eip: 'shop-prod-nat-eu-west-1a',
    });
  });

  it('azs 3, nat-per-az: 3 public + 3 private subnets (CIDR slots 0..2, 4..6), 3 EIPs + NATs, each zone routed to its own NAT; the plan creates all', () => {
    const yaml = config('{ create: true, azs: 3, cidr: 10.8.0.0/16, egress: nat-per-az }');
    const rs = network(yaml);
    const zones = ['a', 'b', 'c'].map((z) => `eu-west-1${z}`);
    const subnets = rs.flatMap((r) => (r.kind === 'subnet' ? [[r.name, r.zone, r.cidr]] : []));
    expect(subnets).toEqual([
      ...zones.map((z, i) => [`shop-prod-public-${z}`, z, `10.8.${i * 32}.0/19`]),
      ...zones.map((z, i) => [`shop-prod-private-${z}`, z, `10.8.${128 + i * 32}.0/19`]),
    ]);
    expect(rs.filter((r) => r.kind === 'elastic-ip').map((r) => r.name)).toEqual(
      zones.map((z) => `shop-prod-nat-${z}`),
    );
    expect(rs.flatMap((r) => (r.kind === 'nat-gateway' ? [[r.name, r.subnet, r.eip]] : []))).toEqual(
      zones.map((z) => [`shop-prod-nat-${z}`, `shop-prod-public-${z}`, `shop-prod-nat-${z}`]),
    );
    expect(rs.flatMap((r) => (r.kind === 'route-table' ? [[r.name, r.routes, r.subnets]] : []))).toEqual([
      [
        'shop-prod-public',
        [{ destination: '0.0.0.0/0', target: 'internet-gateway/shop-prod' }],
        zones.map((z) => `shop-prod-public-${z}`),
      ],
      ...zones.map((z) => [
        `shop-prod-private-${z}`,
        [{ destination: '0.0.0.0/0', target: `nat-gateway/shop-prod-nat-${z}` }],
        [`shop-prod-private-${z}`],
      ]),
    ]);
    const d = desired(yaml, facts(target(yaml)));
    expect(d.resources.find((r) => r.kind === 'ecs-service')).toMatchObject({
      subnets: zones.map((z) => `shop-prod-private-${z}`),
      assignPublicIp: 'DISABLED',
    });
    expect(d.resources.find((r) => r.kind === 'load-balancer')).toMatchObject({
      subnets: zones.map((z) => `shop-prod-public-${z}`),
    });
    const created = plan(d, []).changes.filter((c) => NET.includes(c.kind));
    expect(created.every((c) => c.action === 'create')).toBe(true);
    expect(created.filter((c) => c.kind === 'nat-gateway')).toHaveLength(3);
    expect(created).toHaveLength(1 + 1 + 6 + 3 + 3 + 4);
  });

  it('route plans per egress', () => {
    const routes = (net: string) =>
      routeTablesOf(target(config(net)), ZONES).map((t) => ({ name: t.name, routes: t.routes, subnets: t.subnets }));
    const igw = { destination: '0.0.0.0/0', target: 'internet-gateway/shop-prod' };
    const nat = (z: string) => ({ destination: '0.0.0.0/0', target: `nat-gateway/shop-prod-nat-eu-west-1${z}` });
    expect(routes('{ create: true, azs: 3 }')).toEqual([
      {
        name: 'shop-prod-public',
        routes: [igw],
        subnets: ['shop-prod-public-eu-west-1a', 'shop-prod-public-eu-west-1b', 'shop-prod-public-eu-west-1c'],
      },
      { name: 'shop-prod-private-eu-west-1a', routes: [nat('a')], subnets: ['shop-prod-private-eu-west-1a'] },
      { name: 'shop-prod-private-eu-west-1b', routes: [nat('a')], subnets: ['shop-prod-private-eu-west-1b'] },
      { name: 'shop-prod-private-eu-west-1c', routes: [nat('a')], subnets: ['shop-prod-private-eu-west-1c'] },
    ]);
    expect(routes('{ create: true, egress: nat-per-az }').map((t) => t.routes)).toEqual([
      [igw],
      [nat('a')],
      [nat('b')],
    ]);
    expect(routes('{ create: true, egress: endpoints }').map((t) => t.routes)).toEqual([[igw], [], []]);
    expect(routes('{ create: true, egress: none }').map((t) => t.routes)).toEqual([[igw], [], []]);
    expect(summary(network(config('{ create: true, egress: nat-per-az }'))).filter((k) => k.startsWith('nat'))).toEqual(
      ['nat-gateway/shop-prod-nat-eu-west-1a', 'nat-gateway/shop-prod-nat-eu-west-1b'],
    );
  });

  it('endpoints: ecr.api, ecr.dkr, logs (+ ssm / secretsmanager as the secrets need) and the S3 gateway; the endpoints group allows 443 from the tasks', () => {
    const yaml = config(
      '{ create: true, egress: endpoints }',
      '\n    secrets: { DB: arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db }',
    );
    const rs = network(yaml);
    expect(summary(rs.filter((r) => r.kind === 'vpc-endpoint'))).toEqual([
      'vpc-endpoint/shop-prod-ecr.api',
      'vpc-endpoint/shop-prod-ecr.dkr',
      'vpc-endpoint/shop-prod-logs',
      'vpc-endpoint/shop-prod-ssm',
      'vpc-endpoint/shop-prod-s3',
    ]);
    expect(rs.some((r) => r.kind === 'nat-gateway' || r.kind === 'elastic-ip')).toBe(false);
    expect(rs.find((r) => r.name === 'shop-prod-s3')).toMatchObject({
      type: 'Gateway',
      serviceName: 'com.amazonaws.eu-west-1.s3',
      routeTables: ['shop-prod-private-eu-west-1a', 'shop-prod-private-eu-west-1b'],
    });
    expect(rs.find((r) => r.name === 'shop-prod-ecr.dkr')).toMatchObject({
      type: 'Interface',
      subnets: ['shop-prod-private-eu-west-1a', 'shop-prod-private-eu-west-1b'],
      securityGroups: ['shop-prod-endpoints'],
      privateDns: true,
    });
    const sg = desired(yaml, facts(target(yaml))).resources.find((r) => r.name === 'shop-prod-endpoints');
    expect(sg).toMatchObject({
      kind: 'security-group',
      ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, sourceGroup: 'shop-prod-web-tasks' }],
    });
    expect(
      interfaceEndpoints(
        target(
          config(
            '{ create: true }',
            '\n    secrets: { K: arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf }',
          ),
        ),
      ),
    ).toEqual(['ecr.api', 'ecr.dkr', 'logs', 'secretsmanager']);
  });

  it('facts before the network exists: subnet names stand for ids, tasks are private; found ids are used', () => {
    const t = target(config('{ create: true }'));
    expect(createdNetworkFacts(t, ZONES, new Map())).toEqual({
      vpcId: '',
      publicSubnets: ['shop-prod-public-eu-west-1a', 'shop-prod-public-eu-west-1b'],
      taskSubnets: ['shop-prod-private-eu-west-1a', 'shop-prod-private-eu-west-1b'],
      tasksArePrivate: true,
      zones: ['eu-west-1a', 'eu-west-1b'],
    });
    const found = new Map([
      ['vpc/shop-prod', 'vpc-0abc'],
      ['subnet/shop-prod-private-eu-west-1a', 'subnet-0b'],
      ['subnet/shop-prod-private-eu-west-1b', 'subnet-0a'],
    ]);
    expect(createdNetworkFacts(t, ZONES, found)).toMatchObject({
      vpcId: 'vpc-0abc',
      taskSubnets: ['subnet-0a', 'subnet-0b'],
    });
    const d = desired(config('{ create: true }'), facts(t));
    expect(d.warnings.map((w) => w.code)).not.toContain('PW_PUBLIC_TASKS');
    expect(d.resources.find((r) => r.kind === 'ecs-service')).toMatchObject({ assignPublicIp: 'DISABLED' });
  });
});

describe('planner on a created network', () => {
  it('as observed: all no-op; a deleted NAT route is an update of that route table only', () => {
    const yaml = config('{ create: true }');
    const d = desired(yaml, facts(target(yaml)));
    const have = asObserved(d);
    expect(plan(d, have).changes.filter((c) => c.action !== 'noop')).toEqual([]);
    const table = have.find((r) => r.kind === 'route-table' && r.name === 'shop-prod-private-eu-west-1b');
    if (table?.kind !== 'route-table') throw new Error('no table');
    table.routes = [];
    const pending = plan(d, have).changes.filter((c) => c.action !== 'noop');
    expect(pending.map(({ kind, name, action, diff }) => ({ kind, name, action, diff }))).toEqual([
      {
        kind: 'route-table',
        name: 'shop-prod-private-eu-west-1b',
        action: 'update',
        diff: [
          {
            field: 'routes',
            from: [],
            to: [{ destination: '0.0.0.0/0', target: 'nat-gateway/shop-prod-nat-eu-west-1a' }],
          },
        ],
      },
    ]);
  });

  it('nat-per-az → nat: the second NAT and its EIP are deleted, the route moves; a changed CIDR is a replace the VPC refuses', () => {
    const perAz = config('{ create: true, egress: nat-per-az }');
    const have = asObserved(desired(perAz, facts(target(perAz))));
    const one = config('{ create: true, egress: nat }');
    const d = desired(one, facts(target(one)));
    const pending = plan(d, have).changes.filter((c) => c.action !== 'noop');
    expect(pending.map((c) => `${c.action} ${c.kind}/${c.name}`)).toEqual([
      'delete elastic-ip/shop-prod-nat-eu-west-1b',
      'delete nat-gateway/shop-prod-nat-eu-west-1b',
      'update route-table/shop-prod-private-eu-west-1b',
    ]);
    const wider = config('{ create: true, cidr: 10.1.0.0/16 }');
    const changed = plan(desired(wider, facts(target(wider))), asObserved(desired(one, facts(target(one)))));
    expect(changed.changes.find((c) => c.kind === 'vpc')).toMatchObject({ action: 'replace' });
  });
});
