/** With autoscaling configured: the service's desired count as an Application Auto Scaling target. */
import {
  DeregisterScalableTargetCommand,
  paginateDescribeScalableTargets,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import type { ApplyContext } from '../apply/context.js';
import { retryPropagation } from '../aws/propagation.js';
import { scalingResourceId } from '../desired/names.js';
import type { ScalableTarget } from '../desired/types.js';
import { allPages, ignore, ofKind, type ResourceKind } from './kind.js';

/** `service/<cluster>/<service>` of every configured service (switched-off scaling is found too). */
export const serviceResourceIds = (services: { cluster: string; name: string; service?: string }[]) =>
  services.map((s) => ({ id: `service/${s.cluster}/${s.name}`, service: s.service }));

export const scalableTarget: ResourceKind<'scalable-target'> = {
  kind: 'scalable-target',
  desired: {
    service: ({ target }, svc) => {
      if (!target.autoscaling) return [];
      const resourceId = scalingResourceId(target, svc);
      return [
        {
          kind: 'scalable-target',
          name: resourceId,
          service: svc.name,
          tags: { ...svc.tags },
          resourceId,
          min: target.autoscaling.min,
          max: target.autoscaling.max,
        },
      ];
    },
  },
  observe: {
    async read({ aws, desired, add }) {
      const services = serviceResourceIds(ofKind(desired, 'ecs-service'));
      if (!services.length) return;
      const aas = await aws.get('autoscaling');
      const resourceIds = services.map((s) => s.id);
      const pages = await allPages(
        paginateDescribeScalableTargets({ client: aas }, { ServiceNamespace: 'ecs', ResourceIds: resourceIds }),
      );
      for (const t of pages.flatMap((p) => p.ScalableTargets ?? [])) {
        if (t.ScalableDimension !== 'ecs:service:DesiredCount' || !resourceIds.includes(t.ResourceId!)) continue;
        const svc = services.find((s) => s.id === t.ResourceId)?.service;
        add({
          kind: 'scalable-target',
          name: t.ResourceId!,
          ...(svc ? { service: svc } : {}),
          id: t.ScalableTargetARN ?? t.ResourceId!,
          // Application Auto Scaling tags are written on create and not read back (one call per target).
          tags: ofKind(desired, 'scalable-target').find((d) => d.name === t.ResourceId)?.tags ?? {},
          resourceId: t.ResourceId!,
          min: t.MinCapacity ?? 0,
          max: t.MaxCapacity ?? 0,
        });
      }
    },
  },
  fields: { update: ['min', 'max'], replace: [] },
  replacedWith: (child, parent) => parent.kind === 'ecs-service' && child.resourceId.endsWith(`/${parent.name}`),
  // Of a configured service.
  orphan: () => true,
  create: (ctx, want) =>
    retryPropagation(`register scalable target ${want.resourceId}`, () => register(ctx, want, want.tags)),
  async update(ctx, want, _have, diff) {
    if (diff.some((d) => d.field === 'min' || d.field === 'max')) await register(ctx, want);
  },
  async delete(ctx, have) {
    const aas = await ctx.aws.get('autoscaling');
    await aas
      .send(
        new DeregisterScalableTargetCommand({
          ServiceNamespace: 'ecs',
          ResourceId: have.resourceId,
          ScalableDimension: 'ecs:service:DesiredCount',
        }),
      )
      .catch(ignore('ObjectNotFoundException'));
  },
};

/** RegisterScalableTarget creates the target or sets its bounds (tags only on create). */
async function register(ctx: ApplyContext, want: ScalableTarget, tags?: Record<string, string>): Promise<void> {
  const aas = await ctx.aws.get('autoscaling');
  await aas.send(
    new RegisterScalableTargetCommand({
      ServiceNamespace: 'ecs',
      ResourceId: want.resourceId,
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: want.min,
      MaxCapacity: want.max,
      ...(tags ? { Tags: tags } : {}),
    }),
  );
}
