/**
 * network.create with `egress: endpoints` on the local world, observed with the AWS CLI: provision
 * makes the interface endpoints ecr.api, ecr.dkr and logs (private DNS, in the private subnets,
 * behind the endpoints' security group that allows 443 from the tasks' group) and the S3 gateway
 * endpoint on the private route tables, and no NAT gateway; deploy exits 0 and the load balancer
 * answers (the world lets the task pull its image through the endpoints). Then the live environment
 * switches to `egress: nat`: the dry run shows the changes and the cost difference, provision makes
 * the NAT gateway and the routes and removes the endpoints, a deploy still works; destroy leaves
 * nothing tagged. The cases share one environment (in order).
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, localWorld, resetWorld } from '../helpers/localworld.js';
import { liveNatGateways, liveVpcEndpoints, networkLeft, ownedByApp } from '../helpers/network.js';
import { webappConfig, webappProject } from '../helpers/webapp.js';

const app = `ne${Date.now().toString(36)}`;
const name = `${app}-it`;
let root = '';
let env: NodeJS.ProcessEnv;
let firstTaskDefinition = '';

const cli = (args: string[], timeoutMs = 300_000): Promise<CliRun> =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });
// biome-ignore lint/suspicious/noExplicitAny: JSON result lines
const res = (run: CliRun): any => run.result;
type Tagged = { Tags?: { Key: string; Value: string }[] };
const tagFilter = `Name=tag:patchwork:app,Values=${app}`;
const owned = <T extends Tagged>(what: string, key: string): T[] => ownedByApp<T>(app, what, key);
const tagName = (r: Tagged) => r.Tags?.find((t) => t.Key === 'Name')?.Value ?? '';
const idsByName = <T extends Tagged>(list: T[], id: (r: T) => string) =>
  Object.fromEntries(list.map((r) => [tagName(r), id(r)]));
interface Endpoint extends Tagged {
  ServiceName: string;
  VpcEndpointType: string;
  State: string;
  PrivateDnsEnabled: boolean;
  SubnetIds: string[];
  RouteTableIds: string[];
  Groups: { GroupId: string }[];
}
const liveEndpoints = () => liveVpcEndpoints<Endpoint>(app);
const liveNats = () => liveNatGateways<Tagged & { NatGatewayId: string; State: string }>(app);
interface Table extends Tagged {
  RouteTableId: string;
  Routes: { DestinationCidrBlock?: string; NatGatewayId?: string; GatewayId?: string }[];
}
const privateDefaults = () =>
  owned<Table>('describe-route-tables', 'RouteTables')
    .filter((t) => tagName(t).startsWith(`${name}-private-`))
    .map((t) =>
      t.Routes.filter((r) => r.DestinationCidrBlock === '0.0.0.0/0').map((r) => r.NatGatewayId ?? r.GatewayId),
    );

const writeConfig = (egress: string) => {
  writeFileSync(
    join(root, 'patchwork.yml'),
    webappConfig({
      app,
      environments: [
        '  it:',
        '    desiredCount: 1',
        `    network: { create: true, azs: 2, cidr: 10.42.0.0/16, egress: ${egress} }`,
      ],
      deploy: '{ pollSeconds: 1, timeoutSeconds: 240, smoke: { path: /healthz } }',
    }),
  );
  git(root, 'commit', '-qam', `egress ${egress}`);
};
const answers = async () => {
  const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', name]).LoadBalancers[0];
  return (await fetch(`http://${lb.DNSName}/healthz`)).status;
};

beforeAll(async () => {
  execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
  await resetWorld();
  const project = webappProject({ app, deploy: '{ pollSeconds: 1, timeoutSeconds: 240 }', prefix: 'pw-netendp-' });
  root = project.root;
  env = project.env;
  writeConfig('endpoints');
}, 900_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('network.create with egress endpoints, then switched to nat (one environment, in order)', () => {
  it('provision makes the interface endpoints (private DNS, private subnets, 443 from the tasks) and the S3 gateway endpoint, no NAT', async () => {
    const run = await cli(['provision', '--yes']);
    expect(run.code, run.stderr).toBe(0);
    const region = localWorld().region;
    const subnets = idsByName(owned<Tagged & { SubnetId: string }>('describe-subnets', 'Subnets'), (s) => s.SubnetId);
    const tables = idsByName(owned<Table>('describe-route-tables', 'RouteTables'), (t) => t.RouteTableId);
    const privateSubnets = Object.keys(subnets)
      .filter((n) => n.includes('-private-'))
      .map((n) => subnets[n]!)
      .sort();
    const privateTables = Object.keys(tables)
      .filter((n) => n.includes('-private-'))
      .map((n) => tables[n]!)
      .sort();
    expect(privateSubnets).toHaveLength(2);
    expect(privateTables).toHaveLength(2);
    const groups = awsCli(['ec2', 'describe-security-groups', '--filters', tagFilter]).SecurityGroups as {
      GroupName: string;
      GroupId: string;
      IpPermissions: {
        IpProtocol: string;
        FromPort: number;
        ToPort: number;
        UserIdGroupPairs: { GroupId: string }[];
      }[];
    }[];
    const group = (n: string) => groups.find((g) => g.GroupName === n)!;
    const endpointsGroup = group(`${name}-endpoints`);
    expect(
      endpointsGroup.IpPermissions.map((p) => [
        p.IpProtocol,
        p.FromPort,
        p.ToPort,
        p.UserIdGroupPairs.map((g) => g.GroupId),
      ]),
    ).toEqual([['tcp', 443, 443, [group(`${name}-web-tasks`).GroupId]]]);

    const shown = liveEndpoints()
      .map((e) => ({
        service: e.ServiceName.replace(`com.amazonaws.${region}.`, ''),
        type: e.VpcEndpointType,
        // Private DNS is an interface endpoint's (moto also answers true for a gateway endpoint; AWS: false).
        ...(e.VpcEndpointType === 'Interface' ? { privateDns: e.PrivateDnsEnabled } : {}),
        subnets: [...e.SubnetIds].sort(),
        routeTables: [...e.RouteTableIds].sort(),
        groups: e.Groups.map((g) => g.GroupId),
      }))
      .sort((a, b) => a.service.localeCompare(b.service));
    const iface = (service: string) => ({
      service,
      type: 'Interface',
      privateDns: true,
      subnets: privateSubnets,
      routeTables: [],
      groups: [endpointsGroup.GroupId],
    });
    expect(shown).toEqual([
      iface('ecr.api'),
      iface('ecr.dkr'),
      iface('logs'),
      { service: 's3', type: 'Gateway', subnets: [], routeTables: privateTables, groups: [] },
    ]);
    expect(liveNats()).toEqual([]);
    expect(owned('describe-addresses', 'Addresses')).toEqual([]);
    expect(privateDefaults()).toEqual([[], []]);
  }, 600_000);

  it('deploy exits 0 and the load balancer answers (the task pulled through the endpoints)', async () => {
    const deployed = await cli(['deploy']);
    expect(deployed.code, deployed.stderr).toBe(0);
    firstTaskDefinition = res(deployed).release.services[0].taskDefinitionArn;
    expect(await answers()).toBe(200);
  }, 600_000);

  it('switched to egress nat: the dry run shows the changes and the cost difference; provision applies them', async () => {
    writeConfig('nat');
    const dry = await cli(['provision', '--dry-run', '--exit-code']);
    expect(dry.code, dry.stderr).toBe(6);
    expect(res(dry).apiCalls.mutating).toBe(0);
    const changes = (res(dry).plan.changes as { kind: string; name: string; action: string }[])
      .filter((c) => c.action !== 'noop')
      .map((c) => `${c.action} ${c.kind}/${c.name}`)
      .sort();
    const zones = owned<Tagged & { AvailabilityZone: string }>('describe-subnets', 'Subnets')
      .map((s) => s.AvailabilityZone)
      .sort();
    const [a, b] = [...new Set(zones)] as [string, string];
    expect(changes).toEqual(
      [
        `create elastic-ip/${name}-nat-${a}`,
        `create nat-gateway/${name}-nat-${a}`,
        `update route-table/${name}-private-${a}`,
        `update route-table/${name}-private-${b}`,
        `delete vpc-endpoint/${name}-ecr.api`,
        `delete vpc-endpoint/${name}-ecr.dkr`,
        `delete vpc-endpoint/${name}-logs`,
        `delete vpc-endpoint/${name}-s3`,
        `delete security-group/${name}-endpoints`,
      ].sort(),
    );
    // 1 NAT gateway (0.045 × 1.1 × 730) instead of 3 interface endpoints × 2 AZs (0.01 × 1.1 × 730 each).
    const cost = res(dry).cost;
    const change = (c: string) => cost.changes.find((x: { component: string }) => x.component === c);
    expect(change('nat-gateway')).toEqual({ component: 'nat-gateway', before: 0, after: 36.14, delta: 36.14 });
    expect(change('vpc-endpoints')).toEqual({ component: 'vpc-endpoints', before: 48.18, after: 0, delta: -48.18 });
    expect(cost.delta).toBeCloseTo(cost.total.desired - cost.before.total, 2);

    const applied = await cli(['provision', '--yes'], 600_000);
    expect(applied.code, applied.stderr).toBe(0);
    const nats = liveNats();
    expect(nats.map((n) => [tagName(n), n.State])).toEqual([[`${name}-nat-${a}`, 'available']]);
    expect(privateDefaults()).toEqual([[nats[0]!.NatGatewayId], [nats[0]!.NatGatewayId]]);
    expect(liveEndpoints()).toEqual([]);
    const groups = awsCli(['ec2', 'describe-security-groups', '--filters', tagFilter]).SecurityGroups as {
      GroupName: string;
    }[];
    expect(groups.map((g) => g.GroupName)).not.toContain(`${name}-endpoints`);
    const again = await cli(['provision', '--dry-run', '--exit-code']);
    expect(again.code, again.stderr).toBe(0);
  }, 900_000);

  it('deploy still works through the NAT gateway (a new task started)', async () => {
    writeFileSync(join(root, 'app', 'VARIANT'), 'nat\n');
    git(root, 'add', '-A');
    git(root, 'commit', '-qm', 'variant');
    const deployed = await cli(['deploy']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const release = res(deployed).release;
    expect(release.outcome).toBe('succeeded');
    expect(release.services[0].taskDefinitionArn).not.toBe(firstTaskDefinition);
    expect(await answers()).toBe(200);
  }, 600_000);

  it('destroy leaves nothing tagged', async () => {
    const gone = await cli(['destroy', '--yes'], 900_000);
    expect(gone.code, gone.stderr).toBe(0);
    for (const [what, left] of Object.entries(networkLeft(app))) expect(left, what).toEqual([]);
  }, 900_000);
});
