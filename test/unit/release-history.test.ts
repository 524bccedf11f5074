/** Release history reads page by page (the SDK's Query paginator) and stop as soon as they have enough. */
import { DeleteItemCommand, DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  listReleases,
  newRelease,
  pruneReleases,
  type ReleaseRecord,
  toReleaseItem,
} from '../../src/lib/release/history.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());
const ddb = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const record = (i: number): ReleaseRecord => ({
  ...newRelease({ kind: 'deploy', sha: 'def0123456789', services: [], deployer: 'ci' }),
  id: `r${i}`,
  startedAt: new Date(1_800_000_000_000 - i * 1000).toISOString(),
  outcome: 'succeeded',
});
const items = (from: number, n: number) => Array.from({ length: n }, (_, i) => toReleaseItem(record(from + i)));

describe('release history paging', () => {
  it('listReleases asks for what is still missing and stops reading once it has `limit`', async () => {
    const m = awsMock(DynamoDBClient);
    m.on(QueryCommand)
      .resolvesOnce({ Items: items(0, 3), LastEvaluatedKey: items(2, 1)[0] })
      .resolvesOnce({ Items: items(3, 2), LastEvaluatedKey: items(4, 1)[0] })
      .resolves({ Items: items(5, 3) });
    const got = await listReleases(ddb, 't', 5);
    expect(got.map((r) => r.id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    const calls = m.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ TableName: 't', ScanIndexForward: false, Limit: 5 });
    expect(calls[0]!.ExclusiveStartKey).toBeUndefined();
    expect(calls[1]).toMatchObject({ Limit: 2, ExclusiveStartKey: items(2, 1)[0] });
  });

  it('pruneReleases reads every page, then deletes past the newest `keep`', async () => {
    const m = awsMock(DynamoDBClient);
    m.on(QueryCommand)
      .resolvesOnce({ Items: items(0, 2), LastEvaluatedKey: items(1, 1)[0] })
      .resolves({ Items: items(2, 2) });
    m.on(DeleteItemCommand).resolves({});
    expect(await pruneReleases(ddb, 't', 3)).toBe(1);
    const calls = m.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.Limit).toBeUndefined();
    expect(calls[1]!.ExclusiveStartKey).toEqual(items(1, 1)[0]);
    expect(m.commandCalls(DeleteItemCommand)[0]!.args[0].input.Key?.sk).toEqual(items(3, 1)[0]!.sk);
  });
});
