/** Target-tracking policies on a service's scalable target: CPU and/or requests per target. */
import {
  DeleteScalingPolicyCommand,
  PutScalingPolicyCommand,
  paginateDescribeScalingPolicies,
} from '@aws-sdk/client-application-auto-scaling';
import { type ApplyContext, lbArn, tgArn } from '../apply/context.js';
import { loadBalancerName, scalingPolicyName, scalingResourceId, targetGroupName } from '../desired/names.js';
import type { ScalingPolicy } from '../desired/types.js';
import { allPages, arnSuffix, ignore, ofKind, type ResourceKind } from './kind.js';
import { serviceResourceIds } from './scalable-target.js';

async function putPolicy(ctx: ApplyContext, want: ScalingPolicy): Promise<void> {
  const aas = await ctx.aws.get('autoscaling');
  const label = want.resourceLabel
    ? `${arnSuffix(lbArn(ctx, want.resourceLabel.loadBalancer))}/${arnSuffix(tgArn(ctx, want.resourceLabel.targetGroup))}`
    : undefined;
  await aas.send(
    new PutScalingPolicyCommand({
      PolicyName: want.name,
      ServiceNamespace: 'ecs',
      ResourceId: want.resourceId,
      ScalableDimension: 'ecs:service:DesiredCount',
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: want.targetValue,
        PredefinedMetricSpecification: {
          PredefinedMetricType: want.metric,
          ...(label ? { ResourceLabel: label } : {}),
        },
        ScaleInCooldown: want.scaleInCooldownSeconds,
        ScaleOutCooldown: want.scaleOutCooldownSeconds,
      },
    }),
  );
}

export const scalingPolicy: ResourceKind<'scaling-policy'> = {
  kind: 'scaling-policy',
  desired: {
    service: ({ target }, svc) => {
      const as = target.autoscaling;
      if (!as) return [];
      const resourceId = scalingResourceId(target, svc);
      const tags = { ...svc.tags };
      const policy = (
        metric: 'cpu' | 'requests',
        m: ScalingPolicy['metric'],
        value: number,
        label: ScalingPolicy['resourceLabel'],
      ): ScalingPolicy => ({
        kind: 'scaling-policy',
        name: scalingPolicyName(svc, metric),
        service: svc.name,
        tags,
        resourceId,
        metric: m,
        targetValue: value,
        resourceLabel: label,
        scaleInCooldownSeconds: as.scaleInCooldownSeconds,
        scaleOutCooldownSeconds: as.scaleOutCooldownSeconds,
      });
      const out: ScalingPolicy[] = [];
      if (as.cpuPercent !== null) out.push(policy('cpu', 'ECSServiceAverageCPUUtilization', as.cpuPercent, null));
      if (as.requestsPerTarget !== null) {
        out.push(
          policy('requests', 'ALBRequestCountPerTarget', as.requestsPerTarget, {
            loadBalancer: loadBalancerName(target),
            targetGroup: targetGroupName(svc),
          }),
        );
      }
      return out;
    },
  },
  observe: {
    async read({ aws, desired, add }) {
      const ecsServices = ofKind(desired, 'ecs-service');
      const services = serviceResourceIds(ecsServices);
      if (!services.length) return;
      const aas = await aws.get('autoscaling');
      const resourceIds = services.map((s) => s.id);
      const policyNames = ecsServices.flatMap((s) => [`${s.name}-cpu`, `${s.name}-requests`]);
      const pages = await allPages(
        paginateDescribeScalingPolicies({ client: aas }, { ServiceNamespace: 'ecs', PolicyNames: policyNames }),
      );
      const lbName = (arnPart: string) => arnPart.split('/')[1] ?? arnPart;
      for (const p of pages.flatMap((x) => x.ScalingPolicies ?? [])) {
        if (!resourceIds.includes(p.ResourceId!)) continue;
        const c = p.TargetTrackingScalingPolicyConfiguration;
        const label = c?.PredefinedMetricSpecification?.ResourceLabel;
        let resourceLabel: ScalingPolicy['resourceLabel'] = null;
        if (label) {
          const [lbPart, tgPart] = label.split('/targetgroup/');
          resourceLabel = { loadBalancer: lbName(lbPart ?? ''), targetGroup: (tgPart ?? '').split('/')[0] ?? '' };
        }
        const svc = services.find((s) => s.id === p.ResourceId)?.service;
        add({
          kind: 'scaling-policy',
          name: p.PolicyName!,
          ...(svc ? { service: svc } : {}),
          id: p.PolicyARN!,
          tags: ofKind(desired, 'scaling-policy').find((d) => d.name === p.PolicyName)?.tags ?? {},
          resourceId: p.ResourceId!,
          metric: (c?.PredefinedMetricSpecification?.PredefinedMetricType ?? '') as ScalingPolicy['metric'],
          targetValue: c?.TargetValue ?? 0,
          resourceLabel,
          scaleInCooldownSeconds: c?.ScaleInCooldown ?? 0,
          scaleOutCooldownSeconds: c?.ScaleOutCooldown ?? 0,
        });
      }
    },
  },
  fields: {
    update: ['metric', 'targetValue', 'resourceLabel', 'scaleInCooldownSeconds', 'scaleOutCooldownSeconds'],
    replace: ['resourceId'],
  },
  replacedWith: (child, parent) =>
    (parent.kind === 'ecs-service' && child.resourceId.endsWith(`/${parent.name}`)) ||
    (child.resourceLabel !== null &&
      ((parent.kind === 'load-balancer' && child.resourceLabel.loadBalancer === parent.name) ||
        (parent.kind === 'target-group' && child.resourceLabel.targetGroup === parent.name))),
  // Named after a configured service.
  orphan: () => true,
  create: putPolicy,
  update: (ctx, want) => putPolicy(ctx, want),
  async delete(ctx, have) {
    const aas = await ctx.aws.get('autoscaling');
    await aas
      .send(
        new DeleteScalingPolicyCommand({
          PolicyName: have.name,
          ServiceNamespace: 'ecs',
          ResourceId: have.resourceId,
          ScalableDimension: 'ecs:service:DesiredCount',
        }),
      )
      .catch(ignore('ObjectNotFoundException'));
  },
};
