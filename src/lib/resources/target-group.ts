/**
 * One target group per service: IP targets, the service's health check, a short drain. Progressive
 * strategies (blue-green, canary, linear) add a second one, `<name>-b`, alike, for the green revision.
 */
import {
  AddTagsCommand,
  CreateTargetGroupCommand,
  DeleteTargetGroupCommand,
  DescribeTargetGroupsCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { retryOn, tagList } from '../apply/context.js';
import { ALTERNATE_SUFFIX, isProgressive } from '../config/resolve.js';
import { alternateTargetGroupName, targetGroupName } from '../desired/names.js';
import type { TargetGroup } from '../desired/types.js';
import { changed, hasTagDiff, ifExists, ignore, ofKind, type ResourceKind } from './kind.js';
import { loadBalancing } from './load-balancing.js';

/** Seconds a target drains before it is removed (AWS default 300 is slow for web apps). */
export const DEREGISTRATION_DELAY = 30;

function healthCheckInput(want: TargetGroup) {
  const hc = want.healthCheck;
  return {
    HealthCheckProtocol: hc.protocol as 'HTTP',
    HealthCheckPort: hc.port,
    HealthCheckPath: hc.path,
    HealthCheckIntervalSeconds: hc.intervalSeconds,
    HealthCheckTimeoutSeconds: hc.timeoutSeconds,
    HealthyThresholdCount: hc.healthyThreshold,
    UnhealthyThresholdCount: hc.unhealthyThreshold,
    Matcher: { HttpCode: hc.matcher },
  };
}

const delayAttribute = (want: TargetGroup) => [
  { Key: 'deregistration_delay.timeout_seconds', Value: String(want.deregistrationDelaySeconds) },
];

export const targetGroup: ResourceKind<'target-group'> = {
  kind: 'target-group',
  desired: {
    service: ({ target, facts }, svc) => {
      const hc = svc.healthCheck;
      const names = [targetGroupName(svc)];
      if (isProgressive(target.deploy.strategy)) names.push(alternateTargetGroupName(svc));
      return names.map(
        (name): TargetGroup => ({
          kind: 'target-group',
          name,
          service: svc.name,
          tags: { ...svc.tags },
          vpcId: facts.vpcId,
          protocol: 'HTTP',
          port: svc.port,
          targetType: 'ip',
          healthCheck: {
            protocol: 'HTTP',
            port: 'traffic-port',
            path: hc.path,
            matcher: hc.matcher,
            intervalSeconds: hc.intervalSeconds,
            timeoutSeconds: hc.timeoutSeconds,
            healthyThreshold: hc.healthyThreshold,
            unhealthyThreshold: hc.unhealthyThreshold,
          },
          deregistrationDelaySeconds: DEREGISTRATION_DELAY,
        }),
      );
    },
  },
  observe: {
    after: ['security-group'],
    async read(ctx) {
      const { targetGroups, tagsOf, attributes } = await loadBalancing(ctx);
      const wanted = ofKind(ctx.desired, 'target-group');
      for (const t of targetGroups) {
        const delay = attributes
          .get(t.TargetGroupArn!)
          ?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
        const svc = wanted.find((w) => w.name === t.TargetGroupName)?.service;
        ctx.add({
          kind: 'target-group',
          name: t.TargetGroupName!,
          ...(svc ? { service: svc } : {}),
          id: t.TargetGroupArn!,
          tags: tagsOf.get(t.TargetGroupArn!) ?? {},
          vpcId: t.VpcId ?? '',
          protocol: t.Protocol ?? '',
          port: t.Port ?? 0,
          targetType: t.TargetType ?? 'instance',
          healthCheck: {
            protocol: t.HealthCheckProtocol ?? 'HTTP',
            port: t.HealthCheckPort ?? 'traffic-port',
            path: t.HealthCheckPath ?? '/',
            matcher: t.Matcher?.HttpCode ?? '200',
            intervalSeconds: t.HealthCheckIntervalSeconds ?? 30,
            timeoutSeconds: t.HealthCheckTimeoutSeconds ?? 5,
            healthyThreshold: t.HealthyThresholdCount ?? 5,
            unhealthyThreshold: t.UnhealthyThresholdCount ?? 2,
          },
          deregistrationDelaySeconds: Number(delay ?? 300),
          meta: { loadBalancerArns: t.LoadBalancerArns ?? [] },
        });
      }
    },
  },
  fields: { update: ['healthCheck', 'deregistrationDelaySeconds'], replace: ['vpcId', 'protocol', 'targetType'] },
  // Not desired: a progressive strategy's second group, left after a switch back to rolling.
  orphan: (have) => have.name.endsWith(ALTERNATE_SUFFIX) && have.tags['managed-by'] === 'patchwork',
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const arn = await elb
      .send(
        new CreateTargetGroupCommand({
          Name: want.name,
          Protocol: want.protocol as 'HTTP',
          Port: want.port,
          VpcId: want.vpcId,
          TargetType: want.targetType as 'ip',
          HealthCheckEnabled: true,
          ...healthCheckInput(want),
          Tags: tagList(want.tags),
        }),
      )
      .then(
        (out) => out.TargetGroups![0]!.TargetGroupArn!,
        ifExists(['DuplicateTargetGroupName', 'DuplicateTargetGroupNameException'], async () => {
          const found = await elb.send(new DescribeTargetGroupsCommand({ Names: [want.name] }));
          return found.TargetGroups?.[0]?.TargetGroupArn;
        }),
      );
    ctx.ids.targetGroups.set(want.name, arn);
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: delayAttribute(want) }));
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (changed(diff, 'healthCheck'))
      await elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: have.id, ...healthCheckInput(want) }));
    if (changed(diff, 'deregistrationDelaySeconds')) {
      await elb.send(
        new ModifyTargetGroupAttributesCommand({ TargetGroupArn: have.id, Attributes: delayAttribute(want) }),
      );
    }
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await retryOn(ctx, ['ResourceInUse', 'ResourceInUseException'], () =>
      elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: have.id })),
    ).catch(ignore('TargetGroupNotFound', 'TargetGroupNotFoundException'));
    ctx.ids.targetGroups.delete(have.name);
  },
};
