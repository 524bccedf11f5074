/**
 * network.create with egress nat / nat-per-az: NAT gateways in the public subnets, each with its
 * Elastic IP. AWS makes one in minutes (pending → available) and deletes it in minutes
 * (deleting → deleted); both are waited for with the SDK's waiters, bounded by the wait budget.
 */
import {
  CreateNatGatewayCommand,
  CreateTagsCommand,
  DeleteNatGatewayCommand,
  type EC2Client,
  paginateDescribeNatGateways,
  waitForNatGatewayAvailable,
  waitForNatGatewayDeleted,
} from '@aws-sdk/client-ec2';
import { type ApplyContext, settled, tagList, waiter } from '../apply/context.js';
import { natName, natZones, networkTags, subnetName, zonesOf } from '../desired/network.js';
import { allPages, changed, hasTagDiff, ignore, ofKind, type ResourceKind, tagsFrom } from './kind.js';
import { nameTag, networkId, networkNameOf, ownedFilters, setNetworkId } from './network.js';

/** States of a NAT gateway that is (or will be) there; `failed`, `deleting` and `deleted` ones are not. */
const LIVE = ['pending', 'available'];

/** Routes may name a pending gateway, but tasks get no way out until it is available. */
async function untilAvailable(ctx: ApplyContext, ec2: EC2Client, name: string, id: string): Promise<void> {
  const result = await waitForNatGatewayAvailable(waiter(ctx, ec2), { NatGatewayIds: [id] });
  settled(`NAT gateway ${name} (${id}) to be available`, result);
}

export const natGateway: ResourceKind<'nat-gateway'> = {
  kind: 'nat-gateway',
  desired: {
    environment: ({ target, facts }) => {
      const create = target.network.create;
      if (!create) return [];
      return natZones(create, zonesOf(create, facts.zones ?? [])).map((zone) => {
        const name = natName(target, zone);
        return {
          kind: 'nat-gateway' as const,
          name,
          tags: networkTags(target, name),
          subnet: subnetName(target, 'public', zone),
          eip: name,
          state: 'available' as const,
        };
      });
    },
  },
  observe: {
    after: ['subnet', 'elastic-ip'],
    async read({ aws, desired, state, add }) {
      if (!ofKind(desired, 'vpc').length) return;
      const ec2 = await aws.get('ec2');
      const pages = await allPages(
        paginateDescribeNatGateways(
          { client: ec2 },
          { Filter: [...ownedFilters(desired), { Name: 'state', Values: LIVE }] },
        ),
      );
      for (const n of pages.flatMap((p) => p.NatGateways ?? [])) {
        if (!LIVE.includes(n.State ?? '')) continue;
        const name = nameTag(n.Tags, n.NatGatewayId!);
        setNetworkId(state.ids, 'nat-gateway', name, n.NatGatewayId!);
        const allocation = n.NatGatewayAddresses?.find((a) => a.IsPrimary !== false)?.AllocationId;
        add({
          kind: 'nat-gateway',
          name,
          id: n.NatGatewayId!,
          tags: tagsFrom(n.Tags),
          subnet: networkNameOf(state.ids, 'subnet', n.SubnetId) ?? '',
          eip: networkNameOf(state.ids, 'elastic-ip', allocation) ?? '',
          state: n.State === 'pending' ? 'pending' : 'available',
          meta: { state: n.State },
        });
      }
    },
  },
  fields: { update: ['state'], replace: ['subnet', 'eip'] },
  replacedWith: (child, parent) =>
    (parent.kind === 'subnet' && child.subnet === parent.name) ||
    (parent.kind === 'elastic-ip' && child.eip === parent.name),
  orphan: () => true,
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const out = await ec2.send(
      new CreateNatGatewayCommand({
        SubnetId: networkId(ctx.ids, 'subnet', want.subnet),
        AllocationId: networkId(ctx.ids, 'elastic-ip', want.eip),
        ConnectivityType: 'public',
        TagSpecifications: [{ ResourceType: 'natgateway', Tags: tagList(want.tags) }],
      }),
    );
    const id = out.NatGateway!.NatGatewayId!;
    setNetworkId(ctx.ids, 'nat-gateway', want.name, id);
    await untilAvailable(ctx, ec2, want.name, id);
  },
  async update(ctx, want, have, diff) {
    const ec2 = await ctx.aws.get('ec2');
    if (hasTagDiff(diff)) await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
    // Left pending by a run killed while it waited: waited for here, before routes name it.
    if (changed(diff, 'state')) await untilAvailable(ctx, ec2, want.name, have.id);
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    await ec2.send(new DeleteNatGatewayCommand({ NatGatewayId: have.id })).catch(ignore('NatGatewayNotFound'));
    // Its Elastic IP cannot be released, nor its subnet deleted, until it is gone.
    const result = await waitForNatGatewayDeleted(waiter(ctx, ec2), { NatGatewayIds: [have.id] });
    settled(`NAT gateway ${have.name} (${have.id}) to be deleted`, result);
  },
};
