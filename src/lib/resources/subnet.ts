/**
 * network.create: a public subnet (load balancer, NAT gateway) and a private subnet (tasks) in each
 * zone the network spans, their CIDRs cut from the VPC's (desired/network.ts `subnetCidr`).
 */
import {
  CreateSubnetCommand,
  CreateTagsCommand,
  DeleteSubnetCommand,
  paginateDescribeSubnets,
} from '@aws-sdk/client-ec2';
import { tagList } from '../apply/context.js';
import { networkTags, subnetCidr, subnetName, type Tier, vpcName, zonesOf } from '../desired/network.js';
import type { Subnet } from '../desired/types.js';
import { allPages, hasTagDiff, ifExists, ofKind, type ResourceKind, tagsFrom } from './kind.js';
import { deleteWhenFree, nameTag, networkId, networkNameOf, ownedFilters, setNetworkId } from './network.js';

export const subnet: ResourceKind<'subnet'> = {
  kind: 'subnet',
  desired: {
    environment: ({ target, facts }) => {
      const create = target.network.create;
      if (!create) return [];
      const zones = zonesOf(create, facts.zones ?? []);
      return (['public', 'private'] as Tier[]).flatMap((tier) =>
        zones.map((zone, i): Subnet => {
          const name = subnetName(target, tier, zone);
          return {
            kind: 'subnet',
            name,
            tags: { ...networkTags(target, name), 'patchwork:tier': tier },
            vpc: vpcName(target),
            cidr: subnetCidr(create.cidr, tier, i),
            zone,
          };
        }),
      );
    },
  },
  observe: {
    after: ['vpc'],
    async read({ aws, desired, state, add }) {
      if (!ofKind(desired, 'subnet').length) return;
      const ec2 = await aws.get('ec2');
      const pages = await allPages(paginateDescribeSubnets({ client: ec2 }, { Filters: ownedFilters(desired) }));
      for (const s of pages.flatMap((p) => p.Subnets ?? [])) {
        const name = nameTag(s.Tags, s.SubnetId!);
        setNetworkId(state.ids, 'subnet', name, s.SubnetId!);
        add({
          kind: 'subnet',
          name,
          id: s.SubnetId!,
          tags: tagsFrom(s.Tags),
          vpc: networkNameOf(state.ids, 'vpc', s.VpcId) ?? '',
          cidr: s.CidrBlock ?? '',
          zone: s.AvailabilityZone ?? '',
        });
      }
    },
  },
  fields: { update: [], replace: ['vpc', 'cidr', 'zone'] },
  replacedWith: (child, parent) => parent.kind === 'vpc' && child.vpc === parent.name,
  orphan: () => true,
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const vpcId = networkId(ctx.ids, 'vpc', want.vpc);
    const id = await ec2
      .send(
        new CreateSubnetCommand({
          VpcId: vpcId,
          CidrBlock: want.cidr,
          AvailabilityZone: want.zone,
          TagSpecifications: [{ ResourceType: 'subnet', Tags: tagList(want.tags) }],
        }),
      )
      .then(
        (out) => out.Subnet!.SubnetId!,
        // A retried create whose first attempt made it: the CIDR is taken, by our subnet.
        ifExists(['InvalidSubnet.Conflict'], async () => {
          const pages = await allPages(
            paginateDescribeSubnets(
              { client: ec2 },
              {
                Filters: [
                  { Name: 'vpc-id', Values: [vpcId] },
                  { Name: 'cidr-block', Values: [want.cidr] },
                  { Name: 'tag:Name', Values: [want.name] },
                ],
              },
            ),
          );
          return pages.flatMap((p) => p.Subnets ?? [])[0]?.SubnetId;
        }),
      );
    setNetworkId(ctx.ids, 'subnet', want.name, id);
  },
  async update(ctx, want, have, diff) {
    if (!hasTagDiff(diff)) return;
    const ec2 = await ctx.aws.get('ec2');
    await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    // Network interfaces of a deleted load balancer, NAT gateway or stopped tasks linger a while.
    await deleteWhenFree(
      ctx,
      `subnet ${have.name} (${have.id})`,
      () => ec2.send(new DeleteSubnetCommand({ SubnetId: have.id })),
      ['InvalidSubnetID.NotFound'],
    );
  },
};
