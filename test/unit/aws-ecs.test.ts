/** describeServices: ECS takes at most 10 services a DescribeServices call. */
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { DESCRIBE_SERVICES_MAX, describeServices } from '../../src/lib/aws/ecs.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());

const client = () => new ECSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const arn = (name: string) => `arn:aws:ecs:eu-west-1:123456789012:service/shop-prod/${name}`;

describe('describeServices', () => {
  it('sends 23 names as 3 calls of at most 10, and merges services and failures in the caller order', async () => {
    const m = awsMock(ECSClient);
    const names = Array.from({ length: 23 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
    const missing = new Set(['svc-03', 'svc-14', 'svc-22']);
    m.on(DescribeServicesCommand).callsFake(async (input: { services: string[] }) => {
      // Each batch answers in reverse order, and the later batches answer first.
      const delay = 30 - input.services.length - Number(input.services[0]!.slice(4));
      await new Promise((r) => setTimeout(r, Math.max(0, delay)));
      const found = input.services.filter((n) => !missing.has(n)).reverse();
      return {
        services: found.map((n) => ({ serviceName: n, serviceArn: arn(n), status: 'ACTIVE' })),
        failures: input.services
          .filter((n) => missing.has(n))
          .reverse()
          .map((n) => ({ arn: arn(n), reason: 'MISSING' })),
      };
    });
    const out = await describeServices(client(), 'shop-prod', names);
    const calls = m.commandCalls(DescribeServicesCommand);
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => c.args[0].input.services)).toEqual([
      names.slice(0, 10),
      names.slice(10, 20),
      names.slice(20),
    ]);
    for (const c of calls) {
      expect(c.args[0].input.services!.length).toBeLessThanOrEqual(DESCRIBE_SERVICES_MAX);
      expect(c.args[0].input.cluster).toBe('shop-prod');
    }
    expect(out.services.map((s) => s.serviceName)).toEqual(names.filter((n) => !missing.has(n)));
    expect(out.failures).toEqual([...missing].map((n) => ({ arn: arn(n), reason: 'MISSING' })));
  });

  it('keeps the order of names given as ARNs, passes include, and sends nothing for no names', async () => {
    const m = awsMock(ECSClient);
    m.on(DescribeServicesCommand).callsFake(async (input: { services: string[] }) => ({
      services: [...input.services].reverse().map((a) => ({ serviceName: a.split('/').pop(), serviceArn: a })),
    }));
    const names = ['b', 'a', 'c'].map(arn);
    const out = await describeServices(client(), 'shop-prod', names, { include: ['TAGS'] });
    expect(out.services.map((s) => s.serviceArn)).toEqual(names);
    expect(out.failures).toEqual([]);
    expect(m.commandCalls(DescribeServicesCommand)[0]!.args[0].input.include).toEqual(['TAGS']);
    expect(await describeServices(client(), 'shop-prod', [])).toEqual({ services: [], failures: [] });
    expect(m.commandCalls(DescribeServicesCommand)).toHaveLength(1);
  });

  it('throws what a batch throws', async () => {
    const m = awsMock(ECSClient);
    m.on(DescribeServicesCommand).rejects(
      Object.assign(new Error('Cluster not found.'), { name: 'ClusterNotFoundException' }),
    );
    await expect(describeServices(client(), 'nope', ['a'])).rejects.toMatchObject({ name: 'ClusterNotFoundException' });
  });
  it('with a grace, asks again for MISSING services until they appear (a just-created service), then stops', async () => {
    const m = awsMock(ECSClient);
    let round = 0;
    m.on(DescribeServicesCommand).callsFake(async (input: { services: string[] }) => {
      round++;
      const visible = (n: string) => n !== 'web' || round >= 3; // web shows from the third read on
      return {
        services: input.services.filter(visible).map((n) => ({ serviceName: n, serviceArn: arn(n), status: 'ACTIVE' })),
        failures: input.services.filter((n) => !visible(n)).map((n) => ({ arn: arn(n), reason: 'MISSING' })),
      };
    });
    const out = await describeServices(client(), 'shop-prod', ['web', 'api'], {
      missingGraceMs: 5_000,
      graceStepMs: 1,
    });
    const calls = m.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input.services);
    expect(calls).toEqual([['web', 'api'], ['web'], ['web']]); // only the missing name is asked again
    expect(out.services.map((s) => s.serviceName)).toEqual(['web', 'api']); // the caller's order
    expect(out.failures).toEqual([]);

    // Still missing when the grace runs out: the failure stands. No grace: one call.
    m.reset();
    m.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: arn('gone'), reason: 'MISSING' }] });
    const gone = await describeServices(client(), 'shop-prod', ['gone'], { missingGraceMs: 20, graceStepMs: 5 });
    expect(gone.failures).toEqual([{ arn: arn('gone'), reason: 'MISSING' }]);
    expect(m.commandCalls(DescribeServicesCommand).length).toBeGreaterThan(1);
    m.reset();
    m.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: arn('gone'), reason: 'MISSING' }] });
    await describeServices(client(), 'shop-prod', ['gone']);
    expect(m.commandCalls(DescribeServicesCommand)).toHaveLength(1);
  });
});
