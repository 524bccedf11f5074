/**
 * `status`: the live truth of an environment, read from AWS in few, batched calls — DescribeServices
 * (10 services a call), DescribeTaskDefinition per distinct deployed revision (its tag and image
 * digest, matched against the release history for the sha),
 * DescribeLoadBalancers once, DescribeTargetHealth per target group, DescribeAlarms by the
 * environment's name prefix, ONE GetMetricData for every service's last hour, and two reads of the
 * state table (release history, lock). Read-only; never throws for missing pieces except an
 * environment that was never provisioned (PW_NOT_PROVISIONED, exit 2).
 */
import type { MetricAlarm } from '@aws-sdk/client-cloudwatch';
import type { Service, Tag } from '@aws-sdk/client-ecs';
import type { TargetHealthDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { isAwsError } from '../aws/errors.js';
import type { ResolvedEnvironment } from '../config/resolve.js';
import {
  bootstrapFamily,
  clusterName,
  ecsServiceName,
  loadBalancerName,
  SERVICE_ALARM_SUFFIXES,
  stateTableName,
} from '../desired/names.js';
import { PatchworkError } from '../errors.js';
import { listReleases, type ReleaseRecord } from '../release/history.js';
import { type LockRecord, readLock } from '../release/lock.js';
import { digestOf } from '../release/taskdef.js';
import { type CommonOptions, openSession, type Session } from '../session.js';
import {
  type AlarmStatus,
  attributeSha,
  type DeliveryStatus,
  type DeploymentStatus,
  dedupeEvents,
  evaluateEnvironment,
  type MetricKey,
  type MetricSeries,
  type ReleaseSummary,
  type ServiceFacts,
  type ServiceStatus,
  STATUS_SCHEMA_VERSION,
  type StatusReport,
  type TargetStatus,
  type TaskDefinitionFacts,
} from './model.js';

export { emptyMetrics, METRIC_PERIOD_SECONDS, metricQueries } from './metrics.js';
export * from './model.js';

import { emptyMetrics, METRIC_PERIOD_SECONDS, readMetrics } from './metrics.js';

export interface StatusOptions extends CommonOptions {
  /** Minutes of metrics (default 60), one point a minute. */
  metricMinutes?: number;
  /** How many service events per service (default 8). */
  eventLimit?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

/** Opens a session and reads the environment once. */
export async function status(opts: StatusOptions): Promise<StatusReport> {
  return readStatus(await openSession(opts), opts);
}

/** One status read on an open session (`--watch` reuses the session and its clients). */
export async function readStatus(
  session: Session,
  opts: Omit<StatusOptions, keyof CommonOptions> = {},
): Promise<StatusReport> {
  const { target } = session;
  const now = opts.now?.() ?? new Date();
  const minutes = opts.metricMinutes ?? 60;
  const end = new Date(Math.floor(now.getTime() / 60_000) * 60_000 + 60_000);
  const start = new Date(end.getTime() - minutes * 60_000);

  const services = await describeServices(session);
  const deliveryPromise = readDelivery(session, services);
  const lbPromise = describeLoadBalancer(session);
  const alarmsPromise = describeAlarms(session);
  const releasesPromise = readReleases(session, now);

  const tdArns = new Map<string, string>();
  for (const [name, s] of services)
    for (const d of s?.deployments ?? []) if (d.taskDefinition) tdArns.set(d.taskDefinition, name);
  const tdsPromise = taskDefinitionFacts(session, tdArns);
  const tgArns = new Map<string, string>();
  // A blue/green, canary or linear service serves from either of its two target groups (ECS swaps
  // them at every deployment): its targets are those of both.
  const targetGroupsOf = new Map<string, string[]>();
  for (const svc of target.services) {
    const lbc = services.get(svc.name)?.loadBalancers?.find((l) => l.targetGroupArn);
    const arn = lbc?.targetGroupArn;
    if (!arn) continue;
    tgArns.set(svc.name, arn);
    const alternate = lbc.advancedConfiguration?.alternateTargetGroupArn;
    targetGroupsOf.set(svc.name, alternate && alternate !== arn ? [arn, alternate] : [arn]);
  }
  const targetsPromise = describeTargets(session, [...new Set([...targetGroupsOf.values()].flat())]);
  const lb = await lbPromise;
  // Metrics inform, they do not decide health: a failed GetMetricData (a missing permission, a
  // throttle after retries) is a warning and an error string in the report, not exit 1.
  let metricsError: string | null = null;
  const metricsPromise = readMetrics(session, tgArns, lb?.arn ?? null, start, end).catch((err: unknown) => {
    metricsError = `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`.split('\n')[0] ?? '';
    session.events.warn('PW_METRICS_UNAVAILABLE', `CloudWatch metrics could not be read: ${metricsError}`);
    return new Map<string, Record<MetricKey, MetricSeries>>();
  });

  const [delivery, tds, targets, alarms, metrics, { releases, history }] = await Promise.all([
    deliveryPromise,
    tdsPromise,
    targetsPromise,
    alarmsPromise,
    metricsPromise,
    releasesPromise,
  ]);

  const { byService, envAlarms } = assignAlarms(target, alarms);
  const facts: ServiceFacts[] = [];
  const out: ServiceStatus[] = [];
  for (const svc of target.services) {
    const s = services.get(svc.name);
    const tgArn = tgArns.get(svc.name) ?? null;
    const deployments: DeploymentStatus[] = (s?.deployments ?? []).map((d) => {
      const created = d.createdAt ? new Date(d.createdAt) : null;
      return {
        id: d.id ?? '',
        status: d.status ?? '',
        taskDefinition: d.taskDefinition ?? '',
        ...attributeSha(svc.name, (d.taskDefinition && tds.get(d.taskDefinition)) || null, history),
        rolloutState: d.rolloutState ?? null,
        rolloutStateReason: d.rolloutStateReason ?? null,
        createdAt: created?.toISOString() ?? null,
        ageSeconds: created ? Math.max(0, Math.round((now.getTime() - created.getTime()) / 1000)) : null,
        desired: d.desiredCount ?? 0,
        running: d.runningCount ?? 0,
        pending: d.pendingCount ?? 0,
        failed: d.failedTasks ?? 0,
      };
    });
    deployments.sort((a, b) => (a.status === 'PRIMARY' ? -1 : b.status === 'PRIMARY' ? 1 : 0));
    const svcTargets = (targetGroupsOf.get(svc.name) ?? []).flatMap((arn) => targets.get(arn) ?? []);
    const svcAlarms = byService.get(svc.name) ?? [];
    // Provision leaves a service that has no image yet on the bootstrap placeholder (0 tasks):
    // "steady" by ECS's counts, but nothing was ever deployed.
    const deployed = !(s?.taskDefinition && familyOf(s.taskDefinition) === bootstrapFamily(svc));
    const f: ServiceFacts = {
      name: svc.name,
      serviceStatus: s?.status ?? 'MISSING',
      counts: { running: s?.runningCount ?? 0, desired: s?.desiredCount ?? 0, pending: s?.pendingCount ?? 0 },
      deployments,
      targets: svcTargets,
      hasTargetGroup: tgArn !== null,
      alarms: svcAlarms,
      deployed,
      ...(delivery.has(svc.name) ? { delivery: delivery.get(svc.name)! } : {}),
    };
    facts.push(f);
    out.push({
      name: svc.name,
      fullName: svc.fullName,
      ...(delivery.has(svc.name) ? { delivery: delivery.get(svc.name)! } : {}),
      serviceStatus: f.serviceStatus,
      taskDefinition: s?.taskDefinition ?? null,
      counts: f.counts,
      deployments,
      events: dedupeEvents(s?.events ?? [], now, opts.eventLimit ?? 8),
      targetGroupArn: tgArn,
      targets: svcTargets,
      alarms: svcAlarms,
      metrics: metrics.get(svc.name) ?? emptyMetrics(),
      deployed,
      healthy: true,
      problems: [],
      stoppedTask: null,
    });
  }
  const health = evaluateEnvironment(facts, envAlarms);
  for (const s of out) {
    s.problems = health.byService.get(s.name) ?? [];
    s.healthy = s.problems.length === 0;
  }
  // Only for a service that is not healthy: why its newest failed task stopped, and its last lines.
  await Promise.all(
    target.services.map(async (svc) => {
      const s = out.find((o) => o.name === svc.name);
      if (!s || s.healthy || !s.deployed) return;
      const { lastStoppedTask } = await import('../logs/stopped.js');
      s.stoppedTask = await lastStoppedTask(session, svc).catch((err: unknown) => {
        session.events.log(`${svc.name}: stopped tasks not read: ${(err as Error)?.message ?? err}`, 'debug');
        return null;
      });
    }),
  );

  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    app: target.app,
    env: target.env,
    region: target.region,
    generatedAt: now.toISOString(),
    url: lb?.dns ? `${target.https ? 'https' : 'http'}://${lb.dns}` : null,
    state: health.state,
    healthy: health.healthy,
    hint: out.some((s) => !s.deployed) ? `patchwork deploy --env ${target.env}` : null,
    problems: health.problems,
    services: out,
    alarms: envAlarms,
    metrics: {
      periodSeconds: METRIC_PERIOD_SECONDS,
      start: start.toISOString(),
      end: end.toISOString(),
      error: metricsError,
    },
    releases,
  };
}

/** Per progressive service (deploymentConfiguration.strategy other than ROLLING): its latest service deployment. */
async function readDelivery(
  session: Session,
  services: Map<string, Service | undefined>,
): Promise<Map<string, DeliveryStatus>> {
  const out = new Map<string, DeliveryStatus>();
  const progressive = [...services].filter(
    ([, s]) => (s?.deploymentConfiguration?.strategy ?? 'ROLLING') !== 'ROLLING',
  );
  if (!progressive.length) return out;
  const ecs = await session.aws.get('ecs');
  const { newestDeployment, describeDeployment, viewOf } = await import('../release/progressive.js');
  await Promise.all(
    progressive.map(async ([name, s]) => {
      const arn = await newestDeployment(ecs, clusterName(session.target), s!.serviceName!);
      const sd = arn ? await describeDeployment(ecs, arn) : undefined;
      const v = sd ? viewOf(sd) : null;
      out.set(name, {
        strategy: s!.deploymentConfiguration!.strategy!,
        status: v?.status ?? null,
        stage: v?.stage ?? null,
        productionWeight: v?.productionWeight ?? null,
        testWeight: v?.testWeight ?? null,
      });
    }),
  );
  return out;
}

function notProvisioned(target: ResolvedEnvironment, what: string): PatchworkError {
  return new PatchworkError(
    'PW_NOT_PROVISIONED',
    `environment ${target.env} is not provisioned: ${what} (region ${target.region})`,
    {
      hint: `patchwork provision --env ${target.env}`,
      data: { app: target.app, env: target.env, region: target.region },
    },
  );
}

/** How long a MISSING service is asked again before it counts as not provisioned. */
const MISSING_GRACE_MS = 5_000;

/** DescribeServices (10 names a call, in parallel). A missing cluster, or no service at all → PW_NOT_PROVISIONED. */
async function describeServices(session: Session): Promise<Map<string, Service | undefined>> {
  const { target, aws } = session;
  const { describeServices: describe } = await import('../aws/ecs.js');
  const ecs = await aws.get('ecs');
  const byFull = new Map(target.services.map((s) => [ecsServiceName(s), s.name]));
  const names = [...byFull.keys()];
  const out = new Map<string, Service | undefined>();
  let res: { services: Service[] };
  try {
    // A service provisioned a moment ago may still read MISSING (ECS's eventual consistency).
    res = await describe(ecs, clusterName(target), names, { missingGraceMs: MISSING_GRACE_MS });
  } catch (err) {
    if (isAwsError(err, 'ClusterNotFoundException'))
      throw notProvisioned(target, `cluster ${clusterName(target)} not found`);
    throw err;
  }
  for (const s of res.services) {
    const name = byFull.get(s.serviceName ?? '');
    if (name) out.set(name, s);
  }
  const live = [...out.values()].filter((s) => s && s.status !== 'INACTIVE');
  if (live.length === 0) {
    throw notProvisioned(target, `no ECS service ${names.join(', ')} in cluster ${clusterName(target)}`);
  }
  for (const s of target.services) if (!out.has(s.name)) out.set(s.name, undefined);
  return out;
}

/** Task definition revisions are immutable: their tags and images are read once per session (--watch). */
const tdCache = new WeakMap<Session, Map<string, TaskDefinitionFacts | null>>();

/** DescribeTaskDefinition (with tags) per distinct revision; `arns` maps each to its service's name. */
async function taskDefinitionFacts(
  session: Session,
  arns: Map<string, string>,
): Promise<Map<string, TaskDefinitionFacts | null>> {
  const { DescribeTaskDefinitionCommand } = await import('@aws-sdk/client-ecs');
  const ecs = await session.aws.get('ecs');
  let cache = tdCache.get(session);
  if (!cache) {
    cache = new Map();
    tdCache.set(session, cache);
  }
  const known = cache;
  await Promise.all(
    [...arns]
      .filter(([arn]) => !known.has(arn))
      .map(async ([arn, service]) => {
        try {
          const res = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn, include: ['TAGS'] }));
          const td = res.taskDefinition ?? {};
          const container = td.containerDefinitions?.find((c) => c.name === service) ?? td.containerDefinitions?.[0];
          known.set(arn, {
            arn,
            tagSha: shaTag(res.tags),
            digest: digestOf(td, { name: service }),
            image: container?.image ?? null,
          });
        } catch (err) {
          // A deregistered or deleted revision still runs until replaced: nothing known of it then.
          if (!isAwsError(err, 'ClientException', 'InvalidParameterException')) throw err;
          known.set(arn, null);
        }
      }),
  );
  return new Map([...arns.keys()].map((arn) => [arn, known.get(arn) ?? null]));
}

/** `arn:…:task-definition/<family>:<revision>` → family. */
function familyOf(arn: string): string {
  return (arn.split('/').pop() ?? arn).replace(/:\d+$/, '');
}

export function shaTag(tags: Tag[] | undefined): string | null {
  return tags?.find((t) => t.key === 'patchwork:sha')?.value ?? null;
}

async function describeLoadBalancer(session: Session): Promise<{ arn: string; dns: string | null } | null> {
  const { DescribeLoadBalancersCommand } = await import('@aws-sdk/client-elastic-load-balancing-v2');
  const elb = await session.aws.get('elbv2');
  try {
    const res = await elb.send(new DescribeLoadBalancersCommand({ Names: [loadBalancerName(session.target)] }));
    const lb = res.LoadBalancers?.[0];
    return lb?.LoadBalancerArn ? { arn: lb.LoadBalancerArn, dns: lb.DNSName ?? null } : null;
  } catch (err) {
    if (isAwsError(err, 'LoadBalancerNotFoundException', 'LoadBalancerNotFound')) return null;
    throw err;
  }
}

async function describeTargets(session: Session, tgArns: string[]): Promise<Map<string, TargetStatus[]>> {
  const { DescribeTargetHealthCommand } = await import('@aws-sdk/client-elastic-load-balancing-v2');
  const elb = await session.aws.get('elbv2');
  const out = new Map<string, TargetStatus[]>();
  await Promise.all(
    tgArns.map(async (arn) => {
      try {
        const res = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
        out.set(arn, (res.TargetHealthDescriptions ?? []).map(toTarget));
      } catch (err) {
        if (!isAwsError(err, 'TargetGroupNotFoundException', 'TargetGroupNotFound')) throw err;
        out.set(arn, []);
      }
    }),
  );
  return out;
}

function toTarget(d: TargetHealthDescription): TargetStatus {
  return {
    id: d.Target?.Id ?? '',
    port: d.Target?.Port ?? null,
    state: d.TargetHealth?.State ?? 'unavailable',
    reason: d.TargetHealth?.Reason ?? null,
    description: d.TargetHealth?.Description ?? null,
  };
}

async function describeAlarms(session: Session): Promise<AlarmStatus[]> {
  const { paginateDescribeAlarms } = await import('@aws-sdk/client-cloudwatch');
  const cw = await session.aws.get('cloudwatch');
  const out: AlarmStatus[] = [];
  const pages = paginateDescribeAlarms(
    { client: cw, pageSize: 100 },
    { AlarmNamePrefix: `${session.target.name}-`, AlarmTypes: ['MetricAlarm'] },
  );
  for await (const res of pages) for (const a of res.MetricAlarms ?? []) out.push(toAlarm(a));
  return out;
}

function toAlarm(a: MetricAlarm): AlarmStatus {
  return {
    name: a.AlarmName ?? '',
    state: a.StateValue ?? 'INSUFFICIENT_DATA',
    reason: a.StateReason ?? null,
    updatedAt: a.StateUpdatedTimestamp ? new Date(a.StateUpdatedTimestamp).toISOString() : null,
  };
}

/** The alarms provision makes per service: `<app>-<env>-<svc>-<suffix>` (names.ts). */
export { SERVICE_ALARM_SUFFIXES };

/**
 * Alarms named `<app>-<env>-<svc>-<suffix>` (exact names, so `web` and `web-api` never mix, even
 * when --service selects only one of them) belong to that service; `<app>-<env>-alb-5xx` is
 * environment-wide. Anything else under the prefix (other environments such as `shop-prod2`,
 * alarms of services not selected, alarms patchwork did not make) is dropped.
 */
export function assignAlarms(
  target: Pick<ResolvedEnvironment, 'name' | 'services'>,
  alarms: AlarmStatus[],
): { byService: Map<string, AlarmStatus[]>; envAlarms: AlarmStatus[] } {
  const owner = new Map<string, string>();
  for (const s of target.services) {
    for (const suffix of SERVICE_ALARM_SUFFIXES) owner.set(`${s.fullName}-${suffix}`, s.name);
  }
  const byService = new Map<string, AlarmStatus[]>();
  const envAlarms: AlarmStatus[] = [];
  for (const a of alarms) {
    const svc = owner.get(a.name);
    if (svc) {
      const list = byService.get(svc) ?? [];
      list.push(a);
      byService.set(svc, list);
    } else if (a.name === `${target.name}-alb-5xx`) {
      envAlarms.push(a);
    }
  }
  return { byService, envAlarms };
}

function summary(r: ReleaseRecord): ReleaseSummary {
  return {
    id: r.id,
    kind: r.kind,
    sha: r.sha,
    outcome: r.outcome,
    deployer: r.deployer,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    reason: r.reason,
  };
}

/** How many release records status reads: the shown ones, and the ones a running revision's sha is looked up in. */
const HISTORY_READ = 50;

/** History and lock from the state table; a missing table or item means nothing to show. */
async function readReleases(
  session: Session,
  now: Date,
): Promise<{ releases: StatusReport['releases']; history: ReleaseRecord[] }> {
  const table = stateTableName(session.target);
  const ddb = await session.aws.get('dynamodb');
  const [history, lock] = await Promise.all([
    listReleases(ddb, table, HISTORY_READ).catch((err) => (missingTable(err) ? [] : Promise.reject(err))),
    readLock(ddb, table).catch((err) => (missingTable(err) ? null : Promise.reject(err))),
  ]);
  const releases = history.filter((r) => r.kind !== 'unlock');
  const currentIdx = releases.findIndex((r) => r.outcome === 'succeeded');
  const current = currentIdx >= 0 ? (releases[currentIdx] as ReleaseRecord) : null;
  const previous = (currentIdx >= 0 ? releases.slice(currentIdx + 1) : releases).slice(0, 5);
  return {
    releases: {
      current: current ? summary(current) : null,
      previous: previous.map(summary),
      lock: lock ? lockSummary(lock, now) : null,
    },
    history: releases,
  };
}

function missingTable(err: unknown): boolean {
  if (isAwsError(err, 'ResourceNotFoundException')) return true;
  const cause = (err as { cause?: unknown })?.cause;
  return err instanceof PatchworkError && isAwsError(cause, 'ResourceNotFoundException');
}

function lockSummary(l: LockRecord, now: Date): NonNullable<StatusReport['releases']['lock']> {
  return {
    holder: l.holder,
    command: l.command,
    startedAt: new Date(l.startedAt).toISOString(),
    expiresAt: new Date(l.expiresAt).toISOString(),
    expired: l.expiresAt < now.getTime(),
  };
}
