/** network.create: the VPC's internet gateway (the public subnets' way out), attached to the VPC. */
import {
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateTagsCommand,
  DeleteInternetGatewayCommand,
  DetachInternetGatewayCommand,
  paginateDescribeInternetGateways,
} from '@aws-sdk/client-ec2';
import { tagList } from '../apply/context.js';
import { internetGatewayName, networkTags, vpcName } from '../desired/network.js';
import { allPages, changed, hasTagDiff, ignore, ofKind, type ResourceKind, tagsFrom } from './kind.js';
import { deleteWhenFree, nameTag, networkId, networkNameOf, ownedFilters, setNetworkId } from './network.js';

export const internetGateway: ResourceKind<'internet-gateway'> = {
  kind: 'internet-gateway',
  desired: {
    environment: ({ target }) => {
      if (!target.network.create) return [];
      const name = internetGatewayName(target);
      return [{ kind: 'internet-gateway', name, tags: networkTags(target, name), vpc: vpcName(target) }];
    },
  },
  observe: {
    after: ['vpc'],
    async read({ aws, desired, state, add }) {
      if (!ofKind(desired, 'internet-gateway').length) return;
      const ec2 = await aws.get('ec2');
      const pages = await allPages(
        paginateDescribeInternetGateways({ client: ec2 }, { Filters: ownedFilters(desired) }),
      );
      for (const g of pages.flatMap((p) => p.InternetGateways ?? [])) {
        const name = nameTag(g.Tags, g.InternetGatewayId!);
        setNetworkId(state.ids, 'internet-gateway', name, g.InternetGatewayId!);
        const attached = (g.Attachments ?? []).find((a) =>
          ['available', 'attached', 'attaching'].includes(String(a.State)),
        );
        add({
          kind: 'internet-gateway',
          name,
          id: g.InternetGatewayId!,
          tags: tagsFrom(g.Tags),
          vpc: networkNameOf(state.ids, 'vpc', attached?.VpcId),
          meta: { vpcId: attached?.VpcId ?? null },
        });
      }
    },
  },
  fields: { update: ['vpc'], replace: [] },
  orphan: () => true,
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const out = await ec2.send(
      new CreateInternetGatewayCommand({
        TagSpecifications: [{ ResourceType: 'internet-gateway', Tags: tagList(want.tags) }],
      }),
    );
    const id = out.InternetGateway!.InternetGatewayId!;
    setNetworkId(ctx.ids, 'internet-gateway', want.name, id);
    if (want.vpc) {
      await ec2
        .send(new AttachInternetGatewayCommand({ InternetGatewayId: id, VpcId: networkId(ctx.ids, 'vpc', want.vpc) }))
        .catch(ignore('Resource.AlreadyAssociated'));
    }
  },
  async update(ctx, want, have, diff) {
    const ec2 = await ctx.aws.get('ec2');
    if (changed(diff, 'vpc')) {
      const attachedTo = have.meta?.vpcId as string | null;
      if (attachedTo) {
        await ec2
          .send(new DetachInternetGatewayCommand({ InternetGatewayId: have.id, VpcId: attachedTo }))
          .catch(ignore('Gateway.NotAttached'));
      }
      if (want.vpc) {
        await ec2.send(
          new AttachInternetGatewayCommand({ InternetGatewayId: have.id, VpcId: networkId(ctx.ids, 'vpc', want.vpc) }),
        );
      }
    }
    if (hasTagDiff(diff)) await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    const attachedTo = have.meta?.vpcId as string | null;
    // Detach refuses while public addresses (a NAT gateway's, a load balancer's) are still mapped in the VPC.
    if (attachedTo) {
      await deleteWhenFree(
        ctx,
        `internet gateway ${have.name} (${have.id})`,
        () => ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: have.id, VpcId: attachedTo })),
        ['Gateway.NotAttached', 'InvalidInternetGatewayID.NotFound'],
      );
    }
    await deleteWhenFree(
      ctx,
      `internet gateway ${have.name} (${have.id})`,
      () => ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: have.id })),
      ['InvalidInternetGatewayID.NotFound'],
    );
  },
};
