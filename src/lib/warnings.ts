/**
 * Every warning code the library emits (`{type: "warning", code, …}`), beside the error codes in
 * errors.ts: scripts and dashboards match on these, so never rename one. Each is documented in
 * README.md (test/unit/readme.test.ts checks it) with the one-line meaning given here.
 */
export const WarningCodes = {
  PW_PUBLIC_TASKS: 'tasks get public IPs (no private subnets): reachable only through their security group',
  PW_NO_IMAGE_YET: 'a service has no image yet: provision starts it with a placeholder at 0 tasks; deploy',
  PW_IMAGE_RUNS_AS_ROOT:
    "an image: service's image runs as root: patchwork runs it as 65532 unless the config says user:",
  PW_LOCK_TAKEN_OVER: "an expired deploy lock was taken over; the dead run's releases are marked interrupted",
  PW_LOCK_LOST: 'the deploy lock is no longer ours (taken over after expiry, or broken by unlock)',
  PW_LOCK_RENEW_FAILED:
    'renewing the deploy lock failed; retried at the next beat (the lock is lost if it would expire first)',
  PW_LOCK_BROKEN: 'unlock broke a deploy lock (recorded in the history)',
  PW_ROLLING_BACK: 'an alarm or the smoke test failed: patchwork puts the previous release back',
  PW_ROLLBACK_INCOMPLETE: "patchwork's own rollback did not settle within the wait",
  PW_NO_PREVIOUS_RELEASE: 'a first release failed: there is nothing to roll back to, it stays',
  PW_RETENTION_FAILED: 'deregistering old task definition revisions failed (the deploy succeeded)',
  PW_IMAGES_KEPT: 'destroy kept an ECR repository that holds images (--delete-images deletes it)',
  PW_METRICS_UNAVAILABLE: 'status could not read CloudWatch metrics (the rest of the report stands)',
  PW_PAUSE_UNANSWERED:
    'deploy --no-wait with a blue-green, canary or linear strategy: nobody answers the pause hook, so ECS rolls back at its timeout',
  PW_SMOKE_URL_AFTER_TRAFFIC:
    'deploy.smoke.url with a blue-green, canary or linear strategy: it cannot reach the test listener, so it runs in the bake (after production traffic moved), not before',
  PW_HOOK_TIMEOUT_DRIFT:
    "a service's pause hook timeout (set by provision) differs from what deploy.timeoutSeconds now asks: patchwork provision sets it",
  PW_ALARM_ALREADY_FIRING:
    'an alarm was in ALARM before the deploy: a baseline, not a failure (unless it clears and fires again)',
  PW_RELEASE_TAG_FAILED: 'a released image could not be tagged release-<digest>: the lifecycle policy may expire it',
  PW_NO_REVISION: 'an --image has no org.opencontainers.image.revision label: the release records no git sha',
  PW_TASK_STILL_RUNNING: 'run was interrupted and stopped its task, but the task did not reach STOPPED within 2 min',
  PW_PER_ENV_REPOSITORY:
    'registryLayout is not set and the old <app>-<env>-<svc> repository holds images (no shared one): it is kept; set registryLayout to migrate',
} as const satisfies Record<`PW_${string}`, string>;
export type WarningCode = keyof typeof WarningCodes;

export function isWarningCode(code: string): code is WarningCode {
  return Object.hasOwn(WarningCodes, code);
}
