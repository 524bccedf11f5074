/**
 * The pause hook's timeout is provision's (it is part of the service's deploymentConfiguration),
 * computed from `deploy.timeoutSeconds`; a deploy does not set it. When the config now asks for
 * another value, the deploy says so (PW_HOOK_TIMEOUT_DRIFT) from the DescribeServices it already made.
 */
import type { Service } from '@aws-sdk/client-ecs';
import { PAUSE_STAGE } from '../desired/names.js';

/** The pause hook's timeout for `deploy.timeoutSeconds`: whole minutes, at least 1 (ECS's unit). */
export function pauseHookTimeoutMinutes(timeoutSeconds: number): number {
  return Math.max(1, Math.ceil(timeoutSeconds / 60));
}

/** The timeout (minutes) of the service's pause hook, null when it has none (ECS's default: 1440). */
export function servicePauseHookTimeout(service: Pick<Service, 'deploymentConfiguration'>): number | null {
  const hook = service.deploymentConfiguration?.lifecycleHooks?.find(
    (h) =>
      h.targetType === 'PAUSE' &&
      h.lifecycleStages?.includes(PAUSE_STAGE) &&
      h.timeoutConfiguration?.action !== 'CONTINUE',
  );
  if (!hook) return null;
  return hook.timeoutConfiguration?.timeoutInMinutes ?? 1440;
}

/**
 * The warning text when the service's pause hook times out after another number of minutes than
 * `deploy.timeoutSeconds` asks for (null: they agree, or the service has no pause hook yet: a strategy
 * switch is provision's to report).
 */
export function hookTimeoutDrift(
  service: Pick<Service, 'deploymentConfiguration' | 'serviceName'>,
  timeoutSeconds: number,
  env: string,
): string | null {
  const have = servicePauseHookTimeout(service);
  const want = pauseHookTimeoutMinutes(timeoutSeconds);
  if (have === null || have === want) return null;
  return `${service.serviceName ?? 'service'}: its pause hook times out after ${have} min, but deploy.timeoutSeconds ${timeoutSeconds} asks for ${want} min; provision sets it, this deploy keeps ${have} min: run \`patchwork provision --env ${env}\``;
}
