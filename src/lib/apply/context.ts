/** What apply handlers share: clients, facts, and the name → id maps that grow as resources are made. */
import type { AwsClients } from '../aws/clients.js';
import { isAwsError } from '../aws/errors.js';
import type { Facts } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import type { Emitter } from '../events.js';
import type { ObservedState } from '../resources/kind.js';

export interface ApplyContext {
  aws: AwsClients;
  region: string;
  facts: Facts;
  ids: ObservedState['ids'];
  events: Emitter;
  /** Milliseconds between polls while waiting on AWS (tests shorten it). */
  pollMs: number;
  /** Longest wait for one resource to settle (service draining, dependency violations). */
  waitMs: number;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `fn` while it fails with one of `names` (AWS eventual consistency, resources in use). */
export async function retryOn<T>(ctx: ApplyContext, names: string[], fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ctx.waitMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isAwsError(err, ...names) || Date.now() > deadline) throw err;
      await sleep(ctx.pollMs);
    }
  }
}

/** The waiter settings of an SDK `waitFor*`: poll every `pollMs`, give up after `waitMs`. */
export function waiter<C>(ctx: Pick<ApplyContext, 'pollMs' | 'waitMs'>, client: C) {
  const delay = Math.max(ctx.pollMs, 1) / 1000;
  return { client, minDelay: delay, maxDelay: delay, maxWaitTime: Math.max(ctx.waitMs / 1000, delay * 2) };
}

/**
 * The outcome of an SDK `waitFor*` call: success returns, a timeout is PW_TIMEOUT (exit 4), a
 * failure state (the waiter saw AWS refuse) is PW_AWS_ERROR. `gone` accepts a failure state that
 * means "no longer exists" (ECS answers MISSING for a service deleted long enough ago).
 */
export function settled(
  what: string,
  result: { state: string; reason?: unknown },
  gone: (reason: unknown) => boolean = () => false,
): void {
  const state = String(result.state);
  if (state === 'SUCCESS') return;
  if (state === 'TIMEOUT') {
    throw new PatchworkError('PW_TIMEOUT', `timed out waiting for ${what}`, {
      hint: 'AWS is still settling; run the command again in a few minutes',
    });
  }
  if (state === 'FAILURE' && gone(result.reason)) return;
  if (state === 'ABORTED') throw new PatchworkError('PW_TIMEOUT', `stopped waiting for ${what}`);
  throw new PatchworkError('PW_AWS_ERROR', `AWS reported a failure while waiting for ${what}`, {
    cause: result.reason,
  });
}

export const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
export const tagListLower = (tags: Record<string, string>) =>
  Object.entries(tags).map(([key, value]) => ({ key, value }));

/** A security group name → id (names patchwork does not manage are ids already). */
export function sgId(ctx: ApplyContext, nameOrId: string): string {
  const id = ctx.ids.securityGroups.get(nameOrId);
  if (id) return id;
  if (/^sg-/.test(nameOrId)) return nameOrId;
  throw new PatchworkError('PW_UNEXPECTED', `security group ${nameOrId} does not exist yet`);
}

export function tgArn(ctx: ApplyContext, name: string): string {
  const arn = ctx.ids.targetGroups.get(name);
  if (arn) return arn;
  if (name.startsWith('arn:')) return name;
  throw new PatchworkError('PW_UNEXPECTED', `target group ${name} does not exist yet`);
}

export function lbArn(ctx: ApplyContext, name: string): string {
  const arn = ctx.ids.loadBalancers.get(name);
  if (!arn) throw new PatchworkError('PW_UNEXPECTED', `load balancer ${name} does not exist yet`);
  return arn;
}
