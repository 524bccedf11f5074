/**
 * Following an ECS-native blue/green, canary or linear deployment (deploymentConfiguration.strategy)
 * after UpdateService: the service deployment's lifecycle stage and status from
 * ListServiceDeployments / DescribeServiceDeployments, one `deployment.stage` event per change, and
 * at the PAUSE hook (POST_TEST_TRAFFIC_SHIFT: the green revision has all test traffic, production
 * none) the pre-traffic checks, answered with ContinueServiceDeployment CONTINUE or ROLLBACK.
 * Then, once production traffic is all on the new revision and the old one still runs (the bake),
 * the live check (a `deploy.smoke.url`, which cannot reach the test listener): a failure stops the
 * deployment with StopServiceDeployment ROLLBACK, which puts production traffic back at once.
 * ECS itself rolls back on an alarm, the circuit breaker, or the hook's timeout.
 */
import type { ECSClient, ListServiceDeploymentsCommandInput, ServiceDeployment } from '@aws-sdk/client-ecs';
import { interrupted, sleeper, throwIfAborted } from '../abort.js';
import { isAwsError } from '../aws/errors.js';
import { ecsSdk } from '../aws/sdk.js';
import { PAUSE_STAGE } from '../desired/names.js';
import { PatchworkError } from '../errors.js';
import type { Emitter } from '../events.js';

class CheckFailed extends Error {}

/** One reading of a service deployment, in the terms deploy and status use. */
export interface StageView {
  arn: string;
  status: string;
  stage: string | null;
  /** A PAUSE hook waiting for an answer. */
  pausedHook: string | null;
  /** Share of production / test traffic the new revision is to get (null: no load balancer). */
  productionWeight: number | null;
  testWeight: number | null;
  reason: string | null;
}

/**
 * The human line of a stage: `BAKE_TIME (production 100% / test 100% to the new revision)`; a
 * status other than IN_PROGRESS is named with it (`ROLLBACK_IN_PROGRESS at BAKE_TIME (…)`), so a
 * rollback or the end is never shown as the stage it happened in.
 */
export function stageLine(v: Pick<StageView, 'status' | 'stage' | 'productionWeight' | 'testWeight'>): string {
  const where = !v.stage ? v.status : v.status === 'IN_PROGRESS' ? v.stage : `${v.status} at ${v.stage}`;
  const split =
    v.productionWeight !== null
      ? ` (production ${v.productionWeight}% / test ${v.testWeight ?? 0}% to the new revision)`
      : '';
  return `${where}${split}`;
}

export function viewOf(sd: ServiceDeployment): StageView {
  const hook = (sd.lifecycleHookDetails ?? []).find(
    (h) => h.targetType === 'PAUSE' && h.status === 'AWAITING_ACTION' && h.hookId,
  );
  const triggered = sd.alarms?.triggeredAlarmNames ?? [];
  const reason =
    sd.rollback?.reason ??
    (triggered.length ? `alarm ${triggered.join(', ')} in ALARM` : null) ??
    (sd.deploymentCircuitBreaker?.status === 'TRIGGERED' ? 'the circuit breaker triggered' : null) ??
    sd.statusReason ??
    null;
  return {
    arn: sd.serviceDeploymentArn ?? '',
    status: sd.status ?? 'PENDING',
    stage: sd.lifecycleStage ?? null,
    pausedHook: sd.lifecycleStage === PAUSE_STAGE || hook ? (hook?.hookId ?? null) : null,
    productionWeight: sd.targetServiceRevision?.requestedProductionTrafficWeight ?? null,
    testWeight: sd.targetServiceRevision?.requestedTestTrafficWeight ?? null,
    reason,
  };
}

/**
 * Production traffic is all on the new revision while the old revision still runs: after the
 * production traffic shift, through the bake, before the clean-up drains the old tasks. A check of
 * what users reach (a public URL) means something only now, and a rollback is still a weight change.
 */
export function isLive(v: StageView): boolean {
  return (
    v.status === 'IN_PROGRESS' &&
    v.productionWeight === 100 &&
    (v.stage === 'POST_PRODUCTION_TRAFFIC_SHIFT' || v.stage === 'BAKE_TIME')
  );
}

export type Step =
  | { kind: 'wait' }
  | { kind: 'pause'; hookId: string }
  | { kind: 'live' }
  | { kind: 'done' }
  | { kind: 'rolled-back'; reason: string }
  | { kind: 'failed'; reason: string };

/**
 * What to do after one reading (pure). `answered`: hooks already answered by this run; `liveDue`:
 * a live check waits to run (it runs at the first reading that isLive).
 */
export function nextStep(v: StageView, answered: ReadonlySet<string>, liveDue = false): Step {
  switch (v.status) {
    case 'SUCCESSFUL':
      return { kind: 'done' };
    case 'ROLLBACK_REQUESTED':
    case 'ROLLBACK_IN_PROGRESS':
    case 'ROLLBACK_SUCCESSFUL':
      return { kind: 'rolled-back', reason: v.reason ?? 'ECS rolled the deployment back' };
    case 'ROLLBACK_FAILED':
      return { kind: 'failed', reason: `the rollback failed: ${v.reason ?? 'no reason given'}` };
    case 'STOPPED':
    case 'STOP_REQUESTED':
      return { kind: 'failed', reason: `the deployment was stopped${v.reason ? `: ${v.reason}` : ''}` };
  }
  if (v.pausedHook && !answered.has(v.pausedHook)) return { kind: 'pause', hookId: v.pausedHook };
  if (liveDue && isLive(v)) return { kind: 'live' };
  return { kind: 'wait' };
}

/** Stages ECS passes before the PAUSE hook (it pauses there, then rolls back when the hook times out). */
const BEFORE_PAUSE = new Set(['RECONCILE_SERVICE', 'PRE_SCALE_UP', 'SCALE_UP', 'POST_SCALE_UP', 'TEST_TRAFFIC_SHIFT']);

/** What a progressive deploy's interrupt knows: the last reading of its service deployment. */
export interface InterruptedAt {
  service: string;
  env: string;
  /** Last reading (null: no service deployment found yet). */
  view: StageView | null;
  /** The PAUSE hook's answer this run sent, if any. */
  answered: 'CONTINUE' | 'ROLLBACK' | null;
  /** When the waiting PAUSE hook times out (DeploymentLifecycleHookDetail.expiresAt), if known. */
  hookExpiresAt: Date | null;
  hookTimeoutMinutes: number;
}

/** What ECS does by itself with a service deployment nobody follows any more. */
export type EcsWill = 'roll-back-at-hook-timeout' | 'roll-back' | 'complete' | 'nothing';

/**
 * The PW_INTERRUPTED of a progressive deploy (pure): which service deployment, its stage, what ECS
 * does by itself and when, and the next commands (a rerun would start a new deployment, not resume).
 */
export function interruptedDeployment(at: InterruptedAt, why: string): PatchworkError {
  const v = at.view;
  const id = v?.arn ? v.arn.split('/').pop() : null;
  const stage = v ? stageLine(v) : 'not started yet';
  const expires = at.hookExpiresAt ? ` at ${at.hookExpiresAt.toISOString().slice(11, 16)} UTC` : '';
  let will: EcsWill;
  let what: string;
  if (!v || v.status === 'PENDING' || (v.status === 'IN_PROGRESS' && (!v.stage || BEFORE_PAUSE.has(v.stage)))) {
    will = 'roll-back-at-hook-timeout';
    what = `ECS goes on to the pause after test traffic, and with nobody to answer it rolls back when the hook times out (${at.hookTimeoutMinutes} min after the pause begins); production traffic stays on the old revision`;
  } else if (v.status === 'IN_PROGRESS' && v.stage === PAUSE_STAGE && at.answered !== 'CONTINUE') {
    will = at.answered === 'ROLLBACK' ? 'roll-back' : 'roll-back-at-hook-timeout';
    what =
      at.answered === 'ROLLBACK'
        ? 'the pause was answered ROLLBACK: ECS rolls back; production traffic stays on the old revision'
        : `nobody answers the pause now: ECS rolls back when the hook times out${expires} (hook timeout ${at.hookTimeoutMinutes} min); production traffic stays on the old revision until then`;
  } else if (v.status === 'IN_PROGRESS') {
    will = 'complete';
    what = `ECS goes on by itself: production traffic moves to 100% on the new revision and the deployment completes after the bake (the release goes live)`;
  } else if (v.status.startsWith('ROLLBACK') || v.status.startsWith('STOP')) {
    will = 'roll-back';
    what = 'ECS is rolling it back: the previous release keeps production traffic';
  } else {
    will = 'nothing';
    what = `it had ended (${v.status})`;
  }
  const pending = will === 'complete' || will === 'roll-back-at-hook-timeout';
  const message = `interrupted (${why}) following ${at.service}'s service deployment ${id ?? '(not found yet)'} at ${stage}: ${what}`;
  const hint = pending
    ? `a rerun would start a new deployment, not resume this one: \`patchwork rollback --env ${at.env}\` ${will === 'complete' ? 'stops it and returns production traffic to the old revision now' : 'stops it now'}; \`patchwork status --env ${at.env} --watch\` follows it`
    : `\`patchwork status --env ${at.env} --watch\` follows it; deploy again when it has ended`;
  return new PatchworkError('PW_INTERRUPTED', message, {
    hint,
    data: {
      deployment: {
        service: at.service,
        serviceDeploymentArn: v?.arn || null,
        serviceDeploymentId: id ?? null,
        status: v?.status ?? null,
        stage: v?.stage ?? null,
        productionWeight: v?.productionWeight ?? null,
        testWeight: v?.testWeight ?? null,
        ecsWill: will,
        goesLive: will === 'complete',
        hookExpiresAt: will === 'roll-back-at-hook-timeout' ? (at.hookExpiresAt?.toISOString() ?? null) : null,
        hookTimeoutMinutes: at.hookTimeoutMinutes,
      },
    },
  });
}

/**
 * Whether the pause `hookId` still waits for an answer (pure): a check that passed counts only
 * then. Once the hook timed out ECS rolls back and points the test listener at the old tasks, so a
 * check that passed may have reached the old revision.
 */
export function stillPaused(v: StageView, hookId: string): boolean {
  return v.status === 'IN_PROGRESS' && v.pausedHook === hookId;
}

/** The reason of a check that outlived the pause's hook. */
export function pauseTimedOut(hookTimeoutMinutes: number | undefined): string {
  return `the pause timed out before the checks finished (hook timeout ${hookTimeoutMinutes ?? '?'} min): raise deploy.timeoutSeconds, then run provision`;
}

/** The check run at the pause: ok, or why the release must not take production traffic. */
export type PreTrafficCheck = () => Promise<{ ok: true } | { ok: false; reason: string }>;

export interface FollowOptions {
  ecs: ECSClient;
  cluster: string;
  /** Config service name (events) and ECS service name. */
  service: string;
  serviceName: string;
  /** Deployments created before this are not ours. */
  since: Date;
  pollMs: number;
  deadline: number;
  events: Emitter;
  signal?: AbortSignal;
  check: PreTrafficCheck;
  /**
   * Run once when production traffic is all on the new revision (isLive; or at the end, when no
   * reading showed that): a failure during the deployment stops it with StopServiceDeployment
   * ROLLBACK; after it ended, the release stays and the result is `failed`.
   */
  live?: PreTrafficCheck;
  sleep?: (ms: number) => Promise<void>;
  /** The environment's name and the PAUSE hook's timeout (minutes), for what an interrupt says. */
  env?: string;
  hookTimeoutMinutes?: number;
}

export type FollowResult =
  | { state: 'done'; arn: string }
  | { state: 'rolled-back'; arn: string; reason: string; cause: 'pre-traffic' | 'pause-timeout' | 'smoke' | 'ecs' }
  | { state: 'failed'; arn: string; reason: string; cause?: 'smoke' }
  | { state: 'timeout'; arn: string | null; stage: string | null };

/**
 * The newest service deployment of the service (ListServiceDeployments, newest first by createdAt),
 * narrowed by `filter` (created after, status): its ARN, or null. Deploy, rollback and status use it.
 */
export async function newestDeployment(
  ecs: ECSClient,
  cluster: string,
  serviceName: string,
  filter: Pick<ListServiceDeploymentsCommandInput, 'createdAt' | 'status'> = {},
): Promise<string | null> {
  const out = await ecs.send(
    new (ecsSdk().ListServiceDeploymentsCommand)({ cluster, service: serviceName, ...filter }),
  );
  const list = [...(out.serviceDeployments ?? [])].sort(
    (a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0),
  );
  return list[0]?.serviceDeploymentArn ?? null;
}

/** One service deployment by ARN (DescribeServiceDeployments), or undefined. */
export async function describeDeployment(ecs: ECSClient, arn: string): Promise<ServiceDeployment | undefined> {
  const out = await ecs.send(new (ecsSdk().DescribeServiceDeploymentsCommand)({ serviceDeploymentArns: [arn] }));
  return out.serviceDeployments?.[0];
}

/** The newest service deployment of `serviceName` created at or after `since`. */
const ours = (o: FollowOptions): Promise<string | null> =>
  newestDeployment(o.ecs, o.cluster, o.serviceName, { createdAt: { after: o.since } });

export async function followDeployment(o: FollowOptions): Promise<FollowResult> {
  const seen: Pick<InterruptedAt, 'view' | 'answered' | 'hookExpiresAt'> = {
    view: null,
    answered: null,
    hookExpiresAt: null,
  };
  try {
    return await follow(o, seen);
  } catch (err) {
    if (!o.signal?.aborted) throw err;
    const why = interrupted(o.signal).message.replace(/^interrupted \((.*)\)$/, '$1');
    throw interruptedDeployment(
      { service: o.service, env: o.env ?? '<env>', hookTimeoutMinutes: o.hookTimeoutMinutes ?? 0, ...seen },
      why,
    );
  }
}

async function follow(
  o: FollowOptions,
  seen: Pick<InterruptedAt, 'view' | 'answered' | 'hookExpiresAt'>,
): Promise<FollowResult> {
  const sleep = o.sleep ?? sleeper(o.signal);
  const answered = new Set<string>();
  let arn: string | null = null;
  let last = '';
  let stage: string | null = null;
  let failedCheck: string | null = null;
  let pauseExpired = false;
  let liveDue = !!o.live;
  let failedLive: string | null = null;
  /** Runs `check` as a task (✗ and the reason when it fails): its verdict. */
  const verdictOf = (id: string, title: string, check: PreTrafficCheck) =>
    o.events
      .task(id, title, async () => {
        const v = await check();
        if (!v.ok) throw new CheckFailed(v.reason);
        return v;
      })
      .catch((err: unknown) => {
        if (err instanceof CheckFailed) return { ok: false as const, reason: err.message };
        throw err;
      });
  const liveTitle = `smoke test with production traffic on ${o.service}'s new revision`;
  for (;;) {
    throwIfAborted(o.signal, `following ${o.serviceName}'s deployment`);
    if (Date.now() > o.deadline) return { state: 'timeout', arn, stage };
    arn ??= await ours(o);
    if (arn) {
      const sd = await describeDeployment(o.ecs, arn);
      if (sd) {
        const v = viewOf(sd);
        stage = v.stage;
        seen.view = v;
        const waiting = (sd.lifecycleHookDetails ?? []).find((h) => h.hookId === v.pausedHook);
        if (waiting?.expiresAt) seen.hookExpiresAt = waiting.expiresAt;
        const key = `${v.status}|${v.stage}|${v.productionWeight}|${v.testWeight}`;
        if (key !== last) {
          last = key;
          o.events.emit({
            type: 'data',
            kind: 'deployment.stage',
            data: {
              service: o.service,
              serviceDeploymentArn: v.arn,
              status: v.status,
              stage: v.stage,
              productionWeight: v.productionWeight,
              testWeight: v.testWeight,
            },
          });
          o.events.log(`${o.service}: ${stageLine(v)}`, 'info', o.serviceName);
        }
        const step = nextStep(v, answered, liveDue);
        if (step.kind === 'done') {
          // No reading showed the bake (a short one between two polls): the live check runs now.
          if (liveDue && o.live) {
            liveDue = false;
            const verdict = await verdictOf(`live-smoke:${o.service}`, liveTitle, o.live);
            if (!verdict.ok) failedLive = verdict.reason;
          }
          if (failedLive)
            return {
              state: 'failed',
              arn,
              cause: 'smoke',
              reason: `${failedLive}; the deployment had completed (the old revision drained), so the release stays: \`patchwork rollback\` puts the previous one back`,
            };
          return { state: 'done', arn };
        }
        if (step.kind === 'rolled-back')
          return failedCheck
            ? { state: 'rolled-back', arn, reason: failedCheck, cause: pauseExpired ? 'pause-timeout' : 'pre-traffic' }
            : failedLive
              ? { state: 'rolled-back', arn, reason: failedLive, cause: 'smoke' }
              : { state: 'rolled-back', arn, reason: step.reason, cause: 'ecs' };
        if (step.kind === 'failed') return { state: 'failed', arn, reason: step.reason };
        if (step.kind === 'pause') {
          answered.add(step.hookId);
          // A failed check ends its task as failed (✗ and the reason); the deployment is then rolled back.
          const verdict = await verdictOf(
            `pre-traffic:${o.service}`,
            `check ${o.service}'s new revision through the test listener`,
            async () => {
              const v = await o.check();
              if (!v.ok) return v;
              // Passed: but only a check of the new revision counts, i.e. while the pause still waits.
              const now = await describeDeployment(o.ecs, arn!);
              if (now && stillPaused(viewOf(now), step.hookId)) return v;
              pauseExpired = true;
              return { ok: false, reason: pauseTimedOut(o.hookTimeoutMinutes) };
            },
          );
          if (!verdict.ok) failedCheck = verdict.reason;
          // The hook timed out: ECS is rolling back already; there is nothing to answer.
          if (pauseExpired) continue;
          await o.ecs
            .send(
              new (ecsSdk().ContinueServiceDeploymentCommand)({
                serviceDeploymentArn: arn,
                hookId: step.hookId,
                action: verdict.ok ? 'CONTINUE' : 'ROLLBACK',
              }),
            )
            .then(() => {
              seen.answered = verdict.ok ? 'CONTINUE' : 'ROLLBACK';
            })
            .catch((err: unknown) => {
              // The hook timed out meanwhile (ECS then rolls back by itself) or was answered: keep following.
              if (!isAwsError(err, 'InvalidParameterException', 'ConflictException')) throw err;
              o.events.log(`${o.service}: the pause was no longer waiting (${(err as Error).message})`, 'warn');
            });
          continue;
        }
        if (step.kind === 'live' && o.live) {
          liveDue = false;
          const verdict = await verdictOf(`live-smoke:${o.service}`, liveTitle, o.live);
          if (!verdict.ok) {
            failedLive = verdict.reason;
            // Production traffic goes back to the old revision at once; the next readings show the rollback.
            await o.ecs
              .send(new (ecsSdk().StopServiceDeploymentCommand)({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' }))
              .catch((err: unknown) => {
                // The deployment ended meanwhile (completed, or rolled back by ECS): the next reading says which.
                if (!isAwsError(err, 'InvalidParameterException', 'ConflictException')) throw err;
                o.events.log(
                  `${o.service}: the deployment could no longer be stopped (${(err as Error).message})`,
                  'warn',
                );
              });
          }
          continue;
        }
      }
    }
    await sleep(o.pollMs);
  }
}

/** The service's progressive deployment in flight (PENDING or IN_PROGRESS): its ARN, or null. */
export function inFlight(ecs: ECSClient, cluster: string, serviceName: string): Promise<string | null> {
  return newestDeployment(ecs, cluster, serviceName, { status: ['PENDING', 'IN_PROGRESS'] });
}

/**
 * `rollback` during a progressive deployment (a bake, a canary): StopServiceDeployment ROLLBACK of
 * `arn` (found by inFlight), which makes ECS put production traffic back on the old revision at once.
 */
export async function stopInFlight(ecs: ECSClient, arn: string, serviceName: string, events: Emitter): Promise<void> {
  await events.task(`stop:${serviceName}`, `return ${serviceName}'s traffic to the old revision`, () =>
    ecs.send(new (ecsSdk().StopServiceDeploymentCommand)({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' })),
  );
}
