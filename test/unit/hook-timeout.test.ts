import type { Service } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/lib/plan/index.js';
import {
  hookTimeoutDrift,
  pauseHookTimeoutMinutes,
  servicePauseHookTimeout,
} from '../../src/lib/release/hook-timeout.js';
import { deploymentConfigurationOf } from '../../src/lib/resources/ecs-service.js';
import { isWarningCode } from '../../src/lib/warnings.js';
import { asObserved, desired, find, ONE_SERVICE } from './provision-fixtures.js';

const withDeploy = (deploy: string) => `${ONE_SERVICE}deploy: ${deploy}\n`;
const BG = (timeout: number) => withDeploy(`{ strategy: blue-green, bakeMinutes: 2, timeoutSeconds: ${timeout} }`);

/** The service as DescribeServices shows it after provision with `deploy.timeoutSeconds: timeout`. */
function provisioned(timeout: number): Service {
  const svc = find(asObserved(desired(BG(timeout))), 'ecs-service');
  return { serviceName: 'shop-prod-web', deploymentConfiguration: deploymentConfigurationOf(svc) };
}

describe('the pause hook timeout (provision sets it from deploy.timeoutSeconds)', () => {
  it('whole minutes, rounded up, at least 1', () => {
    expect([30, 60, 61, 600, 601].map(pauseHookTimeoutMinutes)).toEqual([1, 1, 2, 10, 11]);
  });

  it("reads the service's PAUSE hook; none → null; no timeout given → ECS's 1440", () => {
    expect(servicePauseHookTimeout(provisioned(600))).toBe(10);
    expect(servicePauseHookTimeout({ deploymentConfiguration: { strategy: 'ROLLING' } })).toBeNull();
    expect(
      servicePauseHookTimeout({
        deploymentConfiguration: {
          lifecycleHooks: [{ targetType: 'PAUSE', lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'] }],
        },
      }),
    ).toBe(1440);
  });

  it('deploy: a changed deploy.timeoutSeconds is drift naming both values and the provision to run', () => {
    expect(hookTimeoutDrift(provisioned(600), 600, 'prod')).toBeNull();
    expect(hookTimeoutDrift(provisioned(600), 590, 'prod')).toBeNull(); // still 10 min
    expect(hookTimeoutDrift(provisioned(600), 900, 'prod')).toBe(
      'shop-prod-web: its pause hook times out after 10 min, but deploy.timeoutSeconds 900 asks for 15 min; provision sets it, this deploy keeps 10 min: run `patchwork provision --env prod`',
    );
    // Not provisioned for a progressive strategy yet (rolling): provision's to report, not this warning.
    expect(hookTimeoutDrift({ serviceName: 'x', deploymentConfiguration: {} }, 900, 'prod')).toBeNull();
    expect(isWarningCode('PW_HOOK_TIMEOUT_DRIFT')).toBe(true);
  });

  it('provision --dry-run: the reason shows the old and new minutes', () => {
    const update = plan(desired(BG(900)), asObserved(desired(BG(600)))).changes.find(
      (c) => c.kind === 'ecs-service' && c.action !== 'noop',
    );
    expect(update).toMatchObject({ action: 'update', reason: 'progressive.pauseHookTimeoutMinutes 10 → 15' });
  });
});
