/**
 * network.create on the local world, observed with the AWS CLI: one provision over 2 AZs makes the
 * VPC, 2 public + 2 private subnets, the internet gateway, a NAT gateway (pending → available in
 * the world) and the routes; the service runs in the private subnets without public IPs; deploy
 * answers through the load balancer; a second provision makes no mutating call; a NAT route deleted
 * out of band is drift (dry-run --exit-code 6) and is repaired; destroy leaves nothing tagged, the
 * VPC included. The cases share one provision (in order).
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, ROOT, runCli } from '../helpers/cli.js';
import { awsCli, emu, resetWorld } from '../helpers/localworld.js';
import { liveNatGateways, networkLeft, ownedByApp } from '../helpers/network.js';
import { webappProject } from '../helpers/webapp.js';

const app = `nc${Date.now().toString(36)}`;
const name = `${app}-it`;
let root = '';
let env: NodeJS.ProcessEnv;

const cli = (args: string[], timeoutMs = 300_000): Promise<CliRun> =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

// biome-ignore lint/suspicious/noExplicitAny: JSON result lines
const res = (run: CliRun): any => run.result;
const owned = (what: string, key: string) => ownedByApp(app, what, key) as Record<string, unknown>[];
const tagName = (r: { Tags?: { Key: string; Value: string }[] }) => r.Tags?.find((t) => t.Key === 'Name')?.Value;
const liveNats = () => liveNatGateways(app);
const privateTable = (zone: string) =>
  (owned('describe-route-tables', 'RouteTables') as { RouteTableId: string; Tags: [] }[]).find(
    (t) => tagName(t) === `${name}-private-${zone}`,
  )!;

beforeAll(async () => {
  execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
  await resetWorld();
  ({ root, env } = webappProject({
    app,
    prefix: 'pw-netcreate-',
    environments: [
      '  it:',
      '    desiredCount: 1',
      '    network: { create: true, azs: 2, cidr: 10.40.0.0/16, egress: nat }',
    ],
    deploy: '{ pollSeconds: 1, timeoutSeconds: 240, smoke: { path: /healthz } }',
  }));
}, 900_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('network.create over 2 AZs (one provision shared by the cases, in order)', () => {
  let zones: string[] = [];

  it('provision exits 0 and makes the VPC, 2 public + 2 private subnets in 2 AZs, the IGW, the NAT and the routes', async () => {
    const config = await emu('config');
    expect(config.natPendingSeconds).toBeGreaterThan(0);
    const first = await cli(['provision']);
    expect(first.code, first.stderr).toBe(0);
    expect(res(first).plan.warnings.map((w: { code: string }) => w.code)).not.toContain('PW_PUBLIC_TASKS');

    const vpcs = owned('describe-vpcs', 'Vpcs') as { VpcId: string; CidrBlock: string }[];
    expect(vpcs.map((v) => [tagName(v as never), v.CidrBlock])).toEqual([[name, '10.40.0.0/16']]);
    const vpcId = vpcs[0]!.VpcId;
    const subnets = (
      owned('describe-subnets', 'Subnets') as {
        SubnetId: string;
        VpcId: string;
        AvailabilityZone: string;
        CidrBlock: string;
      }[]
    ).map((s) => ({
      name: tagName(s as never)!,
      vpc: s.VpcId,
      zone: s.AvailabilityZone,
      cidr: s.CidrBlock,
      id: s.SubnetId,
    }));
    zones = [...new Set(subnets.map((s) => s.zone))].sort();
    expect(zones).toHaveLength(2);
    const [a, b] = zones as [string, string];
    expect(subnets.map(({ id: _id, ...s }) => s).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: `${name}-private-${a}`, vpc: vpcId, zone: a, cidr: '10.40.128.0/19' },
      { name: `${name}-private-${b}`, vpc: vpcId, zone: b, cidr: '10.40.160.0/19' },
      { name: `${name}-public-${a}`, vpc: vpcId, zone: a, cidr: '10.40.0.0/19' },
      { name: `${name}-public-${b}`, vpc: vpcId, zone: b, cidr: '10.40.32.0/19' },
    ]);
    const id = (n: string) => subnets.find((s) => s.name === n)!.id;

    const igws = owned('describe-internet-gateways', 'InternetGateways') as {
      InternetGatewayId: string;
      Attachments: { VpcId: string }[];
    }[];
    expect(igws.map((g) => g.Attachments.map((x) => x.VpcId))).toEqual([[vpcId]]);
    const nats = liveNats() as unknown as { NatGatewayId: string; State: string; SubnetId: string }[];
    expect(nats.map((n) => [n.State, n.SubnetId])).toEqual([['available', id(`${name}-public-${a}`)]]);

    const tables = owned('describe-route-tables', 'RouteTables') as {
      Routes: { DestinationCidrBlock?: string; GatewayId?: string; NatGatewayId?: string }[];
      Associations: { SubnetId?: string }[];
    }[];
    const summary = tables
      .map((t) => ({
        name: tagName(t as never),
        default: t.Routes.filter((r) => r.DestinationCidrBlock === '0.0.0.0/0').map(
          (r) => r.GatewayId ?? r.NatGatewayId,
        ),
        subnets: t.Associations.map((x) => x.SubnetId).sort(),
      }))
      .sort((x, y) => String(x.name).localeCompare(String(y.name)));
    expect(summary).toEqual([
      { name: `${name}-private-${a}`, default: [nats[0]!.NatGatewayId], subnets: [id(`${name}-private-${a}`)] },
      { name: `${name}-private-${b}`, default: [nats[0]!.NatGatewayId], subnets: [id(`${name}-private-${b}`)] },
      {
        name: `${name}-public`,
        default: [igws[0]!.InternetGatewayId],
        subnets: [id(`${name}-public-${a}`), id(`${name}-public-${b}`)].sort(),
      },
    ]);

    // The load balancer in the public subnets, the tasks in the private ones without public IPs.
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', name]).LoadBalancers[0];
    expect(lb.VpcId).toBe(vpcId);
    expect(lb.AvailabilityZones.map((z: { SubnetId: string }) => z.SubnetId).sort()).toEqual(
      [id(`${name}-public-${a}`), id(`${name}-public-${b}`)].sort(),
    );
    const svc = awsCli(['ecs', 'describe-services', '--cluster', name, '--services', `${name}-web`]).services[0];
    expect(svc.networkConfiguration.awsvpcConfiguration.assignPublicIp).toBe('DISABLED');
    expect([...svc.networkConfiguration.awsvpcConfiguration.subnets].sort()).toEqual(
      [id(`${name}-private-${a}`), id(`${name}-private-${b}`)].sort(),
    );
  }, 600_000);

  it('deploy exits 0 and the load balancer answers', async () => {
    const deployed = await cli(['deploy']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', name]).LoadBalancers[0];
    const res = await fetch(`http://${lb.DNSName}/healthz`);
    expect(res.status).toBe(200);
  }, 600_000);

  it('a second provision makes 0 mutating calls', async () => {
    const again = await cli(['provision']);
    expect(again.code, again.stderr).toBe(0);
    expect(res(again).apiCalls.mutating).toBe(0);
    expect(res(again).plan.pending).toBe(false);
  }, 300_000);

  it('a deleted NAT route is planned as drift (dry-run --exit-code 6) and repaired', async () => {
    const zone = zones[1]!;
    const table = privateTable(zone);
    awsCli(['ec2', 'delete-route', '--route-table-id', table.RouteTableId, '--destination-cidr-block', '0.0.0.0/0']);
    const dry = await cli(['provision', '--dry-run', '--exit-code']);
    expect(dry.code, dry.stderr).toBe(6);
    const pending = res(dry).plan.changes.filter((c: { action: string }) => c.action !== 'noop');
    expect(pending).toEqual([
      expect.objectContaining({
        kind: 'route-table',
        name: `${name}-private-${zone}`,
        action: 'update',
        diff: [
          {
            field: 'routes',
            from: [],
            to: [{ destination: '0.0.0.0/0', target: `nat-gateway/${name}-nat-${zones[0]}` }],
          },
        ],
      }),
    ]);
    const repaired = await cli(['provision']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(res(repaired).applied).toBe(1);
    const nat = liveNats()[0] as unknown as { NatGatewayId: string };
    const routes = awsCli(['ec2', 'describe-route-tables', '--route-table-ids', table.RouteTableId]).RouteTables[0]
      .Routes as { DestinationCidrBlock?: string; NatGatewayId?: string }[];
    expect(routes.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.NatGatewayId).toBe(nat.NatGatewayId);
    const clean = await cli(['provision', '--dry-run', '--exit-code']);
    expect(clean.code, clean.stderr).toBe(0);
  }, 300_000);

  it('destroy leaves nothing tagged, the VPC included', async () => {
    const gone = await cli(['destroy', '--yes'], 900_000);
    expect(gone.code, gone.stderr).toBe(0);
    for (const [what, left] of Object.entries(networkLeft(app))) expect(left, what).toEqual([]);
    // No endpoint was ever made (egress: nat): none listed, not even a deleted one.
    expect(owned('describe-vpc-endpoints', 'VpcEndpoints')).toEqual([]);
    const again = await cli(['destroy', '--yes']);
    expect(again.code, again.stderr).toBe(0);
    expect(res(again).apiCalls.mutating).toBe(0);
  }, 900_000);
});
