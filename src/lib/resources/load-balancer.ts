/** The environment's internet-facing Application Load Balancer. */
import {
  AddTagsCommand,
  CreateLoadBalancerCommand,
  DeleteLoadBalancerCommand,
  DescribeLoadBalancersCommand,
  SetSecurityGroupsCommand,
  SetSubnetsCommand,
  waitForLoadBalancersDeleted,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { settled, sgId, tagList, waiter } from '../apply/context.js';
import { albSecurityGroupName, loadBalancerName } from '../desired/names.js';
import { changed, hasTagDiff, ifExists, nameOf, ofKind, type ResourceKind } from './kind.js';
import { loadBalancing } from './load-balancing.js';

export const loadBalancer: ResourceKind<'load-balancer'> = {
  kind: 'load-balancer',
  desired: {
    environment: ({ target, facts }) => [
      {
        kind: 'load-balancer',
        name: loadBalancerName(target),
        tags: { ...target.tags },
        scheme: 'internet-facing',
        type: 'application',
        subnets: [...facts.publicSubnets].sort(),
        securityGroups: [albSecurityGroupName(target)],
      },
    ],
  },
  observe: {
    after: ['security-group'],
    async read(ctx) {
      const { lb, tagsOf } = await loadBalancing(ctx);
      if (!lb || !ofKind(ctx.desired, 'load-balancer').length) return;
      ctx.add({
        kind: 'load-balancer',
        name: lb.LoadBalancerName!,
        id: lb.LoadBalancerArn!,
        tags: tagsOf.get(lb.LoadBalancerArn!) ?? {},
        scheme: (lb.Scheme ?? 'internet-facing') as 'internet-facing',
        type: (lb.Type ?? 'application') as 'application',
        subnets: (lb.AvailabilityZones ?? []).map((z) => z.SubnetId!).sort(),
        securityGroups: (lb.SecurityGroups ?? []).map((id) => nameOf(ctx.state.ids.securityGroups, id)).sort(),
        meta: { dnsName: lb.DNSName, vpcId: lb.VpcId, state: lb.State?.Code },
      });
    },
  },
  fields: { update: ['subnets', 'securityGroups'], replace: ['scheme', 'type'] },
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const arn = await elb
      .send(
        new CreateLoadBalancerCommand({
          Name: want.name,
          Subnets: want.subnets,
          SecurityGroups: want.securityGroups.map((g) => sgId(ctx, g)),
          Scheme: want.scheme,
          Type: want.type,
          Tags: tagList(want.tags),
        }),
      )
      .then(
        (out) => out.LoadBalancers![0]!.LoadBalancerArn!,
        ifExists(['DuplicateLoadBalancerName', 'DuplicateLoadBalancerNameException'], async () => {
          const found = await elb.send(new DescribeLoadBalancersCommand({ Names: [want.name] }));
          return found.LoadBalancers?.[0]?.LoadBalancerArn;
        }),
      );
    ctx.ids.loadBalancers.set(want.name, arn);
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (changed(diff, 'subnets'))
      await elb.send(new SetSubnetsCommand({ LoadBalancerArn: have.id, Subnets: want.subnets }));
    if (changed(diff, 'securityGroups')) {
      await elb.send(
        new SetSecurityGroupsCommand({
          LoadBalancerArn: have.id,
          SecurityGroups: want.securityGroups.map((g) => sgId(ctx, g)),
        }),
      );
    }
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: have.id }));
    ctx.ids.loadBalancers.delete(have.name);
    for (const [port] of ctx.ids.listeners) ctx.ids.listeners.delete(port);
    settled(
      `load balancer ${have.name} to be deleted`,
      await waitForLoadBalancersDeleted(waiter(ctx, elb), { LoadBalancerArns: [have.id] }),
    );
  },
};
