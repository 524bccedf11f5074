/**
 * The environment's deploy lock, held in AWS (the state table `provision` creates) so every CI
 * runner and laptop sees the same truth. Acquiring is ONE conditional write, a TransactWriteItems
 * that puts the lock (`attribute_not_exists(pk)`) together with the items the caller gives (the
 * release record `in-progress`), all or nothing. An expired lock is taken over by a second
 * conditional write on the dead holder's token (`token = :old AND expiresAt < :now`): atomic, so
 * of several runs taking it over one wins. Releasing deletes the item only while we still hold it
 * (`token = :token`), in one transaction with the caller's last writes (the final release record,
 * pruned history), so a run whose lock was taken over never deletes the new holder's lock.
 * Taking over or breaking a lock marks the dead run's release records `interrupted` (history.ts).
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { AttributeValue, DynamoDBClient, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { sleeper, throwIfAborted } from '../abort.js';
import { isAwsError } from '../aws/errors.js';
import { dynamodbSdk } from '../aws/sdk.js';
import { PatchworkError } from '../errors.js';
import type { Emitter } from '../events.js';
import { type DeadLock, markInterrupted, tableMissing } from './history.js';

const { DeleteItemCommand, GetItemCommand, PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand } =
  dynamodbSdk();

export { tableMissing };

export const LOCK_KEY = { pk: { S: 'lock' }, sk: { S: 'lock' } } as const;

export interface LockRecord {
  holder: string;
  command: string;
  token: string;
  /** Epoch milliseconds. */
  startedAt: number;
  expiresAt: number;
  /** The holding process and its host, when the holder gave them (a stale local holder can be seen). */
  pid?: number;
  host?: string;
}

export interface LockOptions {
  table: string;
  /** Who holds it: deployer identity plus host. */
  holder: string;
  command: string;
  ttlSeconds: number;
  /** Wait up to this long for a held lock (0 = fail at once with PW_LOCK_HELD). */
  waitSeconds?: number;
  /** Poll interval while waiting (default 2 s). */
  pollSeconds?: number;
  events?: Emitter;
  /** Clock, for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Stops waiting for a held lock (PW_INTERRUPTED); withLock releases ours when fn ends. */
  signal?: AbortSignal;
  /**
   * The client the release goes through (default: the one passed in). A verb whose clients stop
   * at an abort passes one that does not, so the lock is released after the abort too.
   */
  releaseWith?: DynamoDBClient;
  /**
   * Items written in the same transaction as the lock (all or nothing), built from the lock record
   * of that attempt (the release record in progress, dated with the lock's start).
   */
  with?: (lock: LockRecord) => Record<string, AttributeValue>[];
  /**
   * This process (`pid` on `host`, recorded in the lock) and a way to tell whether a process of
   * this host still runs: a lock held by a process of this host that has exited (a run ended at
   * once by a second Ctrl-C, a kill -9) is stale and taken over at once instead of waiting for its
   * expiry. The library does not look at processes itself: the caller (the CLI) passes `isAlive`.
   */
  owner?: { pid: number; host: string; isAlive?: (pid: number) => boolean };
}

/** Writes that go with the lock's release, in the same transaction. */
export interface LockWrites {
  put?: Record<string, AttributeValue>[];
  /** Keys of items to delete. */
  delete?: Record<string, AttributeValue>[];
}

export interface HeldLock {
  record: LockRecord;
  /**
   * Deletes the lock if we still hold it, with `writes` in the same transaction (when the lock is
   * not ours any more, the writes are made alone); safe to call twice: the lock goes once.
   */
  release(writes?: LockWrites): Promise<void>;
  /** Under withLock: aborted (reason: a PW_LOCK_NOT_HELD error) once the heartbeat finds the lock lost. */
  lost?: AbortSignal;
  /** Under withLock: throws PW_LOCK_NOT_HELD (exit 5) once the lock is lost; call it before each AWS write. */
  assertHeld?: (what?: string) => void;
}

/** At most this many items in one TransactWriteItems (DynamoDB's limit). */
export const MAX_TRANSACTION_ITEMS = 100;

/** `user@host` unless a better identity (the IAM ARN) is passed. */
export function defaultHolder(identity?: string): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers)
  }
  return identity ? `${identity} (${user}@${hostname()})` : `${user}@${hostname()}`;
}

export function toItem(r: LockRecord): Record<string, AttributeValue> {
  return {
    ...LOCK_KEY,
    holder: { S: r.holder },
    command: { S: r.command },
    token: { S: r.token },
    startedAt: { N: String(r.startedAt) },
    expiresAt: { N: String(r.expiresAt) },
    ...(r.pid !== undefined ? { pid: { N: String(r.pid) } } : {}),
    ...(r.host !== undefined ? { host: { S: r.host } } : {}),
  };
}

export function fromItem(item: Record<string, AttributeValue> | undefined): LockRecord | null {
  if (!item?.token?.S) return null;
  return {
    holder: item.holder?.S ?? 'unknown',
    command: item.command?.S ?? 'unknown',
    token: item.token.S,
    startedAt: Number(item.startedAt?.N ?? 0),
    expiresAt: Number(item.expiresAt?.N ?? 0),
    ...(item.pid?.N ? { pid: Number(item.pid.N) } : {}),
    ...(item.host?.S ? { host: item.host.S } : {}),
  };
}

/** Held by a process of this host that has exited: nobody will renew or release it. */
function exitedLocalHolder(lock: LockRecord, owner: LockOptions['owner']): boolean {
  if (!owner?.isAlive || lock.pid === undefined || lock.host !== owner.host || lock.pid === owner.pid) return false;
  return !owner.isAlive(lock.pid);
}

/** "3m12s" */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Marks the dead holder's unfinished release records `interrupted`. Best effort: the lock is ours
 * (or broken) whatever happens here, and a failure leaves the records as they were.
 */
async function recordInterrupted(
  ddb: DynamoDBClient,
  table: string,
  dead: DeadLock,
  until: number,
  how: string,
  events?: Emitter,
): Promise<void> {
  try {
    const marked = await markInterrupted(ddb, table, dead, until, how);
    for (const r of marked)
      events?.log(`release ${r.id} (${r.kind} ${(r.sha ?? '?').slice(0, 12)}) marked interrupted`, 'info', 'lock');
  } catch (err) {
    events?.log(`could not mark the dead run's releases interrupted: ${(err as Error).message}`, 'info', 'lock');
  }
}

/** The cancellation reasons of a TransactWriteItems refusal, in the order of its items. */
function cancellation(err: unknown): { Code?: string; Item?: Record<string, AttributeValue> }[] | null {
  if (!isAwsError(err, 'TransactionCanceledException')) return null;
  return (
    (err as { CancellationReasons?: { Code?: string; Item?: Record<string, AttributeValue> }[] }).CancellationReasons ??
    []
  );
}

/** Put the lock (under `condition`) and the caller's items, all or nothing. */
function lockTransaction(
  table: string,
  record: LockRecord,
  condition: { expression: string; names?: Record<string, string>; values: Record<string, AttributeValue> } | null,
  more: Record<string, AttributeValue>[],
): InstanceType<typeof TransactWriteItemsCommand> {
  const items: TransactWriteItem[] = [
    {
      Put: {
        TableName: table,
        Item: toItem(record),
        ...(condition
          ? {
              ConditionExpression: condition.expression,
              ...(condition.names ? { ExpressionAttributeNames: condition.names } : {}),
              ...(Object.keys(condition.values).length ? { ExpressionAttributeValues: condition.values } : {}),
            }
          : {}),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    },
    ...more.map((Item) => ({ Put: { TableName: table, Item } })),
  ];
  return new TransactWriteItemsCommand({ TransactItems: items });
}

/**
 * Takes the lock with one conditional write (with `opts.with`'s items). Held by someone else →
 * waits up to waitSeconds, then PW_LOCK_HELD (exit 5) naming the holder and age. An expired lock
 * is taken over (a write conditional on the dead holder's token) with a warning.
 */
export async function acquireLock(ddb: DynamoDBClient, opts: LockOptions): Promise<HeldLock> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? sleeper(opts.signal);
  const deadline = now() + (opts.waitSeconds ?? 0) * 1000;
  const token = randomUUID();
  const held = (record: LockRecord): HeldLock => {
    let released = false;
    return {
      record,
      release: async (writes) => {
        // Marked released only once it went through: a failed release is tried again (withLock's finally).
        await releaseLock(ddb, opts.table, released ? null : token, writes);
        released = true;
      },
    };
  };
  let announcedWait = false;
  for (;;) {
    throwIfAborted(opts.signal, 'before taking the deploy lock');
    const start = now();
    const record: LockRecord = {
      holder: opts.holder,
      command: opts.command,
      token,
      startedAt: start,
      expiresAt: start + opts.ttlSeconds * 1000,
      ...(opts.owner ? { pid: opts.owner.pid, host: opts.owner.host } : {}),
    };
    let current: LockRecord | null;
    try {
      await ddb.send(
        lockTransaction(
          opts.table,
          record,
          { expression: 'attribute_not_exists(pk)', values: {} },
          opts.with?.(record) ?? [],
        ),
      );
      return held(record);
    } catch (err) {
      current = await heldAfterRefusal(ddb, opts.table, err);
    }
    // Our own write: an earlier attempt of this transaction was applied but its answer lost, and
    // the SDK's retry failed the condition against it. We hold the lock.
    if (current?.token === token) return held(current);
    if (!current) continue; // released in between
    const exited = exitedLocalHolder(current, opts.owner);
    if (current.expiresAt < now() || exited) {
      const took = await takeOver(ddb, opts, current, token, start, exited);
      if (took) return held(took);
      continue; // someone else took it over, or its holder renewed it: look again
    }
    if (now() >= deadline) {
      throw new PatchworkError(
        'PW_LOCK_HELD',
        `the deploy lock is held by ${current.holder} (${current.command}, for ${age(now() - current.startedAt)}, expires in ${age(current.expiresAt - now())})`,
        {
          hint: `wait for it (--lock-wait 10m), or if that run is dead: \`patchwork unlock --env <env>\``,
          data: { lock: current },
        },
      );
    }
    if (!announcedWait) {
      opts.events?.log(`waiting for the deploy lock held by ${current.holder} (${current.command})`, 'info', 'lock');
      announcedWait = true;
    }
    await sleep(Math.min((opts.pollSeconds ?? 2) * 1000, Math.max(0, deadline - now())));
  }
}

/** The lock that refused our conditional write (its answer's old item, else read); other errors are thrown. */
async function heldAfterRefusal(ddb: DynamoDBClient, table: string, err: unknown): Promise<LockRecord | null> {
  if (isAwsError(err, 'ResourceNotFoundException')) throw tableMissing(table, err);
  const reasons = cancellation(err);
  // TransactionConflict: another run's transaction on the lock item at the same moment; read who won.
  if (reasons?.[0]?.Code !== 'ConditionalCheckFailed' && reasons?.[0]?.Code !== 'TransactionConflict') throw err;
  return fromItem(reasons[0].Item) ?? (await readLock(ddb, table));
}

/**
 * Takes over the expired lock `dead`: one write conditional on its token and its expiry, so of two
 * runs taking it over only one wins. Returns our record, or null when the lock changed meanwhile.
 */
async function takeOver(
  ddb: DynamoDBClient,
  opts: LockOptions,
  dead: LockRecord,
  token: string,
  at: number,
  /** Not expired, but its process (of this host) has exited: conditional on its token alone. */
  exited = false,
): Promise<LockRecord | null> {
  const record: LockRecord = {
    holder: opts.holder,
    command: opts.command,
    token,
    startedAt: at,
    expiresAt: at + opts.ttlSeconds * 1000,
    ...(opts.owner ? { pid: opts.owner.pid, host: opts.owner.host } : {}),
  };
  try {
    await ddb.send(
      lockTransaction(
        opts.table,
        record,
        exited
          ? { expression: '#t = :old', names: { '#t': 'token' }, values: { ':old': { S: dead.token } } }
          : {
              expression: '#t = :old AND expiresAt < :now',
              names: { '#t': 'token' },
              values: { ':old': { S: dead.token }, ':now': { N: String(at) } },
            },
        opts.with?.(record) ?? [],
      ),
    );
  } catch (err) {
    const current = await heldAfterRefusal(ddb, opts.table, err);
    if (current?.token !== token) return null;
    // Applied, answer lost: the takeover is ours.
  }
  opts.events?.warn(
    'PW_LOCK_TAKEN_OVER',
    exited
      ? `took over the deploy lock of ${dead.holder} (${dead.command}): its process ${dead.pid} on this host has exited`
      : `took over an expired deploy lock of ${dead.holder} (${dead.command}, expired ${age(at - dead.expiresAt)} ago)`,
    'lock',
  );
  await recordInterrupted(ddb, opts.table, dead, at, `lock taken over by ${opts.holder}`, opts.events);
  return record;
}

export async function readLock(ddb: DynamoDBClient, table: string): Promise<LockRecord | null> {
  try {
    const out = await ddb.send(new GetItemCommand({ TableName: table, Key: { ...LOCK_KEY }, ConsistentRead: true }));
    return fromItem(out.Item);
  } catch (err) {
    if (isAwsError(err, 'ResourceNotFoundException')) throw tableMissing(table, err);
    throw err;
  }
}

/**
 * Deletes the lock while `token` holds it, with `writes` in the same transaction. When the lock is
 * not ours any more (taken over after expiry, broken, or already released: token null), the writes
 * are made alone and the lock is left to its holder.
 */
export async function releaseLock(
  ddb: DynamoDBClient,
  table: string,
  token: string | null,
  writes: LockWrites = {},
): Promise<void> {
  const rest: TransactWriteItem[] = [
    ...(writes.put ?? []).map((Item) => ({ Put: { TableName: table, Item } })),
    ...(writes.delete ?? []).map((Key) => ({ Delete: { TableName: table, Key } })),
  ].slice(0, MAX_TRANSACTION_ITEMS - 1);
  // A concurrent write on the lock item (our own heartbeat) cancels the transaction with
  // TransactionConflict: try again, a few times.
  for (let attempt = 1; token !== null; attempt++) {
    try {
      await ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Delete: {
                TableName: table,
                Key: { ...LOCK_KEY },
                ConditionExpression: '#t = :token',
                ExpressionAttributeNames: { '#t': 'token' },
                ExpressionAttributeValues: { ':token': { S: token } },
              },
            },
            ...rest,
          ],
        }),
      );
      return;
    } catch (err) {
      const code = cancellation(err)?.[0]?.Code;
      if (code === 'TransactionConflict' && attempt < 4) {
        await new Promise((r) => setTimeout(r, 100 * attempt));
        continue;
      }
      // Not ours any more (taken over after expiry) or already gone: nothing to release.
      if (code !== 'ConditionalCheckFailed') throw err;
      break;
    }
  }
  if (rest.length === 1 && rest[0]!.Put) await ddb.send(new PutItemCommand(rest[0]!.Put));
  else if (rest.length) await ddb.send(new TransactWriteItemsCommand({ TransactItems: rest }));
}

/**
 * Pushes our lock's expiry to `expiresAt` while we still hold it (`token = :token`); false when it
 * is not ours any more (taken over after expiry, or broken by `unlock`).
 */
export async function renewLock(
  ddb: DynamoDBClient,
  table: string,
  token: string,
  expiresAt: number,
): Promise<boolean> {
  try {
    await ddb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { ...LOCK_KEY },
        UpdateExpression: 'SET expiresAt = :e',
        ConditionExpression: '#t = :token',
        ExpressionAttributeNames: { '#t': 'token' },
        ExpressionAttributeValues: { ':e': { N: String(expiresAt) }, ':token': { S: token } },
      }),
    );
    return true;
  } catch (err) {
    if (isAwsError(err, 'ConditionalCheckFailedException')) return false;
    throw err;
  }
}

/**
 * Deletes whatever lock is there (unlock); returns what was deleted. The broken holder's
 * unfinished release records are marked `interrupted`.
 */
export async function breakLock(ddb: DynamoDBClient, table: string, events?: Emitter): Promise<LockRecord | null> {
  const at = Date.now();
  let broken: LockRecord | null;
  try {
    const out = await ddb.send(
      new DeleteItemCommand({ TableName: table, Key: { ...LOCK_KEY }, ReturnValues: 'ALL_OLD' }),
    );
    broken = fromItem(out?.Attributes);
  } catch (err) {
    if (isAwsError(err, 'ResourceNotFoundException')) throw tableMissing(table, err);
    throw err;
  }
  if (broken) await recordInterrupted(ddb, table, broken, at, 'lock broken by `patchwork unlock`', events);
  return broken;
}

/**
 * Runs fn under the lock and releases it on every exit path: return, throw, and an abort of
 * opts.signal (fn then rejects with PW_INTERRUPTED; the release goes through opts.releaseWith,
 * which the abort does not stop). No process signal is handled here: the CLI turns SIGINT and
 * SIGTERM into an abort.
 */
export async function withLock<T>(
  ddb: DynamoDBClient,
  opts: LockOptions,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const acquired = await acquireLock(ddb, opts);
  let released = false;
  const lock: HeldLock = opts.releaseWith
    ? {
        record: acquired.record,
        release: async (writes) => {
          await releaseLock(opts.releaseWith!, opts.table, released ? null : acquired.record.token, writes);
          released = true;
        },
      }
    : acquired;
  // Heartbeat: a long build or rollout (--timeout above the TTL) must not let the lock expire under
  // us. Every third of the TTL the expiry moves a full TTL ahead; a dead run stops renewing, so its
  // lock still expires one TTL after its last beat. A failed beat warns (PW_LOCK_RENEW_FAILED) and
  // is retried at the next one; when the lock is another's (the condition fails) or the next beat
  // would come after the expiry, the lock is lost: fn is told (lock.lost, lock.assertHeld()).
  const now = opts.now ?? Date.now;
  const every = Math.max(1000, (opts.ttlSeconds * 1000) / 3);
  let expiresAt = lock.record.expiresAt;
  const lostController = new AbortController();
  const lose = (why: string) => {
    if (lostController.signal.aborted) return;
    const err = new PatchworkError('PW_LOCK_NOT_HELD', `the deploy lock is no longer ours: ${why}`, {
      hint: 'nothing more is written by this run; check `patchwork status` and `patchwork releases`, then rerun',
    });
    lostController.abort(err);
    opts.events?.warn('PW_LOCK_LOST', err.message, 'lock');
  };
  lock.lost = lostController.signal;
  lock.assertHeld = (what?: string) => {
    const reason = lostController.signal.reason as PatchworkError | undefined;
    if (reason)
      throw new PatchworkError(reason.code, what ? `${reason.message} (${what})` : reason.message, {
        ...(reason.hint ? { hint: reason.hint } : {}),
      });
  };
  const heartbeat = setInterval(() => {
    if (opts.signal?.aborted || lostController.signal.aborted) return;
    const next = now() + opts.ttlSeconds * 1000;
    renewLock(ddb, opts.table, lock.record.token, next).then(
      (held) => {
        if (held) expiresAt = Math.max(expiresAt, next);
        else lose('taken over after expiry, or broken by `patchwork unlock`');
      },
      (err) => {
        const reason = `${(err as Error).name ?? 'Error'}: ${(err as Error).message ?? String(err)}`.split('\n')[0]!;
        opts.events?.warn(
          'PW_LOCK_RENEW_FAILED',
          `renewing the deploy lock failed (${reason}); it expires in ${age(expiresAt - now())}`,
          'lock',
        );
        if (now() + every >= expiresAt) lose(`it could not be renewed before it expires (${reason})`);
      },
    );
  }, every);
  heartbeat.unref();
  try {
    return await fn(lock);
  } finally {
    clearInterval(heartbeat);
    if (opts.signal?.aborted) opts.events?.log('interrupted: releasing the deploy lock', 'info', 'lock');
    await lock.release();
  }
}
