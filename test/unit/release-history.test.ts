/**
 * Release history reads page by page (the SDK's Query paginator) and stop as soon as they have
 * enough; retention (pure) keeps the newest records and the newest successful releases.
 */
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  listReleases,
  newRelease,
  planRetention,
  type ReleaseRecord,
  readHistory,
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

  it('readHistory reads every page, consistently, newest first', async () => {
    const m = awsMock(DynamoDBClient);
    m.on(QueryCommand)
      .resolvesOnce({ Items: items(0, 2), LastEvaluatedKey: items(1, 1)[0] })
      .resolves({ Items: items(2, 2) });
    expect((await readHistory(ddb, 't')).map((r) => r.id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    const calls = m.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ ScanIndexForward: false, ConsistentRead: true });
    expect(calls[0]!.Limit).toBeUndefined();
    expect(calls[1]!.ExclusiveStartKey).toEqual(items(1, 1)[0]);
  });
});

const td = (n: number) => `arn:aws:ecs:eu-west-1:1:task-definition/shop-prod-web:${n}`;
let seq = 0;
/** A record newest-first lists build with decreasing times. */
const rec = (outcome: ReleaseRecord['outcome'], rev: number | null, kind: ReleaseRecord['kind'] = 'deploy') => ({
  ...newRelease({
    kind,
    sha: kind === 'unlock' ? null : `sha${rev ?? 'x'}`,
    deployer: 'ci',
    services: rev === null ? [] : [{ service: 'web', image: null, digest: null, taskDefinitionArn: td(rev) }],
  }),
  id: `x${++seq}`,
  outcome,
});

describe('retention (pure)', () => {
  it('keeps the newest `keep` successful releases however many interrupted, failed or unlock entries come between', () => {
    const s1 = rec('succeeded', 1);
    const s2 = rec('succeeded', 2);
    const noise = [
      ...Array.from({ length: 12 }, (_, i) => rec('interrupted', i % 3 === 0 ? 10 + i : null)),
      rec('unlocked', null, 'unlock'),
      rec('unlocked', null, 'unlock'),
      rec('unlocked', null, 'unlock'),
      rec('failed', 30),
    ];
    const history = [...noise, s2, s1];
    const plan = planRetention(history, 5);
    expect(plan.prune).not.toContain(s1);
    expect(plan.prune).not.toContain(s2);
    // Kept: the 5 newest entries and the 2 successful ones; the rest goes, oldest first.
    expect(plan.prune).toEqual(noise.slice(5).reverse());
    expect(plan.deregister).not.toContain(td(1));
    expect(plan.deregister).not.toContain(td(2));
    expect(plan.deregister.sort()).toEqual([td(16), td(19), td(30)].sort());
  });
  it('a revision a kept record (a rollback to it) or the running service names is never deregistered', () => {
    const old = rec('succeeded', 1);
    const history = [rec('succeeded', 4), rec('succeeded', 1, 'rollback'), rec('succeeded', 3), old, rec('failed', 2)];
    // Kept: the two newest (both successful); rev 1 is named by the kept rollback to it.
    expect(planRetention(history, 2)).toEqual({
      prune: [history[4], history[3], history[2]],
      deregister: [td(2), td(3)],
    });
    expect(planRetention(history, 2, [td(2)]).deregister).toEqual([td(3)]);
  });
  it('bounded per run: what is not pruned now waits for the next run, its revisions with it', () => {
    const history = Array.from({ length: 30 }, (_, i) => rec('succeeded', 100 - i));
    const plan = planRetention(history, 10, [], { prune: 5, deregister: 3 });
    expect(plan.prune).toEqual(history.slice(27).reverse());
    expect(plan.deregister).toEqual([td(71), td(72), td(73)]);
    expect(planRetention(history.slice(0, 10), 10)).toEqual({ prune: [], deregister: [] });
  });
});
