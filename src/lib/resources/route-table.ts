/**
 * network.create: the public route table (0.0.0.0/0 → the internet gateway, the public subnets)
 * and one private route table per zone (0.0.0.0/0 → its NAT gateway with nat / nat-per-az; no
 * default route with endpoints / none; the zone's private subnet). A deleted or changed route is
 * drift, repaired in place. The local route and gateway endpoints' prefix-list routes are AWS's
 * and the S3 endpoint's: not compared.
 */
import {
  AssociateRouteTableCommand,
  CreateRouteCommand,
  type CreateRouteCommandInput,
  CreateRouteTableCommand,
  CreateTagsCommand,
  DeleteRouteCommand,
  DeleteRouteTableCommand,
  DisassociateRouteTableCommand,
  type EC2Client,
  type Route as Ec2Route,
  paginateDescribeRouteTables,
  ReplaceRouteCommand,
  ReplaceRouteTableAssociationCommand,
} from '@aws-sdk/client-ec2';
import { type ApplyContext, tagList } from '../apply/context.js';
import { isAwsError } from '../aws/errors.js';
import {
  internetGatewayName,
  natFor,
  networkTags,
  privateRouteTableName,
  publicRouteTableName,
  subnetName,
  vpcName,
  zonesOf,
} from '../desired/network.js';
import type { Kind, Route, RouteTable } from '../desired/types.js';
import { allPages, changed, hasTagDiff, ignore, ofKind, type ResourceKind, tagsFrom } from './kind.js';
import { deleteWhenFree, nameTag, networkId, networkNameOf, ownedFilters, setNetworkId } from './network.js';

export const sortRoutes = (routes: Route[]): Route[] =>
  [...routes].sort((a, b) => `${a.destination}|${a.target}`.localeCompare(`${b.destination}|${b.target}`));

/** The desired route tables of a created network (pure; tested by equality). */
export function routeTablesOf(
  target: Parameters<NonNullable<ResourceKind<'route-table'>['desired']['environment']>>[0]['target'],
  zones: string[],
): RouteTable[] {
  const create = target.network.create;
  if (!create) return [];
  const spanned = zonesOf(create, zones);
  const table = (name: string, routes: Route[], subnets: string[]): RouteTable => ({
    kind: 'route-table',
    name,
    tags: networkTags(target, name),
    vpc: vpcName(target),
    routes: sortRoutes(routes),
    subnets: [...subnets].sort(),
  });
  return [
    table(
      publicRouteTableName(target),
      [{ destination: '0.0.0.0/0', target: `internet-gateway/${internetGatewayName(target)}` }],
      spanned.map((z) => subnetName(target, 'public', z)),
    ),
    ...spanned.map((zone) => {
      const nat = natFor({ ...target, network: { ...target.network, create } }, spanned, zone);
      return table(
        privateRouteTableName(target, zone),
        nat ? [{ destination: '0.0.0.0/0', target: `nat-gateway/${nat}` }] : [],
        [subnetName(target, 'private', zone)],
      );
    }),
  ];
}

/** A route as patchwork compares it (null: AWS's own or a gateway endpoint's, not compared). */
function routeOf(r: Ec2Route, ids: Parameters<typeof networkNameOf>[0]): Route | null {
  if (!r.DestinationCidrBlock || r.GatewayId === 'local' || r.Origin === 'CreateRouteTable') return null;
  if (r.NatGatewayId)
    return {
      destination: r.DestinationCidrBlock,
      target: `nat-gateway/${networkNameOf(ids, 'nat-gateway', r.NatGatewayId)}`,
    };
  if (r.GatewayId?.startsWith('igw-'))
    return {
      destination: r.DestinationCidrBlock,
      target: `internet-gateway/${networkNameOf(ids, 'internet-gateway', r.GatewayId)}`,
    };
  return {
    destination: r.DestinationCidrBlock,
    target: r.GatewayId ?? r.NatGatewayId ?? r.NetworkInterfaceId ?? 'unknown',
  };
}

function routeTarget(ctx: ApplyContext, route: Route): Pick<CreateRouteCommandInput, 'GatewayId' | 'NatGatewayId'> {
  const [kind, ...rest] = route.target.split('/');
  const name = rest.join('/');
  const id = networkId(ctx.ids, kind as Kind, name);
  return kind === 'nat-gateway' ? { NatGatewayId: id } : { GatewayId: id };
}

async function associate(ctx: ApplyContext, ec2: EC2Client, tableId: string, subnetName: string): Promise<void> {
  const subnetId = networkId(ctx.ids, 'subnet', subnetName);
  try {
    await ec2.send(new AssociateRouteTableCommand({ RouteTableId: tableId, SubnetId: subnetId }));
  } catch (err) {
    if (!isAwsError(err, 'Resource.AlreadyAssociated')) throw err;
    // Associated with another table (by hand, or a table being replaced): move it here.
    const pages = await allPages(
      paginateDescribeRouteTables(
        { client: ec2 },
        { Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] },
      ),
    );
    const assoc = pages
      .flatMap((p) => p.RouteTables ?? [])
      .flatMap((t) => t.Associations ?? [])
      .find((a) => a.SubnetId === subnetId);
    if (!assoc?.RouteTableAssociationId || assoc.RouteTableId === tableId) return;
    await ec2.send(
      new ReplaceRouteTableAssociationCommand({ AssociationId: assoc.RouteTableAssociationId, RouteTableId: tableId }),
    );
  }
}

export const routeTable: ResourceKind<'route-table'> = {
  kind: 'route-table',
  desired: {
    environment: ({ target, facts }) => routeTablesOf(target, facts.zones ?? []),
  },
  observe: {
    after: ['vpc', 'internet-gateway', 'subnet', 'nat-gateway'],
    async read({ aws, desired, state, add }) {
      if (!ofKind(desired, 'vpc').length) return;
      const ec2 = await aws.get('ec2');
      const pages = await allPages(paginateDescribeRouteTables({ client: ec2 }, { Filters: ownedFilters(desired) }));
      for (const t of pages.flatMap((p) => p.RouteTables ?? [])) {
        const name = nameTag(t.Tags, t.RouteTableId!);
        setNetworkId(state.ids, 'route-table', name, t.RouteTableId!);
        const associations = (t.Associations ?? []).filter((a) => a.SubnetId && !a.Main);
        add({
          kind: 'route-table',
          name,
          id: t.RouteTableId!,
          tags: tagsFrom(t.Tags),
          vpc: networkNameOf(state.ids, 'vpc', t.VpcId) ?? '',
          routes: sortRoutes((t.Routes ?? []).map((r) => routeOf(r, state.ids)).filter((r): r is Route => !!r)),
          subnets: associations.map((a) => networkNameOf(state.ids, 'subnet', a.SubnetId)!).sort(),
          meta: {
            associations: Object.fromEntries(
              associations.map((a) => [networkNameOf(state.ids, 'subnet', a.SubnetId)!, a.RouteTableAssociationId!]),
            ),
          },
        });
      }
    },
  },
  fields: { update: ['routes', 'subnets'], replace: ['vpc'] },
  replacedWith: (child, parent) => parent.kind === 'vpc' && child.vpc === parent.name,
  orphan: () => true,
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const out = await ec2.send(
      new CreateRouteTableCommand({
        VpcId: networkId(ctx.ids, 'vpc', want.vpc),
        TagSpecifications: [{ ResourceType: 'route-table', Tags: tagList(want.tags) }],
      }),
    );
    const id = out.RouteTable!.RouteTableId!;
    setNetworkId(ctx.ids, 'route-table', want.name, id);
    for (const r of want.routes) {
      await ec2
        .send(new CreateRouteCommand({ RouteTableId: id, DestinationCidrBlock: r.destination, ...routeTarget(ctx, r) }))
        .catch(ignore('RouteAlreadyExists'));
    }
    for (const s of want.subnets) await associate(ctx, ec2, id, s);
  },
  async update(ctx, want, have, diff) {
    const ec2 = await ctx.aws.get('ec2');
    if (changed(diff, 'routes')) {
      const haveBy = new Map(have.routes.map((r) => [r.destination, r]));
      const wantBy = new Map(want.routes.map((r) => [r.destination, r]));
      for (const r of have.routes) {
        if (wantBy.has(r.destination)) continue;
        await ec2
          .send(new DeleteRouteCommand({ RouteTableId: have.id, DestinationCidrBlock: r.destination }))
          .catch(ignore('InvalidRoute.NotFound'));
      }
      for (const r of want.routes) {
        const now = haveBy.get(r.destination);
        if (now?.target === r.target) continue;
        const input = { RouteTableId: have.id, DestinationCidrBlock: r.destination, ...routeTarget(ctx, r) };
        if (now) await ec2.send(new ReplaceRouteCommand(input));
        else await ec2.send(new CreateRouteCommand(input)).catch(ignore('RouteAlreadyExists'));
      }
    }
    if (changed(diff, 'subnets')) {
      const associations = (have.meta?.associations ?? {}) as Record<string, string>;
      for (const s of have.subnets) {
        if (want.subnets.includes(s) || !associations[s]) continue;
        await ec2
          .send(new DisassociateRouteTableCommand({ AssociationId: associations[s] }))
          .catch(ignore('InvalidAssociationID.NotFound'));
      }
      for (const s of want.subnets) if (!have.subnets.includes(s)) await associate(ctx, ec2, have.id, s);
    }
    if (hasTagDiff(diff)) await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    for (const id of Object.values((have.meta?.associations ?? {}) as Record<string, string>)) {
      await ec2
        .send(new DisassociateRouteTableCommand({ AssociationId: id }))
        .catch(ignore('InvalidAssociationID.NotFound'));
    }
    await deleteWhenFree(
      ctx,
      `route table ${have.name} (${have.id})`,
      () => ec2.send(new DeleteRouteTableCommand({ RouteTableId: have.id })),
      ['InvalidRouteTableID.NotFound'],
    );
  },
};
