/**
 * The shape of `patchwork status` (the `status` field of the `--json` result, schemaVersion 1) and
 * the pure parts that build it: health evaluation, event de-duplication, relative times. No I/O here,
 * so every rule is unit-tested from described states.
 *
 * Scripts read this object: add fields freely, never rename or remove one.
 */
import type { Task } from '@aws-sdk/client-ecs';

export const STATUS_SCHEMA_VERSION = 1;

export interface DeploymentStatus {
  id: string;
  /** PRIMARY (the newest) or ACTIVE (being replaced). */
  status: string;
  taskDefinition: string;
  /**
   * The git sha released, from the release history: the record that registered this task
   * definition, else one whose image digest is the one this revision runs (its `patchwork:sha` tag
   * is believed only when that record agrees). Null when no patchwork release ran this image.
   */
  sha: string | null;
  /** Where `sha` came from: `release` (the record of this task definition), `digest` (a record with this image digest), or null. */
  shaSource: 'release' | 'digest' | null;
  /** When `sha` is null: why, e.g. `unknown (image sha256:abcd… not from a patchwork release)`. */
  shaNote: string | null;
  /** IN_PROGRESS, COMPLETED or FAILED (null when ECS does not say). */
  rolloutState: string | null;
  rolloutStateReason: string | null;
  createdAt: string | null;
  ageSeconds: number | null;
  desired: number;
  running: number;
  pending: number;
  failed: number;
}

export interface ServiceEventStatus {
  at: string | null;
  /** "3m ago". */
  ago: string;
  message: string;
  /** How many times this message appeared in the window (de-duplicated to its newest). */
  count: number;
}

export interface TargetStatus {
  id: string;
  port: number | null;
  /** initial | healthy | unhealthy | unused | draining | unavailable */
  state: string;
  reason: string | null;
  description: string | null;
}

export interface AlarmStatus {
  name: string;
  /** OK | ALARM | INSUFFICIENT_DATA */
  state: string;
  reason: string | null;
  updatedAt: string | null;
}

export const METRIC_KEYS = ['cpu', 'memory', 'requests', 'target5xx', 'p95'] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

export interface MetricSeries {
  /** CloudWatch statistic: Average, Sum or p95. */
  stat: string;
  unit: string;
  /** Oldest first, one point per period; minutes without data are absent. */
  timestamps: string[];
  values: number[];
  /** The newest value, null without data. */
  latest: number | null;
}

/** A blue-green, canary or linear service: its latest service deployment (ECS's own). */
export interface DeliveryStatus {
  strategy: string;
  /** The latest service deployment: its status and lifecycle stage (null: none yet). */
  status: string | null;
  stage: string | null;
  /** Share of production / test traffic to that deployment's revision (the listener rules' weights). */
  productionWeight: number | null;
  testWeight: number | null;
}

export interface ServiceStatus {
  name: string;
  fullName: string;
  /** blue-green, canary, linear: the strategy, stage and traffic split (absent for rolling services). */
  delivery?: DeliveryStatus;
  /** ECS service status (ACTIVE, DRAINING, INACTIVE) or MISSING. */
  serviceStatus: string;
  taskDefinition: string | null;
  counts: { running: number; desired: number; pending: number };
  deployments: DeploymentStatus[];
  events: ServiceEventStatus[];
  targetGroupArn: string | null;
  targets: TargetStatus[];
  alarms: AlarmStatus[];
  metrics: Record<MetricKey, MetricSeries>;
  /** False while only the bootstrap placeholder task definition (provision's, 0 tasks) is in place: never deployed. */
  deployed: boolean;
  healthy: boolean;
  problems: string[];
  /** Read only when the service is not healthy: its newest task that stopped on its own, with its log's last lines. */
  stoppedTask: StoppedTaskStatus | null;
}

export interface ReleaseSummary {
  id: string;
  kind: string;
  sha: string | null;
  outcome: string;
  deployer: string;
  startedAt: string;
  finishedAt: string | null;
  reason: string | null;
}

export interface StatusReport {
  schemaVersion: typeof STATUS_SCHEMA_VERSION;
  app: string;
  env: string;
  region: string;
  generatedAt: string;
  /** The load balancer's URL: https:// when `https:` is configured. */
  url: string | null;
  /**
   * `healthy`, `unhealthy`, or `not-deployed` (provisioned, but every service still runs only the
   * bootstrap placeholder: nothing was ever deployed; `healthy` is false, exit 6).
   */
  state: EnvironmentState;
  healthy: boolean;
  /** The command that fixes the state, when one does (`patchwork deploy --env prod` when not deployed). */
  hint: string | null;
  /** One line per reason the environment is not healthy (empty when healthy). */
  problems: string[];
  services: ServiceStatus[];
  /** Environment-wide alarms (the ALB 5xx alarm). */
  alarms: AlarmStatus[];
  /** The window of every service's `metrics`; `error` when GetMetricData failed (health is still read). */
  metrics: { periodSeconds: number; start: string; end: string; error: string | null };
  releases: {
    /** The newest succeeded deploy or rollback (null without history). */
    current: ReleaseSummary | null;
    /** Older releases, newest first. */
    previous: ReleaseSummary[];
    /** The deploy lock, when one is held. */
    lock: { holder: string; command: string; startedAt: string; expiresAt: string; expired: boolean } | null;
  };
}

export type EnvironmentState = 'healthy' | 'unhealthy' | 'not-deployed';

/** What the release history says of one task definition revision: its ARN, tag, image digest. */
export interface TaskDefinitionFacts {
  arn: string;
  /** The `patchwork:sha` tag, when present (any tool that copies tags copies it too). */
  tagSha: string | null;
  /** The digest the service's container is pinned to, when the image is pinned. */
  digest: string | null;
  /** The container image as written in the task definition. */
  image: string | null;
}

/** The parts of a release record the sha attribution reads. */
export interface ReleaseServiceFacts {
  sha: string | null;
  services: { service: string; digest: string | null; taskDefinitionArn: string | null }[];
}

/**
 * The sha a revision runs, as the release history (newest first) attests it: the record that
 * registered this very task definition; else a record of this service with the same image digest
 * (the one the tag names first, so a tag is believed only when its record's digest agrees). A tag
 * with no agreeing record — another tool copied it onto a revision with another image — gives
 * no sha, and a note saying so.
 */
export function attributeSha(
  service: string,
  td: TaskDefinitionFacts | null,
  history: ReleaseServiceFacts[],
): { sha: string | null; shaSource: DeploymentStatus['shaSource']; shaNote: string | null } {
  if (!td) return { sha: null, shaSource: null, shaNote: null };
  const byArn = history.find((r) => r.sha && r.services.some((s) => s.taskDefinitionArn === td.arn));
  if (byArn) return { sha: byArn.sha, shaSource: 'release', shaNote: null };
  if (td.digest) {
    const same = history.filter(
      (r) => r.sha && r.services.some((s) => s.service === service && s.digest === td.digest),
    );
    const pick = same.find((r) => r.sha === td.tagSha) ?? same[0];
    if (pick) return { sha: pick.sha, shaSource: 'digest', shaNote: null };
  }
  if (!td.tagSha) return { sha: null, shaSource: null, shaNote: null };
  const what = td.digest ? `${td.digest.slice(0, 'sha256:'.length + 12)}…` : (td.image ?? td.arn);
  return { sha: null, shaSource: null, shaNote: `unknown (image ${what} not from a patchwork release)` };
}

/** What health evaluation needs of a service: described, not fetched. */
export interface ServiceFacts {
  name: string;
  serviceStatus: string;
  counts: { running: number; desired: number; pending: number };
  deployments: Pick<DeploymentStatus, 'id' | 'status' | 'rolloutState' | 'rolloutStateReason'>[];
  targets: Pick<TargetStatus, 'id' | 'port' | 'state' | 'reason'>[];
  /** Whether the service is behind the load balancer (then targets are checked). */
  hasTargetGroup: boolean;
  alarms: Pick<AlarmStatus, 'name' | 'state'>[];
  /** False when the service runs only the bootstrap placeholder (never deployed). */
  deployed?: boolean;
  /** blue-green, canary, linear: the latest service deployment (its stage while in flight). */
  delivery?: Pick<DeliveryStatus, 'strategy' | 'status' | 'stage' | 'productionWeight'>;
}

const IN_FLIGHT = new Set(['IN_PROGRESS', 'ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS']);

/** "blue/green deployment in progress (stage BAKE_TIME, production 100% on the new revision)". */
function inFlightLine(d: NonNullable<ServiceFacts['delivery']>): string {
  const kind = d.strategy.toLowerCase().replace('_', '/');
  const what = d.status === 'IN_PROGRESS' ? 'deployment in progress' : 'deployment rolling back';
  const where = [
    ...(d.stage ? [`stage ${d.stage}`] : []),
    ...(d.productionWeight !== null ? [`production ${d.productionWeight}% on the new revision`] : []),
  ];
  const tasks =
    d.status === 'IN_PROGRESS'
      ? "the previous revision's tasks stay until it ends"
      : "the new revision's tasks are stopping";
  return `${kind} ${what}${where.length ? ` (${where.join(', ')})` : ''}: ${tasks}`;
}

/**
 * A service is healthy when it is ACTIVE and in a steady state (one deployment, PRIMARY, not
 * IN_PROGRESS/FAILED, running = desired, nothing pending), every registered target that is not
 * draining is healthy (and at least one is when tasks are desired), and none of its alarms fires.
 */
export function evaluateService(s: ServiceFacts): string[] {
  const problems: string[] = [];
  if (s.serviceStatus !== 'ACTIVE') {
    problems.push(`${s.name}: service is ${s.serviceStatus}`);
    return problems;
  }
  if (s.deployed === false) problems.push(`${s.name}: not deployed (only the bootstrap placeholder is in place)`);
  const primary = s.deployments.find((d) => d.status === 'PRIMARY');
  // A blue/green, canary or linear deployment in flight runs both revisions by design: one line says so
  // (still not healthy: not steady), instead of "older deployments still active" and "4/2 tasks running".
  const inFlight = !!s.delivery?.status && IN_FLIGHT.has(s.delivery.status);
  if (inFlight) problems.push(`${s.name}: ${inFlightLine(s.delivery!)}`);
  else if (s.deployments.length > 1) {
    const others = s.deployments.filter((d) => d.status !== 'PRIMARY').length;
    problems.push(`${s.name}: rollout in progress (${others} older deployment${others === 1 ? '' : 's'} still active)`);
  }
  if (primary?.rolloutState === 'FAILED') {
    problems.push(
      `${s.name}: deployment ${primary.id} failed${primary.rolloutStateReason ? `: ${primary.rolloutStateReason}` : ''}`,
    );
  } else if (!inFlight && primary?.rolloutState === 'IN_PROGRESS' && s.deployments.length === 1) {
    problems.push(`${s.name}: deployment ${primary.id} in progress`);
  }
  const { running, desired, pending } = s.counts;
  if (inFlight ? running < desired : running !== desired || pending > 0) {
    problems.push(`${s.name}: ${running}/${desired} tasks running${pending ? `, ${pending} pending` : ''}`);
  }
  if (s.hasTargetGroup) {
    const live = s.targets.filter((t) => t.state !== 'draining' && t.state !== 'unused');
    for (const t of live) {
      if (t.state !== 'healthy') {
        problems.push(
          `${s.name}: target ${t.id}${t.port ? `:${t.port}` : ''} is ${t.state}${t.reason ? ` (${t.reason})` : ''}`,
        );
      }
    }
    if (desired > 0 && !live.some((t) => t.state === 'healthy')) {
      problems.push(`${s.name}: no healthy target in the target group`);
    }
  }
  for (const a of s.alarms) if (a.state === 'ALARM') problems.push(`alarm ${a.name} is ALARM`);
  return problems;
}

/** The environment: every service's problems plus environment-wide alarms. */
export function evaluateEnvironment(
  services: ServiceFacts[],
  envAlarms: Pick<AlarmStatus, 'name' | 'state'>[],
): { healthy: boolean; state: EnvironmentState; problems: string[]; byService: Map<string, string[]> } {
  const byService = new Map<string, string[]>();
  const problems: string[] = [];
  for (const s of services) {
    const p = evaluateService(s);
    byService.set(s.name, p);
    problems.push(...p);
  }
  for (const a of envAlarms) if (a.state === 'ALARM') problems.push(`alarm ${a.name} is ALARM`);
  const live = services.filter((s) => s.serviceStatus === 'ACTIVE');
  const state: EnvironmentState =
    live.length > 0 && live.every((s) => s.deployed === false)
      ? 'not-deployed'
      : problems.length === 0
        ? 'healthy'
        : 'unhealthy';
  return { healthy: problems.length === 0, state, problems, byService };
}

/** "now", "45s ago", "3m ago", "2h ago", "4d ago". */
export function relativeTime(then: Date | string | null | undefined, now: Date): string {
  if (!then) return '';
  const ms = now.getTime() - new Date(then).getTime();
  const s = Math.round(ms / 1000);
  if (s < 5) return 'now';
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ago`;
  return `${Math.floor(h / 24)}d ago`;
}

/** Compact age: "42s", "5m", "3h", "2d". */
export function shortAge(seconds: number | null): string {
  if (seconds === null) return '?';
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/**
 * ECS events, newest first (as ECS returns them), de-duplicated: a message that repeats (ECS says
 * "has reached a steady state" every few hours) is shown once, at its newest time, with a count.
 * Task and deployment ids inside messages are kept: two different tasks are two events.
 */
export function dedupeEvents(
  events: { createdAt?: Date | string | null; message?: string | null }[],
  now: Date,
  limit = 10,
): ServiceEventStatus[] {
  const sorted = [...events]
    .filter((e) => e.message)
    .sort((a, b) => new Date(b.createdAt ?? 0).getTime() - new Date(a.createdAt ?? 0).getTime());
  const out: ServiceEventStatus[] = [];
  const seen = new Map<string, ServiceEventStatus>();
  for (const e of sorted) {
    const message = e.message as string;
    const prior = seen.get(message);
    if (prior) {
      prior.count += 1;
      continue;
    }
    const at = e.createdAt ? new Date(e.createdAt).toISOString() : null;
    const item: ServiceEventStatus = { at, ago: relativeTime(at, now), message, count: 1 };
    seen.set(message, item);
    out.push(item);
  }
  return out.slice(0, limit);
}

/** The newest task of a service that stopped on its own (essential container exited, health check failed, could not start). */
export interface StoppedTaskStatus {
  taskId: string;
  taskArn: string;
  taskDefinition: string | null;
  stoppedAt: string | null;
  /** EssentialContainerExited, TaskFailedToStart, ServiceSchedulerInitiated (failed health checks). */
  stopCode: string | null;
  stoppedReason: string | null;
  /** The essential container's exit code, when it ran. */
  exitCode: number | null;
  /** The last lines of its awslogs stream (`<service>/<container>/<task id>`), oldest first (at most 10). */
  logTail: string[];
  /** Why the tail could not be read (e.g. AccessDeniedException), else null. */
  logError: string | null;
}

/** Whether a stopped task stopped on its own: its container exited, it could not start, or it failed health checks. */
export function stoppedOnItsOwn(t: { stopCode?: string | undefined; stoppedReason?: string | undefined }): boolean {
  if (t.stopCode === 'EssentialContainerExited' || t.stopCode === 'TaskFailedToStart') return true;
  return t.stopCode === 'ServiceSchedulerInitiated' && /health check/i.test(t.stoppedReason ?? '');
}

/** Lines for people: the stop reason, then the tail (`  | line`). */
export function stoppedTaskLines(t: StoppedTaskStatus, indent = '', opts: { time?: boolean } = {}): string[] {
  const exit = t.exitCode !== null ? ` (exit code ${t.exitCode})` : '';
  const at = opts.time !== false && t.stoppedAt ? ` at ${t.stoppedAt}` : '';
  const head = `${indent}stopped task ${t.taskId}${at}: ${t.stoppedReason ?? t.stopCode ?? 'stopped'}${exit}`;
  const tail = t.logTail.length
    ? [`${indent}  its last ${t.logTail.length} log line(s):`, ...t.logTail.map((l) => `${indent}  | ${l}`)]
    : [`${indent}  ${t.logError ? `its log could not be read: ${t.logError}` : 'its log is empty'}`];
  return [head, ...tail];
}

/** The newest task (by stoppedAt) of `tasks` that stopped on its own; of `taskDefinition` only when given. */
export function newestFailedTask(tasks: Task[], taskDefinition?: string): Task | undefined {
  return tasks
    .filter((t) => t.lastStatus === 'STOPPED' || t.desiredStatus === 'STOPPED')
    .filter((t) => stoppedOnItsOwn(t) && (!taskDefinition || t.taskDefinitionArn === taskDefinition))
    .sort((a, b) => (b.stoppedAt?.getTime() ?? 0) - (a.stoppedAt?.getTime() ?? 0))[0];
}

/** A described task as the report shows it (its log tail not read yet). */
export function stoppedTaskOf(t: Task, container: string): StoppedTaskStatus {
  const arn = t.taskArn ?? '';
  const c = t.containers?.find((x) => x.name === container) ?? t.containers?.[0];
  return {
    taskId: arn.split('/').pop() ?? arn,
    taskArn: arn,
    taskDefinition: t.taskDefinitionArn ?? null,
    stoppedAt: t.stoppedAt ? new Date(t.stoppedAt).toISOString() : null,
    stopCode: t.stopCode ?? null,
    stoppedReason: t.stoppedReason ?? null,
    exitCode: typeof c?.exitCode === 'number' ? c.exitCode : null,
    logTail: [],
    logError: null,
  };
}
