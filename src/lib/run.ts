/**
 * `patchwork run`: a one-off task on a service's task definition (or a one-off revision of it with
 * another image, pinned by digest) in the service's own subnets and security groups, its log
 * streamed while it runs; the result is the essential container's exit code. Aborting the signal
 * stops the task (StopTask) before the verb rejects with PW_INTERRUPTED — or, with `confirmStop`,
 * asks the host first: stop it (and wait until STOPPED) or leave it running (a detached result).
 * A timeout stops it too.
 */
import type {
  NetworkConfiguration,
  RegisterTaskDefinitionCommandInput,
  Task,
  TaskDefinition,
} from '@aws-sdk/client-ecs';
import { interrupted, isInterrupted, sleep } from './abort.js';
import { describeServices } from './aws/ecs.js';
import { isAwsError } from './aws/errors.js';
import { ecsSdk } from './aws/sdk.js';
import type { ResolvedService } from './config/resolve.js';
import { clusterName, containerName, ecsServiceName, repositoryName } from './desired/names.js';
import { inEnvironment, notProvisioned, PatchworkError } from './errors.js';
import { type LogLine, readLines, SeenWindow } from './logs/index.js';
import { pinImage } from './release/taskdef.js';
import { type CommonOptions, openSession, type Session } from './session.js';

const {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
} = ecsSdk();

export interface RunOptions extends CommonOptions {
  /** The command (replaces the container's command). Empty: the container's own. */
  command: string[];
  /** Run this image (`repo@sha256:…`) in a one-off revision of the service's task definition. */
  image?: string;
  /** Run the image pushed under this git sha (tag) in a one-off revision. */
  sha?: string;
  /** Task-level CPU units / memory MiB for this run (Fargate sizes). */
  cpu?: number;
  memory?: number;
  /** Seconds to wait for the task to stop (default deploy.timeoutSeconds); then it is stopped: PW_TIMEOUT. */
  timeoutSeconds?: number;
  /** Return once the task is started, with its ARN. */
  detach?: boolean;
  /** Seconds between DescribeTasks / log polls (default 1). */
  pollSeconds?: number;
  /** Every log line of the task (also emitted as `data` events of kind `log.line`). */
  onLine?: (line: LogLine) => void;
  /**
   * Asked when the signal aborts while the task runs (the CLI asks in a terminal): true stops it
   * and waits until it is STOPPED, then rejects with PW_INTERRUPTED; false leaves it running and
   * resolves with a detached result (`leftRunning`). Without it an abort stops the task at once.
   */
  confirmStop?: (task: StopQuestion) => Promise<boolean>;
}

/** What `confirmStop` is asked about. */
export interface StopQuestion {
  service: string;
  cluster: string;
  taskArn: string;
  taskId: string;
  /** Its last known status (PROVISIONING, PENDING, RUNNING, …). */
  lastStatus: string;
}

export interface RunResult {
  env: string;
  service: string;
  cluster: string;
  taskArn: string;
  taskId: string;
  taskDefinition: string;
  /** A one-off revision was registered for --image/--sha. */
  oneOff: boolean;
  detached: boolean;
  /** Interrupted, and `confirmStop` said to leave the task running (it is detached). */
  leftRunning: boolean;
  /** The essential container's exit code (null: detached, or it never ran). */
  exitCode: number | null;
  stopCode: string | null;
  stoppedReason: string | null;
  /** The last lines of its log (at most 20). */
  tail: string[];
}

export async function run(opts: RunOptions): Promise<RunResult> {
  const session = await openSession(opts);
  return runIn(session, opts).catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}

/** The service a one-off task belongs to: --service, or the only one there is. */
export function pickService(services: ResolvedService[]): ResolvedService {
  if (services.length !== 1) {
    throw new PatchworkError('PW_USAGE', `this environment has ${services.length} services: say which one`, {
      hint: `add --service ${services.map((s) => s.name).join('|')}`,
    });
  }
  return services[0]!;
}

async function runIn(session: Session, opts: RunOptions): Promise<RunResult> {
  const { target, aws } = session;
  if (opts.image && opts.sha) throw new PatchworkError('PW_USAGE', '--image and --sha are exclusive');
  if (opts.image && !/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(opts.image)) {
    throw new PatchworkError('PW_USAGE', `--image ${opts.image} is not pinned by digest`, {
      hint: 'pass repository@sha256:<digest>, or --sha <git sha> for an image patchwork pushed',
    });
  }
  const svc = pickService(target.services);
  const ecs = await aws.get('ecs');
  const cluster = clusterName(target);
  const described = await describeServices(ecs, cluster, [ecsServiceName(svc)], { missingGraceMs: 3000 }).catch(
    (err: unknown) => {
      if (isAwsError(err, 'ClusterNotFoundException')) throw notProvisioned(target, `service ${svc.name}`);
      throw err;
    },
  );
  const service = described.services.find((s) => s.status === 'ACTIVE');
  if (!service?.taskDefinition) throw notProvisioned(target, `service ${svc.name}`);
  let taskDefinition = service.taskDefinition;
  let oneOff = false;
  if (opts.image || opts.sha) {
    const current = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition, include: ['TAGS'] })))
      .taskDefinition;
    if (!current) throw notProvisioned(target, `service ${svc.name}`);
    const image = opts.image ?? (await imageForSha(session, svc, current, opts.sha!));
    taskDefinition = await registerOneOff(session, svc, current, image);
    oneOff = true;
  }
  return runTask(session, svc, {
    taskDefinition,
    network: service.networkConfiguration,
    command: opts.command,
    oneOff,
    ...(opts.cpu ? { cpu: opts.cpu } : {}),
    ...(opts.memory ? { memory: opts.memory } : {}),
    timeoutSeconds: opts.timeoutSeconds ?? target.deploy.timeoutSeconds,
    ...(opts.detach ? { detach: true } : {}),
    pollSeconds: opts.pollSeconds ?? 1,
    ...(opts.onLine ? { onLine: opts.onLine } : {}),
    ...(opts.confirmStop ? { confirmStop: opts.confirmStop } : {}),
    oneOffVerb: true,
  });
}

async function imageForSha(session: Session, svc: ResolvedService, td: TaskDefinition, sha: string): Promise<string> {
  const { lookupImage } = await import('./docker/registry.js');
  const found = await lookupImage(session.aws, session.target, repositoryName(svc), sha);
  const current = td.containerDefinitions?.find((c) => c.name === containerName(svc))?.image;
  if (!found || !current) {
    throw new PatchworkError('PW_IMAGE_NOT_FOUND', `the registry has no image tagged ${sha} for ${svc.name}`, {
      hint: 'build and push that commit first (`patchwork build`), or pick a sha from `patchwork releases`',
    });
  }
  return pinImage(current, found.digest);
}

/** A revision of the service's family with another image in its container, tagged as a one-off. */
async function registerOneOff(session: Session, svc: ResolvedService, td: TaskDefinition, image: string) {
  const ecs = await session.aws.get('ecs');
  const name = containerName(svc);
  const input: RegisterTaskDefinitionCommandInput = {
    family: td.family!,
    containerDefinitions: (td.containerDefinitions ?? []).map((c) => (c.name === name ? { ...c, image } : c)),
    requiresCompatibilities: td.requiresCompatibilities ?? ['FARGATE'],
    networkMode: td.networkMode ?? 'awsvpc',
    ...(td.cpu ? { cpu: td.cpu } : {}),
    ...(td.memory ? { memory: td.memory } : {}),
    ...(td.runtimePlatform ? { runtimePlatform: td.runtimePlatform } : {}),
    ...(td.executionRoleArn ? { executionRoleArn: td.executionRoleArn } : {}),
    ...(td.taskRoleArn ? { taskRoleArn: td.taskRoleArn } : {}),
    ...(td.volumes?.length ? { volumes: td.volumes } : {}),
    ...(td.ephemeralStorage ? { ephemeralStorage: td.ephemeralStorage } : {}),
    tags: [
      ...Object.entries(svc.tags).map(([key, value]) => ({ key, value })),
      { key: 'patchwork:service', value: svc.name },
      { key: 'patchwork:one-off', value: 'true' },
    ],
  };
  const out = await ecs.send(new RegisterTaskDefinitionCommand(input));
  return out.taskDefinition!.taskDefinitionArn!;
}

export interface TaskRun {
  taskDefinition: string;
  network: NetworkConfiguration | undefined;
  command: string[];
  oneOff: boolean;
  cpu?: number;
  memory?: number;
  timeoutSeconds: number;
  detach?: boolean;
  pollSeconds: number;
  onLine?: (line: LogLine) => void;
  confirmStop?: (task: StopQuestion) => Promise<boolean>;
  /** The `run` verb (not a deploy's preDeploy): an interrupt says what became of its task. */
  oneOffVerb?: boolean;
}

/** RunTask, then (unless detached) follow it to STOPPED with its log. Shared with deploy.preDeploy. */
export async function runTask(session: Session, svc: ResolvedService, r: TaskRun): Promise<RunResult> {
  const { target, aws, events } = session;
  const ecs = await aws.get('ecs');
  const cluster = clusterName(target);
  const override = { name: containerName(svc), ...(r.command.length ? { command: r.command } : {}) };
  const started = await ecs.send(
    new RunTaskCommand({
      cluster,
      taskDefinition: r.taskDefinition,
      launchType: 'FARGATE',
      startedBy: 'patchwork',
      count: 1,
      ...(r.network ? { networkConfiguration: r.network } : {}),
      overrides: {
        containerOverrides: [override],
        ...(r.cpu ? { cpu: String(r.cpu) } : {}),
        ...(r.memory ? { memory: String(r.memory) } : {}),
      },
      tags: [
        ...Object.entries(svc.tags).map(([key, value]) => ({ key, value })),
        { key: 'patchwork:service', value: svc.name },
      ],
    }),
  );
  const task = started.tasks?.[0];
  if (!task?.taskArn) {
    const why = started.failures?.map((f) => `${f.reason}${f.detail ? ` (${f.detail})` : ''}`).join('; ');
    throw new PatchworkError('PW_TASK_NOT_STARTED', `ECS did not start the task: ${why || 'no task returned'}`, {
      hint: 'check the service subnets and capacity (`patchwork status`), then run again',
    });
  }
  const taskArn = task.taskArn;
  const taskId = taskArn.split('/').pop()!;
  const base = {
    env: target.env,
    service: svc.name,
    cluster,
    taskArn,
    taskId,
    taskDefinition: r.taskDefinition,
    oneOff: r.oneOff,
  };
  events.emit({
    type: 'data',
    kind: 'run.task',
    data: { taskArn, taskId, lastStatus: task.lastStatus ?? 'PROVISIONING', taskDefinition: r.taskDefinition },
  });
  if (r.detach) {
    return {
      ...base,
      detached: true,
      leftRunning: false,
      exitCode: null,
      stopCode: null,
      stoppedReason: null,
      tail: [],
    };
  }

  const seen = new SeenWindow();
  const tail: string[] = [];
  const since = Date.now() - 60_000;
  const drainLogs = async () => {
    const lines = await readLines(session, svc, { startTime: since, task: taskId });
    lines.sort((a, b) => a.timestamp - b.timestamp);
    for (const line of lines) {
      if (!seen.add(line.eventId)) continue;
      tail.push(line.message);
      if (tail.length > 20) tail.shift();
      r.onLine?.(line);
      events.emit({ type: 'data', kind: 'log.line', data: line });
    }
  };
  const deadline = Date.now() + r.timeoutSeconds * 1000;
  let last: Task | undefined = task;
  let status = task.lastStatus;
  try {
    for (;;) {
      await sleep(r.pollSeconds * 1000, session.signal);
      const d = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }));
      last = d.tasks?.[0] ?? last;
      if (last?.lastStatus && last.lastStatus !== status) {
        status = last.lastStatus;
        events.emit({
          type: 'data',
          kind: 'run.task',
          data: { taskArn, taskId, lastStatus: status, taskDefinition: r.taskDefinition },
        });
      }
      if (status === 'RUNNING' || status === 'STOPPED' || status === 'DEACTIVATING') await drainLogs();
      if (status === 'STOPPED') break;
      if (Date.now() > deadline) {
        await stop(session, cluster, taskArn, 'patchwork run: timed out');
        throw new PatchworkError('PW_TIMEOUT', `task ${taskId} still running after ${r.timeoutSeconds}s: stopped`, {
          hint: 'raise --timeout, or run with --detach and follow it with `patchwork logs --task`',
          data: { taskArn },
        });
      }
    }
  } catch (err) {
    // An AWS call cut short by the abort fails with the SDK's own error: the abort is the cause.
    if (!isInterrupted(err) && !session.signal?.aborted) throw err;
    const interruptedRun = (stopped: boolean) =>
      new PatchworkError(
        'PW_INTERRUPTED',
        interrupted(session.signal, `and task ${taskId} ${stopped ? 'stopped' : 'told to stop'}`).message,
        { hint: 'run the command again to start a new task', data: { taskArn, stopped } },
      );
    if (!r.confirmStop) {
      await stop(session, cluster, taskArn, 'patchwork run: interrupted');
      // A deploy's preDeploy task: the deploy's own interruption (its lock, its release record).
      throw r.oneOffVerb ? interruptedRun(false) : isInterrupted(err) ? err : interrupted(session.signal);
    }
    const question = { service: svc.name, cluster, taskArn, taskId, lastStatus: status ?? 'PROVISIONING' };
    if (!(await r.confirmStop(question))) {
      return { ...base, detached: true, leftRunning: true, exitCode: null, stopCode: null, stoppedReason: null, tail };
    }
    await stop(session, cluster, taskArn, 'patchwork run: interrupted');
    const stopped = await waitStopped(session, cluster, taskArn, r.taskDefinition);
    throw interruptedRun(stopped);
  }
  const container = last?.containers?.find((c) => c.name === containerName(svc)) ?? last?.containers?.[0];
  const exitCode = typeof container?.exitCode === 'number' ? container.exitCode : null;
  return {
    ...base,
    detached: false,
    leftRunning: false,
    exitCode,
    stopCode: last?.stopCode ?? null,
    stoppedReason: last?.stoppedReason ?? null,
    tail,
  };
}

/** How long an interrupted run waits for its stopped task to reach STOPPED (ECS's stop timeout is 30 s by default). */
const STOP_WAIT_MS = 120_000;

/** DescribeTasks (outside the aborted signal) until the task is STOPPED; false when it did not in STOP_WAIT_MS. */
async function waitStopped(
  session: Session,
  cluster: string,
  taskArn: string,
  taskDefinition: string,
): Promise<boolean> {
  const ecs = await session.aws.detached().get('ecs');
  const taskId = taskArn.split('/').pop()!;
  const until = Date.now() + STOP_WAIT_MS;
  let status = '';
  while (Date.now() < until) {
    const d = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] })).catch(() => undefined);
    const now = d?.tasks?.[0]?.lastStatus;
    if (now && now !== status) {
      status = now;
      session.events.emit({
        type: 'data',
        kind: 'run.task',
        data: { taskArn, taskId, lastStatus: now, taskDefinition },
      });
    }
    if (status === 'STOPPED') {
      session.events.log(`task ${taskId} is STOPPED`);
      return true;
    }
    await sleep(1000);
  }
  session.events.warn(
    'PW_TASK_STILL_RUNNING',
    `task ${taskId} did not stop within ${STOP_WAIT_MS / 1000}s (last ${status || 'unknown'})`,
  );
  return false;
}

/** StopTask even when the verb's signal has aborted (the clean-up it still owes). */
async function stop(session: Session, cluster: string, task: string, reason: string): Promise<void> {
  const ecs = await session.aws.detached().get('ecs');
  await ecs.send(new StopTaskCommand({ cluster, task, reason })).catch(() => undefined);
  session.events.log(`stopped task ${task.split('/').pop()} (${reason})`, 'warn');
}
