/**
 * AWS CLI set-up of a VPC the way a user brings one: public subnets whose own route table sends
 * 0.0.0.0/0 to an internet gateway, private subnets left on the VPC's main route table (no way out
 * until a test adds a NAT gateway route or VPC endpoints). Few calls: each AWS CLI run costs seconds.
 */
import { awsCli, waitFor } from './localworld.js';

export interface TestVpc {
  vpc: string;
  igw: string;
  publicSubnets: string[];
  privateSubnets: string[];
  publicRouteTable: string;
  privateRouteTable: string;
  /** Availability zone of each subnet id. */
  az: Record<string, string>;
}

/** A VPC `10.<n>.0.0/16` with a public subnet in each of `azs` (e.g. eu-west-1a) and a private one in each of `privateAzs`. */
export function createTestVpc(n: number, azs: string[], privateAzs: string[] = azs): TestVpc {
  const vpc = awsCli(['ec2', 'create-vpc', '--cidr-block', `10.${n}.0.0/16`]).Vpc.VpcId as string;
  const igw = awsCli(['ec2', 'create-internet-gateway']).InternetGateway.InternetGatewayId as string;
  awsCli(['ec2', 'attach-internet-gateway', '--internet-gateway-id', igw, '--vpc-id', vpc]);
  const az: Record<string, string> = {};
  const subnet = (cidr: string, zone: string): string => {
    const id = awsCli(['ec2', 'create-subnet', '--vpc-id', vpc, '--cidr-block', cidr, '--availability-zone', zone])
      .Subnet.SubnetId as string;
    az[id] = zone;
    return id;
  };
  const publicSubnets = azs.map((zone, i) => subnet(`10.${n}.${i}.0/24`, zone));
  const privateSubnets = privateAzs.map((zone, i) => subnet(`10.${n}.${100 + i}.0/24`, zone));
  const publicRouteTable = awsCli(['ec2', 'create-route-table', '--vpc-id', vpc]).RouteTable.RouteTableId as string;
  for (const s of publicSubnets) {
    awsCli(['ec2', 'associate-route-table', '--route-table-id', publicRouteTable, '--subnet-id', s]);
  }
  awsCli([
    'ec2',
    'create-route',
    '--route-table-id',
    publicRouteTable,
    '--destination-cidr-block',
    '0.0.0.0/0',
    '--gateway-id',
    igw,
  ]);
  const privateRouteTable = awsCli([
    'ec2',
    'describe-route-tables',
    '--filters',
    `Name=vpc-id,Values=${vpc}`,
    'Name=association.main,Values=true',
  ]).RouteTables[0].RouteTableId as string;
  return { vpc, igw, publicSubnets, privateSubnets, publicRouteTable, privateRouteTable, az };
}

/**
 * A NAT gateway (with an Elastic IP) in `publicSubnet` and the private route table's 0.0.0.0/0 to it,
 * once the gateway is available (the world keeps it pending for natPendingSeconds, as EC2 does).
 */
export async function addNatRoute(net: TestVpc, publicSubnet = net.publicSubnets[0]!): Promise<string> {
  const eip = awsCli(['ec2', 'allocate-address', '--domain', 'vpc']).AllocationId as string;
  const nat = awsCli(['ec2', 'create-nat-gateway', '--subnet-id', publicSubnet, '--allocation-id', eip]).NatGateway
    .NatGatewayId as string;
  await waitFor(
    () =>
      awsCli(['ec2', 'describe-nat-gateways', '--nat-gateway-ids', nat]).NatGateways[0]?.State === 'available' ||
      undefined,
    { timeoutMs: 60_000, intervalMs: 500, what: `NAT gateway ${nat} available` },
  );
  awsCli([
    'ec2',
    'create-route',
    '--route-table-id',
    net.privateRouteTable,
    '--destination-cidr-block',
    '0.0.0.0/0',
    '--nat-gateway-id',
    nat,
  ]);
  return nat;
}

/** Deletes every VPC endpoint of the VPC. */
export function deleteEndpoints(net: TestVpc): void {
  const ids = awsCli(['ec2', 'describe-vpc-endpoints', '--filters', `Name=vpc-id,Values=${net.vpc}`]).VpcEndpoints.map(
    (e: { VpcEndpointId: string }) => e.VpcEndpointId,
  );
  if (ids.length) awsCli(['ec2', 'delete-vpc-endpoints', '--vpc-endpoint-ids', ...ids]);
}

/** Interface endpoints `com.amazonaws.<region>.<name>` in the private subnets; `s3` becomes the gateway endpoint. */
export function addEndpoints(net: TestVpc, region: string, names: string[]): void {
  for (const name of names) {
    const service = `com.amazonaws.${region}.${name}`;
    if (name === 's3') {
      awsCli([
        'ec2',
        'create-vpc-endpoint',
        '--vpc-id',
        net.vpc,
        '--vpc-endpoint-type',
        'Gateway',
        '--service-name',
        service,
        '--route-table-ids',
        net.privateRouteTable,
      ]);
    } else {
      awsCli([
        'ec2',
        'create-vpc-endpoint',
        '--vpc-id',
        net.vpc,
        '--vpc-endpoint-type',
        'Interface',
        '--service-name',
        service,
        '--subnet-ids',
        ...net.privateSubnets,
        '--private-dns-enabled',
      ]);
    }
  }
}

type Tagged = { Tags?: { Key: string; Value: string }[] };

/** The EC2 resources of one kind tagged patchwork:app=<app>: `aws ec2 <describe>`'s list under `key`. */
export function ownedByApp<T extends Tagged = Tagged>(app: string, describe: string, key: string): T[] {
  // DescribeNatGateways names its filter parameter `Filter`.
  const flag = describe === 'describe-nat-gateways' ? '--filter' : '--filters';
  return (awsCli(['ec2', describe, flag, `Name=tag:patchwork:app,Values=${app}`])[key] ?? []) as T[];
}

/** The app's NAT gateways not (yet) deleted: a deleted one stays listed as `deleted` for a while, as on AWS. */
export const liveNatGateways = <T extends Tagged & { State: string }>(app: string): T[] =>
  ownedByApp<T>(app, 'describe-nat-gateways', 'NatGateways').filter((n) => n.State !== 'deleted');

/** The app's VPC endpoints not (yet) deleted (likewise listed as `deleted` for a while). */
export const liveVpcEndpoints = <T extends Tagged & { State: string }>(app: string): T[] =>
  ownedByApp<T>(app, 'describe-vpc-endpoints', 'VpcEndpoints').filter((e) => !/^deleted$/i.test(e.State));

/**
 * What network.create made for the app that is still there, by kind (`describe-…`): VPCs, subnets,
 * internet gateways, route tables, Elastic IPs, security groups, and the live endpoints and NAT
 * gateways. After destroy every list should be empty.
 */
export function networkLeft(app: string): Record<string, Tagged[]> {
  const left: Record<string, Tagged[]> = {};
  for (const [what, key] of [
    ['describe-vpcs', 'Vpcs'],
    ['describe-subnets', 'Subnets'],
    ['describe-internet-gateways', 'InternetGateways'],
    ['describe-route-tables', 'RouteTables'],
    ['describe-addresses', 'Addresses'],
    ['describe-security-groups', 'SecurityGroups'],
  ] as const)
    left[what] = ownedByApp(app, what, key);
  left['describe-vpc-endpoints (live)'] = liveVpcEndpoints(app);
  left['describe-nat-gateways (live)'] = liveNatGateways(app);
  return left;
}
