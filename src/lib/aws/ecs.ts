/**
 * ECS calls with limits the SDK does not handle for us.
 *
 * DescribeServices takes at most 10 services a call (ECS answers `InvalidParameterException:
 * service names can have at most 10 items.` beyond that): `describeServices` splits the names into
 * batches of 10, sends them in parallel, and merges `services` and `failures` in the caller's order.
 */
import type { ECSClient, Failure, Service, ServiceField } from '@aws-sdk/client-ecs';
import { sleep } from '../abort.js';
import { ecsSdk } from './sdk.js';

/** ECS's documented maximum of services per DescribeServices call. */
export const DESCRIBE_SERVICES_MAX = 10;

export interface DescribeServicesOptions {
  include?: ServiceField[];
  abortSignal?: AbortSignal;
  /**
   * ECS reads are eventually consistent: a service created a moment ago may answer MISSING. With a
   * grace, MISSING names are asked again (every `graceStepMs`, default 500 ms) until they appear or
   * the grace runs out; then the MISSING failures stand. Nothing missing: no extra call.
   */
  missingGraceMs?: number;
  graceStepMs?: number;
}

export interface DescribedServices {
  services: Service[];
  failures: Failure[];
}

/** The position of a name or ARN of `names` that `s` answers; names may be short names or ARNs. */
function rank(index: Map<string, number>, ...keys: (string | undefined)[]): number {
  for (const k of keys) {
    if (!k) continue;
    const at = index.get(k) ?? index.get(k.split('/').pop() ?? '');
    if (at !== undefined) return at;
  }
  return Number.MAX_SAFE_INTEGER;
}

/**
 * DescribeServices for any number of names, 10 a call. No names: no call. The first failing batch's
 * error is thrown (ClusterNotFoundException and the like fail every batch alike).
 */
export async function describeServices(
  ecs: ECSClient,
  cluster: string,
  names: readonly string[],
  opts: DescribeServicesOptions = {},
): Promise<DescribedServices> {
  const once = async (wanted: readonly string[]): Promise<DescribedServices> => {
    const batches: string[][] = [];
    for (let i = 0; i < wanted.length; i += DESCRIBE_SERVICES_MAX)
      batches.push(wanted.slice(i, i + DESCRIBE_SERVICES_MAX));
    const pages = await Promise.all(
      batches.map((services) =>
        ecs.send(
          new (ecsSdk().DescribeServicesCommand)({
            cluster,
            services,
            ...(opts.include ? { include: opts.include } : {}),
          }),
          opts.abortSignal ? { abortSignal: opts.abortSignal } : {},
        ),
      ),
    );
    return { services: pages.flatMap((p) => p.services ?? []), failures: pages.flatMap((p) => p.failures ?? []) };
  };
  let { services, failures } = await once(names);
  const deadline = Date.now() + (opts.missingGraceMs ?? 0);
  const missingNames = () =>
    failures.filter((f) => f.reason === 'MISSING' && f.arn).map((f) => f.arn!.split('/').pop()!);
  while (missingNames().length && Date.now() < deadline) {
    await sleep(opts.graceStepMs ?? 500, opts.abortSignal);
    const missing = new Set(missingNames());
    const again = await once([...missing]);
    services = [...services, ...again.services];
    failures = [...failures.filter((f) => !missing.has(f.arn?.split('/').pop() ?? '')), ...again.failures];
  }
  const index = new Map<string, number>();
  names.forEach((n, i) => {
    if (!index.has(n)) index.set(n, i);
  });
  // Promise.all keeps the batches in order; these stable sorts also order what a batch answered
  // out of order (ECS answers in request order, but nothing promises it).
  services.sort((a, b) => rank(index, a.serviceName, a.serviceArn) - rank(index, b.serviceName, b.serviceArn));
  failures.sort((a, b) => rank(index, a.arn) - rank(index, b.arn));
  return { services, failures };
}
