/**
 * The one combined wait condition, evaluated from described state — pure. A rollout is done when
 * the PRIMARY deployment is ours (the one UpdateService created: guards against ECS having already
 * rolled back), its rolloutState is COMPLETED, no other deployment is left, running = desired,
 * every target in the target group is healthy, and no alarm of the deployed services went to ALARM
 * after UpdateService. It has failed when ECS says so for our deployment — FAILED, or replaced by
 * another PRIMARY (a rollback) — or such an alarm fires (one already firing before does not count). A read that does not show our deployment yet (ECS's eventual consistency) is
 * "not yet visible", never "failed".
 */
import type { Deployment, Service } from '@aws-sdk/client-ecs';

export interface TargetState {
  id: string;
  port?: number;
  state: string;
  reason?: string;
}

export interface ObservedRollout {
  service: Pick<Service, 'deployments' | 'desiredCount' | 'runningCount' | 'taskDefinition'>;
  /**
   * Targets of the service's target group; null = the service has no load balancer; undefined =
   * not read yet (the watch reads them once ECS has settled the rollout: `ecsSettled`).
   */
  targets: TargetState[] | null | undefined;
  /** Names of patchwork alarms in ALARM (those of the deployed services). */
  alarms: string[];
  /**
   * Alarms that were already in ALARM before UpdateService and have not left ALARM since: they do
   * not fail the rollout (the deploy did not cause them). One that clears and fires again does.
   */
  alarmBaseline?: string[];
}

export type Verdict =
  | { state: 'done'; summary: string }
  | { state: 'waiting'; waitingFor: string[]; summary: string }
  | { state: 'failed'; cause: 'circuit-breaker' | 'alarm'; reason: string; summary: string };

/**
 * The deployment we are waiting for. UpdateService answers with the service as it is after the call:
 * its PRIMARY deployment is ours, so we track it by id (and its task definition, and when it was
 * created). Without an id (an older caller, or an answer that did not list deployments) the task
 * definition identifies it.
 */
export interface OurDeployment {
  taskDefinition: string;
  id?: string | null;
  /** When ECS created it (UpdateService's answer); a PRIMARY created later replaced it. */
  createdAt?: Date | null;
  /** Whether a DescribeServices answer has shown it yet (kept by the caller between polls). */
  seen?: boolean;
}

export function deploymentOf(
  service: ObservedRollout['service'],
  ours: string | OurDeployment,
): Deployment | undefined {
  const o = typeof ours === 'string' ? { taskDefinition: ours } : ours;
  if (o.id) return service.deployments?.find((d) => d.id === o.id);
  return service.deployments?.find((d) => d.taskDefinition === o.taskDefinition);
}

/**
 * ECS's side of done: our deployment is the PRIMARY, its rollout COMPLETED (or ECS reports no
 * rollout state), no other deployment left, running = desired. Only then are the targets worth
 * reading: before, the verdict is "waiting" whatever they say.
 */
export function ecsSettled(service: ObservedRollout['service'], ours: string | OurDeployment): boolean {
  const deployments = service.deployments ?? [];
  const mine = deploymentOf(service, ours);
  return (
    !!mine &&
    deployments.length === 1 &&
    mine.status === 'PRIMARY' &&
    (!mine.rolloutState || mine.rolloutState === 'COMPLETED') &&
    (service.runningCount ?? 0) === (service.desiredCount ?? 0)
  );
}

export function summarize(o: ObservedRollout): string {
  const deps = (o.service.deployments ?? [])
    .map(
      (d) => `${d.status}${d.rolloutState ? `/${d.rolloutState}` : ''} ${d.runningCount ?? 0}/${d.desiredCount ?? 0}`,
    )
    .join(', ');
  const t = o.targets;
  const targets = !t ? '' : `; targets ${t.filter((x) => x.state === 'healthy').length}/${t.length} healthy`;
  return `running ${o.service.runningCount ?? 0}/${o.service.desiredCount ?? 0}; deployments: ${deps || 'none'}${targets}`;
}

export function evaluateRollout(o: ObservedRollout, ours: string | OurDeployment): Verdict {
  const summary = summarize(o);
  const track: OurDeployment = typeof ours === 'string' ? { taskDefinition: ours } : ours;
  const deployments = o.service.deployments ?? [];
  const primary = deployments.find((d) => d.status === 'PRIMARY');
  const mine = deploymentOf(o.service, track);
  if (mine?.rolloutState === 'FAILED') {
    return {
      state: 'failed',
      cause: 'circuit-breaker',
      reason: mine.rolloutStateReason ?? 'deployment failed',
      summary,
    };
  }
  if (primary && primary !== mine) {
    // ECS reads are eventually consistent: right after UpdateService, DescribeServices can still show
    // the previous PRIMARY. Ours is replaced only when ECS shows it: ours listed but not PRIMARY, or a
    // PRIMARY created after ours (a rollback or another deploy); without creation times, ours seen
    // before and now gone. Anything else is a stale read: ours is not visible yet.
    const times = track.createdAt && primary.createdAt;
    const replaced = mine ? true : times ? primary.createdAt!.getTime() > track.createdAt!.getTime() : !!track.seen;
    if (!replaced) {
      return {
        state: 'waiting',
        waitingFor: [`our deployment ${track.id ?? track.taskDefinition} to be visible (ECS reads lag behind writes)`],
        summary,
      };
    }
    return {
      state: 'failed',
      cause: 'circuit-breaker',
      reason:
        primary.rolloutStateReason && /roll/i.test(primary.rolloutStateReason)
          ? primary.rolloutStateReason
          : `the primary deployment runs ${primary.taskDefinition}, not ${track.taskDefinition} (rolled back or replaced)`,
      summary,
    };
  }
  if (!mine && deployments.length) {
    return {
      state: 'waiting',
      waitingFor: [`our deployment ${track.id ?? track.taskDefinition} to be visible (ECS reads lag behind writes)`],
      summary,
    };
  }
  const baseline = new Set(o.alarmBaseline ?? []);
  const firing = o.alarms.filter((a) => !baseline.has(a));
  if (firing.length) {
    return { state: 'failed', cause: 'alarm', reason: `alarm in ALARM: ${firing.join(', ')}`, summary };
  }
  const waitingFor: string[] = [];
  if (!primary) waitingFor.push('a PRIMARY deployment');
  else if (primary.rolloutState && primary.rolloutState !== 'COMPLETED')
    waitingFor.push(`rollout ${primary.rolloutState} → COMPLETED`);
  const others = deployments.filter((d) => d !== primary);
  if (others.length) waitingFor.push(`${others.length} older deployment(s) to drain`);
  const desired = o.service.desiredCount ?? 0;
  const running = o.service.runningCount ?? 0;
  if (running !== desired) waitingFor.push(`running ${running}/${desired} tasks`);
  if (o.targets === undefined) waitingFor.push('target health (read once ECS completes the rollout)');
  else if (o.targets !== null) {
    const healthy = o.targets.filter((t) => t.state === 'healthy').length;
    if (healthy !== o.targets.length || healthy < desired) {
      const bad = o.targets.filter((t) => t.state !== 'healthy').map((t) => `${t.id}:${t.port ?? ''} ${t.state}`);
      waitingFor.push(
        `targets healthy ${healthy}/${Math.max(desired, o.targets.length)}${bad.length ? ` (${bad.join(', ')})` : ''}`,
      );
    }
  }
  if (waitingFor.length) return { state: 'waiting', waitingFor, summary };
  return { state: 'done', summary };
}
