/** The environment's DynamoDB table (releases, locks, history): pk/sk strings, on demand, PITR. */
import {
  CreateTableCommand,
  TagResourceCommand as DdbTagResource,
  DeleteTableCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  ListTagsOfResourceCommand,
  UpdateContinuousBackupsCommand,
  UpdateTableCommand,
  waitForTableExists,
} from '@aws-sdk/client-dynamodb';
import { retryOn, settled, tagList, waiter } from '../apply/context.js';
import { stateTableName } from '../desired/names.js';
import type { StateTable } from '../desired/types.js';
import { changed, hasTagDiff, ignore, ofKind, orNull, type ResourceKind, tagsFrom } from './kind.js';

export const stateTable: ResourceKind<'state-table'> = {
  kind: 'state-table',
  desired: {
    environment: ({ target }) => [
      {
        kind: 'state-table',
        name: stateTableName(target),
        tags: { ...target.tags },
        keys: { pk: 'S', sk: 'S' },
        billingMode: 'PAY_PER_REQUEST',
        pointInTimeRecovery: true,
      },
    ],
  },
  observe: {
    async read({ aws, desired, add }) {
      const [want] = ofKind(desired, 'state-table');
      if (!want) return;
      const ddb = await aws.get('dynamodb');
      const out = await orNull(
        ddb.send(new DescribeTableCommand({ TableName: want.name })),
        'ResourceNotFoundException',
      );
      const t = out?.Table;
      if (!t || t.TableStatus === 'DELETING') return;
      const [pitr, tags] = await Promise.all([
        ddb.send(new DescribeContinuousBackupsCommand({ TableName: want.name })),
        ddb.send(new ListTagsOfResourceCommand({ ResourceArn: t.TableArn })),
      ]);
      const attr = (name: string) => t.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
      const hash = t.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
      const range = t.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
      const keysOk = hash === 'pk' && range === 'sk' && attr('pk') === 'S' && attr('sk') === 'S';
      // Other keys are reported as `name:type`, so the planner sees a difference it must replace.
      const keys = (
        keysOk ? { pk: 'S', sk: 'S' } : { pk: `${hash}:${attr(hash ?? '')}`, sk: `${range}:${attr(range ?? '')}` }
      ) as StateTable['keys'];
      add({
        kind: 'state-table',
        name: want.name,
        id: t.TableArn ?? want.name,
        tags: tagsFrom(tags.Tags),
        keys,
        billingMode: (t.BillingModeSummary?.BillingMode ?? 'PROVISIONED') as 'PAY_PER_REQUEST',
        pointInTimeRecovery:
          pitr.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus === 'ENABLED',
        meta: { status: t.TableStatus },
      });
    },
  },
  fields: { update: ['billingMode', 'pointInTimeRecovery'], replace: ['keys'] },
  irreplaceable: {
    what: 'table',
    why: 'its key schema is not pk/sk strings and it may hold release history',
  },
  async create(ctx, want) {
    const ddb = await ctx.aws.get('dynamodb');
    await ddb
      .send(
        new CreateTableCommand({
          TableName: want.name,
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          BillingMode: want.billingMode,
          Tags: tagList(want.tags),
        }),
      )
      .catch(ignore('ResourceInUseException'));
    settled(`table ${want.name}`, await waitForTableExists(waiter(ctx, ddb), { TableName: want.name }));
    await retryOn(ctx, ['ContinuousBackupsUnavailableException'], () =>
      ddb.send(
        new UpdateContinuousBackupsCommand({
          TableName: want.name,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: want.pointInTimeRecovery },
        }),
      ),
    );
  },
  async update(ctx, want, have, diff) {
    const ddb = await ctx.aws.get('dynamodb');
    if (changed(diff, 'billingMode'))
      await ddb.send(new UpdateTableCommand({ TableName: want.name, BillingMode: want.billingMode }));
    if (changed(diff, 'pointInTimeRecovery')) {
      await ddb.send(
        new UpdateContinuousBackupsCommand({
          TableName: want.name,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: want.pointInTimeRecovery },
        }),
      );
    }
    if (hasTagDiff(diff)) await ddb.send(new DdbTagResource({ ResourceArn: have.id, Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const ddb = await ctx.aws.get('dynamodb');
    await ddb.send(new DeleteTableCommand({ TableName: have.name })).catch(ignore('ResourceNotFoundException'));
  },
};
