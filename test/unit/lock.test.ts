/** The deploy lock: one conditional PutItem; held → exit 5 naming holder and age; expired → takeover with a warning. */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceNotFoundException,
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

function held(item = other) {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    Item: toItem(item),
  });
}

describe('deploy lock', () => {
  it('is one conditional PutItem covering absence and expiry', async () => {
    m.on(PutItemCommand).resolves({});
    const lock = await acquireLock(ddb, base());
    const calls = m.commandCalls(PutItemCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('attribute_not_exists(pk) OR expiresAt < :now');
    expect(input.ExpressionAttributeValues).toEqual({ ':now': { N: String(NOW) } });
    expect(input.Item!.holder).toEqual({ S: 'me' });
    expect(input.Item!.command).toEqual({ S: 'deploy abc' });
    expect(input.Item!.expiresAt).toEqual({ N: String(NOW + 900_000) });
    m.on(DeleteItemCommand).resolves({});
    await lock.release();
    const del = m.commandCalls(DeleteItemCommand)[0]!.args[0].input;
    expect(del.ConditionExpression).toBe('#t = :token');
    expect(del.ExpressionAttributeValues).toEqual({ ':token': { S: lock.record.token } });
  });
  it('held → PW_LOCK_HELD (exit 5) naming the holder and the age', async () => {
    m.on(PutItemCommand).rejects(held());
    const e = await acquireLock(ddb, base()).catch((x) => x);
    expect(isPatchworkError(e) && e.code).toBe('PW_LOCK_HELD');
    expect(e.exitCode).toBe(5);
    expect(e.message).toContain('ci@runner');
    expect(e.message).toContain('3m12s');
  });
  it('--lock-wait: polls until the lock is free', async () => {
    let t = NOW;
    m.on(PutItemCommand).rejectsOnce(held()).rejectsOnce(held()).resolves({});
    const lock = await acquireLock(ddb, {
      ...base(),
      now: () => t,
      waitSeconds: 60,
      sleep: async (ms) => {
        t += ms;
      },
    });
    expect(lock.record.holder).toBe('me');
    expect(m.commandCalls(PutItemCommand)).toHaveLength(3);
    expect(
      events.some((e) => e.type === 'log' && /waiting for the deploy lock held by ci@runner/.test(e.message)),
    ).toBe(true);
  });
  it('takes over an expired lock with a warning', async () => {
    m.on(PutItemCommand).resolves({ Attributes: toItem({ ...other, expiresAt: NOW - 65_000 }) });
    await acquireLock(ddb, base());
    const w = events.find((e) => e.type === 'warning');
    expect(w).toMatchObject({ code: 'PW_LOCK_TAKEN_OVER' });
    expect(w && 'message' in w && w.message).toMatch(/ci@runner.*expired 1m05s ago/);
  });
  it('withLock releases on throw', async () => {
    m.on(PutItemCommand).resolves({});
    m.on(DeleteItemCommand).resolves({});
    await expect(
      withLock(ddb, base(), async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(m.commandCalls(DeleteItemCommand)).toHaveLength(1);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });
  it('heartbeat: while held, the expiry moves a TTL ahead every third of the TTL; stops on release', async () => {
    vi.useFakeTimers();
    try {
      m.on(PutItemCommand).resolves({});
      m.on(UpdateItemCommand).resolves({});
      m.on(DeleteItemCommand).resolves({});
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
      m.on(PutItemCommand).resolves({});
      m.on(DeleteItemCommand).resolves({});
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

  it('release after a takeover by someone else is a no-op', async () => {
    m.on(PutItemCommand).resolves({});
    m.on(DeleteItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    const lock = await acquireLock(ddb, base());
    await expect(lock.release()).resolves.toBeUndefined();
  });
  it('unlock deletes whatever is there and returns it', async () => {
    m.on(DeleteItemCommand).resolves({ Attributes: toItem(other) });
    expect((await breakLock(ddb, 't'))?.holder).toBe('ci@runner');
    expect(m.commandCalls(GetItemCommand)).toHaveLength(0);
  });
  it('a missing state table → PW_NOT_PROVISIONED (exit 2) naming it; the verb names the environment', async () => {
    m.on(PutItemCommand).rejects(new ResourceNotFoundException({ message: 'no table', $metadata: {} }));
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
