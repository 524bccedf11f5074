/**
 * What Ctrl-C during a progressive deploy says (pure): the service deployment, its stage, what ECS
 * does by itself (roll back at the hook's timeout, or go on to 100%) and the next commands.
 */
import { describe, expect, it } from 'vitest';
import { type InterruptedAt, interruptedDeployment, type StageView } from '../../src/lib/release/progressive.js';

const arn = 'arn:aws:ecs:us-east-1:123456789012:service-deployment/c/s/abc123';
const view = (v: Partial<StageView>): StageView => ({
  arn,
  status: 'IN_PROGRESS',
  stage: 'POST_TEST_TRAFFIC_SHIFT',
  pausedHook: 'ecs-pause-1',
  productionWeight: 0,
  testWeight: 100,
  reason: null,
  ...v,
});
const at = (v: StageView | null, more: Partial<InterruptedAt> = {}): InterruptedAt => ({
  service: 'web',
  env: 'prod',
  view: v,
  answered: null,
  hookExpiresAt: new Date('2026-12-01T18:20:00Z'),
  hookTimeoutMinutes: 10,
  ...more,
});

describe('interruptedDeployment', () => {
  it('at the pause: ECS rolls back when the hook times out; rollback stops it now', () => {
    const e = interruptedDeployment(at(view({})), 'SIGINT');
    expect(e.code).toBe('PW_INTERRUPTED');
    expect(e.exitCode).toBe(130);
    expect(e.message).toBe(
      "interrupted (SIGINT) following web's service deployment abc123 at POST_TEST_TRAFFIC_SHIFT (production 0% / test 100% to the new revision): nobody answers the pause now: ECS rolls back when the hook times out at 18:20 UTC (hook timeout 10 min); production traffic stays on the old revision until then",
    );
    expect(e.hint).toContain('a rerun would start a new deployment, not resume this one');
    expect(e.hint).toContain('`patchwork rollback --env prod` stops it now');
    expect(e.hint).toContain('`patchwork status --env prod --watch` follows it');
    expect(e.data.deployment).toEqual({
      service: 'web',
      serviceDeploymentArn: arn,
      serviceDeploymentId: 'abc123',
      status: 'IN_PROGRESS',
      stage: 'POST_TEST_TRAFFIC_SHIFT',
      productionWeight: 0,
      testWeight: 100,
      ecsWill: 'roll-back-at-hook-timeout',
      goesLive: false,
      hookExpiresAt: '2026-12-01T18:20:00.000Z',
      hookTimeoutMinutes: 10,
    });
  });

  it('in the bake or at a canary share: ECS goes on to 100% by itself (the release goes live)', () => {
    for (const v of [
      view({ stage: 'BAKE_TIME', pausedHook: null, productionWeight: 100 }),
      view({ stage: 'PRODUCTION_TRAFFIC_SHIFT', pausedHook: null, productionWeight: 10 }),
      // The pause answered CONTINUE, the next reading not taken yet.
      view({}),
    ]) {
      const e = interruptedDeployment(at(v, { answered: 'CONTINUE' }), 'SIGINT');
      expect(e.data.deployment).toMatchObject({ ecsWill: 'complete', goesLive: true, hookExpiresAt: null });
      expect(e.message).toContain('production traffic moves to 100% on the new revision');
      expect(e.hint).toContain('`patchwork rollback --env prod` stops it and returns production traffic');
    }
  });

  it('before the pause, or before the deployment was found: it will roll back at the hook timeout', () => {
    for (const v of [view({ stage: 'SCALE_UP', pausedHook: null }), view({ status: 'PENDING', stage: null }), null]) {
      const e = interruptedDeployment(at(v, { hookExpiresAt: null }), 'SIGTERM');
      expect(e.data.deployment).toMatchObject({ ecsWill: 'roll-back-at-hook-timeout', goesLive: false });
      expect(e.message).toContain('rolls back when the hook times out (10 min after the pause begins)');
    }
    expect(interruptedDeployment(at(null), 'SIGINT').message).toContain(
      'deployment (not found yet) at not started yet',
    );
  });

  it('rolling back or ended: nothing to stop', () => {
    const e = interruptedDeployment(at(view({ status: 'ROLLBACK_IN_PROGRESS' })), 'SIGINT');
    expect(e.data.deployment).toMatchObject({ ecsWill: 'roll-back', goesLive: false });
    expect(e.hint).not.toContain('rollback --env');
    const done = interruptedDeployment(at(view({ status: 'SUCCESSFUL', stage: null, pausedHook: null })), 'SIGINT');
    expect(done.data.deployment).toMatchObject({ ecsWill: 'nothing' });
  });
});
