/**
 * What the network kinds (vpc, internet-gateway, subnet, elastic-ip, nat-gateway, route-table,
 * vpc-endpoint) share: their name → id map, the tag filters that find an environment's network
 * resources, and the bounded retry of a delete that AWS refuses while something still depends on it.
 */
import type { Filter, Tag } from '@aws-sdk/client-ec2';
import { type ApplyContext, sleep } from '../apply/context.js';
import { isAwsError } from '../aws/errors.js';
import type { DesiredState, Kind } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import type { ObservedState } from './kind.js';
import { tagsFrom } from './kind.js';

type Ids = ObservedState['ids'];

/** `kind/name` → id of the network resources observed or created. */
export function networkIds(ids: Ids): Map<string, string> {
  ids.network ??= new Map();
  return ids.network;
}

export const setNetworkId = (ids: Ids, kind: Kind, name: string, id: string): void => {
  networkIds(ids).set(`${kind}/${name}`, id);
};

/** The id of a network resource by name (a value that is an id already is returned as it is). */
export function networkId(ids: Ids, kind: Kind, name: string): string {
  const id = networkIds(ids).get(`${kind}/${name}`);
  if (id) return id;
  if (/^(vpc|subnet|igw|nat|eipalloc|rtb|vpce|sg)-[0-9a-f]+$/.test(name)) return name;
  throw new PatchworkError('PW_UNEXPECTED', `${kind} ${name} does not exist yet`);
}

/** The name of an observed id (`kind/name` keys of that kind), or the id itself. */
export function networkNameOf(ids: Ids, kind: Kind, id: string | undefined): string | null {
  if (!id) return null;
  for (const [key, value] of networkIds(ids))
    if (value === id && key.startsWith(`${kind}/`)) return key.slice(kind.length + 1);
  return id;
}

/** Tag filters for the environment's resources (`Filters`, or `Filter` for DescribeNatGateways). */
export function ownedFilters(desired: DesiredState): Filter[] {
  return [
    { Name: 'tag:patchwork:app', Values: [desired.env.app] },
    { Name: 'tag:patchwork:env', Values: [desired.env.env] },
    { Name: 'tag:managed-by', Values: ['patchwork'] },
  ];
}

/** The name patchwork gave a resource it found by tags (its Name tag), or its id. */
export const nameTag = (tags: Tag[] | undefined, id: string): string => tagsFrom(tags).Name || id;

/**
 * Runs a delete that AWS refuses with DependencyViolation (or another `busy` code) while something
 * still uses the resource (network interfaces of a deleted load balancer or stopped tasks linger
 * for minutes), retried every `pollMs` for at most `waitMs`; then PW_TIMEOUT and a rerun finishes.
 */
export async function deleteWhenFree(
  ctx: Pick<ApplyContext, 'pollMs' | 'waitMs'>,
  what: string,
  fn: () => Promise<unknown>,
  gone: string[],
  busy: string[] = ['DependencyViolation'],
): Promise<void> {
  const deadline = Date.now() + ctx.waitMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (isAwsError(err, ...gone)) return;
      if (!isAwsError(err, ...busy)) throw err;
      if (Date.now() + ctx.pollMs > deadline) {
        throw new PatchworkError('PW_TIMEOUT', `${what} is still in use after ${Math.round(ctx.waitMs / 1000)} s`, {
          hint: 'network interfaces of deleted load balancers and stopped tasks linger for minutes; run destroy again to finish',
          cause: err,
        });
      }
      await sleep(ctx.pollMs);
    }
  }
}
