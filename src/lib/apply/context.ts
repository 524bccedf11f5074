/** What apply handlers share: clients, facts, and the name → id maps that grow as resources are made. */
import type { AwsClients } from '../aws/clients.js';
import { isAwsError } from '../aws/errors.js';
import type { Facts } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import type { Emitter } from '../events.js';
import type { ObservedState } from '../observe/index.js';

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

/** Polls until `done` returns true. */
export async function waitUntil(ctx: ApplyContext, what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ctx.waitMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new PatchworkError('PW_TIMEOUT', `timed out waiting for ${what}`);
    await sleep(ctx.pollMs);
  }
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
