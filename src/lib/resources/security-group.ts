/** Security groups: the load balancer's (from the allowed CIDRs) and one per service (from the ALB only). */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  type EC2Client,
  type IpPermission,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { type ApplyContext, sgId, sleep, tagList } from '../apply/context.js';
import { isAwsError } from '../aws/errors.js';
import { isProgressive } from '../config/resolve.js';
import { albSecurityGroupName, serviceSecurityGroupName } from '../desired/names.js';
import { endpointSecurityGroupName } from '../desired/network.js';
import { canonicalJson, type SgRule } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
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

/**
 * EC2 is eventually consistent: a group created a moment ago may answer InvalidGroup.NotFound to
 * AuthorizeSecurityGroupIngress on it or naming it (EC2 "eventual consistency"; hashicorp/packer
 * #3627). Retried with a growing pause for at most `VISIBILITY_MS`; the SDK does not retry it.
 */
export const VISIBILITY_MS = 10_000;
export async function whenVisible<T>(fn: () => Promise<T>, budgetMs = VISIBILITY_MS): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let pause = 100; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      return await fn();
    } catch (err) {
      if (!isAwsError(err, 'InvalidGroup.NotFound') || Date.now() + pause > deadline) throw err;
      await sleep(pause);
    }
  }
}

/** Rules of `g` (ingress and egress) that name `groupId` as their source or destination. */
function referencing(g: SecurityGroup, groupId: string): { ingress: IpPermission[]; egress: IpPermission[] } {
  const pick = (perms: IpPermission[] | undefined) =>
    (perms ?? []).flatMap((p) => {
      const pairs = (p.UserIdGroupPairs ?? []).filter((pair) => pair.GroupId === groupId);
      if (!pairs.length) return [];
      const rule: IpPermission = {
        IpProtocol: p.IpProtocol,
        UserIdGroupPairs: pairs.map((x) => ({ GroupId: x.GroupId })),
      };
      if (p.FromPort !== undefined) rule.FromPort = p.FromPort;
      if (p.ToPort !== undefined) rule.ToPort = p.ToPort;
      return [rule];
    });
  return { ingress: pick(g.IpPermissions), egress: pick(g.IpPermissionsEgress) };
}

/**
 * Revokes the rules of this environment's other groups that name `have` (they keep it from being
 * deleted: DependencyViolation). Groups of anyone else are never changed: their ids are returned.
 */
async function revokeReferences(
  ec2: EC2Client,
  have: { id: string; tags: Record<string, string> },
): Promise<{
  revoked: number;
  foreign: string[];
}> {
  const found = new Map<string, SecurityGroup>();
  for (const name of ['ip-permission.group-id', 'egress.ip-permission.group-id']) {
    const out = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: name, Values: [have.id] }] }));
    for (const g of out.SecurityGroups ?? []) if (g.GroupId && g.GroupId !== have.id) found.set(g.GroupId, g);
  }
  const sameEnv = (g: SecurityGroup) => {
    const tags = tagsFrom(g.Tags);
    return tags['patchwork:app'] === have.tags['patchwork:app'] && tags['patchwork:env'] === have.tags['patchwork:env'];
  };
  let revoked = 0;
  const foreign: string[] = [];
  for (const g of found.values()) {
    const { ingress, egress } = referencing(g, have.id);
    if (!ingress.length && !egress.length) continue;
    if (!sameEnv(g)) {
      foreign.push(g.GroupId!);
      continue;
    }
    if (ingress.length) {
      await ec2
        .send(new RevokeSecurityGroupIngressCommand({ GroupId: g.GroupId, IpPermissions: ingress }))
        .catch(ignore('InvalidPermission.NotFound', 'InvalidGroup.NotFound'));
    }
    if (egress.length) {
      await ec2
        .send(new RevokeSecurityGroupEgressCommand({ GroupId: g.GroupId, IpPermissions: egress }))
        .catch(ignore('InvalidPermission.NotFound', 'InvalidGroup.NotFound'));
    }
    revoked += ingress.length + egress.length;
  }
  return { revoked, foreign };
}

/** Network interfaces still using the group (task and load balancer ENIs linger after they stop). */
async function interfacesUsing(ec2: EC2Client, groupId: string): Promise<string[]> {
  const out = await ec2
    .send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }))
    .catch(() => ({ NetworkInterfaces: [] }));
  return (out.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!).filter(Boolean);
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
          // The test listener (progressive strategies) is open to the same sources as production.
          ingress: sortRules(
            [
              ...(target.https ? [80, 443] : [80]),
              ...(isProgressive(target.deploy.strategy) ? [target.deploy.testListenerPort] : []),
            ].flatMap((port) => cidrs.map((cidr) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidr }))),
          ),
        },
        // network.create with egress endpoints: the interface endpoints answer HTTPS from the tasks only.
        ...(target.network.create?.egress === 'endpoints'
          ? [
              {
                kind: 'security-group' as const,
                name: endpointSecurityGroupName(target),
                tags: { ...target.tags },
                vpcId: facts.vpcId,
                description: `patchwork ${target.name}: VPC endpoints, HTTPS from the tasks`,
                ingress: sortRules(
                  target.services.map((svc) => ({
                    protocol: 'tcp',
                    fromPort: 443,
                    toPort: 443,
                    sourceGroup: serviceSecurityGroupName(svc),
                  })),
                ),
              },
            ]
          : []),
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
            // A created network's endpoints group is read even when no longer wanted (egress changed): it is deleted.
            {
              Name: 'group-name',
              Values: [
                ...new Set([
                  ...wanted.map((w) => w.name),
                  ...(ofKind(desired, 'vpc').length ? [endpointSecurityGroupName(desired.env)] : []),
                ]),
              ],
            },
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
  orphan: (have) =>
    have.name === endpointSecurityGroupName({ name: `${have.tags['patchwork:app']}-${have.tags['patchwork:env']}` }) &&
    have.tags['managed-by'] === 'patchwork',
  // Groups may refer to each other: one at a time, the load balancer's first, then the services',
  // then the endpoints' (its rules name the services' groups); removed in the reverse order.
  sequential: true,
  sequence: (r) => (r.service ? 1 : r.name.endsWith('-endpoints') ? 2 : 0),
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
      await whenVisible(() =>
        ec2.send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: want.ingress.map((r) => permission(ctx, r)),
          }),
        ),
      ).catch(ignore('InvalidPermission.Duplicate'));
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
        // A source group may have been created (replaced) a moment ago.
        await whenVisible(() =>
          ec2.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: have.id,
              IpPermissions: add.map((r) => permission(ctx, r)),
            }),
          ),
        ).catch(ignore('InvalidPermission.Duplicate'));
      }
    }
    if (hasTagDiff(diff)) await ec2.send(new CreateTagsCommand({ Resources: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ec2 = await ctx.aws.get('ec2');
    // DependencyViolation: another group's rule names this one (revoked when the group is this
    // environment's), or a network interface uses it: tasks' and load balancers' ENIs linger for
    // minutes after they stop (EC2 DeleteSecurityGroup; ECS awsvpc). Bounded by waitMs.
    const deadline = Date.now() + ctx.waitMs;
    for (;;) {
      try {
        await ec2.send(new DeleteSecurityGroupCommand({ GroupId: have.id }));
        return;
      } catch (err) {
        if (isAwsError(err, 'InvalidGroup.NotFound')) return;
        if (!isAwsError(err, 'DependencyViolation', 'InvalidGroup.InUse')) throw err;
        const { revoked, foreign } = await revokeReferences(ec2, have);
        if (foreign.length) {
          throw new PatchworkError(
            'PW_CONFLICT',
            `security group ${have.name} (${have.id}) is referenced by rules of ${foreign.join(', ')}, which patchwork does not manage`,
            {
              hint: `remove those rules (aws ec2 revoke-security-group-ingress --group-id ${foreign[0]} …), then run destroy again`,
            },
          );
        }
        if (revoked) continue;
        if (Date.now() + ctx.pollMs > deadline) {
          const enis = await interfacesUsing(ec2, have.id);
          throw new PatchworkError(
            'PW_TIMEOUT',
            `security group ${have.name} (${have.id}) is still in use${enis.length ? ` by ${enis.join(', ')}` : ''} after ${Math.round(ctx.waitMs / 1000)} s`,
            {
              hint: 'network interfaces of stopped tasks and deleted load balancers linger for minutes; run destroy again to finish',
            },
          );
        }
        await sleep(ctx.pollMs);
      }
    }
  },
};
