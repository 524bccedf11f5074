/** network.create: the Elastic IP of each NAT gateway (one per NAT zone). */
import {
  AllocateAddressCommand,
  CreateTagsCommand,
  DescribeAddressesCommand,
  ReleaseAddressCommand,
} from '@aws-sdk/client-ec2';
import { tagList } from '../apply/context.js';
import { natName, natZones, networkTags, zonesOf } from '../desired/network.js';
import { hasTagDiff, ofKind, type ResourceKind, tagsFrom } from './kind.js';
import { deleteWhenFree, nameTag, ownedFilters, setNetworkId } from './network.js';

export const elasticIp: ResourceKind<'elastic-ip'> = {
  kind: 'elastic-ip',
  desired: {
    environment: ({ target, facts }) => {
      const create = target.network.create;
      if (!create) return [];
      return natZones(create, zonesOf(create, facts.zones ?? [])).map((zone) => {
        const name = natName(target, zone);
        return { kind: 'elastic-ip' as const, name, tags: networkTags(target, name) };
      });
    },
  },
  observe: {
    async read({ aws, desired, state, add }) {
      // Read whenever the network is created: an Elastic IP no longer wanted (nat-per-az → nat) is released.
      if (!ofKind(desired, 'vpc').length) return;
      const ec2 = await aws.get('ec2');
      // DescribeAddresses does not page.
      const out = await ec2.send(new DescribeAddressesCommand({ Filters: ownedFilters(desired) }));
      for (const a of out.Addresses ?? []) {
        const name = nameTag(a.Tags, a.AllocationId!);
        setNetworkId(state.ids, 'elastic-ip', name, a.AllocationId!);
        add({
          kind: 'elastic-ip',
          name,
          id: a.AllocationId!,
          tags: tagsFrom(a.Tags),
          meta: { publicIp: a.PublicIp ?? null },
        });
      }
    },
  },
  fields: { update: [], replace: [] },
  orphan: () => true,
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const out = await ec2.send(
      new AllocateAddressCommand({
        Domain: 'vpc',
        TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: tagList(want.tags) }],
      }),
    );
    setNetworkId(ctx.ids, 'elastic-ip', want.name, out.AllocationId!);
  },
  async update(ctx, want, have, diff) {
    if (!hasTagDiff(diff)) return;
    const ec2 = await ctx.aws.get('ec2');
    await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    // An address a NAT gateway still holds (until the gateway is deleted) cannot be released.
    await deleteWhenFree(
      ctx,
      `Elastic IP ${have.name} (${have.id})`,
      () => ec2.send(new ReleaseAddressCommand({ AllocationId: have.id })),
      ['InvalidAllocationID.NotFound'],
      ['InvalidIPAddress.InUse', 'AuthFailure'],
    );
  },
};
