import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/lib/env.js';
import {
  checkNetwork,
  type NetworkFacts,
  type NetworkIntent,
  preflightApplies,
  servicesNeeded,
} from '../../src/lib/observe/network-preflight.js';

const VPC = 'vpc-1';
const base = (): NetworkFacts => ({
  subnets: [
    { id: 'subnet-pa', vpcId: VPC, az: 'eu-west-1a' },
    { id: 'subnet-pb', vpcId: VPC, az: 'eu-west-1b' },
    { id: 'subnet-qa', vpcId: VPC, az: 'eu-west-1a' },
    { id: 'subnet-qc', vpcId: VPC, az: 'eu-west-1c' },
    { id: 'subnet-other', vpcId: 'vpc-2', az: 'eu-west-1a' },
  ],
  routeTables: [
    { id: 'rtb-main', vpcId: VPC, main: true, subnetIds: [] },
    { id: 'rtb-pub', vpcId: VPC, main: false, subnetIds: ['subnet-pa', 'subnet-pb'], defaultGateway: 'igw-1' },
  ],
  natGateways: [],
  endpoints: [],
});
const intent = (over: Partial<NetworkIntent> = {}): NetworkIntent => ({
  vpcId: VPC,
  publicSubnets: ['subnet-pa', 'subnet-pb'],
  privateSubnets: ['subnet-qa'],
  services: ['logs'],
  ...over,
});
const ep = (service: string, over: Partial<NetworkFacts['endpoints'][number]> = {}) => ({
  service,
  type: 'Interface',
  state: 'available',
  routeTableIds: [],
  privateDns: true,
  ...over,
});

describe('checkNetwork', () => {
  it('a private subnet on the main route table with no NAT route and no endpoints: named, with the missing route', () => {
    expect(checkNetwork(intent(), base())).toEqual([
      {
        key: 'privateSubnets',
        subnet: 'subnet-qa',
        message:
          'private subnet subnet-qa (eu-west-1a): no 0.0.0.0/0 route to a NAT gateway (route table rtb-main) and vpc-1 lacks the VPC endpoints ecr.api, ecr.dkr, s3, logs: tasks there cannot pull their image (CannotPullContainerError)',
        fix: 'add a route 0.0.0.0/0 to a NAT gateway in a public subnet (aws ec2 create-route --route-table-id rtb-main --destination-cidr-block 0.0.0.0/0 --nat-gateway-id <nat>), or create the endpoints com.amazonaws.<region>.ecr.api, com.amazonaws.<region>.ecr.dkr, com.amazonaws.<region>.s3, com.amazonaws.<region>.logs',
      },
    ]);
  });

  it('a NAT gateway route (available) is a way out; a deleted NAT gateway is not', () => {
    const facts = base();
    facts.routeTables[0]!.defaultNat = 'nat-1';
    facts.natGateways = [{ id: 'nat-1', state: 'available' }];
    expect(checkNetwork(intent(), facts)).toEqual([]);
    facts.natGateways = [{ id: 'nat-1', state: 'deleted' }];
    expect(checkNetwork(intent(), facts).map((p) => p.message)).toEqual([
      'private subnet subnet-qa (eu-west-1a): its 0.0.0.0/0 route goes to nat-1, which is not available (route table rtb-main) and vpc-1 lacks the VPC endpoints ecr.api, ecr.dkr, s3, logs: tasks there cannot pull their image (CannotPullContainerError)',
    ]);
  });

  it('the endpoints: ecr.api, ecr.dkr, the S3 gateway on the subnet route table, logs, and the secrets service', () => {
    const facts = base();
    facts.endpoints = [
      ep('ecr.api'),
      ep('ecr.dkr'),
      ep('logs'),
      ep('s3', { type: 'Gateway', routeTableIds: ['rtb-pub'] }),
    ];
    // The S3 gateway serves another route table only.
    expect(checkNetwork(intent(), facts).map((p) => p.message)).toEqual([
      'private subnet subnet-qa (eu-west-1a): no 0.0.0.0/0 route to a NAT gateway (route table rtb-main) and vpc-1 lacks the VPC endpoints s3: tasks there cannot pull their image (CannotPullContainerError)',
    ]);
    facts.endpoints[3]!.routeTableIds.push('rtb-main');
    expect(checkNetwork(intent(), facts)).toEqual([]);
    expect(checkNetwork(intent({ services: ['logs', 'secretsmanager'] }), facts).map((p) => p.message)).toEqual([
      'private subnet subnet-qa (eu-west-1a): no 0.0.0.0/0 route to a NAT gateway (route table rtb-main) and vpc-1 lacks the VPC endpoints secretsmanager: tasks there cannot pull their image (CannotPullContainerError)',
    ]);
    // An interface endpoint without private DNS does not answer the service's name.
    facts.endpoints[0]!.privateDns = false;
    expect(checkNetwork(intent(), facts).map((p) => p.subnet)).toEqual(['subnet-qa']);
  });

  it('a public subnet without an internet gateway route; the load balancer in one zone', () => {
    const facts = base();
    facts.routeTables[0]!.defaultNat = 'nat-1';
    facts.natGateways = [{ id: 'nat-1', state: 'available' }];
    expect(checkNetwork(intent({ publicSubnets: ['subnet-pa', 'subnet-qa'], privateSubnets: [] }), facts)).toEqual([
      {
        key: 'publicSubnets',
        subnet: 'subnet-qa',
        message:
          'public subnet subnet-qa (eu-west-1a) has no 0.0.0.0/0 route to an internet gateway (route table rtb-main: 0.0.0.0/0 goes to nat-1)',
        fix: 'aws ec2 create-route --route-table-id rtb-main --destination-cidr-block 0.0.0.0/0 --gateway-id <igw of vpc-1>, or list public subnets that have one',
      },
      {
        key: 'publicSubnets',
        message:
          "the load balancer's subnets span 1 availability zone (eu-west-1a); an Application Load Balancer needs two or more",
        fix: 'list public subnets in at least two availability zones',
      },
    ]);
  });

  it('tasks in a zone the load balancer is not in; subnets of another VPC', () => {
    const facts = base();
    facts.routeTables[0]!.defaultNat = 'nat-1';
    facts.natGateways = [{ id: 'nat-1', state: 'available' }];
    expect(checkNetwork(intent({ privateSubnets: ['subnet-qa', 'subnet-qc'] }), facts)).toEqual([
      {
        key: 'privateSubnets',
        subnet: 'subnet-qc',
        message:
          "tasks' subnet subnet-qc (eu-west-1c) is in an availability zone the load balancer is not enabled in (eu-west-1a, eu-west-1b): its targets there would get no traffic",
        fix: "add a public subnet in eu-west-1c to publicSubnets, or keep privateSubnets to the load balancer's zones",
      },
    ]);
    expect(checkNetwork(intent({ privateSubnets: ['subnet-other'] }), facts)).toEqual([
      {
        key: 'privateSubnets',
        subnet: 'subnet-other',
        message: 'subnet subnet-other is in vpc-2, not in vpc-1',
        fix: 'use subnets of vpc-1, or set network.vpc to vpc-2',
      },
    ]);
  });

  it('public subnets with an internet gateway route and tasks there (no private subnets): nothing to say', () => {
    expect(checkNetwork(intent({ privateSubnets: [] }), base())).toEqual([]);
  });
});

describe('when the preflight runs', () => {
  // biome-ignore lint/suspicious/noExplicitAny: a minimal resolved environment
  const target = (network: any, services: any[] = []) => ({ network, services }) as any;
  it('only for given subnets, not the default VPC alone nor a network patchwork creates', () => {
    expect(preflightApplies(target({ vpc: 'default', publicSubnets: null, privateSubnets: null }))).toBe(false);
    expect(preflightApplies(target({ vpc: 'vpc-1', publicSubnets: ['subnet-a'], privateSubnets: null }))).toBe(true);
    expect(preflightApplies(target({ create: true, vpc: 'default', publicSubnets: null, privateSubnets: null }))).toBe(
      false,
    );
  });
  it('logs always; ssm or secretsmanager as the secrets name them', () => {
    expect(
      servicesNeeded(
        target({}, [
          { secrets: { A: 'arn:aws:ssm:eu-west-1:1:parameter/a' } },
          { secrets: { B: 'arn:aws:secretsmanager:eu-west-1:1:secret:b-AbCdEf' } },
        ]),
      ),
    ).toEqual(['logs', 'secretsmanager', 'ssm']);
    expect(servicesNeeded(target({}, [{ secrets: {} }]))).toEqual(['logs']);
  });
  it('PATCHWORK_SKIP_NETWORK_PREFLIGHT=1 (test-only) skips it', () => {
    expect(readEnv({ PATCHWORK_SKIP_NETWORK_PREFLIGHT: '1' }).skipNetworkPreflight).toBe(true);
    expect(readEnv({}).skipNetworkPreflight).toBe(false);
  });
});
