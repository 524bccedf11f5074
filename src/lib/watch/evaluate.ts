/**
 * The one combined wait condition, evaluated from described state — pure. A rollout is done when
 * the PRIMARY deployment is ours (its task definition is the one we registered: guards against
 * ECS having already rolled back), its rolloutState is COMPLETED, no other deployment is left,
 * running = desired, every target in the target group is healthy, and no patchwork alarm is in
 * ALARM. It has failed when our deployment is FAILED or no longer PRIMARY (circuit breaker), or
 * an alarm fires.
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
  /** Targets of the service's target group; null = the service has no load balancer. */
  targets: TargetState[] | null;
  /** Names of patchwork alarms in ALARM. */
  alarms: string[];
}

export type Verdict =
  | { state: 'done'; summary: string }
  | { state: 'waiting'; waitingFor: string[]; summary: string }
  | { state: 'failed'; cause: 'circuit-breaker' | 'alarm'; reason: string; summary: string };

export function deploymentOf(service: ObservedRollout['service'], taskDefinition: string): Deployment | undefined {
  return service.deployments?.find((d) => d.taskDefinition === taskDefinition);
}

export function summarize(o: ObservedRollout): string {
  const deps = (o.service.deployments ?? [])
    .map(
      (d) => `${d.status}${d.rolloutState ? `/${d.rolloutState}` : ''} ${d.runningCount ?? 0}/${d.desiredCount ?? 0}`,
    )
    .join(', ');
  const t = o.targets;
  const targets = t === null ? '' : `; targets ${t.filter((x) => x.state === 'healthy').length}/${t.length} healthy`;
  return `running ${o.service.runningCount ?? 0}/${o.service.desiredCount ?? 0}; deployments: ${deps || 'none'}${targets}`;
}

export function evaluateRollout(o: ObservedRollout, ours: string): Verdict {
  const summary = summarize(o);
  const deployments = o.service.deployments ?? [];
  const primary = deployments.find((d) => d.status === 'PRIMARY');
  const mine = deploymentOf(o.service, ours);
  if (mine?.rolloutState === 'FAILED') {
    return {
      state: 'failed',
      cause: 'circuit-breaker',
      reason: mine.rolloutStateReason ?? 'deployment failed',
      summary,
    };
  }
  if (primary && primary.taskDefinition !== ours) {
    return {
      state: 'failed',
      cause: 'circuit-breaker',
      reason:
        primary.rolloutStateReason && /roll/i.test(primary.rolloutStateReason)
          ? primary.rolloutStateReason
          : `the primary deployment runs ${primary.taskDefinition}, not ${ours} (rolled back or replaced)`,
      summary,
    };
  }
  if (o.alarms.length) {
    return { state: 'failed', cause: 'alarm', reason: `alarm in ALARM: ${o.alarms.join(', ')}`, summary };
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
  if (o.targets !== null) {
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
