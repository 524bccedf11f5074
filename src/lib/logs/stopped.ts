/**
 * Why a service's task stopped, with the last lines it wrote: for `status` (a service that is not
 * healthy) and a failed deploy (a task of the new revision). Bounded: the newest such task only,
 * one GetLogEvents call for its tail (read from the end of its awslogs stream).
 */
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTasksCommand, ListTasksCommand } from '@aws-sdk/client-ecs';
import { isAwsError } from '../aws/errors.js';
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

/**
 * The newest task of the service that stopped on its own, with its log tail: ListTasks (STOPPED,
 * the service's), DescribeTasks of at most 100 of them, GetLogEvents for the one picked. Null when
 * no task stopped on its own (ECS keeps stopped tasks about an hour).
 */
export async function lastStoppedTask(session: Session, svc: ResolvedService): Promise<StoppedTaskStatus | null> {
  const ecs = await session.aws.get('ecs');
  const cluster = clusterName(session.target);
  const listed = await ecs.send(
    new ListTasksCommand({ cluster, serviceName: ecsServiceName(svc), desiredStatus: 'STOPPED', maxResults: 100 }),
  );
  const arns = listed.taskArns ?? [];
  if (!arns.length) return null;
  const described = await ecs.send(new DescribeTasksCommand({ cluster, tasks: arns.slice(0, 100) }));
  const task = newestFailedTask(described.tasks ?? []);
  if (!task) return null;
  return withLogTail(session, svc, stoppedTaskOf(task, containerName(svc)));
}
