/**
 * Release history in the state table, beside the lock: one item per deploy / rollback / unlock
 * (pk `release`, sk `<ISO start>#<id>`), newest first, the last `keepReleases` kept. A record is
 * written when a deploy starts (outcome `in-progress`) and overwritten when it ends, so a run
 * that died shows up as such; once its lock is taken over or broken, it is marked `interrupted`.
 * Items stay far below DynamoDB's 400 KB limit: free text is capped and a record that still would
 * not fit drops its longest fields.
 */
import { randomUUID } from 'node:crypto';
import type { AttributeValue, DynamoDBClient, QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { isAwsError } from '../aws/errors.js';
import { dynamodbSdk } from '../aws/sdk.js';
import { notProvisioned, type PatchworkError } from '../errors.js';

const { PutItemCommand, paginateQuery, QueryCommand } = dynamodbSdk();

export type Outcome =
  | 'in-progress'
  | 'succeeded'
  | 'rolled-back'
  | 'timed-out'
  | 'failed'
  | 'started'
  | 'unlocked'
  /** The run died holding the lock (kill -9, lost machine): found when its lock was taken over or broken. */
  | 'interrupted';
export type ReleaseKind = 'deploy' | 'rollback' | 'unlock';

export interface ServiceRelease {
  service: string;
  image: string | null;
  digest: string | null;
  taskDefinitionArn: string | null;
}

export interface ReleaseRecord {
  id: string;
  kind: ReleaseKind;
  /** Git sha (or tag) released. */
  sha: string | null;
  services: ServiceRelease[];
  deployer: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  outcome: Outcome;
  reason: string | null;
  fast: boolean;
  /** For a rollback: the release rolled back to. */
  rollbackOf?: string | null;
  /** For a promotion (`patchwork promote --from E`): the environment whose release's digests were deployed. */
  promotedFrom?: string | null;
}

export const RELEASE_PK = 'release';

/** A missing state table: the environment was never provisioned (PW_NOT_PROVISIONED, exit 2). */
export function tableMissing(table: string, err: unknown): PatchworkError {
  return notProvisioned(null, `the state table ${table} (deploy lock and release history) does not exist`, err);
}
/** DynamoDB's item limit is 400 KB; stay well below it. */
export const MAX_ITEM_BYTES = 64 * 1024;
const MAX_REASON = 2000;

export function newRelease(
  fields: Omit<ReleaseRecord, 'id' | 'startedAt' | 'finishedAt' | 'durationMs' | 'outcome' | 'reason' | 'fast'> &
    Partial<ReleaseRecord>,
): ReleaseRecord {
  return {
    id: randomUUID().slice(0, 8),
    startedAt: new Date().toISOString(),
    finishedAt: null,
    durationMs: null,
    outcome: 'in-progress',
    reason: null,
    fast: false,
    ...fields,
  };
}

export function sortKey(r: Pick<ReleaseRecord, 'startedAt' | 'id'>): string {
  return `${r.startedAt}#${r.id}`;
}

/** The record as one item, capped to MAX_ITEM_BYTES. */
export function toReleaseItem(r: ReleaseRecord): Record<string, AttributeValue> {
  const capped: ReleaseRecord = { ...r, reason: r.reason ? r.reason.slice(0, MAX_REASON) : null };
  let body = JSON.stringify(capped);
  if (Buffer.byteLength(body) > MAX_ITEM_BYTES) {
    body = JSON.stringify({ ...capped, reason: null, services: capped.services.slice(0, 20) });
  }
  if (Buffer.byteLength(body) > MAX_ITEM_BYTES) {
    body = JSON.stringify({ ...capped, reason: null, services: [], truncated: true });
  }
  return {
    pk: { S: RELEASE_PK },
    sk: { S: sortKey(r) },
    kind: { S: r.kind },
    sha: { S: r.sha ?? '' },
    outcome: { S: r.outcome },
    record: { S: body },
  };
}

export function fromReleaseItem(item: Record<string, AttributeValue>): ReleaseRecord | null {
  try {
    return JSON.parse(item.record?.S ?? '') as ReleaseRecord;
  } catch {
    return null;
  }
}

export async function putRelease(ddb: DynamoDBClient, table: string, r: ReleaseRecord): Promise<void> {
  await ddb.send(new PutItemCommand({ TableName: table, Item: toReleaseItem(r) }));
}

/** Newest first, at most `limit`. A missing state table → PW_NOT_PROVISIONED naming it. */
export async function listReleases(ddb: DynamoDBClient, table: string, limit = 100): Promise<ReleaseRecord[]> {
  try {
    return await queryReleases(ddb, table, limit);
  } catch (err) {
    if (isAwsError(err, 'ResourceNotFoundException')) throw tableMissing(table, err);
    throw err;
  }
}

/**
 * The items of a query, page by page (the SDK's paginator, following LastEvaluatedKey). `limit`, when
 * given, is read before every page (a caller's limit may shrink as results come in); a caller that
 * has enough stops iterating, and no further page is read.
 */
async function* queryPages(
  ddb: DynamoDBClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey' | 'Limit'>,
  limit?: () => number,
): AsyncGenerator<Record<string, AttributeValue>[]> {
  const pages = paginateQuery(
    {
      client: ddb,
      // A fresh command per page: each request carries its own start key and limit.
      withCommand: (cmd) =>
        new QueryCommand({ ...(cmd.input as QueryCommandInput), ...(limit ? { Limit: limit() } : {}) }),
    },
    { ...input },
  );
  for await (const page of pages) yield page?.Items ?? [];
}

async function queryReleases(ddb: DynamoDBClient, table: string, limit: number): Promise<ReleaseRecord[]> {
  const out: ReleaseRecord[] = [];
  const input = {
    TableName: table,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': { S: RELEASE_PK } },
    ScanIndexForward: false,
  };
  for await (const items of queryPages(ddb, input, () => Math.min(100, limit - out.length))) {
    for (const item of items) {
      const r = fromReleaseItem(item);
      if (r) out.push(r);
    }
    if (out.length >= limit) break;
  }
  return out;
}

/** The part of a dead lock that dates the runs it covered. */
export interface DeadLock {
  holder: string;
  command: string;
  /** Epoch milliseconds. */
  startedAt: number;
}

/**
 * A run that died holding the lock never wrote its outcome: its record still says `in-progress`.
 * Once that lock is taken over after expiry or broken by `unlock` (at `until`, epoch ms, read
 * before the takeover or break, so no later run's record is in range), the records started within
 * the lock's lifetime (one sort-key range: sk starts with the record's start time) and still in
 * progress are marked `interrupted`. Each write is conditional on `in-progress`, and a run that
 * was in fact alive overwrites the mark with its real outcome when it ends. Returns those marked.
 */
export async function markInterrupted(
  ddb: DynamoDBClient,
  table: string,
  lock: DeadLock,
  until: number,
  how: string,
): Promise<ReleaseRecord[]> {
  const from = new Date(lock.startedAt).toISOString();
  const to = `${new Date(until).toISOString()}#~`;
  const found: ReleaseRecord[] = [];
  const input = {
    TableName: table,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': { S: RELEASE_PK }, ':from': { S: from }, ':to': { S: to } },
    ConsistentRead: true,
  };
  for await (const items of queryPages(ddb, input)) {
    for (const item of items) {
      const r = fromReleaseItem(item);
      if (r?.outcome === 'in-progress') found.push(r);
    }
  }
  const marked: ReleaseRecord[] = [];
  for (const r of found) {
    const next: ReleaseRecord = {
      ...r,
      outcome: 'interrupted',
      reason: `the run died holding the deploy lock (${lock.holder}, ${lock.command}); ${how}`,
    };
    try {
      await ddb.send(
        new PutItemCommand({
          TableName: table,
          Item: toReleaseItem(next),
          ConditionExpression: 'outcome = :ip',
          ExpressionAttributeValues: { ':ip': { S: 'in-progress' } },
        }),
      );
      marked.push(next);
    } catch (err) {
      // It finished in between: its own outcome stands.
      if (!isAwsError(err, 'ConditionalCheckFailedException')) throw err;
    }
  }
  return marked;
}

/** The key of a record's item (to delete it). */
export function releaseKey(r: Pick<ReleaseRecord, 'startedAt' | 'id'>): Record<string, AttributeValue> {
  return { pk: { S: RELEASE_PK }, sk: { S: sortKey(r) } };
}

/** A release a rollback can go to (and retention keeps). */
export function isSuccessful(r: ReleaseRecord): boolean {
  return r.kind !== 'unlock' && r.outcome === 'succeeded' && r.sha !== null;
}

/**
 * The whole history, newest first, in one Query (a page holds 1 MB; retention keeps the table at
 * about 2 × keepReleases items). A consistent read: it decides what is pruned.
 */
export async function readHistory(ddb: DynamoDBClient, table: string): Promise<ReleaseRecord[]> {
  const out: ReleaseRecord[] = [];
  const input = {
    TableName: table,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': { S: RELEASE_PK } },
    ScanIndexForward: false,
    ConsistentRead: true,
  };
  try {
    for await (const items of queryPages(ddb, input)) {
      for (const item of items) {
        const r = fromReleaseItem(item);
        if (r) out.push(r);
      }
    }
  } catch (err) {
    if (isAwsError(err, 'ResourceNotFoundException')) throw tableMissing(table, err);
    throw err;
  }
  return out;
}

/** At most this many history items are deleted by one run (they go in the lock's release transaction). */
export const MAX_PRUNE_PER_RUN = 90;
/** At most this many task definition revisions are deregistered by one run. */
export const MAX_DEREGISTER_PER_RUN = 50;

export interface RetentionPlan {
  /** Records to delete. */
  prune: ReleaseRecord[];
  /** Task definition revisions only pruned records name (not kept ones, not protected ones). */
  deregister: string[];
}

/**
 * Pure: what history keeps and what goes. Kept: the newest `keep` records of any kind AND the
 * newest `keep` successful releases, however many interrupted, failed or unlock entries come
 * between (so a rollback target is never lost). The rest is pruned, oldest first, up to the
 * per-run bounds; the task definition revisions that only pruned records name are deregistered
 * (revisions in `protect` — what the services run — never are). `history` is newest first and
 * holds this run's own record.
 */
export function planRetention(
  history: ReleaseRecord[],
  keep: number,
  protect: string[] = [],
  max = { prune: MAX_PRUNE_PER_RUN, deregister: MAX_DEREGISTER_PER_RUN },
): RetentionPlan {
  const kept = new Set<ReleaseRecord>(history.slice(0, Math.max(0, keep)));
  for (const r of history.filter(isSuccessful).slice(0, Math.max(0, keep))) kept.add(r);
  const keptArns = new Set<string>(protect);
  for (const r of kept) for (const s of r.services) if (s.taskDefinitionArn) keptArns.add(s.taskDefinitionArn);
  const prune: ReleaseRecord[] = [];
  const deregister: string[] = [];
  for (const r of history.filter((h) => !kept.has(h)).reverse()) {
    const arns = r.services
      .map((s) => s.taskDefinitionArn)
      .filter((a): a is string => !!a && !keptArns.has(a) && !deregister.includes(a));
    const uniq = [...new Set(arns)];
    if (prune.length >= max.prune || deregister.length + uniq.length > max.deregister) break;
    prune.push(r);
    deregister.push(...uniq);
  }
  return { prune, deregister };
}
