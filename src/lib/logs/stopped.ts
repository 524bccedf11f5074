/**
 * Why a service's task stopped, with the last lines it wrote: for `status` (a service that is not
 * healthy) and a failed deploy (a task of the new revision). Bounded: the newest such task only,
 * one GetLogEvents call for its tail (read from the end of its awslogs stream).
 */
import type { Task } from '@aws-sdk/client-ecs';
import { isAwsError } from '../aws/errors.js';
import { ecsSdk, logsSdk } from '../aws/sdk.js';
import type { ResolvedService } from '../config/resolve.js';
import { clusterName, containerName, ecsServiceName, logGroupName, logStreamName } from '../desired/names.js';
import type { Session } from '../session.js';
import { newestFailedTask, type StoppedTaskStatus, stoppedTaskOf } from '../status/model.js';

/** How many lines of a stopped task's log are shown. */
export const TAIL_LINES = 10;

/** Fills in the last lines of the task's awslogs stream (one GetLogEvents; a missing stream is no lines). */
export async function withLogTail(
  session: Session,
  svc: ResolvedService,
  task: StoppedTaskStatus,
  limit = TAIL_LINES,
): Promise<StoppedTaskStatus> {
  try {
    const logs = await session.aws.get('logs');
    const { GetLogEventsCommand } = logsSdk();
    const out = await logs.send(
      new GetLogEventsCommand({
        logGroupName: logGroupName(svc),
        logStreamName: logStreamName(svc, task.taskId),
        limit,
        startFromHead: false,
      }),
    );
    const lines = (out.events ?? []).map((e) => (e.message ?? '').replace(/\n$/, ''));
    return { ...task, logTail: lines.slice(-limit) };
  } catch (err) {
    if (isAwsError(err, 'ResourceNotFoundException')) return task;
    const e = err as Error;
    return { ...task, logError: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`.split('\n')[0] ?? 'Error' };
  }
}

/** Per session (status --watch): stopped tasks never change, and a tail read well after the stop is final. */
interface StoppedCache {
  tasks: Map<string, Task>;
  tails: Map<string, StoppedTaskStatus>;
}
const caches = new WeakMap<Session, Map<string, StoppedCache>>();

function cacheOf(session: Session, service: string): StoppedCache {
  let bySession = caches.get(session);
  if (!bySession) {
    bySession = new Map();
    caches.set(session, bySession);
  }
  let cache = bySession.get(service);
  if (!cache) {
    cache = { tasks: new Map(), tails: new Map() };
    bySession.set(service, cache);
  }
  return cache;
}

/** A tail read this long after its task stopped is kept: the awslogs driver has shipped its last lines. */
export const FINAL_TAIL_AFTER_MS = 15_000;

/**
 * The newest task of the service that stopped on its own, with its log tail: ListTasks (STOPPED,
 * the service's), DescribeTasks of at most 100 of them, GetLogEvents for the one picked. Null when
 * no task stopped on its own (ECS keeps stopped tasks about an hour). On one session (status
 * --watch) a task already described is not described again, and a final tail is not read again:
 * a refresh with no newly stopped task is the ListTasks alone.
 */
export async function lastStoppedTask(
  session: Session,
  svc: ResolvedService,
  now: () => number = Date.now,
): Promise<StoppedTaskStatus | null> {
  const ecs = await session.aws.get('ecs');
  const { DescribeTasksCommand, ListTasksCommand } = ecsSdk();
  const cluster = clusterName(session.target);
  const { tasks, tails } = cacheOf(session, svc.name);
  const listed = await ecs.send(
    new ListTasksCommand({ cluster, serviceName: ecsServiceName(svc), desiredStatus: 'STOPPED', maxResults: 100 }),
  );
  const arns = (listed.taskArns ?? []).slice(0, 100);
  // ECS forgets stopped tasks after about an hour: so does the cache.
  const listedNow = new Set(arns);
  for (const arn of tasks.keys()) if (!listedNow.has(arn)) tasks.delete(arn);
  for (const [id, t] of tails) if (!listedNow.has(t.taskArn)) tails.delete(id);
  if (!arns.length) return null;
  const unseen = arns.filter((a) => !tasks.has(a));
  const stopping: Task[] = [];
  if (unseen.length) {
    const described = await ecs.send(new DescribeTasksCommand({ cluster, tasks: unseen }));
    for (const t of described.tasks ?? []) {
      if (t.taskArn && t.lastStatus === 'STOPPED') tasks.set(t.taskArn, t);
      else stopping.push(t);
    }
  }
  const task = newestFailedTask([...tasks.values(), ...stopping]);
  if (!task) return null;
  const picked = stoppedTaskOf(task, containerName(svc));
  const kept = tails.get(picked.taskId);
  if (kept) return kept;
  const out = await withLogTail(session, svc, picked);
  const stoppedAt = task.stoppedAt?.getTime();
  if (!out.logError && stoppedAt !== undefined && now() - stoppedAt >= FINAL_TAIL_AFTER_MS)
    tails.set(picked.taskId, out);
  return out;
}
