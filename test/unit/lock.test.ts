/** The deploy lock: one conditional write (TransactWriteItems, with the caller's items); held → exit 5 naming holder and age; expired → takeover with a warning. */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceNotFoundException,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { inEnvironment, isPatchworkError, type PatchworkError } from '../../src/lib/errors.js';
import { Emitter, type PatchworkEvent } from '../../src/lib/events.js';
import { acquireLock, age, breakLock, renewLock, toItem, withLock } from '../../src/lib/release/lock.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

const ddb = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
let m: ReturnType<typeof awsMock>;
let events: PatchworkEvent[];
const NOW = 1_800_000_000_000;
const base = () => ({
  table: 't',
  holder: 'me',
  command: 'deploy abc',
  ttlSeconds: 900,
  events: new Emitter((e) => events.push(e)),
  now: () => NOW,
});
const other = {
  holder: 'ci@runner',
  command: 'deploy def',
  token: 'x',
  startedAt: NOW - 192_000,
  expiresAt: NOW + 600_000,
};

beforeEach(() => {
  m = awsMock(DynamoDBClient);
  events = [];
});
afterAll(() => restoreAwsMocks());

/** The refusal of a lock transaction whose first item (the lock) failed its condition. */
function held(item: (typeof other & { pid?: number; host?: string }) | null = other, more = 0) {
  return new TransactionCanceledException({
    message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed]',
    $metadata: {},
    CancellationReasons: [
      { Code: 'ConditionalCheckFailed', ...(item ? { Item: toItem(item) } : {}) },
      ...Array.from({ length: more }, () => ({ Code: 'None' })),
    ],
  });
}
const TX = TransactWriteItemsCommand;
const txs = () => m.commandCalls(TX).map((c) => c.args[0].input.TransactItems!);

describe('deploy lock', () => {
  it("is one conditional write, with the caller's items in the same transaction; released with the last writes", async () => {
    m.on(TX).resolves({});
    const extra = { pk: { S: 'release' }, sk: { S: 'x' } };
    const lock = await acquireLock(ddb, { ...base(), with: (r) => [{ ...extra, at: { N: String(r.startedAt) } }] });
    expect(m.commandCalls(PutItemCommand)).toHaveLength(0);
    const [items] = txs();
    expect(items).toHaveLength(2);
    const put = items![0]!.Put!;
    expect(put.ConditionExpression).toBe('attribute_not_exists(pk)');
    expect(put.ReturnValuesOnConditionCheckFailure).toBe('ALL_OLD');
    expect(put.Item!.holder).toEqual({ S: 'me' });
    expect(put.Item!.command).toEqual({ S: 'deploy abc' });
    expect(put.Item!.expiresAt).toEqual({ N: String(NOW + 900_000) });
    expect(items![1]!.Put!.Item).toEqual({ ...extra, at: { N: String(NOW) } });
    await lock.release({
      put: [{ pk: { S: 'release' }, sk: { S: 'y' } }],
      delete: [{ pk: { S: 'release' }, sk: { S: 'old' } }],
    });
    const rel = txs()[1]!;
    expect(rel.map((i) => Object.keys(i)[0])).toEqual(['Delete', 'Put', 'Delete']);
    expect(rel[0]!.Delete!.ConditionExpression).toBe('#t = :token');
    expect(rel[0]!.Delete!.ExpressionAttributeValues).toEqual({ ':token': { S: lock.record.token } });
    // Twice: the lock goes once; writes given the second time are made alone.
    await lock.release();
    expect(txs()).toHaveLength(2);
  });
  it('our own write whose answer was lost (the SDK retry meets our lock): we hold it', async () => {
    let token = '';
    m.on(TX).callsFake((input) => {
      token = input.TransactItems[0].Put.Item.token.S;
      throw held({ ...other, holder: 'me', token });
    });
    const lock = await acquireLock(ddb, base());
    expect(lock.record.token).toBe(token);
    expect(txs()).toHaveLength(1);
  });
  it('held → PW_LOCK_HELD (exit 5) naming the holder and the age', async () => {
    m.on(TX).rejects(held());
    const e = await acquireLock(ddb, base()).catch((x) => x);
    expect(isPatchworkError(e) && e.code).toBe('PW_LOCK_HELD');
    expect(e.exitCode).toBe(5);
    expect(e.message).toContain('ci@runner');
    expect(e.message).toContain('3m12s');
  });
  it('--lock-wait: polls until the lock is free', async () => {
    let t = NOW;
    m.on(TX).rejectsOnce(held()).rejectsOnce(held()).resolves({});
    const lock = await acquireLock(ddb, {
      ...base(),
      now: () => t,
      waitSeconds: 60,
      sleep: async (ms) => {
        t += ms;
      },
    });
    expect(lock.record.holder).toBe('me');
    expect(m.commandCalls(TX)).toHaveLength(3);
    expect(
      events.some((e) => e.type === 'log' && /waiting for the deploy lock held by ci@runner/.test(e.message)),
    ).toBe(true);
  });
  it('takes over an expired lock with a warning: a second write conditional on the dead token and its expiry', async () => {
    const dead = { ...other, expiresAt: NOW - 65_000 };
    m.on(TX).rejectsOnce(held(dead)).resolves({});
    m.on(QueryCommand).resolves({ Items: [] });
    await acquireLock(ddb, base());
    const second = txs()[1]![0]!.Put!;
    expect(second.ConditionExpression).toBe('#t = :old AND expiresAt < :now');
    expect(second.ExpressionAttributeValues).toEqual({ ':old': { S: 'x' }, ':now': { N: String(NOW) } });
    const w = events.find((e) => e.type === 'warning');
    expect(w).toMatchObject({ code: 'PW_LOCK_TAKEN_OVER' });
    expect(w && 'message' in w && w.message).toMatch(/ci@runner.*expired 1m05s ago/);
  });
  it('a lock held by an exited process of this host is taken over at once (conditional on its token), not after its expiry', async () => {
    const gone = { ...other, pid: 4242, host: 'laptop' };
    m.on(TX).rejectsOnce(held(gone)).resolves({});
    m.on(QueryCommand).resolves({ Items: [] });
    const asked: number[] = [];
    const owner = {
      pid: 99,
      host: 'laptop',
      isAlive: (pid: number) => {
        asked.push(pid);
        return false;
      },
    };
    const lock = await acquireLock(ddb, { ...base(), owner });
    expect(asked).toEqual([4242]);
    expect(lock.record).toMatchObject({ holder: 'me', pid: 99, host: 'laptop' });
    const second = txs()[1]![0]!.Put!;
    expect(second.ConditionExpression).toBe('#t = :old');
    expect(second.Item?.pid).toEqual({ N: '99' });
    const w = events.find((e) => e.type === 'warning');
    expect(w && 'message' in w && w.message).toMatch(/ci@runner.*process 4242 on this host has exited/);
  });
  it('a live local holder, a holder of another host, or no liveness check: the lock stays held (exit 5)', async () => {
    for (const [lock, owner] of [
      [
        { ...other, pid: 4242, host: 'laptop' },
        { pid: 99, host: 'laptop', isAlive: () => true },
      ],
      [
        { ...other, pid: 4242, host: 'ci-runner' },
        { pid: 99, host: 'laptop', isAlive: () => false },
      ],
      [
        { ...other, pid: 4242, host: 'laptop' },
        { pid: 99, host: 'laptop' },
      ],
    ] as const) {
      m.reset();
      m.on(TX).rejects(held(lock));
      const e = await acquireLock(ddb, { ...base(), owner }).catch((x: PatchworkError) => x);
      expect(isPatchworkError(e) && e.code).toBe('PW_LOCK_HELD');
    }
  });
  it('two runs taking over the same expired lock: the loser looks again and finds it held', async () => {
    const dead = { ...other, expiresAt: NOW - 65_000 };
    const winner = { ...other, holder: 'winner', token: 'w', startedAt: NOW, expiresAt: NOW + 900_000 };
    m.on(TX).rejectsOnce(held(dead)).rejectsOnce(held(winner)).rejects(held(winner));
    const e = await acquireLock(ddb, base()).catch((x) => x);
    expect(e.code).toBe('PW_LOCK_HELD');
    expect(e.message).toContain('winner');
    expect(events.some((x) => x.type === 'warning' && x.code === 'PW_LOCK_TAKEN_OVER')).toBe(false);
  });
  it('withLock releases on throw', async () => {
    m.on(TX).resolves({});
    await expect(
      withLock(ddb, base(), async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(txs().map((t) => Object.keys(t[0]!)[0])).toEqual(['Put', 'Delete']);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });
  it('heartbeat: while held, the expiry moves a TTL ahead every third of the TTL; stops on release', async () => {
    vi.useFakeTimers();
    try {
      m.on(TX).resolves({});
      m.on(UpdateItemCommand).resolves({});
      let clock = NOW;
      const opts = { ...base(), ttlSeconds: 60, now: () => clock };
      const run = withLock(ddb, opts, async () => {
        clock += 45_000;
        await vi.advanceTimersByTimeAsync(45_000); // beats at 20 s and 40 s
      });
      await run;
      const beats = m.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
      expect(beats).toHaveLength(2);
      expect(beats[0]).toMatchObject({
        TableName: 't',
        ConditionExpression: '#t = :token',
        ExpressionAttributeValues: { ':e': { N: String(NOW + 45_000 + 60_000) } },
      });
      await vi.advanceTimersByTimeAsync(60_000);
      expect(m.commandCalls(UpdateItemCommand)).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a lock that is no longer ours is not renewed, and says so once', async () => {
    m.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    expect(await renewLock(ddb, 't', 'tok', NOW)).toBe(false);
    vi.useFakeTimers();
    try {
      m.on(TX).resolves({});
      await withLock(ddb, { ...base(), ttlSeconds: 3 }, async () => {
        await vi.advanceTimersByTimeAsync(3_500);
      });
    } finally {
      vi.useRealTimers();
    }
    expect(events.filter((e) => e.type === 'warning' && e.code === 'PW_LOCK_LOST')).toHaveLength(1);
  });

  it('a failed renewal warns with the reason and is retried at the next beat', async () => {
    vi.useFakeTimers();
    let clock = NOW;
    try {
      m.on(TX).resolves({});
      m.on(PutItemCommand).resolves({});
      m.on(DeleteItemCommand).resolves({});
      m.on(UpdateItemCommand)
        .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
        .resolves({});
      let lostAt: boolean | undefined;
      await withLock(ddb, { ...base(), ttlSeconds: 60, now: () => clock }, async (lock) => {
        for (let i = 0; i < 2; i++) {
          clock += 20_000;
          await vi.advanceTimersByTimeAsync(20_000); // beats at 20 s (fails: 40 s left) and 40 s (renews)
        }
        lostAt = lock.lost?.aborted;
        expect(() => lock.assertHeld?.('before a write')).not.toThrow();
      });
      expect(lostAt).toBe(false);
      expect(m.commandCalls(UpdateItemCommand)).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
    const warned = events.filter((e) => e.type === 'warning');
    expect(warned.map((e) => e.type === 'warning' && e.code)).toEqual(['PW_LOCK_RENEW_FAILED']);
    expect(warned[0]!.message).toContain('ThrottlingException: Rate exceeded');
  });

  it('a lock that cannot be renewed before it expires is lost: the holder is told, and stops writing', async () => {
    vi.useFakeTimers();
    let clock = NOW;
    try {
      m.on(TX).resolves({});
      m.on(PutItemCommand).resolves({});
      m.on(DeleteItemCommand).resolves({});
      m.on(UpdateItemCommand).rejects(
        Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }),
      );
      const err = await withLock(ddb, { ...base(), ttlSeconds: 60, now: () => clock }, async (lock) => {
        clock += 20_000;
        await vi.advanceTimersByTimeAsync(20_000); // 1st beat fails: 40 s left, the next beat at 40 s
        expect(lock.lost?.aborted).toBe(false);
        clock += 20_000;
        await vi.advanceTimersByTimeAsync(20_000); // 2nd fails: the next would be at the expiry
        expect(lock.lost?.aborted).toBe(true);
        lock.assertHeld?.('before updating shop-prod-web');
        return 'wrote anyway';
      }).catch((e: PatchworkError) => e);
      expect(isPatchworkError(err)).toBe(true);
      expect((err as PatchworkError).code).toBe('PW_LOCK_NOT_HELD');
      expect((err as PatchworkError).exitCode).toBe(5);
      expect((err as PatchworkError).message).toMatch(
        /could not be renewed before it expires.*before updating shop-prod-web/,
      );
      clock += 60_000;
      await vi.advanceTimersByTimeAsync(60_000);
      expect(m.commandCalls(UpdateItemCommand)).toHaveLength(2); // no beat after the loss, nor after fn
    } finally {
      vi.useRealTimers();
    }
    const codes = events.filter((e) => e.type === 'warning').map((e) => e.type === 'warning' && e.code);
    expect(codes).toEqual(['PW_LOCK_RENEW_FAILED', 'PW_LOCK_RENEW_FAILED', 'PW_LOCK_LOST']);
  });

  it('a renewal whose condition fails (another holder) loses the lock at once', async () => {
    vi.useFakeTimers();
    try {
      m.on(TX).resolves({});
      m.on(PutItemCommand).resolves({});
      m.on(DeleteItemCommand).resolves({});
      m.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      const err = await withLock(ddb, { ...base(), ttlSeconds: 60 }, async (lock) => {
        await vi.advanceTimersByTimeAsync(20_500);
        lock.assertHeld?.('before registering web');
      }).catch((e: PatchworkError) => e);
      expect((err as PatchworkError).code).toBe('PW_LOCK_NOT_HELD');
      expect((err as PatchworkError).message).toContain('taken over after expiry');
    } finally {
      vi.useRealTimers();
    }
  });

  it('release after a takeover by someone else leaves their lock; the last writes are made alone', async () => {
    m.on(TX).resolvesOnce({}).rejectsOnce(held(null, 1));
    m.on(PutItemCommand).resolves({});
    const lock = await acquireLock(ddb, base());
    await expect(lock.release()).resolves.toBeUndefined();
    await expect(lock.release({ put: [{ pk: { S: 'release' }, sk: { S: 'y' } }] })).resolves.toBeUndefined();
    expect(m.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item?.sk)).toEqual([{ S: 'y' }]);
    const m2 = awsMock(DynamoDBClient);
    m2.on(TX).resolvesOnce({}).rejectsOnce(held(null, 1));
    m2.on(PutItemCommand).resolves({});
    const lock2 = await acquireLock(ddb, base());
    await lock2.release({ put: [{ pk: { S: 'release' }, sk: { S: 'z' } }] });
    // The transaction was refused on the lock item: the record is written on its own.
    expect(m2.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item?.sk)).toEqual([{ S: 'z' }]);
  });
  it('a release whose transaction fails is tried again by withLock (the lock is never left); a conflict is retried', async () => {
    m.on(TX)
      .resolvesOnce({}) // the lock
      .rejectsOnce(new Error('throttled after retries')) // the release with the final record
      .resolves({}); // withLock's own release
    await expect(
      withLock(ddb, base(), async (lock) => {
        await lock.release({ put: [{ pk: { S: 'release' }, sk: { S: 'y' } }] });
      }),
    ).rejects.toThrow('throttled');
    const kinds = txs().map((t) => Object.keys(t[0]!)[0]);
    expect(kinds).toEqual(['Put', 'Delete', 'Delete']);
    const conflict = new TransactionCanceledException({
      message: 'Transaction cancelled [TransactionConflict]',
      $metadata: {},
      CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
    });
    const m2 = awsMock(DynamoDBClient);
    m2.on(TX).resolvesOnce({}).rejectsOnce(conflict).resolves({});
    const lock = await acquireLock(ddb, base());
    await lock.release({ put: [{ pk: { S: 'release' }, sk: { S: 'y' } }] });
    expect(m2.commandCalls(TX)).toHaveLength(3);
    expect(m2.commandCalls(PutItemCommand)).toHaveLength(0);
  });
  it('unlock deletes whatever is there and returns it', async () => {
    m.on(DeleteItemCommand).resolves({ Attributes: toItem(other) });
    expect((await breakLock(ddb, 't'))?.holder).toBe('ci@runner');
    expect(m.commandCalls(GetItemCommand)).toHaveLength(0);
  });
  it('a missing state table → PW_NOT_PROVISIONED (exit 2) naming it; the verb names the environment', async () => {
    m.on(TX).rejects(new ResourceNotFoundException({ message: 'no table', $metadata: {} }));
    const e = await acquireLock(ddb, base()).catch((x) => x);
    expect(e.code).toBe('PW_NOT_PROVISIONED');
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('state table t');
    expect(e.hint).toBe('patchwork provision --env <env>');
    const named = inEnvironment(e, { app: 'shop', env: 'prod', region: 'eu-west-1' }) as PatchworkError;
    expect(named).toMatchObject({ code: 'PW_NOT_PROVISIONED', exitCode: 2, hint: 'patchwork provision --env prod' });
    expect(named.message).toBe(
      'environment prod is not provisioned: the state table t (deploy lock and release history) does not exist (region eu-west-1)',
    );
    expect(named.data).toEqual({ app: 'shop', env: 'prod', region: 'eu-west-1' });
  });
  it('formats ages', () => {
    expect([age(5_000), age(192_000), age(7_380_000)]).toEqual(['5s', '3m12s', '2h03m']);
  });
});
