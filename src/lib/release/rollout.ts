/**
 * What deploy and rollback share once they know which image (or task definition) each service
 * gets: under the lock, record the release as in progress, register task definitions, update the
 * services, wait, record the outcome, prune history, and turn the outcome into the exit code of
 * the contract (3 rolled back, 4 timeout).
 */
import { hostname } from 'node:os';
import type { Service, UpdateServiceCommandInput } from '@aws-sdk/client-ecs';
import { interrupted, isInterrupted, throwIfAborted } from '../abort.js';
import { describeServices } from '../aws/ecs.js';
import { isAwsError } from '../aws/errors.js';
import { cloudwatchSdk, ecsSdk } from '../aws/sdk.js';
import { isProgressive, type ResolvedService } from '../config/resolve.js';
import { alarmPrefix, bootstrapFamily, clusterName, ecsServiceName, stateTableName } from '../desired/names.js';
import { notProvisioned, PatchworkError } from '../errors.js';
import type { Session } from '../session.js';
import { stoppedTaskLines } from '../status/model.js';
import { type WatchedService, type WatchOptions, type WatchResult, watchRollout } from '../watch/index.js';
import {
  newRelease,
  planRetention,
  putRelease,
  type ReleaseKind,
  type ReleaseRecord,
  type RetentionPlan,
  readHistory,
  releaseKey,
  type ServiceRelease,
  toReleaseItem,
} from './history.js';
import { hookTimeoutDrift, pauseHookTimeoutMinutes } from './hook-timeout.js';
import { defaultHolder, withLock } from './lock.js';
import { runPreDeploy } from './predeploy.js';
import { type FollowResult, followDeployment, type PreTrafficCheck } from './progressive.js';
import { protectReleasedImages } from './protect.js';
import { deregisterRevisions } from './retention.js';
import { type SmokeResult, smokeHost } from './smoke.js';
import { deriveTaskDefinition } from './taskdef.js';

/** Per service: an image pinned by digest (a new revision is derived), or a task definition to reuse. */
export type Change =
  | { svc: ResolvedService; image: string; digest: string; taskDefinitionArn?: undefined; imageUser?: string | null }
  | { svc: ResolvedService; image: string | null; digest: string | null; taskDefinitionArn: string };

export interface RolloutOptions {
  kind: ReleaseKind;
  /** What the lock record says is running, e.g. `deploy HEAD` or `rollback 1a2b3c4d5e6f`. */
  command: string;
  /**
   * The sha and the image of each service. Known before the lock (nothing to build: a pushed
   * image, a rollback): the release record `in-progress` is written in the lock's own transaction.
   * A function runs under the lock, before anything else (deploy: builds and pushes); throwing
   * there leaves no release record: nothing was changed.
   */
  prepare: Prepared | (() => Promise<Prepared>);
  wait: boolean;
  fast?: boolean;
  lockWaitSeconds?: number;
  timeoutSeconds?: number;
  rollbackOnTimeout?: boolean;
  rollbackOf?: string;
  /** A promotion: the source environment (recorded as the release's `promotedFrom`). */
  promotedFrom?: string;
  /** With a prepare function that builds: the sha being built, recorded `interrupted` if the build is cancelled. */
  building?: { sha: string | null };
}

export interface Prepared {
  /** Null: an --image without a revision label (no sha is recorded). */
  sha: string | null;
  changes: Change[];
}

export interface RolloutResult {
  release: ReleaseRecord;
  watch: WatchResult | null;
  /** The smoke test through the load balancer (deploy.smoke), when it ran. */
  smoke: SmokeResult | null;
  services: (ServiceRelease & { previousTaskDefinitionArn: string | null })[];
}

/**
 * Who deploys, as history and the lock record it: the local user and host (`user@host`), known
 * without an AWS call (an STS GetCallerIdentity per deploy and the STS client's load would be
 * the price of the IAM ARN; CloudTrail has the ARN of every write anyway).
 */
export function deployerIdentity(): string {
  return defaultHolder();
}

export async function rollout(session: Session, opts: RolloutOptions): Promise<RolloutResult> {
  const { target, aws, events, signal } = session;
  const ddb = await aws.get('dynamodb');
  // The lock's release and the release record's last write must happen after an abort too.
  const ddbAfter = await aws.detached().get('dynamodb');
  const table = stateTableName(target);
  const cluster = clusterName(target);
  const deployer = deployerIdentity();
  const ready = typeof opts.prepare === 'function' ? null : opts.prepare;
  const recordOf = (p: Prepared) =>
    newRelease({
      kind: opts.kind,
      sha: p.sha,
      deployer,
      fast: !!opts.fast,
      rollbackOf: opts.rollbackOf ?? null,
      ...(opts.promotedFrom ? { promotedFrom: opts.promotedFrom } : {}),
      services: p.changes.map((c) => ({
        service: c.svc.name,
        image: c.image,
        digest: c.digest,
        taskDefinitionArn: c.taskDefinitionArn ?? null,
      })),
    });
  // Known before the lock: the record in progress goes in the lock's transaction, dated with it.
  let release: ReleaseRecord | null = ready ? recordOf(ready) : null;
  return withLock(
    ddb,
    {
      table,
      holder: deployer,
      command: opts.command,
      ttlSeconds: target.deploy.lockTtlSeconds,
      waitSeconds: opts.lockWaitSeconds ?? 0,
      events,
      ...(signal ? { signal, releaseWith: ddbAfter } : {}),
      owner: {
        pid: process.pid,
        host: hostname(),
        ...(session.processAlive ? { isAlive: session.processAlive } : {}),
      },
      ...(release
        ? {
            with: (lock) => {
              release!.startedAt = new Date(lock.startedAt).toISOString();
              return [toReleaseItem(release!)];
            },
          }
        : {}),
    },
    async (lock) => {
      // Created once the lock is held: the lock's call does not wait for the ECS client to load.
      const ecs = await aws.get('ecs');
      let sha: string | null;
      let changes: Change[];
      if (ready && release) ({ sha, changes } = ready);
      else {
        try {
          ({ sha, changes } = await (opts.prepare as () => Promise<Prepared>)());
          throwIfAborted(signal, 'before the release was recorded: nothing changed');
        } catch (err) {
          // Cancelled while building (Ctrl-C): nothing changed in AWS, but history says the run
          // happened and stopped, so `releases` shows it `interrupted` (never `in-progress`).
          if (signal?.aborted && opts.building) {
            const stopped = recordOf({ sha: opts.building.sha, changes: [] });
            stopped.outcome = 'interrupted';
            stopped.reason = 'interrupted before anything was deployed (while building)';
            stopped.finishedAt = new Date().toISOString();
            stopped.durationMs = Date.parse(stopped.finishedAt) - Date.parse(stopped.startedAt);
            await putRelease(ddbAfter, table, stopped).catch(() => {});
          }
          throw err;
        }
        lock.assertHeld?.('before the release was recorded: nothing changed');
        release = recordOf({ sha, changes });
        await putRelease(ddb, table, release);
      }
      const rec = release;
      const started = Date.parse(rec.startedAt);
      let retention: RetentionPlan | null = null;
      // The history Query, started early when the run's end is known before its record is (a failed
      // rollout: it runs while the stopped tasks are read); null: read it in finish.
      let historyRead: Promise<ReleaseRecord[] | null> | null = null;
      const finish = async (outcome: ReleaseRecord['outcome'], reason: string | null, protect: string[] = []) => {
        rec.outcome = outcome;
        rec.reason = reason;
        rec.finishedAt = new Date().toISOString();
        rec.durationMs = Date.now() - started;
        const history = signal?.aborted ? null : await (historyRead ?? readHistory(ddb, table).catch(() => null));
        retention = history ? planHistory(history, rec, target.deploy.keepReleases, protect) : null;
        // The final record, the lock's release and the pruned history: one transaction.
        await lock.release({
          put: [toReleaseItem(rec)],
          ...(retention?.prune.length ? { delete: retention.prune.map(releaseKey) } : {}),
        });
      };
      // What the services run whatever the outcome: never deregistered.
      const running = () => [...prepared.map((p) => p.previous), ...prepared.map((p) => p.arn)];
      const deregisterPruned = async () => {
        const doomed = (retention as RetentionPlan | null)?.deregister ?? [];
        if (!doomed.length || signal?.aborted) return;
        await deregisterRevisions(ecs, doomed, events).catch((err: unknown) =>
          events.warn('PW_RETENTION_FAILED', `task definition retention skipped: ${(err as Error).message}`),
        );
      };
      const prepared: {
        change: Change;
        service: Service;
        previous: string;
        arn: string;
        deployment?: WatchedService['deployment'];
      }[] = [];
      try {
        // ECR: tag each released digest release-<digest> so no lifecycle rule expires it.
        await protectReleasedImages(session, changes);
        // A deploy right after provision may read its services as MISSING for a moment.
        const described = await describeServices(
          ecs,
          cluster,
          changes.map((c) => ecsServiceName(c.svc)),
          { missingGraceMs: 5_000 },
        );
        const services = new Map<string, Service>();
        for (const s of described.services ?? [])
          if (s.status === 'ACTIVE' && s.serviceName) services.set(s.serviceName, s);
        if (isProgressive(target.deploy.strategy))
          for (const s of services.values()) {
            const drift = hookTimeoutDrift(s, target.deploy.timeoutSeconds, target.env);
            if (drift) events.warn('PW_HOOK_TIMEOUT_DRIFT', drift);
          }
        for (const change of changes) {
          const name = ecsServiceName(change.svc);
          const service = services.get(name);
          if (!service?.taskDefinition) {
            throw notProvisioned(target, `service ${name} does not exist in cluster ${cluster}`);
          }
          let arn: string;
          throwIfAborted(signal, `before registering ${change.svc.name}'s task definition`);
          lock.assertHeld?.(`before registering ${change.svc.name}'s task definition`);
          if (change.taskDefinitionArn !== undefined) arn = change.taskDefinitionArn;
          else {
            const base = await ecs.send(
              new (ecsSdk().DescribeTaskDefinitionCommand)({ taskDefinition: service.taskDefinition }),
            );
            const input = deriveTaskDefinition(target, change.svc, base.taskDefinition ?? {}, {
              image: change.image,
              sha: sha ?? '',
              deployer,
              time: rec.startedAt,
              imageUser: change.imageUser ?? null,
            });
            const out = await events.task(`register:${change.svc.name}`, `register ${input.family}`, () =>
              ecs.send(new (ecsSdk().RegisterTaskDefinitionCommand)(input)),
            );
            arn = out.taskDefinition!.taskDefinitionArn!;
          }
          prepared.push({ change, service, previous: service.taskDefinition, arn });
          const rs = rec.services.find((s) => s.service === change.svc.name);
          if (rs) rs.taskDefinitionArn = arn;
        }
        // deploy.preDeploy (migrations) on the new task definitions; a failure rolls nothing out.
        await runPreDeploy(
          session,
          prepared.map((p) => ({ svc: p.change.svc, taskDefinition: p.arn, network: p.service.networkConfiguration })),
          (reason) => finish('failed', reason),
        );
        // Alarms already firing before UpdateService are the baseline: they do not fail this rollout.
        const judgesAlarm = alarmJudge(
          target,
          prepared.map((p) => p.change.svc.fullName),
        );
        const alarmBaseline = target.alarms && opts.wait && !opts.fast ? await firingAlarms(session, judgesAlarm) : [];
        for (const name of alarmBaseline)
          events.warn(
            'PW_ALARM_ALREADY_FIRING',
            `alarm ${name} was already in ALARM before this ${opts.kind}: it does not judge the rollout unless it clears and fires again`,
          );
        for (const p of prepared) {
          const input: UpdateServiceCommandInput = { cluster, service: p.service.serviceName, taskDefinition: p.arn };
          // Leaving provision's placeholder (0 tasks): start the configured count.
          if (
            p.previous.includes(`:task-definition/${bootstrapFamily(p.change.svc)}:`) &&
            (p.service.desiredCount ?? 0) === 0
          )
            input.desiredCount = p.change.svc.desiredCount;
          throwIfAborted(signal, `before updating ${p.service.serviceName}`);
          lock.assertHeld?.(`before updating ${p.service.serviceName}`);
          const updated = await events.task(
            `update:${p.change.svc.name}`,
            `update service ${p.service.serviceName}`,
            () => ecs.send(new (ecsSdk().UpdateServiceCommand)(input)),
          );
          p.deployment = ourDeployment(updated.service, p.arn);
        }
        let smoke: SmokeResult | null = null;
        const result = (watch: WatchResult | null): RolloutResult => ({
          release: rec,
          watch,
          smoke,
          services: rec.services.map((s) => ({
            ...s,
            previousTaskDefinitionArn: prepared.find((p) => p.change.svc.name === s.service)?.previous ?? null,
          })),
        });
        const progressive = isProgressive(target.deploy.strategy);
        if (!opts.wait) {
          if (progressive)
            events.warn(
              'PW_PAUSE_UNANSWERED',
              `strategy ${target.deploy.strategy}: nobody answers the deployment's pause after test traffic, so ECS rolls this ${opts.kind} back when the hook times out (${pauseHookTimeoutMinutes(target.deploy.timeoutSeconds)} min); run without --no-wait to let it go live`,
            );
          await finish('started', 'not waited for (--no-wait)', running());
          await deregisterPruned();
          return result(null);
        }
        if (progressive && target.deploy.smoke?.url && opts.kind === 'deploy' && !opts.fast)
          events.warn(
            'PW_SMOKE_URL_AFTER_TRAFFIC',
            `deploy.smoke.url (${target.deploy.smoke.url}) cannot reach the test listener: it is checked in the bake, once production traffic is on the new revision, and a failure returns production traffic to the old one (StopServiceDeployment ROLLBACK); to check before production traffic moves, use smoke.path or deploy.preTraffic`,
          );
        // Waits until every service runs the task definition `which` picks (ours, or the previous).
        const waitOn = (
          which: (p: (typeof prepared)[number]) => string,
          more: Partial<WatchOptions>,
          deployments?: Map<string, WatchedService['deployment']>,
        ) =>
          watchRollout({
            aws,
            cluster,
            services: prepared.map((p) => ({
              name: p.change.svc.name,
              serviceName: p.service.serviceName!,
              taskDefinition: which(p),
              deployment: deployments ? (deployments.get(p.change.svc.name) ?? null) : (p.deployment ?? null),
            })),
            pollSeconds: target.deploy.pollSeconds,
            timeoutSeconds: opts.timeoutSeconds ?? target.deploy.timeoutSeconds,
            alarmPrefix: null,
            events,
            ...(signal ? { signal } : {}),
            ...more,
          });
        if (progressive) {
          // A service already on its target revision (a rollback after StopServiceDeployment put the
          // old one back): UpdateService starts no service deployment, so there is none to follow.
          const moving = prepared.filter((p) => p.previous !== p.arn);
          const followStart = Date.now();
          const followed = await followProgressive(session, opts, moving, started, (s) => {
            smoke = s;
          });
          if (followed.every((f) => f.state === 'done')) {
            await finish('succeeded', null, running());
            await deregisterPruned();
            // Waited for (through the stages): the same `watch` a rolling rollout reports, not the
            // null of --no-wait ("started (not waited for)").
            return result({ state: 'done', seconds: Math.round((Date.now() - followStart) / 100) / 10 });
          }
          const bad = followed.find(
            (f): f is Extract<FollowResult, { state: 'rolled-back' | 'failed' }> =>
              f.state === 'rolled-back' || f.state === 'failed',
          );
          const names = moving.map((p) => p.change.svc.name);
          if (bad) {
            const service = names[followed.indexOf(bad)] ?? '';
            const cause = bad.state === 'rolled-back' ? bad.cause : (bad.cause ?? 'ecs');
            const rolledBack = bad.state === 'rolled-back';
            await finish(rolledBack ? 'rolled-back' : 'failed', bad.reason, running());
            await deregisterPruned();
            throw new PatchworkError(
              'PW_DEPLOY_ROLLED_BACK',
              `${opts.kind} of ${(sha ?? 'the image').slice(0, 12)} ${rolledBack ? 'was rolled back' : 'failed'} on ${service}${cause === 'pre-traffic' || cause === 'pause-timeout' ? ' before production traffic moved' : ''}${cause === 'smoke' && rolledBack ? ' during the bake (production traffic returned to the old revision)' : ''}: ${bad.reason}`,
              {
                hint:
                  cause === 'pause-timeout'
                    ? 'raise deploy.timeoutSeconds (the pause hook times out after it), run `patchwork provision`, then deploy again; the previous release kept all production traffic'
                    : cause === 'pre-traffic'
                      ? `fetch the failing path through the test listener (port ${target.deploy.testListenerPort}) and read the service logs; the previous release kept all production traffic`
                      : cause === 'smoke'
                        ? `fetch ${target.deploy.smoke?.url ?? 'deploy.smoke.url'} yourself and read the service logs; ${rolledBack ? 'the previous release is serving' : '`patchwork rollback` puts the previous release back'}`
                        : /StopServiceDeployment/i.test(bad.reason)
                          ? 'it was stopped on request (`patchwork rollback` or StopServiceDeployment), not by a failure; the previous release is serving: deploy again when ready'
                          : "read the service's events and logs; the previous release is serving",
                data: { release: rec.id, service, cause, reason: bad.reason, rolledBack, ...(smoke ? { smoke } : {}) },
              },
            );
          }
          const waiting = followed
            .map((f, i) => (f.state === 'timeout' ? `${names[i]}: at ${f.stage ?? 'the start'}` : null))
            .filter(Boolean)
            .join(' | ');
          await finish('timed-out', `still waiting for ${waiting}`, running());
          await deregisterPruned();
          throw new PatchworkError('PW_TIMEOUT', `timed out waiting for ${waiting}`, {
            hint: '`patchwork status` shows the stage; ECS rolls back when the pause hook times out, or `patchwork rollback` returns traffic now',
            data: { release: rec.id },
          });
        }
        // Set when the watch sees tasks of ours fail: the log tail's module and client.
        let logsReady: Promise<typeof import('../logs/stopped.js')> | null = null;
        const watch = await waitOn((p) => p.arn, {
          alarmPrefix: target.alarms ? alarmPrefix(target) : null,
          judgesAlarm,
          alarmBaseline,
          since: new Date(started - 1000),
          ecsOnly: !!opts.fast,
          onFailed: () => {
            historyRead = readHistory(ddb, table).catch(() => null);
          },
          // Usually a poll or more before the failure: loaded in the pause between polls.
          onTasksFailing: () => {
            logsReady = import('../logs/stopped.js').then(async (m) => {
              await aws.get('logs').catch(() => undefined);
              return m;
            });
          },
        });
        let failure:
          | Extract<WatchResult, { state: 'failed' }>
          | { cause: 'smoke'; service: string; reason: string; stoppedReasons: string[] }
          | null = watch.state === 'failed' ? watch : null;
        const smokeSettings = target.deploy.smoke;
        if (watch.state === 'done' && smokeSettings && opts.kind === 'deploy' && !opts.fast) {
          // A smoke test that answers wrongly is a failed task (✗ and the reason), not a done one.
          const smokeHostName = smokeSettings.url ? null : smokeHost(target, smokeSettings);
          const title = smokeSettings.url
            ? `smoke test GET ${smokeSettings.url}`
            : `smoke test GET ${smokeSettings.path} through the load balancer${smokeHostName ? ` (Host: ${smokeHostName})` : ''}`;
          smoke = await events
            .task('smoke', title, async () => {
              const { runSmoke } = await import('./smoke.js');
              const s = await runSmoke(session, smokeSettings);
              if (!s.ok) throw new SmokeFailed(s);
              return s;
            })
            .catch((err: unknown) => {
              if (err instanceof SmokeFailed) return err.smoke;
              throw err;
            });
          if (smoke.ok) events.log(`smoke test: ${smoke.url} answered ${smoke.status} (${smoke.attempts} attempt(s))`);
          else {
            failure = {
              cause: 'smoke',
              service: prepared.map((p) => p.change.svc.name).join(','),
              reason: `smoke test GET ${smoke.url}: ${smoke.reason} after ${smoke.attempts} attempt(s) in ${smoke.seconds}s`,
              stoppedReasons: [],
            };
          }
        }
        if (watch.state === 'done' && !failure) {
          await finish('succeeded', null, running());
          await deregisterPruned();
          return result(watch);
        }
        // ECS's circuit breaker has already rolled back; an alarm or a failed smoke test is ours to undo.
        let rollBackOurselves = failure ? failure.cause !== 'circuit-breaker' : !!opts.rollbackOnTimeout;
        const noPrevious = prepared.filter((p) =>
          p.previous.includes(`:task-definition/${bootstrapFamily(p.change.svc)}:`),
        );
        if (rollBackOurselves && noPrevious.length) {
          events.warn(
            'PW_NO_PREVIOUS_RELEASE',
            `nothing to roll back to for ${noPrevious.map((p) => p.change.svc.name).join(', ')} (first release): it stays`,
          );
          rollBackOurselves = false;
        }
        throwIfAborted(signal);
        let rolledBackTo: string | null = null;
        if (rollBackOurselves) {
          events.warn('PW_ROLLING_BACK', `putting back ${prepared.map((p) => p.previous).join(', ')}`);
          const backDeployments = new Map<string, WatchedService['deployment']>();
          for (const p of prepared) {
            lock.assertHeld?.(`before rolling back ${p.service.serviceName}`);
            const out = await ecs.send(
              new (ecsSdk().UpdateServiceCommand)({
                cluster,
                service: p.service.serviceName,
                taskDefinition: p.previous,
              }),
            );
            backDeployments.set(p.change.svc.name, ourDeployment(out.service, p.previous));
          }
          // Wait for the previous release to serve again (alarms may still fire: not part of this wait).
          const back = await waitOn((p) => p.previous, {}, backDeployments);
          rolledBackTo = `rolled back to ${prepared.map((p) => p.previous).join(', ')}${back.state === 'done' ? '' : ` (did not settle: ${back.state})`}`;
          if (back.state !== 'done')
            events.warn('PW_ROLLBACK_INCOMPLETE', `the rollback did not settle: ${back.state}`);
        }
        if (failure) {
          // The newest task of the new revision that stopped on its own: its reason and last log lines.
          let failedTask = 'failedTask' in failure ? failure.failedTask : null;
          const failedSvc = prepared.find((p) => p.change.svc.name === failure?.service)?.change.svc;
          const why = [failure.reason, ...failure.stoppedReasons.map((r) => `task stopped: ${r}`)].join('; ');
          const rolledBack = failure.cause === 'circuit-breaker' || rollBackOurselves;
          // The record does not carry the log tail: it is written (with the lock's release) while
          // the tail is read; the tail's lines are said before the error, whatever the write did.
          const stoppedTask = failedTask;
          const tail =
            stoppedTask && failedSvc
              ? (logsReady ?? import('../logs/stopped.js')).then(({ withLogTail }) =>
                  withLogTail(session, failedSvc, stoppedTask),
                )
              : null;
          const written = finish(rolledBack ? 'rolled-back' : 'failed', why, running()).then(deregisterPruned);
          const [tailed] = await Promise.all([tail, written.catch(() => {})]);
          if (tailed) {
            failedTask = tailed;
            for (const line of stoppedTaskLines(tailed, '', { time: false }))
              events.log(`${failure.service}: ${line}`, 'info');
          }
          await written;
          throw new PatchworkError(
            'PW_DEPLOY_ROLLED_BACK',
            `${opts.kind} of ${(sha ?? 'the image').slice(0, 12)} failed on ${failure.service}${rolledBack ? ' and was rolled back' : ' (first release: nothing to roll back to)'}: ${why}`,
            {
              hint:
                failure.cause === 'smoke'
                  ? `fetch ${smoke?.url ?? smokeSettings?.path} yourself and read the service logs; deploy.smoke sets the path, host (or url) and expected status`
                  : "read the stopped tasks' reasons and the service logs; the previous release is serving",
              data: {
                release: rec.id,
                service: failure.service,
                cause: failure.cause,
                reason: failure.reason,
                stoppedReasons: failure.stoppedReasons,
                failedTask,
                rolledBack,
                ...(smoke ? { smoke } : {}),
              },
            },
          );
        }
        if (watch.state !== 'timeout')
          throw new PatchworkError('PW_UNEXPECTED', `unexpected rollout state ${watch.state}`);
        const waiting = Object.entries(watch.waitingFor)
          .map(([s, w]) => `${s}: ${w.join('; ')}`)
          .join(' | ');
        await finish('timed-out', `still waiting for ${waiting}${rolledBackTo ? `; ${rolledBackTo}` : ''}`, running());
        await deregisterPruned();
        throw new PatchworkError(
          'PW_TIMEOUT',
          `timed out after ${watch.seconds}s waiting for ${waiting}${rollBackOurselves ? ' (rolled back)' : ''}`,
          {
            hint: '`patchwork status` shows where it stands; raise deploy.timeoutSeconds or --timeout, or pass --rollback-on-timeout',
            data: { release: rec.id, waitingFor: watch.waitingFor },
          },
        );
      } catch (err) {
        // Cancelled: whatever failed on the way out (a call cut short) is the abort's doing.
        const cause =
          signal?.aborted && !isInterrupted(err)
            ? interrupted(signal)
            : isAwsError(err, 'ClusterNotFoundException')
              ? notProvisioned(target, `cluster ${cluster} does not exist`, err)
              : err;
        if (rec.outcome === 'in-progress') {
          const reason = cause instanceof Error ? cause.message : String(cause);
          await finish(isInterrupted(cause) ? 'interrupted' : 'failed', reason, running()).catch(() => {});
        }
        throw cause;
      }
    },
  );
}

/**
 * Follows each service's progressive deployment (in parallel) and answers its pause: a deploy runs
 * the smoke test (path) and deploy.preTraffic through the test listener; a rollback continues. A
 * `deploy.smoke.url` cannot reach the test listener (at the pause it would test the old revision):
 * a deploy runs it per service once production traffic is on the new revision (the bake), where a
 * failure stops the deployment (StopServiceDeployment ROLLBACK); `onSmoke` gets its last result.
 */
async function followProgressive(
  session: Session,
  opts: RolloutOptions,
  prepared: { change: Change; service: Service }[],
  started: number,
  onSmoke: (s: SmokeResult) => void,
): Promise<FollowResult[]> {
  const { target, aws, events, signal } = session;
  const ecs = await aws.get('ecs');
  const deadline = Date.now() + (opts.timeoutSeconds ?? target.deploy.timeoutSeconds) * 1000;
  const { runSmoke } = await import('./smoke.js');
  const port = target.deploy.testListenerPort;
  const smoke = target.deploy.smoke;
  const checks = [
    ...(smoke?.path && !smoke.url ? [smoke] : []),
    ...target.deploy.preTraffic.map((c) => ({
      path: c.path,
      host: smoke?.host ?? null,
      url: null,
      expectStatus: c.expectStatus,
      timeoutSeconds: smoke?.timeoutSeconds ?? 10,
    })),
  ];
  const check: PreTrafficCheck = async () => {
    if (opts.kind !== 'deploy') return { ok: true };
    for (const c of checks) {
      const r = await runSmoke(session, c, undefined, port);
      if (!r.ok)
        return { ok: false, reason: `pre-traffic check GET ${r.url}: ${r.reason} after ${r.attempts} attempt(s)` };
      events.log(`pre-traffic check: ${r.url} answered ${r.status}`);
    }
    return { ok: true };
  };
  const urlSmoke = smoke?.url && opts.kind === 'deploy' && !opts.fast ? smoke : null;
  const live: PreTrafficCheck | undefined = urlSmoke
    ? async () => {
        const r = await runSmoke(session, urlSmoke);
        onSmoke(r);
        if (!r.ok)
          return {
            ok: false,
            reason: `smoke test GET ${r.url}: ${r.reason} after ${r.attempts} attempt(s) in ${r.seconds}s`,
          };
        events.log(
          `smoke test: ${r.url} answered ${r.status} (${r.attempts} attempt(s)) with production traffic on the new revision`,
        );
        return { ok: true };
      }
    : undefined;
  return Promise.all(
    prepared.map((p) =>
      followDeployment({
        ecs,
        cluster: clusterName(target),
        service: p.change.svc.name,
        serviceName: p.service.serviceName!,
        since: new Date(started - 1000),
        pollMs: target.deploy.pollSeconds * 1000,
        deadline,
        events,
        ...(signal ? { signal } : {}),
        check,
        ...(live ? { live } : {}),
        env: target.env,
        hookTimeoutMinutes: pauseHookTimeoutMinutes(target.deploy.timeoutSeconds),
      }),
    ),
  );
}

/**
 * Which alarms judge a rollout of `deployed` (full service names): each service's own alarms
 * (`<app>-<env>-<svc>-*`, the longest service name owning it) and the load balancer's 5xx alarm;
 * other services' alarms do not.
 */
function alarmJudge(target: Session['target'], deployed: string[]): (name: string) => boolean {
  const owners = target.services.map((s) => s.fullName).sort((a, b) => b.length - a.length);
  return (name) => {
    if (name === `${target.name}-alb-5xx`) return true;
    const owner = owners.find((f) => name.startsWith(`${f}-`));
    return owner !== undefined && deployed.includes(owner);
  };
}

/** Names of the alarms `judges` picks that are in ALARM now. */
async function firingAlarms(session: Session, judges: (name: string) => boolean): Promise<string[]> {
  const [cw, { paginateDescribeAlarms }] = await Promise.all([session.aws.get('cloudwatch'), cloudwatchSdk()]);
  const names: string[] = [];
  for await (const page of paginateDescribeAlarms(
    { client: cw },
    { AlarmNamePrefix: alarmPrefix(session.target), StateValue: 'ALARM' },
  )) {
    for (const a of page.MetricAlarms ?? [])
      if (a.StateValue === 'ALARM' && a.AlarmName && judges(a.AlarmName)) names.push(a.AlarmName);
  }
  return names;
}

/**
 * The deployment an UpdateService answer says it created: its PRIMARY, when that runs `taskDefinition`
 * (ECS's reads lag behind its writes, so the watch tracks this deployment by id, not by what a
 * DescribeServices answer shows as PRIMARY).
 */
function ourDeployment(service: Service | undefined, taskDefinition: string): WatchedService['deployment'] {
  const primary = service?.deployments?.find((d) => d.status === 'PRIMARY');
  if (!primary?.id || primary.taskDefinition !== taskDefinition) return null;
  return { id: primary.id, createdAt: primary.createdAt ?? null };
}

/** A smoke test that ran and failed: ends the smoke task as failed, carrying its result. */
class SmokeFailed extends Error {
  constructor(readonly smoke: SmokeResult) {
    super(`${smoke.url}: ${smoke.reason ?? 'failed'} after ${smoke.attempts} attempt(s) in ${smoke.seconds}s`);
  }
}

/**
 * What retention prunes once this run's record is final: the history as it is (`read`: one
 * consistent Query) with this record in it.
 */
function planHistory(read: ReleaseRecord[], rec: ReleaseRecord, keep: number, protect: string[]): RetentionPlan {
  const history = read.filter((r) => r.id !== rec.id);
  const at = history.findIndex((r) => r.startedAt < rec.startedAt);
  history.splice(at < 0 ? history.length : at, 0, rec);
  return planRetention(history, keep, protect);
}
