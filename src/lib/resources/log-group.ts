/** One CloudWatch log group per service, with the configured retention. */
import {
  CreateLogGroupCommand,
  type LogGroup as CwLogGroup,
  DeleteLogGroupCommand,
  DeleteRetentionPolicyCommand,
  ListTagsForResourceCommand as LogsListTags,
  TagResourceCommand as LogsTagResource,
  PutRetentionPolicyCommand,
  paginateDescribeLogGroups,
} from '@aws-sdk/client-cloudwatch-logs';
import { logGroupName } from '../desired/names.js';
import { allPages, changed, hasTagDiff, ignore, ofKind, type ResourceKind } from './kind.js';

function commonPrefix(values: string[]): string {
  if (!values.length) return '';
  let p = values[0]!;
  for (const v of values) while (!v.startsWith(p)) p = p.slice(0, -1);
  return p;
}

export const logGroup: ResourceKind<'log-group'> = {
  kind: 'log-group',
  desired: {
    service: ({ target }, svc) => [
      {
        kind: 'log-group',
        name: logGroupName(svc),
        service: svc.name,
        tags: { ...svc.tags },
        retentionDays: target.logRetentionDays,
      },
    ],
  },
  observe: {
    async read({ aws, desired, add }) {
      const wanted = ofKind(desired, 'log-group');
      if (!wanted.length) return;
      const logs = await aws.get('logs');
      const prefix = commonPrefix(wanted.map((w) => w.name));
      const pages = await allPages(paginateDescribeLogGroups({ client: logs }, { logGroupNamePrefix: prefix }));
      const groups: CwLogGroup[] = pages.flatMap((p) =>
        (p.logGroups ?? []).filter((g) => wanted.some((w) => w.name === g.logGroupName)),
      );
      await Promise.all(
        groups.map(async (g) => {
          const arn = g.logGroupArn ?? g.arn?.replace(/:\*$/, '') ?? '';
          const tags = await logs.send(new LogsListTags({ resourceArn: arn }));
          const svc = wanted.find((w) => w.name === g.logGroupName)?.service;
          add({
            kind: 'log-group',
            name: g.logGroupName!,
            ...(svc ? { service: svc } : {}),
            id: arn,
            tags: tags.tags ?? {},
            retentionDays: g.retentionInDays ?? null,
          });
        }),
      );
    },
  },
  fields: { update: ['retentionDays'], replace: [] },
  async create(ctx, want) {
    const logs = await ctx.aws.get('logs');
    await logs
      .send(new CreateLogGroupCommand({ logGroupName: want.name, tags: want.tags }))
      .catch(ignore('ResourceAlreadyExistsException'));
    if (want.retentionDays)
      await logs.send(new PutRetentionPolicyCommand({ logGroupName: want.name, retentionInDays: want.retentionDays }));
  },
  async update(ctx, want, have, diff) {
    const logs = await ctx.aws.get('logs');
    if (changed(diff, 'retentionDays')) {
      if (want.retentionDays)
        await logs.send(
          new PutRetentionPolicyCommand({ logGroupName: want.name, retentionInDays: want.retentionDays }),
        );
      else await logs.send(new DeleteRetentionPolicyCommand({ logGroupName: want.name }));
    }
    if (hasTagDiff(diff)) await logs.send(new LogsTagResource({ resourceArn: have.id, tags: want.tags }));
  },
  async delete(ctx, have) {
    const logs = await ctx.aws.get('logs');
    await logs.send(new DeleteLogGroupCommand({ logGroupName: have.name })).catch(ignore('ResourceNotFoundException'));
  },
};
