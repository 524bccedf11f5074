/**
 * The one read of the load balancer, its target groups, listeners and rules (and their tags and
 * attributes in batches) that the load-balancer, target-group, listener and listener-rule kinds
 * share. Fills the name → ARN maps; each kind turns its part into resources.
 */
import {
  type Action,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  type TargetGroup as ElbTargetGroup,
  type Listener,
  type LoadBalancer,
  paginateDescribeListeners,
  paginateDescribeRules,
  type Rule,
  type TargetGroupAttribute,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsClients } from '../aws/clients.js';
import { ALTERNATE_SUFFIX } from '../config/resolve.js';
import type { ListenerAction, Tags } from '../desired/types.js';
import { allPages, chunk, type ObserveContext, ofKind, orNull, tagsFrom } from './kind.js';

export interface LoadBalancing {
  lb: LoadBalancer | undefined;
  targetGroups: ElbTargetGroup[];
  listeners: { listener: Listener; rules: Rule[] }[];
  tagsOf: Map<string, Tags>;
  attributes: Map<string, TargetGroupAttribute[]>;
  /** Target group ARN → name. */
  tgNames: Map<string, string>;
}

export function actionFrom(actions: Action[] | undefined, tgNames: Map<string, string>): ListenerAction {
  const a = actions?.[0];
  if (a?.Type === 'redirect') {
    return {
      type: 'redirect',
      protocol: a.RedirectConfig?.Protocol ?? '#{protocol}',
      port: a.RedirectConfig?.Port ?? '#{port}',
      statusCode: a.RedirectConfig?.StatusCode ?? '',
    };
  }
  if (a?.Type === 'fixed-response') {
    return {
      type: 'fixed-response',
      statusCode: a.FixedResponseConfig?.StatusCode ?? '',
      contentType: a.FixedResponseConfig?.ContentType ?? '',
      body: a.FixedResponseConfig?.MessageBody ?? '',
    };
  }
  const arn = a?.TargetGroupArn ?? a?.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn ?? '';
  return { type: 'forward', targetGroup: tgNames.get(arn) ?? arn };
}

async function describeTargetGroups(aws: AwsClients, wanted: string[]): Promise<ElbTargetGroup[]> {
  if (!wanted.length) return [];
  const elb = await aws.get('elbv2');
  const batch = await orNull(
    elb.send(new DescribeTargetGroupsCommand({ Names: wanted })),
    'TargetGroupNotFoundException',
  );
  if (batch) return batch.TargetGroups ?? [];
  // One is missing (the whole call fails): ask for each.
  const each = await Promise.all(
    wanted.map((n) =>
      orNull(elb.send(new DescribeTargetGroupsCommand({ Names: [n] })), 'TargetGroupNotFoundException').then(
        (r) => r?.TargetGroups ?? [],
      ),
    ),
  );
  return each.flat();
}

async function read({ aws, desired, state }: ObserveContext): Promise<LoadBalancing> {
  const elb = await aws.get('elbv2');
  const [lbWant] = ofKind(desired, 'load-balancer');
  const wantedGroups = ofKind(desired, 'target-group').map((t) => t.name);
  const leftover = wantedGroups
    .filter((t) => !t.endsWith(ALTERNATE_SUFFIX))
    .map((t) => `${t}${ALTERNATE_SUFFIX}`)
    .filter((t) => !wantedGroups.includes(t));
  const [lbOut, targetGroups] = await Promise.all([
    lbWant
      ? orNull(elb.send(new DescribeLoadBalancersCommand({ Names: [lbWant.name] })), 'LoadBalancerNotFoundException')
      : Promise.resolve(null),
    describeTargetGroups(aws, wantedGroups),
  ]);
  const lb = lbOut?.LoadBalancers?.[0];
  const tgNames = new Map(targetGroups.map((t) => [t.TargetGroupArn!, t.TargetGroupName!]));
  for (const t of targetGroups) state.ids.targetGroups.set(t.TargetGroupName!, t.TargetGroupArn!);
  if (lb) state.ids.loadBalancers.set(lb.LoadBalancerName!, lb.LoadBalancerArn!);

  const found = lb
    ? (await allPages(paginateDescribeListeners({ client: elb }, { LoadBalancerArn: lb.LoadBalancerArn }))).flatMap(
        (p) => p.Listeners ?? [],
      )
    : [];
  for (const l of found) state.ids.listeners.set(l.Port!, l.ListenerArn!);
  // A listener beyond 80/443 that is not desired is a progressive strategy's test listener left after
  // a switch to rolling: then each service's second group is looked up too, to be deleted (no extra
  // call otherwise).
  const wantedPorts = new Set(ofKind(desired, 'listener').map((l) => l.port));
  if (leftover.length && found.some((l) => !wantedPorts.has(l.Port!))) {
    const more = await describeTargetGroups(aws, leftover);
    targetGroups.push(...more);
    for (const t of more) {
      tgNames.set(t.TargetGroupArn!, t.TargetGroupName!);
      state.ids.targetGroups.set(t.TargetGroupName!, t.TargetGroupArn!);
    }
  }
  const listeners = await Promise.all(
    found.map(async (listener) => {
      const pages = await allPages(paginateDescribeRules({ client: elb }, { ListenerArn: listener.ListenerArn }));
      return { listener, rules: pages.flatMap((p) => (p.Rules ?? []).filter((r) => !r.IsDefault)) };
    }),
  );
  const arns = [
    ...(lb ? [lb.LoadBalancerArn!] : []),
    ...targetGroups.map((t) => t.TargetGroupArn!),
    ...found.map((l) => l.ListenerArn!),
    ...listeners.flatMap((x) => x.rules.map((r) => r.RuleArn!)),
  ];
  const [tagSets, attrs] = await Promise.all([
    Promise.all(chunk(arns, 20).map((c) => elb.send(new DescribeTagsCommand({ ResourceArns: c })))),
    Promise.all(
      targetGroups.map((t) =>
        elb
          .send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: t.TargetGroupArn }))
          .then((a) => [t.TargetGroupArn!, a.Attributes ?? []] as const),
      ),
    ),
  ]);
  const tagsOf = new Map(
    tagSets.flatMap((s) => s.TagDescriptions ?? []).map((d) => [d.ResourceArn!, tagsFrom(d.Tags)]),
  );
  return { lb, targetGroups, listeners, tagsOf, attributes: new Map(attrs), tgNames };
}

/** The shared read, once per observe. */
export const loadBalancing = (ctx: ObserveContext): Promise<LoadBalancing> =>
  ctx.shared('load-balancing', () => read(ctx));
