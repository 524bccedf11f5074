/** Security groups: the load balancer's (from the allowed CIDRs) and one per service (from the ALB only). */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  type IpPermission,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { type ApplyContext, retryOn, sgId, tagList } from '../apply/context.js';
import { albSecurityGroupName, serviceSecurityGroupName } from '../desired/names.js';
import { canonicalJson, type SgRule } from '../desired/types.js';
import { changed, hasTagDiff, ifExists, ignore, ofKind, type ResourceKind, tagsFrom } from './kind.js';

export function sortRules<
  T extends { protocol: string; fromPort: number; toPort: number; cidr?: string; sourceGroup?: string },
>(rules: T[]): T[] {
  const key = (r: T) =>
    `${r.protocol}|${String(r.fromPort).padStart(5, '0')}|${r.toPort}|${r.cidr ?? ''}|${r.sourceGroup ?? ''}`;
  const seen = new Map<string, T>();
  for (const r of rules) seen.set(key(r), r);
  return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, r]) => r);
}

export function rulesFrom(perms: IpPermission[] | undefined, groupNames: Map<string, string>): SgRule[] {
  const rules: SgRule[] = [];
  for (const p of perms ?? []) {
    const base = { protocol: p.IpProtocol ?? '-1', fromPort: p.FromPort ?? -1, toPort: p.ToPort ?? -1 };
    for (const r of p.IpRanges ?? []) rules.push({ ...base, cidr: r.CidrIp! });
    for (const r of p.Ipv6Ranges ?? []) rules.push({ ...base, cidr: r.CidrIpv6! });
    for (const r of p.PrefixListIds ?? []) rules.push({ ...base, cidr: r.PrefixListId! });
    for (const g of p.UserIdGroupPairs ?? [])
      rules.push({ ...base, sourceGroup: groupNames.get(g.GroupId!) ?? g.GroupId! });
  }
  return sortRules(rules);
}

const ruleKey = (r: SgRule) => canonicalJson(r);
function permission(ctx: ApplyContext, r: SgRule): IpPermission {
  const p: IpPermission = { IpProtocol: r.protocol };
  if (r.protocol !== '-1') {
    p.FromPort = r.fromPort;
    p.ToPort = r.toPort;
  }
  if (r.sourceGroup) p.UserIdGroupPairs = [{ GroupId: sgId(ctx, r.sourceGroup) }];
  else if (r.cidr?.startsWith('pl-')) p.PrefixListIds = [{ PrefixListId: r.cidr }];
  else if (r.cidr?.includes(':')) p.Ipv6Ranges = [{ CidrIpv6: r.cidr }];
  else p.IpRanges = [{ CidrIp: r.cidr }];
  return p;
}

export const securityGroup: ResourceKind<'security-group'> = {
  kind: 'security-group',
  desired: {
    environment: ({ target, facts }) => {
      const cidrs = [...new Set(target.allowedCidrs)];
      return [
        {
          kind: 'security-group',
          name: albSecurityGroupName(target),
          tags: { ...target.tags },
          vpcId: facts.vpcId,
          description: `patchwork ${target.name}: load balancer`,
          ingress: sortRules(
            (target.https ? [80, 443] : [80]).flatMap((port) =>
              cidrs.map((cidr) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidr })),
            ),
          ),
        },
      ];
    },
    service: ({ target, facts }, svc) => [
      {
        kind: 'security-group',
        name: serviceSecurityGroupName(svc),
        service: svc.name,
        tags: { ...svc.tags },
        vpcId: facts.vpcId,
        description: `patchwork ${svc.fullName}: tasks, from the load balancer only`,
        ingress: [{ protocol: 'tcp', fromPort: svc.port, toPort: svc.port, sourceGroup: albSecurityGroupName(target) }],
      },
    ],
  },
  observe: {
    async read({ aws, desired, facts, state, add }) {
      const wanted = ofKind(desired, 'security-group');
      if (!wanted.length) return;
      const ec2 = await aws.get('ec2');
      const out = await ec2.send(
        new DescribeSecurityGroupsCommand({
          Filters: [
            // No VPC (destroy of an environment whose network is gone): by name and environment tag.
            ...(facts.vpcId
              ? [{ Name: 'vpc-id', Values: [facts.vpcId] }]
              : [{ Name: 'tag:patchwork:env', Values: [wanted[0]!.tags['patchwork:env'] ?? ''] }]),
            { Name: 'group-name', Values: wanted.map((w) => w.name) },
          ],
        }),
      );
      const groups = out.SecurityGroups ?? [];
      const idToName = new Map(groups.map((g) => [g.GroupId!, g.GroupName!]));
      for (const g of groups) {
        state.ids.securityGroups.set(g.GroupName!, g.GroupId!);
        const svc = wanted.find((w) => w.name === g.GroupName)?.service;
        add({
          kind: 'security-group',
          name: g.GroupName!,
          ...(svc ? { service: svc } : {}),
          id: g.GroupId!,
          tags: tagsFrom(g.Tags),
          vpcId: g.VpcId!,
          description: g.Description ?? '',
          ingress: rulesFrom(g.IpPermissions, idToName),
          meta: { ipPermissions: g.IpPermissions ?? [] },
        });
      }
    },
  },
  fields: { update: ['ingress'], replace: ['vpcId'] },
  // Groups may refer to each other: one at a time, the environment's own first.
  sequential: true,
  async create(ctx, want) {
    const ec2 = await ctx.aws.get('ec2');
    const groupId = await ec2
      .send(
        new CreateSecurityGroupCommand({
          GroupName: want.name,
          Description: want.description,
          VpcId: want.vpcId,
          TagSpecifications: [{ ResourceType: 'security-group', Tags: tagList(want.tags) }],
        }),
      )
      .then(
        (out) => out.GroupId!,
        ifExists(['InvalidGroup.Duplicate'], async () => {
          const found = await ec2.send(
            new DescribeSecurityGroupsCommand({
              Filters: [
                { Name: 'group-name', Values: [want.name] },
                { Name: 'vpc-id', Values: [want.vpcId] },
              ],
            }),
          );
          return found.SecurityGroups?.[0]?.GroupId;
        }),
      );
    ctx.ids.securityGroups.set(want.name, groupId);
    if (want.ingress.length) {
      await ec2
        .send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: want.ingress.map((r) => permission(ctx, r)),
          }),
        )
        .catch(ignore('InvalidPermission.Duplicate'));
    }
  },
  async update(ctx, want, have, diff) {
    const ec2 = await ctx.aws.get('ec2');
    if (changed(diff, 'ingress')) {
      const haveKeys = new Set(have.ingress.map(ruleKey));
      const wantKeys = new Set(want.ingress.map(ruleKey));
      const revoke = have.ingress.filter((r) => !wantKeys.has(ruleKey(r)));
      const add = want.ingress.filter((r) => !haveKeys.has(ruleKey(r)));
      if (revoke.length) {
        await ec2.send(
          new RevokeSecurityGroupIngressCommand({
            GroupId: have.id,
            IpPermissions: revoke.map((r) => permission(ctx, r)),
          }),
        );
      }
      if (add.length) {
        await ec2
          .send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: have.id,
              IpPermissions: add.map((r) => permission(ctx, r)),
            }),
          )
          .catch(ignore('InvalidPermission.Duplicate'));
      }
    }
    if (hasTagDiff(diff)) await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    // Network interfaces of a deleted load balancer or tasks linger for a while.
    await retryOn(ctx, ['DependencyViolation', 'InvalidGroup.InUse'], () =>
      ec2.send(new DeleteSecurityGroupCommand({ GroupId: have.id })),
    ).catch(ignore('InvalidGroup.NotFound'));
  },
};
