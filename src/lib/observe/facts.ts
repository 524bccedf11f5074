/**
 * The facts desired state needs from AWS: the account (for ARNs) and the network (VPC and subnets
 * from config, or the default VPC's default subnets). Unknown VPC or subnet ids fail here, with
 * the config path, before any mutating call (PW_UNKNOWN_NETWORK, exit 2).
 */
import { DescribeCertificateCommand } from '@aws-sdk/client-acm';
import {
  DescribeAvailabilityZonesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  paginateDescribeSubnets,
  paginateDescribeVpcs,
  type Subnet,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients } from '../aws/clients.js';
import { isAwsError } from '../aws/errors.js';
import type { LoadedConfig } from '../config/load.js';
import type { ResolvedEnvironment } from '../config/resolve.js';
import { formatPath, type KeyPath } from '../config/source.js';
import { createdNetworkFacts } from '../desired/network.js';
import type { Facts } from '../desired/types.js';
import { PatchworkError } from '../errors.js';

type NetworkKey = 'vpc' | 'publicSubnets' | 'privateSubnets' | 'azs';

/** `file:line path` of a network setting, wherever it was written (environment, else defaults). */
export function networkWhere(target: ResolvedEnvironment, config: LoadedConfig | undefined, key: NetworkKey): string {
  const envNet = config?.raw.environments[target.env]?.network as Record<string, unknown> | undefined;
  const path: KeyPath =
    envNet?.[key] !== undefined || !config
      ? ['environments', target.env, 'network', key]
      : ['defaults', 'network', key];
  if (!config) return formatPath(path);
  const issue = config.source.issue(path, '');
  return `${issue.file}:${issue.line} ${issue.path}`;
}

function unknownNetwork(message: string, where: string, data: Record<string, unknown>): PatchworkError {
  return new PatchworkError('PW_UNKNOWN_NETWORK', `${where}: ${message}`, {
    hint: 'list what exists with `aws ec2 describe-vpcs` / `aws ec2 describe-subnets` in the same region, and fix the config',
    data,
  });
}

export async function observeFacts(
  aws: AwsClients,
  target: ResolvedEnvironment,
  config?: LoadedConfig,
): Promise<Facts> {
  const [identity, network] = await Promise.all([account(aws), observeNetwork(aws, target, config)]);
  return { ...identity, ...network };
}

async function account(aws: AwsClients): Promise<Pick<Facts, 'accountId' | 'partition'>> {
  const sts = await aws.get('sts');
  const who = await sts.send(new GetCallerIdentityCommand({}));
  const partition = who.Arn?.split(':')[1] ?? 'aws';
  return { accountId: who.Account ?? '000000000000', partition };
}

async function observeNetwork(
  aws: AwsClients,
  target: ResolvedEnvironment,
  config?: LoadedConfig,
): Promise<Omit<Facts, 'accountId' | 'partition'>> {
  const ec2 = await aws.get('ec2');
  if (target.network.create) return observeCreatedNetwork(aws, target, config);
  const { vpc, publicSubnets, privateSubnets } = target.network;
  const configured = [...(publicSubnets ?? []), ...(privateSubnets ?? [])];

  const vpcCall =
    vpc === 'default'
      ? ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))
      : ec2.send(new DescribeVpcsCommand({ VpcIds: [vpc] })).catch((err) => {
          if (isAwsError(err, 'InvalidVpcID.NotFound', 'InvalidVpcID.Malformed')) return { Vpcs: [] };
          throw err;
        });
  const subnetCall = configured.length
    ? ec2.send(new DescribeSubnetsCommand({ SubnetIds: [...new Set(configured)] })).catch((err) => {
        if (isAwsError(err, 'InvalidSubnetID.NotFound', 'InvalidSubnetID.Malformed')) return null;
        throw err;
      })
    : vpc === 'default'
      ? ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }))
      : Promise.resolve({ Subnets: [] as Subnet[] });
  const [vpcs, subnetsOut] = await Promise.all([vpcCall, subnetCall]);

  const vpcId = vpcs.Vpcs?.[0]?.VpcId;
  if (!vpcId) {
    throw unknownNetwork(
      vpc === 'default'
        ? `there is no default VPC in ${target.region}`
        : `VPC ${vpc} does not exist in ${target.region}`,
      networkWhere(target, config, 'vpc'),
      { vpc, region: target.region },
    );
  }
  let subnets = subnetsOut?.Subnets ?? [];
  if (configured.length) {
    const found = new Set(subnets.map((s) => s.SubnetId));
    // DescribeSubnets fails on the first unknown id; find every one to name them all.
    if (!subnetsOut) {
      const each = await Promise.all(
        [...new Set(configured)].map((id) =>
          ec2
            .send(new DescribeSubnetsCommand({ SubnetIds: [id] }))
            .then((r) => r.Subnets?.[0])
            .catch(() => undefined),
        ),
      );
      subnets = each.filter((s): s is Subnet => !!s);
      for (const s of subnets) found.add(s.SubnetId);
    }
    for (const key of ['publicSubnets', 'privateSubnets'] as const) {
      const ids = target.network[key] ?? [];
      const missing = ids.filter((id) => !found.has(id));
      if (missing.length) {
        throw unknownNetwork(
          `subnet${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist in ${target.region}`,
          networkWhere(target, config, key),
          { subnets: missing, region: target.region },
        );
      }
      const elsewhere = subnets.filter((s) => ids.includes(s.SubnetId ?? '') && s.VpcId !== vpcId);
      if (elsewhere.length) {
        throw unknownNetwork(
          `subnet ${elsewhere.map((s) => `${s.SubnetId} is in ${s.VpcId}`).join(', ')}, not in ${vpcId}`,
          networkWhere(target, config, key),
          { subnets: elsewhere.map((s) => s.SubnetId), vpc: vpcId },
        );
      }
    }
  }
  const byId = new Map(subnets.map((s) => [s.SubnetId!, s]));
  let pub: string[];
  if (publicSubnets) pub = publicSubnets;
  else if (vpc === 'default') {
    pub = subnets
      .filter((s) => s.VpcId === vpcId && s.DefaultForAz)
      .sort((a, b) => (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? ''))
      .map((s) => s.SubnetId!);
  } else {
    throw unknownNetwork(
      `VPC ${vpc} is not the default VPC: list its public subnets (two availability zones or more) for the load balancer`,
      networkWhere(target, config, 'publicSubnets'),
      { vpc },
    );
  }
  const zones = new Set(pub.map((id) => byId.get(id)?.AvailabilityZone));
  if (zones.size < 2) {
    throw unknownNetwork(
      `the load balancer needs public subnets in at least two availability zones (found ${zones.size})`,
      networkWhere(target, config, 'publicSubnets'),
      { subnets: pub },
    );
  }
  const priv = privateSubnets ?? [];
  return {
    vpcId,
    publicSubnets: [...pub].sort(),
    taskSubnets: [...(priv.length ? priv : pub)].sort(),
    tasksArePrivate: priv.length > 0,
  };
}

/**
 * network.create: the region's zones, and the VPC and subnets patchwork made (found by the
 * environment's tags and their Name): their ids where they exist, their names where provision is
 * still to create them.
 */
async function observeCreatedNetwork(
  aws: AwsClients,
  target: ResolvedEnvironment,
  config?: LoadedConfig,
): Promise<Omit<Facts, 'accountId' | 'partition'>> {
  const ec2 = await aws.get('ec2');
  const owned = [
    { Name: 'tag:patchwork:app', Values: [target.app] },
    { Name: 'tag:patchwork:env', Values: [target.env] },
    { Name: 'tag:managed-by', Values: ['patchwork'] },
  ];
  const collect = async <P, T>(pages: AsyncIterable<P>, pick: (p: P) => T[] | undefined) => {
    const out: T[] = [];
    for await (const p of pages) out.push(...(pick(p) ?? []));
    return out;
  };
  const [zonesOut, vpcs, subnets] = await Promise.all([
    ec2.send(
      new DescribeAvailabilityZonesCommand({
        Filters: [
          { Name: 'state', Values: ['available'] },
          { Name: 'zone-type', Values: ['availability-zone'] },
        ],
      }),
    ),
    collect(paginateDescribeVpcs({ client: ec2 }, { Filters: owned }), (p) => p.Vpcs),
    collect(paginateDescribeSubnets({ client: ec2 }, { Filters: owned }), (p) => p.Subnets),
  ]);
  const zones = (zonesOut.AvailabilityZones ?? []).map((z) => z.ZoneName!).filter(Boolean);
  const wanted = target.network.create!.azs;
  if (zones.length < wanted) {
    throw unknownNetwork(
      `${target.region} has ${zones.length} availability zone${zones.length === 1 ? '' : 's'} available, and network.azs asks for ${wanted}`,
      networkWhere(target, config, 'azs'),
      { zones, region: target.region },
    );
  }
  const found = new Map<string, string>();
  const nameOf = (tags: { Key?: string; Value?: string }[] | undefined) => tags?.find((t) => t.Key === 'Name')?.Value;
  for (const v of vpcs) {
    const name = nameOf(v.Tags);
    if (name && v.VpcId) found.set(`vpc/${name}`, v.VpcId);
  }
  for (const sn of subnets) {
    const name = nameOf(sn.Tags);
    if (name && sn.SubnetId) found.set(`subnet/${name}`, sn.SubnetId);
  }
  return createdNetworkFacts(target, zones, found);
}

/**
 * An HTTPS environment's certificate must be an ACM certificate that is ISSUED, in the
 * environment's region: CreateListener refuses anything else (UnsupportedCertificate /
 * CertificateNotFound) — halfway through a provision. Read before any change: PW_CERTIFICATE_NOT_ISSUED
 * (exit 2) with the config line. No https: no call.
 */
export async function checkCertificate(
  aws: AwsClients,
  target: ResolvedEnvironment,
  config?: LoadedConfig,
): Promise<void> {
  if (!target.https) return;
  const arn = target.https.certificateArn;
  const acm = await aws.get('acm');
  const status = await acm
    .send(new DescribeCertificateCommand({ CertificateArn: arn }))
    .then((r) => r.Certificate?.Status ?? 'UNKNOWN')
    .catch((err) => {
      if (isAwsError(err, 'ResourceNotFoundException', 'InvalidArnException')) return 'NOT_FOUND';
      throw err;
    });
  if (status === 'ISSUED') return;
  const inEnv = (config?.raw.environments[target.env] as Record<string, unknown> | undefined)?.https !== undefined;
  const path: KeyPath = [
    ...(inEnv || !config ? ['environments', target.env] : ['defaults']),
    'https',
    'certificateArn',
  ];
  const issue = config?.source.issue(path, '');
  const where = issue ? `${issue.file}:${issue.line} ${issue.path}` : formatPath(path);
  throw new PatchworkError(
    'PW_CERTIFICATE_NOT_ISSUED',
    status === 'NOT_FOUND'
      ? `${where}: certificate ${arn} does not exist in ${target.region}`
      : `${where}: certificate ${arn} is ${status}, not ISSUED: a load balancer listener cannot use it yet`,
    {
      hint:
        status === 'PENDING_VALIDATION'
          ? 'complete its DNS validation (`aws acm describe-certificate` shows the record), then provision again'
          : 'use an ISSUED ACM certificate of the same region (`aws acm list-certificates --certificate-statuses ISSUED`)',
      data: { certificateArn: arn, status, region: target.region },
    },
  );
}
