/** network.create: the environment's VPC, with DNS support and hostnames (interface endpoints' private DNS needs both). */
import {
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteVpcCommand,
  ModifyVpcAttributeCommand,
  paginateDescribeVpcs,
} from '@aws-sdk/client-ec2';
import { tagList } from '../apply/context.js';
import { networkTags, vpcName } from '../desired/network.js';
import { allPages, hasTagDiff, ofKind, type ResourceKind, tagsFrom } from './kind.js';
import { deleteWhenFree, nameTag, ownedFilters, setNetworkId } from './network.js';

export const vpc: ResourceKind<'vpc'> = {
  kind: 'vpc',
  desired: {
    environment: ({ target }) => {
      const create = target.network.create;
      if (!create) return [];
      return [{ kind: 'vpc', name: vpcName(target), tags: networkTags(target, vpcName(target)), cidr: create.cidr }];
    },
  },
  observe: {
    async read({ aws, desired, state, add }) {
      if (!ofKind(desired, 'vpc').length) return;
      const ec2 = await aws.get('ec2');
      const pages = await allPages(paginateDescribeVpcs({ client: ec2 }, { Filters: ownedFilters(desired) }));
      for (const v of pages.flatMap((p) => p.Vpcs ?? [])) {
        const name = nameTag(v.Tags, v.VpcId!);
        setNetworkId(state.ids, 'vpc', name, v.VpcId!);
        add({ kind: 'vpc', name, id: v.VpcId!, tags: tagsFrom(v.Tags), cidr: v.CidrBlock ?? '' });
      }
    },
  },
  fields: { update: [], replace: ['cidr'] },
  orphan: () => true,
  irreplaceable: {
    what: 'VPC',
    why: 'a new CIDR needs a new VPC, and everything of the environment lives in it; run destroy first, then provision',
  },
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const out = await ec2.send(
      new CreateVpcCommand({
        CidrBlock: want.cidr,
        TagSpecifications: [{ ResourceType: 'vpc', Tags: tagList(want.tags) }],
      }),
    );
    const id = out.Vpc!.VpcId!;
    setNetworkId(ctx.ids, 'vpc', want.name, id);
    // One attribute per call (EC2 ModifyVpcAttribute); DNS support is on by default, hostnames are not.
    await ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsHostnames: { Value: true } }));
  },
  async update(ctx, want, have, diff) {
    if (!hasTagDiff(diff)) return;
    const ec2 = await ctx.aws.get('ec2');
    await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    await deleteWhenFree(
      ctx,
      `VPC ${have.name} (${have.id})`,
      () => ec2.send(new DeleteVpcCommand({ VpcId: have.id })),
      ['InvalidVpcID.NotFound'],
    );
  },
};
