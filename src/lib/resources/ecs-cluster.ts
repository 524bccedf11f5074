/** The environment's ECS cluster, with Container Insights. */
import {
  CreateClusterCommand,
  DeleteClusterCommand,
  DescribeClustersCommand,
  TagResourceCommand as EcsTagResource,
  UpdateClusterSettingsCommand,
} from '@aws-sdk/client-ecs';
import { retryOn, tagListLower } from '../apply/context.js';
import { retryPropagation } from '../aws/propagation.js';
import { clusterName } from '../desired/names.js';
import { changed, hasTagDiff, ignore, ofKind, type ResourceKind, tagsFrom } from './kind.js';

export const ecsCluster: ResourceKind<'ecs-cluster'> = {
  kind: 'ecs-cluster',
  desired: {
    environment: ({ target }) => [
      { kind: 'ecs-cluster', name: clusterName(target), tags: { ...target.tags }, containerInsights: 'enabled' },
    ],
  },
  observe: {
    async read({ aws, desired, add }) {
      const [want] = ofKind(desired, 'ecs-cluster');
      if (!want) return;
      const ecs = await aws.get('ecs');
      const out = await ecs.send(new DescribeClustersCommand({ clusters: [want.name], include: ['SETTINGS', 'TAGS'] }));
      const c = out.clusters?.find((x) => x.clusterName === want.name && x.status !== 'INACTIVE');
      if (!c) return;
      const insights = c.settings?.find((s) => s.name === 'containerInsights')?.value ?? 'disabled';
      add({
        kind: 'ecs-cluster',
        name: want.name,
        id: c.clusterArn!,
        tags: tagsFrom(c.tags),
        containerInsights: insights as 'enabled',
      });
    },
  },
  fields: { update: ['containerInsights'], replace: [] },
  async create(ctx, want) {
    const ecs = await ctx.aws.get('ecs');
    await retryPropagation(`create cluster ${want.name}`, () =>
      ecs.send(
        new CreateClusterCommand({
          clusterName: want.name,
          settings: [{ name: 'containerInsights', value: want.containerInsights }],
          tags: tagListLower(want.tags),
        }),
      ),
    );
  },
  async update(ctx, want, have, diff) {
    const ecs = await ctx.aws.get('ecs');
    if (changed(diff, 'containerInsights')) {
      await ecs.send(
        new UpdateClusterSettingsCommand({
          cluster: want.name,
          settings: [{ name: 'containerInsights', value: want.containerInsights }],
        }),
      );
    }
    if (hasTagDiff(diff)) await ecs.send(new EcsTagResource({ resourceArn: have.id, tags: tagListLower(want.tags) }));
  },
  async delete(ctx, have) {
    const ecs = await ctx.aws.get('ecs');
    await retryOn(ctx, ['ClusterContainsServicesException', 'ClusterContainsTasksException'], () =>
      ecs.send(new DeleteClusterCommand({ cluster: have.name })),
    ).catch(ignore('ClusterNotFoundException'));
  },
};
