/**
 * ECS calls with limits the SDK does not handle for us.
 *
 * DescribeServices takes at most 10 services a call (ECS answers `InvalidParameterException:
 * service names can have at most 10 items.` beyond that): `describeServices` splits the names into
 * batches of 10, sends them in parallel, and merges `services` and `failures` in the caller's order.
 */
import {
  DescribeServicesCommand,
  type ECSClient,
  type Failure,
  type Service,
  type ServiceField,
} from '@aws-sdk/client-ecs';

/** ECS's documented maximum of services per DescribeServices call. */
export const DESCRIBE_SERVICES_MAX = 10;

export interface DescribeServicesOptions {
  include?: ServiceField[];
  abortSignal?: AbortSignal;
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
  const batches: string[][] = [];
  for (let i = 0; i < names.length; i += DESCRIBE_SERVICES_MAX) batches.push(names.slice(i, i + DESCRIBE_SERVICES_MAX));
  const pages = await Promise.all(
    batches.map((services) =>
      ecs.send(
        new DescribeServicesCommand({ cluster, services, ...(opts.include ? { include: opts.include } : {}) }),
        opts.abortSignal ? { abortSignal: opts.abortSignal } : {},
      ),
    ),
  );
  const index = new Map<string, number>();
  names.forEach((n, i) => {
    if (!index.has(n)) index.set(n, i);
  });
  const services = pages.flatMap((p) => p.services ?? []);
  const failures = pages.flatMap((p) => p.failures ?? []);
  // Promise.all keeps the batches in order; these stable sorts also order what a batch answered
  // out of order (ECS answers in request order, but nothing promises it).
  services.sort((a, b) => rank(index, a.serviceName, a.serviceArn) - rank(index, b.serviceName, b.serviceArn));
  failures.sort((a, b) => rank(index, a.arn) - rank(index, b.arn));
  return { services, failures };
}
