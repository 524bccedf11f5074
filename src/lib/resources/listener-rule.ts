/**
 * One rule per service on the serving listener: its paths (and hosts) forward to its target group.
 * Progressive strategies add the same rule on the test listener; ECS shifts both rules' weights
 * between the service's two target groups during a deployment (that is not drift).
 */
import {
  AddTagsCommand,
  CreateRuleCommand,
  DeleteRuleCommand,
  DescribeRulesCommand,
  ModifyRuleCommand,
  type Rule,
  type RuleCondition,
  SetRulePrioritiesCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { tagList, tgArn } from '../apply/context.js';
import { isAwsError } from '../aws/errors.js';
import { isProgressive } from '../config/resolve.js';
import { alternateTargetGroupName, targetGroupName } from '../desired/names.js';
import type { ListenerRule } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import { changed, hasTagDiff, ifExists, ignore, ofKind, type ResourceKind } from './kind.js';
import { actionFrom, loadBalancing } from './load-balancing.js';

/**
 * A priority another of our rules is leaving in this same apply (rules are written in parallel:
 * a renumbering moves one out while another is created or moved in) is free a moment later.
 */
async function whilePriorityInUse<T>(call: () => Promise<T>, tries = 6, ms = 250): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (err) {
      if (i >= tries || !isAwsError(err, 'PriorityInUse', 'PriorityInUseException')) throw err;
      await new Promise((r) => setTimeout(r, ms));
    }
  }
}

/** The target group names a rule forwards to (a weighted forward: every group in it, any weight). */
export function forwardTargets(rule: Pick<Rule, 'Actions'>, tgNames: Map<string, string>): string[] {
  const a = rule.Actions?.find((x) => x.Type === 'forward');
  if (!a) return [];
  const arns = a.ForwardConfig?.TargetGroups?.length
    ? a.ForwardConfig.TargetGroups.map((t) => t.TargetGroupArn ?? '')
    : [a.TargetGroupArn ?? ''];
  return arns.map((arn) => tgNames.get(arn) ?? arn);
}

/**
 * The desired rule an observed one is, on listener `port`: one forwarding (in any weights) only to
 * the pair of target groups of a progressive service is that service's rule.
 */
export function matchRule(wanted: ListenerRule[], port: number, targets: string[]): ListenerRule | undefined {
  if (!targets.length) return undefined;
  return wanted.find((w) => {
    if (w.listenerPort !== port) return false;
    const pair = [w.targetGroup, ...(w.alternateTargetGroup ? [w.alternateTargetGroup] : [])];
    return targets.every((t) => pair.includes(t));
  });
}

function conditions(want: ListenerRule): RuleCondition[] {
  const out: RuleCondition[] = [{ Field: 'path-pattern', PathPatternConfig: { Values: want.paths } }];
  if (want.hosts) out.push({ Field: 'host-header', HostHeaderConfig: { Values: want.hosts } });
  return out;
}

export const listenerRule: ResourceKind<'listener-rule'> = {
  kind: 'listener-rule',
  desired: {
    service: ({ target }, svc) => {
      const servingPort = target.https ? 443 : 80;
      const progressive = isProgressive(target.deploy.strategy);
      const ports = progressive ? [servingPort, target.deploy.testListenerPort] : [servingPort];
      return ports.map(
        (port): ListenerRule => ({
          kind: 'listener-rule',
          name: `${svc.fullName}:${port}`,
          service: svc.name,
          tags: { ...svc.tags },
          listenerPort: port,
          priority: svc.route.priority,
          paths: [...svc.route.paths],
          hosts: svc.route.hosts ? [...svc.route.hosts] : null,
          targetGroup: targetGroupName(svc),
          alternateTargetGroup: progressive ? alternateTargetGroupName(svc) : null,
        }),
      );
    },
  },
  observe: {
    after: ['security-group'],
    async read(ctx) {
      const { listeners, tagsOf, tgNames } = await loadBalancing(ctx);
      const wanted = ofKind(ctx.desired, 'listener-rule');
      for (const { listener: l, rules } of listeners) {
        for (const r of rules) {
          const action = actionFrom(r.Actions, tgNames);
          const targets = forwardTargets(r, tgNames);
          const mine = matchRule(wanted, l.Port!, targets);
          // A progressive service's rule, wherever ECS left its weights, reads as the desired one.
          const target = mine
            ? mine.targetGroup
            : action.type === 'forward'
              ? action.targetGroup
              : `${action.type}@${r.Priority}`;
          const paths = r.Conditions?.filter((c) => c.Field === 'path-pattern').flatMap(
            (c) => c.PathPatternConfig?.Values ?? c.Values ?? [],
          );
          const hosts = r.Conditions?.filter((c) => c.Field === 'host-header').flatMap(
            (c) => c.HostHeaderConfig?.Values ?? c.Values ?? [],
          );
          const svc = (mine ?? wanted.find((w) => w.name === `${target}:${l.Port}`))?.service;
          ctx.add({
            kind: 'listener-rule',
            name: `${target}:${l.Port}`,
            ...(svc ? { service: svc } : {}),
            id: r.RuleArn!,
            tags: tagsOf.get(r.RuleArn!) ?? {},
            listenerPort: l.Port!,
            priority: Number(r.Priority),
            paths: paths ?? [],
            hosts: hosts?.length ? hosts : null,
            targetGroup: target,
            alternateTargetGroup: mine?.alternateTargetGroup ?? null,
            meta: { targets },
          });
        }
      }
    },
  },
  fields: { update: ['priority', 'paths', 'hosts', 'targetGroup', 'alternateTargetGroup'], replace: [] },
  replacedWith: (child, parent) =>
    parent.kind === 'load-balancer' ||
    (parent.kind === 'target-group' &&
      (child.targetGroup === parent.name || child.alternateTargetGroup === parent.name)),
  orphan: (have) => have.tags['managed-by'] === 'patchwork',
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const listenerArn = ctx.ids.listeners.get(want.listenerPort);
    if (!listenerArn)
      throw new PatchworkError('PW_UNEXPECTED', `listener on port ${want.listenerPort} does not exist yet`);
    const targetGroupArn = tgArn(ctx, want.targetGroup);
    await whilePriorityInUse(() =>
      elb
        .send(
          new CreateRuleCommand({
            ListenerArn: listenerArn,
            Priority: want.priority,
            Conditions: conditions(want),
            Actions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }],
            Tags: tagList(want.tags),
          }),
        )
        .then(
          () => 'created',
          // Our own rule at that priority (the create was applied, its answer lost) is success;
          // someone else's rule there is still a conflict.
          ifExists(['PriorityInUse', 'PriorityInUseException'], async () => {
            const found = await elb.send(new DescribeRulesCommand({ ListenerArn: listenerArn }));
            const rule = found.Rules?.find((r) => r.Priority === String(want.priority));
            const ours = rule?.Actions?.some((a) => a.TargetGroupArn === targetGroupArn);
            return ours ? rule?.RuleArn : undefined;
          }),
        ),
    );
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (changed(diff, 'priority'))
      await whilePriorityInUse(() =>
        elb.send(new SetRulePrioritiesCommand({ RulePriorities: [{ RuleArn: have.id, Priority: want.priority }] })),
      );
    const retarget = changed(diff, 'targetGroup') || changed(diff, 'alternateTargetGroup');
    if (retarget || changed(diff, 'paths') || changed(diff, 'hosts')) {
      // Only the conditions when the action is fine: ECS owns a progressive rule's weights.
      await elb.send(
        new ModifyRuleCommand({
          RuleArn: have.id,
          Conditions: conditions(want),
          ...(retarget ? { Actions: [{ Type: 'forward', TargetGroupArn: tgArn(ctx, want.targetGroup) }] } : {}),
        }),
      );
    }
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await elb.send(new DeleteRuleCommand({ RuleArn: have.id })).catch(ignore('RuleNotFound', 'RuleNotFoundException'));
  },
};
