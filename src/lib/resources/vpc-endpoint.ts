/**
 * network.create with egress endpoints: interface endpoints in the private subnets for what a task
 * needs to start without a NAT gateway (ecr.api, ecr.dkr, logs; ssm / secretsmanager when the
 * services' secrets live there), behind the endpoints' security group (443 from the tasks), with
 * private DNS; and the S3 gateway endpoint (image layers) on the private route tables.
 */
import {
  CreateTagsCommand,
  CreateVpcEndpointCommand,
  DeleteVpcEndpointsCommand,
  DescribeVpcEndpointsCommand,
  ModifyVpcEndpointCommand,
  paginateDescribeVpcEndpoints,
} from '@aws-sdk/client-ec2';
import { sgId, sleep, tagList } from '../apply/context.js';
import {
  endpointName,
  endpointSecurityGroupName,
  interfaceEndpoints,
  networkTags,
  privateRouteTableName,
  subnetName,
  vpcName,
  zonesOf,
} from '../desired/network.js';
import type { VpcEndpoint } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import { allPages, changed, hasTagDiff, ignore, nameOf, ofKind, type ResourceKind, tagsFrom } from './kind.js';
import { nameTag, networkId, networkNameOf, ownedFilters, setNetworkId } from './network.js';

const GONE = ['deleted', 'deleting', 'rejected', 'failed', 'expired'];

const diffIds = (have: string[], want: string[]) => ({
  add: want.filter((x) => !have.includes(x)),
  remove: have.filter((x) => !want.includes(x)),
});

export const vpcEndpoint: ResourceKind<'vpc-endpoint'> = {
  kind: 'vpc-endpoint',
  desired: {
    environment: ({ target, facts }) => {
      const create = target.network.create;
      if (create?.egress !== 'endpoints') return [];
      const zones = zonesOf(create, facts.zones ?? []);
      const base = (service: string) => ({
        kind: 'vpc-endpoint' as const,
        name: endpointName(target, service),
        tags: networkTags(target, endpointName(target, service)),
        vpc: vpcName(target),
        serviceName: `com.amazonaws.${target.region}.${service}`,
      });
      const interfaces = interfaceEndpoints(target).map(
        (service): VpcEndpoint => ({
          ...base(service),
          type: 'Interface',
          subnets: zones.map((z) => subnetName(target, 'private', z)).sort(),
          securityGroups: [endpointSecurityGroupName(target)],
          routeTables: [],
          privateDns: true,
        }),
      );
      return [
        ...interfaces,
        {
          ...base('s3'),
          type: 'Gateway',
          subnets: [],
          securityGroups: [],
          routeTables: zones.map((z) => privateRouteTableName(target, z)).sort(),
          privateDns: false,
        },
      ];
    },
  },
  observe: {
    after: ['vpc', 'subnet', 'route-table', 'security-group'],
    async read({ aws, desired, state, add }) {
      if (!ofKind(desired, 'vpc').length) return;
      const ec2 = await aws.get('ec2');
      const pages = await allPages(paginateDescribeVpcEndpoints({ client: ec2 }, { Filters: ownedFilters(desired) }));
      for (const e of pages.flatMap((p) => p.VpcEndpoints ?? [])) {
        if (GONE.includes(String(e.State ?? '').toLowerCase())) continue;
        const name = nameTag(e.Tags, e.VpcEndpointId!);
        setNetworkId(state.ids, 'vpc-endpoint', name, e.VpcEndpointId!);
        const type = e.VpcEndpointType === 'Gateway' ? 'Gateway' : 'Interface';
        add({
          kind: 'vpc-endpoint',
          name,
          id: e.VpcEndpointId!,
          tags: tagsFrom(e.Tags),
          vpc: networkNameOf(state.ids, 'vpc', e.VpcId) ?? '',
          serviceName: e.ServiceName ?? '',
          type,
          subnets: (e.SubnetIds ?? []).map((id) => networkNameOf(state.ids, 'subnet', id)!).sort(),
          securityGroups: (e.Groups ?? []).map((g) => nameOf(state.ids.securityGroups, g.GroupId!)).sort(),
          routeTables: (e.RouteTableIds ?? []).map((id) => networkNameOf(state.ids, 'route-table', id)!).sort(),
          privateDns: type === 'Interface' ? !!e.PrivateDnsEnabled : false,
          meta: {
            subnetIds: e.SubnetIds ?? [],
            groupIds: (e.Groups ?? []).map((g) => g.GroupId!),
            routeTableIds: e.RouteTableIds ?? [],
          },
        });
      }
    },
  },
  fields: {
    update: ['subnets', 'securityGroups', 'routeTables', 'privateDns'],
    replace: ['vpc', 'serviceName', 'type'],
  },
  replacedWith: (child, parent) => parent.kind === 'vpc' && child.vpc === parent.name,
  orphan: () => true,
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const out = await ec2.send(
      new CreateVpcEndpointCommand({
        VpcId: networkId(ctx.ids, 'vpc', want.vpc),
        ServiceName: want.serviceName,
        VpcEndpointType: want.type,
        ...(want.type === 'Interface'
          ? {
              SubnetIds: want.subnets.map((s) => networkId(ctx.ids, 'subnet', s)),
              SecurityGroupIds: want.securityGroups.map((g) => sgId(ctx, g)),
              PrivateDnsEnabled: want.privateDns,
            }
          : { RouteTableIds: want.routeTables.map((t) => networkId(ctx.ids, 'route-table', t)) }),
        TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: tagList(want.tags) }],
      }),
    );
    setNetworkId(ctx.ids, 'vpc-endpoint', want.name, out.VpcEndpoint!.VpcEndpointId!);
  },
  async update(ctx, want, have, diff) {
    const ec2 = await ctx.aws.get('ec2');
    if (['subnets', 'securityGroups', 'routeTables', 'privateDns'].some((f) => changed(diff, f))) {
      const meta = have.meta as { subnetIds: string[]; groupIds: string[]; routeTableIds: string[] };
      const subnets = diffIds(
        meta.subnetIds,
        want.subnets.map((s) => networkId(ctx.ids, 'subnet', s)),
      );
      const groups = diffIds(
        meta.groupIds,
        want.securityGroups.map((g) => sgId(ctx, g)),
      );
      const tables = diffIds(
        meta.routeTableIds,
        want.routeTables.map((t) => networkId(ctx.ids, 'route-table', t)),
      );
      await ec2.send(
        new ModifyVpcEndpointCommand({
          VpcEndpointId: have.id,
          ...(subnets.add.length ? { AddSubnetIds: subnets.add } : {}),
          ...(subnets.remove.length ? { RemoveSubnetIds: subnets.remove } : {}),
          ...(groups.add.length ? { AddSecurityGroupIds: groups.add } : {}),
          ...(groups.remove.length ? { RemoveSecurityGroupIds: groups.remove } : {}),
          ...(tables.add.length ? { AddRouteTableIds: tables.add } : {}),
          ...(tables.remove.length ? { RemoveRouteTableIds: tables.remove } : {}),
          ...(changed(diff, 'privateDns') ? { PrivateDnsEnabled: want.privateDns } : {}),
        }),
      );
    }
    if (hasTagDiff(diff)) await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    await ec2
      .send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [have.id] }))
      .catch(ignore('InvalidVpcEndpointId.NotFound', 'InvalidVpcEndpoint.NotFound'));
    // No SDK waiter for endpoints: poll until it is gone (its network interfaces hold the subnets
    // and the security group meanwhile), bounded by the wait budget.
    const deadline = Date.now() + ctx.waitMs;
    for (;;) {
      const out = await ec2
        .send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [have.id] }))
        .catch(ignore('InvalidVpcEndpointId.NotFound', 'InvalidVpcEndpoint.NotFound'));
      const state = String(out?.VpcEndpoints?.[0]?.State ?? 'deleted').toLowerCase();
      if (state === 'deleted') return;
      if (Date.now() + ctx.pollMs > deadline) {
        throw new PatchworkError('PW_TIMEOUT', `VPC endpoint ${have.name} (${have.id}) is still ${state}`, {
          hint: 'AWS is still deleting it; run destroy again in a few minutes',
        });
      }
      await sleep(ctx.pollMs);
    }
  },
};
