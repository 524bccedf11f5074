/**
 * Cancellation through an AbortSignal: sleeps end at once, the client factory refuses every call
 * after the abort (and cuts a read in flight) while its detached view still reaches AWS for the
 * clean-up, and the deploy lock is released through that view when the work under it is aborted.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interrupted, isInterrupted, sleep } from '../../src/lib/abort.js';
import { AwsClients } from '../../src/lib/aws/clients.js';
import { ApiCallCounter } from '../../src/lib/aws/counter.js';
import { ErrorCodes, ExitCode, PatchworkError } from '../../src/lib/errors.js';
import { acquireLock, toItem, withLock } from '../../src/lib/release/lock.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

const credentials = async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' });

// A loopback server that accepts connections and never answers: a call to it hangs until cut.
let silent: Server;
let port = 0;
const sockets: Socket[] = [];
beforeAll(async () => {
  silent = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  port = (silent.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

describe('PW_INTERRUPTED', () => {
  it('exits 130 and says what was not started', () => {
    expect(ErrorCodes.PW_INTERRUPTED).toBe(130);
    const c = new AbortController();
    c.abort('SIGINT');
    const err = interrupted(c.signal, 'before UpdateService');
    expect(err).toBeInstanceOf(PatchworkError);
    expect(err.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(err.message).toBe('interrupted (SIGINT) before UpdateService');
    expect(isInterrupted(err)).toBe(true);
  });

  it('sleep ends as soon as the signal aborts, and not before', async () => {
    const c = new AbortController();
    const t0 = Date.now();
    const waiting = sleep(60_000, c.signal);
    setTimeout(() => c.abort(), 20);
    await expect(waiting).rejects.toMatchObject({ code: 'PW_INTERRUPTED' });
    expect(Date.now() - t0).toBeLessThan(5_000);
    await expect(sleep(5, new AbortController().signal)).resolves.toBeUndefined();
  });
});

describe('client factory with a signal', () => {
  it('refuses every call once aborted (nothing sent, nothing counted); detached() still calls', async () => {
    const counter = new ApiCallCounter();
    const c = new AbortController();
    const aws = new AwsClients(
      { region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', credentials, maxAttempts: 1 },
      counter,
      c.signal,
    );
    c.abort('SIGTERM');
    const ddb = await aws.get('dynamodb');
    await expect(ddb.send(new PutItemCommand({ TableName: 't', Item: {} }))).rejects.toMatchObject({
      code: 'PW_INTERRUPTED',
      message: 'interrupted (SIGTERM) before DynamoDB.PutItem',
    });
    expect(counter.snapshot().total).toBe(0);
    // The clean-up path: same settings and counter, no signal.
    const after = aws.detached();
    expect(after.signal).toBeUndefined();
    expect(after.counter).toBe(counter);
    const err = await (await after.get('dynamodb'))
      .send(new DeleteItemCommand({ TableName: 't', Key: {} }))
      .catch((e: unknown) => e);
    expect(isInterrupted(err)).toBe(false); // it was sent (and refused by the closed port)
    expect(counter.snapshot().byOperation).toEqual({ 'DynamoDB.DeleteItem': 1 });
  });

  it('cuts a read in flight when the signal aborts', async () => {
    const c = new AbortController();
    const aws = new AwsClients(
      { region: 'eu-west-1', endpoint: `http://127.0.0.1:${port}`, credentials, maxAttempts: 1 },
      new ApiCallCounter(),
      c.signal,
    );
    const ddb = await aws.get('dynamodb');
    const t0 = Date.now();
    const call = ddb.send(new GetItemCommand({ TableName: 't', Key: {} }));
    setTimeout(() => c.abort('SIGINT'), 100);
    await expect(call).rejects.toMatchObject({ code: 'PW_INTERRUPTED' });
    expect(Date.now() - t0).toBeLessThan(10_000); // the request timeout is 30 s
  });
});

describe('the deploy lock under an abort', () => {
  const ddb = new DynamoDBClient({ region: 'eu-west-1', credentials });
  const cleanup = new DynamoDBClient({ region: 'eu-west-2', credentials });
  afterAll(() => restoreAwsMocks());
  const base = (signal: AbortSignal) => ({
    table: 't',
    holder: 'me',
    command: 'deploy abc',
    ttlSeconds: 900,
    signal,
    releaseWith: cleanup,
  });

  it('aborted under the lock: fn rejects, the lock is released once, through releaseWith', async () => {
    const m = awsMock(DynamoDBClient);
    m.on(TransactWriteItemsCommand).resolves({});
    const c = new AbortController();
    const run = withLock(ddb, base(c.signal), async () => {
      setTimeout(() => c.abort('SIGINT'), 10);
      await sleep(60_000, c.signal);
    });
    await expect(run).rejects.toMatchObject({ code: 'PW_INTERRUPTED' });
    const [take, ...releases] = m.commandCalls(TransactWriteItemsCommand);
    expect(take!.args[0].input.TransactItems![0]!.Put).toBeDefined();
    expect(releases).toHaveLength(1);
    expect(releases[0]!.thisValue).toBe(cleanup);
    expect(releases[0]!.args[0].input.TransactItems![0]!.Delete).toMatchObject({
      TableName: 't',
      ConditionExpression: '#t = :token',
    });
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('waiting for a held lock (--lock-wait) ends at the abort with PW_INTERRUPTED, nothing to release', async () => {
    const m = awsMock(DynamoDBClient);
    const held = { holder: 'ci', command: 'deploy x', token: 'x', startedAt: Date.now(), expiresAt: Date.now() + 9e5 };
    m.on(TransactWriteItemsCommand).rejects(
      new TransactionCanceledException({
        message: 'held',
        $metadata: {},
        CancellationReasons: [{ Code: 'ConditionalCheckFailed', Item: toItem(held) }],
      }),
    );
    const c = new AbortController();
    const waiting = acquireLock(ddb, { ...base(c.signal), waitSeconds: 600, pollSeconds: 30 });
    setTimeout(() => c.abort('SIGINT'), 50);
    await expect(waiting).rejects.toMatchObject({ code: 'PW_INTERRUPTED' });
    expect(m.commandCalls(TransactWriteItemsCommand)).toHaveLength(1);
    expect(m.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });
});
