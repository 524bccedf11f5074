/**
 * AWS's documented propagation errors: a refusal that goes away on its own a few seconds after
 * the thing it names was created. Retried with backoff, within a bound; past it, PW_TIMEOUT
 * with a hint that says what AWS was still doing.
 *
 * - `service-linked-role`: ECS "Unable to assume the service linked role" while
 *   AWSServiceRoleForECS is being created (first use in an account; aws/containers-roadmap #2614).
 * - `scalable-target`: RegisterScalableTarget "ECS service doesn't exist" right after CreateService
 *   (ECS reads are eventually consistent; hashicorp/terraform-provider-aws PR #11693).
 * - `role`: ECS "unable to assume the role" for a role IAM has not propagated yet (IAM User Guide,
 *   "Changes that I make are not always immediately visible"; pulumi/pulumi-awsx #927).
 */
import { PatchworkError } from '../errors.js';
import { isAwsError } from './errors.js';

export type PropagationKind = 'service-linked-role' | 'scalable-target' | 'role';

const messageOf = (err: unknown) => String((err as { message?: unknown } | null)?.message ?? '');

/** Which propagation error `err` is, if any. Anything else is not retried. */
export function propagationKind(err: unknown): PropagationKind | undefined {
  const message = messageOf(err);
  if (isAwsError(err, 'InvalidParameterException')) {
    if (/unable to assume the service linked role/i.test(message)) return 'service-linked-role';
    if (/unable to assume the role/i.test(message)) return 'role';
  }
  if (isAwsError(err, 'ValidationException') && /ECS service doesn't exist/i.test(message)) return 'scalable-target';
  return undefined;
}

const HINTS: Record<PropagationKind, string> = {
  'service-linked-role':
    'AWS is still creating the ECS service-linked role (AWSServiceRoleForECS); rerun provision in a minute, or create it once: aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com',
  'scalable-target':
    'ECS has not yet made the new service visible to Application Auto Scaling; rerun provision in a minute',
  role: 'IAM has not yet propagated a new role to ECS; rerun in a minute (and check its trust policy names ecs-tasks.amazonaws.com)',
};

export interface PropagationOptions {
  /** Longest total wait (default 30 s). */
  budgetMs?: number;
  /** First delay, doubled after each refusal up to `maxDelayMs` (defaults 500 ms / 5 s). */
  firstDelayMs?: number;
  maxDelayMs?: number;
  /** For tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn`, retrying it while AWS answers one of the propagation errors above. */
export async function retryPropagation<T>(
  what: string,
  fn: () => Promise<T>,
  opts: PropagationOptions = {},
): Promise<T> {
  const { budgetMs = 30_000, firstDelayMs = 500, maxDelayMs = 5_000, sleep = pause, now = Date.now } = opts;
  const deadline = now() + budgetMs;
  let delay = firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const kind = propagationKind(err);
      if (!kind) throw err;
      const left = deadline - now();
      if (left <= 0) {
        throw new PatchworkError(
          'PW_TIMEOUT',
          `${what}: AWS still refuses after ${attempt} attempts (${Math.round(budgetMs / 1000)} s): ${messageOf(err).split('\n')[0]}`,
          { hint: HINTS[kind], data: { propagation: kind, attempts: attempt }, cause: err },
        );
      }
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}
