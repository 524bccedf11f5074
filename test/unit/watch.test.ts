/** Wait-state evaluation from described states (the one combined condition). */
import type { Deployment } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { evaluateRollout, type ObservedRollout } from '../../src/lib/watch/evaluate.js';

const OURS = 'arn:aws:ecs:eu-west-1:1:task-definition/shop-prod-web:7';
const OLD = 'arn:aws:ecs:eu-west-1:1:task-definition/shop-prod-web:6';
const dep = (d: Partial<Deployment>): Deployment => ({
  status: 'PRIMARY',
  taskDefinition: OURS,
  desiredCount: 2,
  runningCount: 2,
  rolloutState: 'COMPLETED',
  ...d,
});
const healthy = [
  { id: '10.0.0.1', port: 8080, state: 'healthy' },
  { id: '10.0.0.2', port: 8080, state: 'healthy' },
];
function obs(deployments: Deployment[], extra: Partial<ObservedRollout> = {}, running = 2): ObservedRollout {
  return {
    service: { deployments, desiredCount: 2, runningCount: running, taskDefinition: OURS },
    targets: healthy,
    alarms: [],
    ...extra,
  };
}

describe('evaluateRollout', () => {
  it('done: ours PRIMARY, COMPLETED, alone, running = desired, targets healthy, no alarm', () => {
    expect(evaluateRollout(obs([dep({})]), OURS).state).toBe('done');
  });
  it('waits for the rollout, the old deployment, the task count and the targets', () => {
    const v = evaluateRollout(
      obs(
        [dep({ rolloutState: 'IN_PROGRESS', runningCount: 1 }), dep({ status: 'ACTIVE', taskDefinition: OLD })],
        {
          targets: [healthy[0]!, { id: '10.0.0.3', port: 8080, state: 'initial' }],
        },
        3,
      ),
      OURS,
    );
    expect(v.state).toBe('waiting');
    const w = v.state === 'waiting' ? v.waitingFor.join(' | ') : '';
    expect(w).toMatch(/IN_PROGRESS → COMPLETED/);
    expect(w).toMatch(/1 older deployment/);
    expect(w).toMatch(/running 3\/2/);
    expect(w).toMatch(/targets healthy 1\/2.*initial/);
  });
  it('waits while fewer targets are healthy than desired', () => {
    expect(evaluateRollout(obs([dep({})], { targets: [healthy[0]!] }), OURS).state).toBe('waiting');
  });
  it('no load balancer: targets are not part of the condition', () => {
    expect(evaluateRollout(obs([dep({})], { targets: null }), OURS).state).toBe('done');
  });
  it('fails with ECS reason when our deployment is FAILED (circuit breaker)', () => {
    const v = evaluateRollout(
      obs([
        dep({
          taskDefinition: OLD,
          rolloutState: 'IN_PROGRESS',
          rolloutStateReason: 'ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.',
        }),
        dep({
          status: 'ACTIVE',
          rolloutState: 'FAILED',
          rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
        }),
      ]),
      OURS,
    );
    expect(v).toMatchObject({
      state: 'failed',
      cause: 'circuit-breaker',
      reason: 'ECS deployment circuit breaker: tasks failed to start.',
    });
  });
  it('fails when the PRIMARY is no longer ours after ours was seen (ECS already rolled back and dropped ours)', () => {
    const v = evaluateRollout(obs([dep({ taskDefinition: OLD })]), { taskDefinition: OURS, seen: true });
    expect(v.state).toBe('failed');
    expect(v.state === 'failed' && v.reason).toContain(OLD);
  });
});

describe('evaluateRollout through ECS read-after-write lag (tracking our deployment by id)', () => {
  const T = new Date('2026-12-01T06:00:00Z');
  const before = new Date(T.getTime() - 60_000);
  const after = new Date(T.getTime() + 5_000);
  const ours = { taskDefinition: OURS, id: 'ecs-svc/2', createdAt: T };
  const stale = (reason?: string) =>
    obs([dep({ id: 'ecs-svc/1', taskDefinition: OLD, createdAt: before, rolloutStateReason: reason })]);

  it('a stale read (the old PRIMARY, ours not listed yet) is "not yet visible", never failed', () => {
    const v = evaluateRollout(stale(), ours);
    expect(v.state).toBe('waiting');
    expect(v.state === 'waiting' && v.waitingFor.join()).toMatch(/ecs-svc\/2 to be visible/);
  });
  it('a stale read whose old PRIMARY carries an earlier rollback reason is still only stale', () => {
    const v = evaluateRollout(stale('ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/0.'), ours);
    expect(v.state).toBe('waiting');
  });
  it('a stale read after ours was seen (an older PRIMARY) still waits: only a newer PRIMARY replaces ours', () => {
    expect(evaluateRollout(stale(), { ...ours, seen: true }).state).toBe('waiting');
  });
  it('done once ours is visible as PRIMARY and COMPLETED', () => {
    expect(evaluateRollout(obs([dep({ id: 'ecs-svc/2', createdAt: T })]), ours).state).toBe('done');
  });
  it('failed: a PRIMARY created after ours (ECS rolled back) with ours no longer listed', () => {
    const v = evaluateRollout(
      obs([
        dep({
          id: 'ecs-svc/3',
          taskDefinition: OLD,
          createdAt: after,
          rolloutState: 'IN_PROGRESS',
          rolloutStateReason: 'ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.',
        }),
      ]),
      ours,
    );
    expect(v).toMatchObject({
      state: 'failed',
      cause: 'circuit-breaker',
      reason: expect.stringMatching(/rolling back/),
    });
  });
  it('failed: ours listed but no longer PRIMARY (replaced), even without creation times', () => {
    const v = evaluateRollout(
      obs([
        dep({ id: 'ecs-svc/3', taskDefinition: OLD, rolloutState: 'IN_PROGRESS' }),
        dep({ id: 'ecs-svc/2', status: 'ACTIVE', rolloutState: 'IN_PROGRESS' }),
      ]),
      { taskDefinition: OURS, id: 'ecs-svc/2' },
    );
    expect(v.state).toBe('failed');
  });
  it('failed: our deployment FAILED (by id, whatever the PRIMARY shows)', () => {
    const v = evaluateRollout(
      obs([
        dep({
          id: 'ecs-svc/2',
          status: 'ACTIVE',
          rolloutState: 'FAILED',
          rolloutStateReason: 'circuit breaker: tasks failed to start.',
        }),
        dep({ id: 'ecs-svc/1', taskDefinition: OLD, createdAt: before }),
      ]),
      ours,
    );
    expect(v).toMatchObject({ state: 'failed', reason: 'circuit breaker: tasks failed to start.' });
  });
  it('without creation times, ours seen and then gone is failed; not yet seen is waiting', () => {
    const untimed = { taskDefinition: OURS, id: 'ecs-svc/2' };
    const read = obs([dep({ id: 'ecs-svc/1', taskDefinition: OLD })]);
    expect(evaluateRollout(read, untimed).state).toBe('waiting');
    expect(evaluateRollout(read, { ...untimed, seen: true }).state).toBe('failed');
  });
  it('an alarm already in ALARM before the deploy (the baseline) does not fail it', () => {
    const v = evaluateRollout(
      obs([dep({})], { alarms: ['shop-prod-alb-5xx'], alarmBaseline: ['shop-prod-alb-5xx'] }),
      OURS,
    );
    expect(v.state).toBe('done');
  });
  it('an alarm that goes to ALARM during the rollout fails it, whatever else was already firing', () => {
    const v = evaluateRollout(
      obs([dep({})], { alarms: ['shop-prod-alb-5xx', 'shop-prod-web-cpu'], alarmBaseline: ['shop-prod-alb-5xx'] }),
      OURS,
    );
    expect(v).toMatchObject({ state: 'failed', cause: 'alarm', reason: 'alarm in ALARM: shop-prod-web-cpu' });
  });
  it('fails on a patchwork alarm in ALARM', () => {
    expect(evaluateRollout(obs([dep({})], { alarms: ['shop-prod-web-cpu'] }), OURS)).toMatchObject({
      state: 'failed',
      cause: 'alarm',
    });
  });
});
