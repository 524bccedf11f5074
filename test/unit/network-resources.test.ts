/**
 * Request payloads of the network kinds' handlers (aws-sdk-client-mock): a route table repaired
 * in place, a NAT gateway created then waited for (and one a killed run left pending waited for,
 * never created again), deleted then waited for; an Elastic IP a NAT
 * gateway still holds is retried until released; a delete still blocked after the budget is PW_TIMEOUT.
 */
import {
  CreateNatGatewayCommand,
  CreateRouteCommand,
  CreateTagsCommand,
  DeleteNatGatewayCommand,
  DeleteSubnetCommand,
  DescribeNatGatewaysCommand,
  EC2Client,
  ReleaseAddressCommand,
  ReplaceRouteCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApplyContext } from '../../src/lib/apply/context.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { Emitter } from '../../src/lib/events.js';
import { plan } from '../../src/lib/plan/index.js';
import { REGISTRY } from '../../src/lib/resources/index.js';
import type { ObservedOf } from '../../src/lib/resources/kind.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { FACTS } from './provision-fixtures.js';

afterAll(restoreAwsMocks);

const ENV = { app: 'shop', env: 'prod', name: 'shop-prod', region: 'eu-west-1' };
const TAGS = { 'patchwork:app': 'shop', 'patchwork:env': 'prod', 'managed-by': 'patchwork' };

function context(): ApplyContext {
  return {
    aws: testClients(),
    region: 'eu-west-1',
    facts: FACTS,
    ids: {
      securityGroups: new Map(),
      targetGroups: new Map(),
      loadBalancers: new Map(),
      listeners: new Map(),
      network: new Map([
        ['vpc/shop-prod', 'vpc-0a'],
        ['subnet/shop-prod-public-eu-west-1a', 'subnet-0p'],
        ['elastic-ip/shop-prod-nat-eu-west-1a', 'eipalloc-0e'],
        ['nat-gateway/shop-prod-nat-eu-west-1a', 'nat-0n'],
        ['internet-gateway/shop-prod', 'igw-0i'],
      ]),
    },
    events: new Emitter(),
    pollMs: 1,
    waitMs: 200,
  };
}

const table = (routes: ObservedOf<'route-table'>['routes']): ObservedOf<'route-table'> => ({
  kind: 'route-table',
  name: 'shop-prod-private-eu-west-1a',
  id: 'rtb-0r',
  tags: { ...TAGS, Name: 'shop-prod-private-eu-west-1a' },
  vpc: 'shop-prod',
  routes,
  subnets: [],
  meta: { associations: {} },
});

describe('network handlers', () => {
  it('route table: a missing NAT route is created, a route to another target replaced', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(CreateRouteCommand).resolves({ Return: true });
    ec2.on(ReplaceRouteCommand).resolves({});
    const want = table([{ destination: '0.0.0.0/0', target: 'nat-gateway/shop-prod-nat-eu-west-1a' }]);
    const diff = [{ field: 'routes', from: [], to: want.routes }];
    await REGISTRY['route-table'].update(context(), want, table([]), diff);
    expect(ec2.commandCalls(CreateRouteCommand).map((c) => c.args[0].input)).toEqual([
      { RouteTableId: 'rtb-0r', DestinationCidrBlock: '0.0.0.0/0', NatGatewayId: 'nat-0n' },
    ]);
    await REGISTRY['route-table'].update(
      context(),
      want,
      table([{ destination: '0.0.0.0/0', target: 'internet-gateway/shop-prod' }]),
      diff,
    );
    expect(ec2.commandCalls(ReplaceRouteCommand).map((c) => c.args[0].input)).toEqual([
      { RouteTableId: 'rtb-0r', DestinationCidrBlock: '0.0.0.0/0', NatGatewayId: 'nat-0n' },
    ]);
  });

  it('NAT gateway: created in its subnet with its Elastic IP and tags, then waited for until available', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(CreateNatGatewayCommand).resolves({ NatGateway: { NatGatewayId: 'nat-0new', State: 'pending' } });
    ec2
      .on(DescribeNatGatewaysCommand)
      .resolvesOnce({ NatGateways: [{ NatGatewayId: 'nat-0new', State: 'pending' }] })
      .resolves({ NatGateways: [{ NatGatewayId: 'nat-0new', State: 'available' }] });
    const ctx = context();
    await REGISTRY['nat-gateway'].create(ctx, {
      kind: 'nat-gateway',
      name: 'shop-prod-nat-eu-west-1a',
      tags: { ...TAGS, Name: 'shop-prod-nat-eu-west-1a' },
      subnet: 'shop-prod-public-eu-west-1a',
      eip: 'shop-prod-nat-eu-west-1a',
    });
    expect(ec2.commandCalls(CreateNatGatewayCommand).map((c) => c.args[0].input)).toEqual([
      {
        SubnetId: 'subnet-0p',
        AllocationId: 'eipalloc-0e',
        ConnectivityType: 'public',
        TagSpecifications: [
          {
            ResourceType: 'natgateway',
            Tags: [
              { Key: 'patchwork:app', Value: 'shop' },
              { Key: 'patchwork:env', Value: 'prod' },
              { Key: 'managed-by', Value: 'patchwork' },
              { Key: 'Name', Value: 'shop-prod-nat-eu-west-1a' },
            ],
          },
        ],
      },
    ]);
    expect(ec2.commandCalls(DescribeNatGatewaysCommand).length).toBeGreaterThanOrEqual(2);
    expect(ctx.ids.network?.get('nat-gateway/shop-prod-nat-eu-west-1a')).toBe('nat-0new');
  });

  it('NAT gateway left pending (a killed run): planned as an update of state, applied by waiting, nothing created', async () => {
    const want = {
      kind: 'nat-gateway' as const,
      name: 'shop-prod-nat-eu-west-1a',
      tags: TAGS,
      subnet: 'shop-prod-public-eu-west-1a',
      eip: 'shop-prod-nat-eu-west-1a',
      state: 'available' as const,
    };
    const have: ObservedOf<'nat-gateway'> = { ...want, id: 'nat-0n', state: 'pending' };
    const planned = plan({ env: ENV, resources: [want], warnings: [] }, [have]).changes;
    expect(planned.map(({ action, reason, diff }) => ({ action, reason, diff }))).toEqual([
      {
        action: 'update',
        reason: 'still pending (a run stopped waiting): wait until available',
        diff: [{ field: 'state', from: 'pending', to: 'available' }],
      },
    ]);
    expect(
      plan({ env: ENV, resources: [want], warnings: [] }, [{ ...have, state: 'available' }]).changes[0]!.action,
    ).toBe('noop');
    const ec2 = awsMock(EC2Client);
    ec2
      .on(DescribeNatGatewaysCommand)
      .resolvesOnce({ NatGateways: [{ NatGatewayId: 'nat-0n', State: 'pending' }] })
      .resolves({ NatGateways: [{ NatGatewayId: 'nat-0n', State: 'available' }] });
    await REGISTRY['nat-gateway'].update(context(), want, have, planned[0]!.diff!);
    expect(ec2.commandCalls(DescribeNatGatewaysCommand).length).toBeGreaterThanOrEqual(2);
    expect(ec2.commandCalls(CreateNatGatewayCommand)).toHaveLength(0);
    expect(ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
  });

  it('NAT gateway delete waits until deleted; never deleted within the budget is PW_TIMEOUT', async () => {
    const ec2 = awsMock(EC2Client);
    ec2.on(DeleteNatGatewayCommand).resolves({ NatGatewayId: 'nat-0n' });
    ec2
      .on(DescribeNatGatewaysCommand)
      .resolvesOnce({ NatGateways: [{ NatGatewayId: 'nat-0n', State: 'deleting' }] })
      .resolves({ NatGateways: [{ NatGatewayId: 'nat-0n', State: 'deleted' }] });
    const have: ObservedOf<'nat-gateway'> = {
      kind: 'nat-gateway',
      name: 'shop-prod-nat-eu-west-1a',
      id: 'nat-0n',
      tags: TAGS,
      subnet: 'shop-prod-public-eu-west-1a',
      eip: 'shop-prod-nat-eu-west-1a',
    };
    await REGISTRY['nat-gateway'].delete(context(), have, {});
    expect(ec2.commandCalls(DeleteNatGatewayCommand)).toHaveLength(1);

    ec2.on(DescribeNatGatewaysCommand).resolves({ NatGateways: [{ NatGatewayId: 'nat-0n', State: 'deleting' }] });
    const err = await REGISTRY['nat-gateway'].delete(context(), have, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PatchworkError);
    expect((err as PatchworkError).code).toBe('PW_TIMEOUT');
  });

  it('an Elastic IP still held (AuthFailure) is retried until released; a subnet still in use past the budget is PW_TIMEOUT', async () => {
    const ec2 = awsMock(EC2Client);
    const held = Object.assign(new Error('You do not have permission to access the specified resource.'), {
      name: 'AuthFailure',
      $metadata: { httpStatusCode: 400 },
    });
    ec2.on(ReleaseAddressCommand).rejectsOnce(held).resolves({});
    await REGISTRY['elastic-ip'].delete(
      context(),
      { kind: 'elastic-ip', name: 'shop-prod-nat-eu-west-1a', id: 'eipalloc-0e', tags: TAGS },
      {},
    );
    expect(ec2.commandCalls(ReleaseAddressCommand).map((c) => c.args[0].input)).toEqual([
      { AllocationId: 'eipalloc-0e' },
      { AllocationId: 'eipalloc-0e' },
    ]);

    const busy = Object.assign(new Error("The subnet 'subnet-0p' has dependencies and cannot be deleted."), {
      name: 'DependencyViolation',
      $metadata: { httpStatusCode: 400 },
    });
    ec2.on(DeleteSubnetCommand).rejects(busy);
    const err = await REGISTRY.subnet
      .delete(
        context(),
        {
          kind: 'subnet',
          name: 'shop-prod-public-eu-west-1a',
          id: 'subnet-0p',
          tags: TAGS,
          vpc: 'shop-prod',
          cidr: '10.0.0.0/19',
          zone: 'eu-west-1a',
        },
        {},
      )
      .catch((e: unknown) => e);
    expect((err as PatchworkError).code).toBe('PW_TIMEOUT');
    expect(ec2.commandCalls(DeleteSubnetCommand).length).toBeGreaterThan(1);
  });
});
