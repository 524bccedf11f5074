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
  it('fails when the PRIMARY is no longer ours (ECS already rolled back and dropped ours)', () => {
    const v = evaluateRollout(obs([dep({ taskDefinition: OLD })]), OURS);
    expect(v.state).toBe('failed');
    expect(v.state === 'failed' && v.reason).toContain(OLD);
  });
  it('fails on a patchwork alarm in ALARM', () => {
    expect(evaluateRollout(obs([dep({})], { alarms: ['shop-prod-web-cpu'] }), OURS)).toMatchObject({
      state: 'failed',
      cause: 'alarm',
    });
  });
});
