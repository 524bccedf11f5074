/**
 * The one combined rollout wait: polls every `pollSeconds` (DescribeServices for all services at
 * once, DescribeAlarms by patchwork's prefix; DescribeTargetHealth per target group once ECS
 * reports the rollout COMPLETED, then on every poll until the targets are healthy), streams new
 * service events and state changes, says what it is still waiting for when nothing changes for
 * 30 s, and ends with done, failed (ECS's reason and the stopped tasks' reasons: said the moment the
 * poll sees it, before those reads) or timeout.
 * The first poll is one interval after the start: the UpdateService answer is the state at the
 * start, and ECS's reads lag behind its writes.
 */
import type { Service } from '@aws-sdk/client-ecs';
import { sleeper, throwIfAborted } from '../abort.js';
import type { AwsClients } from '../aws/clients.js';
import { describeServices } from '../aws/ecs.js';
import { cloudwatchSdk, ecsSdk, elbv2Sdk } from '../aws/sdk.js';
import { notProvisioned } from '../errors.js';
import type { Emitter } from '../events.js';
import { newestFailedTask, type StoppedTaskStatus, stoppedTaskOf } from '../status/model.js';
import {
  deploymentOf,
  ecsSettled,
  evaluateRollout,
  type OurDeployment,
  type TargetState,
  type Verdict,
} from './evaluate.js';

export interface WatchedService {
  name: string;
  serviceName: string;
  /** The task definition we rolled out. */
  taskDefinition: string;
  /** The deployment UpdateService created (its answer's PRIMARY): tracked by id through ECS's read lag. */
  deployment?: { id: string; createdAt: Date | null } | null;
}

export interface WatchOptions {
  aws: AwsClients;
  cluster: string;
  services: WatchedService[];
  pollSeconds: number;
  timeoutSeconds: number;
  /** Alarms whose name starts with this are patchwork's; null = do not check alarms. */
  alarmPrefix: string | null;
  /** Which of those alarms judge this rollout (default: all); the others are ignored. */
  judgesAlarm?: (name: string) => boolean;
  /** Alarms in ALARM before UpdateService: not failures unless they leave ALARM and fire again. */
  alarmBaseline?: string[];
  events: Emitter;
  /** Only stream service events newer than this (default: now). */
  since?: Date;
  /** Stop waiting once ECS accepted the deployment (rolloutState COMPLETED), ignoring targets and alarms (--fast). */
  ecsOnly?: boolean;
  sleep?: (ms: number) => Promise<void>;
  quietSeconds?: number;
  /**
   * Called once, synchronously, on the poll that sees a failure (before the stopped tasks are read):
   * the caller can start the reads that do not depend on them (the history Query, the logs client).
   */
  onFailed?: (service: string) => void;
  /**
   * Called once, synchronously, on the first poll that shows tasks of our deployment failed (or the
   * failure itself): before the pause to the next poll, so what the caller loads then (the log
   * tail's client) costs no time if the rollout fails.
   */
  onTasksFailing?: (service: string) => void;
  /** Ends the wait with PW_INTERRUPTED (the polls' clients refuse calls after it, too). */
  signal?: AbortSignal;
}

export type WatchResult =
  | { state: 'done'; seconds: number }
  | {
      state: 'failed';
      service: string;
      cause: 'circuit-breaker' | 'alarm';
      reason: string;
      stoppedReasons: string[];
      /** The newest task of the rolled-out revision that stopped on its own (its log tail not read here). */
      failedTask: StoppedTaskStatus | null;
      seconds: number;
    }
  | { state: 'timeout'; waitingFor: Record<string, string[]>; seconds: number };

export async function watchRollout(o: WatchOptions): Promise<WatchResult> {
  const ecs = await o.aws.get('ecs');
  const sleep = o.sleep ?? sleeper(o.signal);
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  const since = (o.since ?? new Date(started - 1000)).getTime();
  const seenEvents = new Set<string>();
  const lastSummary = new Map<string, string>();
  let lastChange = Date.now();
  let lastWaiting: Record<string, string[]> = {};
  const quiet = (o.quietSeconds ?? 30) * 1000;
  const alarmBaseline = new Set(o.alarmBaseline ?? []);
  // Which of our deployments a DescribeServices answer has shown yet (ECS reads lag behind writes).
  const tracked = new Map<string, OurDeployment>(
    o.services.map((w) => [
      w.name,
      { taskDefinition: w.taskDefinition, id: w.deployment?.id ?? null, createdAt: w.deployment?.createdAt ?? null },
    ]),
  );

  // Polls on a fixed schedule from the start (start + k × pollSeconds), not a pause after each
  // poll: the time a poll's own calls take (slow under load) does not push the later polls back, so
  // a rollout of a given length costs the same number of polls however slow the calls are. A poll
  // that overran its slot waits for the next slot at least half an interval away (no burst).
  const interval = o.pollSeconds * 1000;
  let slot = started;
  const untilNextPoll = (): number => {
    if (interval <= 0) return 0;
    slot += interval;
    const now = Date.now();
    while (slot - now < interval / 2) slot += interval;
    return slot - now;
  };
  let warned = false;
  // The UpdateService answer was the state at the start: the first read is one interval later.
  let first = !o.services.some((s) => !s.deployment);
  for (;;) {
    if (first) await sleep(untilNextPoll());
    first = false;
    throwIfAborted(o.signal, 'while waiting for the rollout');
    // The services and the alarms: one poll, both reads at once.
    const [described, alarms] = await Promise.all([
      describeServices(
        ecs,
        o.cluster,
        o.services.map((s) => s.serviceName),
      ),
      o.alarmPrefix && !o.ecsOnly ? firingAlarms(o, o.alarmPrefix) : Promise.resolve([]),
    ]);
    const byName = new Map((described.services ?? []).map((s) => [s.serviceName, s] as const));
    // An alarm of the baseline that has left ALARM counts again when it fires.
    if (o.alarmPrefix && !o.ecsOnly)
      for (const name of alarmBaseline) if (!alarms.includes(name)) alarmBaseline.delete(name);
    const waiting: Record<string, string[]> = {};
    let allDone = true;
    for (const w of o.services) {
      const svc = byName.get(w.serviceName);
      if (!svc) throw notProvisioned(null, `service ${w.serviceName} not found in cluster ${o.cluster}`);
      streamEvents(svc, since, seenEvents, o.events, w.name);
      const ours = tracked.get(w.name)!;
      const balanced = (svc.loadBalancers ?? []).some((l) => l.targetGroupArn);
      // Target health only once ECS has settled the rollout (then on every poll until healthy).
      const targets = o.ecsOnly || !balanced ? null : ecsSettled(svc, ours) ? await targetsOf(o.aws, svc) : undefined;
      const verdict: Verdict = evaluateRollout(
        { service: svc, targets, alarms, alarmBaseline: [...alarmBaseline] },
        ours,
      );
      const mine = deploymentOf(svc, ours);
      if (mine) ours.seen = true;
      // Tasks of ours failed (ECS's circuit breaker counts them): the caller may get ready, in the pause.
      if (!warned && ((mine?.failedTasks ?? 0) > 0 || verdict.state === 'failed')) {
        warned = true;
        o.onTasksFailing?.(w.name);
      }
      if (lastSummary.get(w.name) !== verdict.summary) {
        lastSummary.set(w.name, verdict.summary);
        lastChange = Date.now();
        o.events.log(`${w.name}: ${verdict.summary}`, 'info', w.serviceName);
      }
      if (verdict.state === 'failed') {
        // The moment the failure is seen: said at once, and whoever ends the run starts its own reads now.
        o.events.log(`${w.name}: failed (${verdict.cause}): ${verdict.reason}`, 'info', w.serviceName);
        o.onFailed?.(w.name);
        const { stoppedReasons, failedTask } = await stoppedTaskReasons(o, svc, w.taskDefinition, w.name);
        return {
          state: 'failed',
          service: w.name,
          cause: verdict.cause,
          reason: verdict.reason,
          stoppedReasons,
          failedTask,
          seconds: seconds(),
        };
      }
      if (verdict.state === 'waiting') {
        allDone = false;
        waiting[w.name] = verdict.waitingFor;
      }
    }
    if (allDone) return { state: 'done', seconds: seconds() };
    lastWaiting = waiting;
    if (Date.now() - started >= o.timeoutSeconds * 1000)
      return { state: 'timeout', waitingFor: lastWaiting, seconds: seconds() };
    if (Date.now() - lastChange >= quiet) {
      lastChange = Date.now();
      for (const [name, what] of Object.entries(waiting)) o.events.log(`${name}: still waiting for ${what.join('; ')}`);
    }
    await sleep(untilNextPoll());
  }
}

/** Our alarms in ALARM (by prefix; only those that judge this rollout). */
async function firingAlarms(o: WatchOptions, prefix: string): Promise<string[]> {
  const [cw, { DescribeAlarmsCommand }] = await Promise.all([o.aws.get('cloudwatch'), cloudwatchSdk()]);
  const out = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, StateValue: 'ALARM' }));
  // Filter again: some implementations ignore StateValue when a prefix is given.
  return (out.MetricAlarms ?? [])
    .filter((a) => a.StateValue === 'ALARM')
    .map((a) => a.AlarmName ?? '')
    .filter((n) => n && (o.judgesAlarm?.(n) ?? true));
}

function streamEvents(svc: Service, since: number, seen: Set<string>, events: Emitter, name: string): void {
  const fresh = (svc.events ?? [])
    .filter((e) => e.id && !seen.has(e.id) && (e.createdAt?.getTime() ?? 0) >= since)
    .reverse();
  for (const e of fresh) {
    seen.add(e.id!);
    events.log(`${name}: ${e.message ?? ''}`, 'info', svc.serviceName);
  }
}

async function targetsOf(aws: AwsClients, svc: Service): Promise<TargetState[] | null> {
  const arns = (svc.loadBalancers ?? []).map((l) => l.targetGroupArn).filter((a): a is string => !!a);
  if (!arns.length) return null;
  const [elb, { DescribeTargetHealthCommand }] = await Promise.all([aws.get('elbv2'), elbv2Sdk()]);
  const all: TargetState[] = [];
  for (const arn of arns) {
    const out = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    for (const d of out.TargetHealthDescriptions ?? []) {
      const t: TargetState = { id: d.Target?.Id ?? '?', state: d.TargetHealth?.State ?? 'unknown' };
      if (d.Target?.Port !== undefined) t.port = d.Target.Port;
      if (d.TargetHealth?.Reason) t.reason = d.TargetHealth.Reason;
      all.push(t);
    }
  }
  return all;
}

/** Why our deployment's tasks stopped (up to 5 distinct reasons), and the newest that stopped on its own. */
async function stoppedTaskReasons(
  o: WatchOptions,
  svc: Service,
  taskDefinition: string,
  container: string,
): Promise<{ stoppedReasons: string[]; failedTask: StoppedTaskStatus | null }> {
  const none = { stoppedReasons: [], failedTask: null };
  try {
    const ecs = await o.aws.get('ecs');
    const listed = await ecs.send(
      new (ecsSdk().ListTasksCommand)({
        cluster: o.cluster,
        serviceName: svc.serviceName,
        desiredStatus: 'STOPPED',
        maxResults: 100,
      }),
    );
    const arns = (listed.taskArns ?? []).slice(0, 100);
    if (!arns.length) return none;
    const tasks = await ecs.send(new (ecsSdk().DescribeTasksCommand)({ cluster: o.cluster, tasks: arns }));
    const reasons = (tasks.tasks ?? [])
      .filter((t) => t.taskDefinitionArn === taskDefinition)
      .map((t) => {
        const exit = t.containers?.find((c) => c.exitCode !== undefined)?.exitCode;
        return `${t.stoppedReason ?? t.stopCode ?? 'stopped'}${exit !== undefined ? ` (exit code ${exit})` : ''}`;
      });
    const failed = newestFailedTask(tasks.tasks ?? [], taskDefinition);
    return {
      stoppedReasons: [...new Set(reasons)].slice(0, 5),
      failedTask: failed ? stoppedTaskOf(failed, container) : null,
    };
  } catch {
    return none;
  }
}
