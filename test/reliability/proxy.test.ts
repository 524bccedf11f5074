/**
 * The fault proxy itself: it names service and operation for every protocol the SDK clients use,
 * and what it injects is what each SDK client classifies as retryable (throttling / transient),
 * so the scenarios built on it test patchwork, not a malformed fake.
 */

import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeClustersCommand, ECSClient } from '@aws-sdk/client-ecs';
import { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../faults/proxy.js';
import { localWorld } from '../helpers/localworld.js';

let proxy: FaultProxy;
let url = '';

beforeAll(async () => {
  ({ proxy, url } = await startFaultProxy({ target: localWorld().endpoint, seed: 7 }));
});
afterAll(async () => proxy.close());
beforeEach(() => {
  proxy.reset();
  proxy.configure([]);
});

function clients(maxAttempts: number) {
  const world = localWorld();
  const base = {
    region: world.region,
    endpoint: url,
    credentials: { accessKeyId: world.accessKeyId, secretAccessKey: world.secretAccessKey },
    maxAttempts,
    retryMode: 'standard' as const,
  };
  return {
    ecs: () => new ECSClient(base).send(new DescribeClustersCommand({})),
    elbv2: () => new ElasticLoadBalancingV2Client(base).send(new DescribeLoadBalancersCommand({})),
    ec2: () => new EC2Client(base).send(new DescribeVpcsCommand({})),
    cloudwatch: () =>
      new CloudWatchClient({ ...base, disableRequestCompression: true }).send(new DescribeAlarmsCommand({})),
    dynamodb: () => new DynamoDBClient(base).send(new ListTablesCommand({})),
  };
}

const expected: Record<string, [string, string]> = {
  ecs: ['ecs', 'DescribeClusters'],
  elbv2: ['elasticloadbalancing', 'DescribeLoadBalancers'],
  ec2: ['ec2', 'DescribeVpcs'],
  cloudwatch: ['monitoring', 'DescribeAlarms'],
  dynamodb: ['dynamodb', 'ListTables'],
};

describe('fault proxy', () => {
  it('forwards untouched without rules and names service and operation for each protocol', async () => {
    const c = clients(1);
    for (const [name, call] of Object.entries(c)) {
      await call();
      const last = proxy.log.at(-1)!;
      expect([last.service, last.operation], name).toEqual(expected[name]);
      expect(last.status).toBe(200);
      expect(last.injected).toBeNull();
    }
  });

  it.each(['throttle', 'serverError', 'reset'] as const)(
    'every client retries an injected %s and reports a typed error when they never stop',
    async (kind) => {
      proxy.configure([{ [kind]: 1 }]);
      const c = clients(3);
      for (const [name, call] of Object.entries(c)) {
        const before = proxy.count();
        const err = (await call().then(
          () => null,
          (e: unknown) => e,
        )) as (Error & { $metadata?: { attempts?: number }; $retryable?: unknown }) | null;
        expect(err, name).toBeInstanceOf(Error);
        // Three attempts each reached the proxy: the SDK classified the fault as retryable.
        expect(proxy.count() - before, `${name}: ${err?.name} ${err?.message}`).toBe(3);
        if (kind === 'throttle') expect(err!.$metadata?.attempts, name).toBe(3);
      }
    },
  );

  it('with rates and a seed: the same faults in the same order, and calls still succeed through retries', async () => {
    const run = async () => {
      proxy.reset();
      proxy.configure([{ throttle: 0.3, serverError: 0.1, reset: 0.05 }], 42);
      const c = clients(10);
      for (let i = 0; i < 4; i++) for (const call of Object.values(c)) await call();
      return proxy.log.map((e) => e.injected);
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(a.filter(Boolean).length).toBeGreaterThan(3);
  });

  it('holds a request: the client gets no answer until it gives up', async () => {
    const world = localWorld();
    const held = proxy.holdAfter(1);
    const ecs = new ECSClient({
      region: world.region,
      endpoint: url,
      credentials: { accessKeyId: world.accessKeyId, secretAccessKey: world.secretAccessKey },
      maxAttempts: 1,
    });
    const call = ecs.send(new DescribeClustersCommand({}), { abortSignal: AbortSignal.timeout(1000) }).then(
      () => 'answered',
      () => 'gave up',
    );
    const entry = await held;
    expect(entry.operation).toBe('DescribeClusters');
    expect(await call).toBe('gave up');
  });
});
