/**
 * A run killed holding the deploy lock leaves its release record `in-progress`: taking over the
 * expired lock, or breaking it with `unlock`, marks the records started within that lock's
 * lifetime (its start to the takeover or break) `interrupted` — conditionally, so a run that did
 * finish keeps its own outcome.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Emitter, type PatchworkEvent } from '../../src/lib/events.js';
import { markInterrupted, newRelease, type ReleaseRecord, toReleaseItem } from '../../src/lib/release/history.js';
import { acquireLock, breakLock, toItem } from '../../src/lib/release/lock.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

const ddb = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
let m: ReturnType<typeof awsMock>;
let events: PatchworkEvent[];
const NOW = 1_800_000_000_000;
const dead = {
  holder: 'ci@runner',
  command: 'deploy def',
  token: 'x',
  startedAt: NOW - 200_000,
  expiresAt: NOW - 140_000,
};
const record = (outcome: ReleaseRecord['outcome'], at: number, id: string): ReleaseRecord => ({
  ...newRelease({ kind: 'deploy', sha: 'def0123456789', services: [], deployer: 'ci' }),
  id,
  startedAt: new Date(at).toISOString(),
  outcome,
});
const killed = record('in-progress', NOW - 199_000, 'k1');
const finished = record('succeeded', NOW - 150_000, 'f1');

const opts = () => ({
  table: 't',
  holder: 'me',
  command: 'deploy abc',
  ttlSeconds: 60,
  events: new Emitter((e) => events.push(e)),
  now: () => NOW,
});
/** The records the mark wrote, as ReleaseRecords. */
const marks = () =>
  m
    .commandCalls(PutItemCommand)
    .map((c) => c.args[0].input)
    .filter((i) => i.Item?.pk?.S === 'release')
    .map((i) => ({ input: i, record: JSON.parse(i.Item!.record!.S!) as ReleaseRecord }));

/** The lock transaction refused: the lock item is `item`. */
const refused = (item: typeof dead) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: [{ Code: 'ConditionalCheckFailed', Item: toItem(item) }],
  });

beforeEach(() => {
  m = awsMock(DynamoDBClient);
  events = [];
});
afterAll(() => restoreAwsMocks());

describe('interrupted releases', () => {
  it('taking over an expired lock marks the dead run in-progress records interrupted, within its lifetime', async () => {
    m.on(TransactWriteItemsCommand).rejectsOnce(refused(dead)).resolves({});
    m.on(PutItemCommand).resolves({});
    m.on(QueryCommand).resolves({ Items: [toReleaseItem(killed), toReleaseItem(finished)] });
    const lock = await acquireLock(ddb, opts());
    expect(lock.record.holder).toBe('me');

    const q = m.commandCalls(QueryCommand)[0]!.args[0].input;
    expect(q.KeyConditionExpression).toBe('pk = :pk AND sk BETWEEN :from AND :to');
    expect(q.ExpressionAttributeValues).toEqual({
      ':pk': { S: 'release' },
      ':from': { S: new Date(dead.startedAt).toISOString() },
      // Up to the takeover: a record started after it is the new holder's.
      ':to': { S: `${new Date(NOW).toISOString()}#~` },
    });
    const written = marks();
    expect(written).toHaveLength(1);
    expect(written[0]!.input.ConditionExpression).toBe('outcome = :ip');
    expect(written[0]!.input.Item!.sk).toEqual({ S: `${killed.startedAt}#k1` });
    expect(written[0]!.input.Item!.outcome).toEqual({ S: 'interrupted' });
    expect(written[0]!.record).toMatchObject({ id: 'k1', outcome: 'interrupted', sha: killed.sha });
    expect(written[0]!.record.reason).toMatch(/ci@runner.*deploy def.*taken over by me/);
    expect(events.find((e) => e.type === 'warning')).toMatchObject({ code: 'PW_LOCK_TAKEN_OVER' });
    expect(
      events.some((e) => e.type === 'log' && /release k1 \(deploy def012345678\) marked interrupted/.test(e.message)),
    ).toBe(true);
  });

  it('a free lock (nothing taken over) reads no history', async () => {
    m.on(TransactWriteItemsCommand).resolves({});
    await acquireLock(ddb, opts());
    expect(m.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('unlock marks the broken holder in-progress records', async () => {
    m.on(DeleteItemCommand).resolves({ Attributes: toItem({ ...dead, expiresAt: NOW + 600_000 }) });
    m.on(QueryCommand).resolves({ Items: [toReleaseItem(killed)] });
    m.on(PutItemCommand).resolves({});
    expect((await breakLock(ddb, 't'))?.holder).toBe('ci@runner');
    expect(marks().map((w) => [w.record.id, w.record.outcome])).toEqual([['k1', 'interrupted']]);
    expect(marks()[0]!.record.reason).toMatch(/broken by `patchwork unlock`/);
  });

  it('unlock with no lock marks nothing', async () => {
    m.on(DeleteItemCommand).resolves({});
    expect(await breakLock(ddb, 't')).toBeNull();
    expect(m.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('a record that finished in between keeps its own outcome', async () => {
    m.on(QueryCommand).resolves({ Items: [toReleaseItem(killed)] });
    m.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    expect(await markInterrupted(ddb, 't', dead, NOW, 'test')).toEqual([]);
  });

  it('pages through the range', async () => {
    const second = record('in-progress', NOW - 180_000, 'k2');
    m.on(QueryCommand)
      .resolvesOnce({ Items: [toReleaseItem(killed)], LastEvaluatedKey: toReleaseItem(killed) })
      .resolves({ Items: [toReleaseItem(second)] });
    m.on(PutItemCommand).resolves({});
    expect((await markInterrupted(ddb, 't', dead, NOW, 'test')).map((r) => r.id)).toEqual(['k1', 'k2']);
  });

  it('a failure to mark never costs the lock', async () => {
    m.on(TransactWriteItemsCommand).rejectsOnce(refused(dead)).resolves({});
    m.on(QueryCommand).rejects(new Error('throttled'));
    const lock = await acquireLock(ddb, opts());
    expect(lock.record.holder).toBe('me');
    expect(events.some((e) => e.type === 'log' && /could not mark .*throttled/.test(e.message))).toBe(true);
  });
});
