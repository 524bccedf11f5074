/**
 * First provision in a fresh account (issue 14 item 2): the service-linked roles made before the
 * first create (GetRole, else CreateServiceLinkedRole; "has been taken" = exists), and the
 * propagation errors retried with a bound (aws-sdk-client-mock).
 */
import { ApplicationAutoScalingClient, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CreateClusterCommand, ECSClient } from '@aws-sdk/client-ecs';
import { CreateServiceLinkedRoleCommand, GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApplyContext } from '../../src/lib/apply/context.js';
import { propagationKind, retryPropagation } from '../../src/lib/aws/propagation.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { Emitter } from '../../src/lib/events.js';
import { REGISTRY } from '../../src/lib/resources/index.js';
import {
  ensureServiceLinkedRoles,
  SERVICE_LINKED_ROLES,
  serviceLinkedRolesFor,
} from '../../src/lib/service-linked-roles.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { FACTS } from './provision-fixtures.js';

afterAll(restoreAwsMocks);

/** An SDK-shaped service error. */
function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
}

const SLR = awsError(
  'InvalidParameterException',
  'Unable to assume the service linked role. Please verify that the ECS service linked role exists.',
);
const NO_SERVICE = awsError('ValidationException', "ECS service doesn't exist: service/shop-prod/web");
const NEW_ROLE = awsError(
  'InvalidParameterException',
  "ECS was unable to assume the role 'arn:aws:iam::123456789012:role/shop-prod-exec' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role.",
);

describe('ensureServiceLinkedRoles', () => {
  const iam = awsMock(IAMClient);
  beforeEach(() => iam.reset());

  it('creates a role GetRole does not find, and leaves one it finds', async () => {
    iam
      .on(GetRoleCommand, { RoleName: 'AWSServiceRoleForECS' })
      .rejects(awsError('NoSuchEntityException', 'The role with name AWSServiceRoleForECS cannot be found.'))
      .on(GetRoleCommand, { RoleName: 'AWSServiceRoleForElasticLoadBalancing' })
      .resolves({ Role: { RoleName: 'AWSServiceRoleForElasticLoadBalancing' } as never })
      .on(CreateServiceLinkedRoleCommand)
      .resolves({ Role: { RoleName: 'AWSServiceRoleForECS' } as never });
    const out = await ensureServiceLinkedRoles(testClients(), [SERVICE_LINKED_ROLES.ecs, SERVICE_LINKED_ROLES.elb]);
    expect(out).toEqual({ AWSServiceRoleForECS: 'created', AWSServiceRoleForElasticLoadBalancing: 'exists' });
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand).map((c) => c.args[0].input)).toEqual([
      { AWSServiceName: 'ecs.amazonaws.com' },
    ]);
  });

  it('takes IAM\'s "has been taken" (another run made it meanwhile) as success', async () => {
    iam
      .on(GetRoleCommand)
      .rejects(awsError('NoSuchEntityException', 'not found'))
      .on(CreateServiceLinkedRoleCommand)
      .rejects(
        awsError(
          'InvalidInputException',
          'Service role name AWSServiceRoleForECS has been taken in this account, please try a different suffix.',
        ),
      );
    expect(await ensureServiceLinkedRoles(testClients(), [SERVICE_LINKED_ROLES.ecs])).toEqual({
      AWSServiceRoleForECS: 'exists',
    });
  });

  it('lets any other refusal through (e.g. no iam:CreateServiceLinkedRole)', async () => {
    iam
      .on(GetRoleCommand)
      .rejects(awsError('NoSuchEntityException', 'not found'))
      .on(CreateServiceLinkedRoleCommand)
      .rejects(awsError('AccessDenied', 'not authorized to perform: iam:CreateServiceLinkedRole'));
    await expect(ensureServiceLinkedRoles(testClients(), [SERVICE_LINKED_ROLES.ecs])).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    iam.reset();
    iam.on(GetRoleCommand).rejects(awsError('InvalidInputException', 'bad name'));
    await expect(ensureServiceLinkedRoles(testClients(), [SERVICE_LINKED_ROLES.ecs])).rejects.toMatchObject({
      name: 'InvalidInputException',
    });
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand)).toHaveLength(0);
  });

  it('makes no call when no role is needed', async () => {
    expect(await ensureServiceLinkedRoles(testClients(), [])).toEqual({});
    expect(iam.calls()).toHaveLength(0);
  });
});

describe('serviceLinkedRolesFor', () => {
  it('asks for the roles of the kinds a plan creates, and none for updates', () => {
    expect(
      serviceLinkedRolesFor([
        { kind: 'ecs-cluster', action: 'create' },
        { kind: 'load-balancer', action: 'create' },
        { kind: 'scalable-target', action: 'create' },
      ]).map((r) => r.roleName),
    ).toEqual([
      'AWSServiceRoleForECS',
      'AWSServiceRoleForElasticLoadBalancing',
      'AWSServiceRoleForApplicationAutoScaling_ECSService',
    ]);
    expect(serviceLinkedRolesFor([{ kind: 'ecs-service', action: 'replace' }]).map((r) => r.service)).toEqual([
      'ecs.amazonaws.com',
    ]);
    expect(
      serviceLinkedRolesFor([
        { kind: 'ecs-service', action: 'update' },
        { kind: 'load-balancer', action: 'noop' },
        { kind: 'log-group', action: 'create' },
      ]),
    ).toEqual([]);
  });
});

describe('propagation errors', () => {
  it('classifies the documented ones, and nothing else', () => {
    expect(propagationKind(SLR)).toBe('service-linked-role');
    expect(propagationKind(NO_SERVICE)).toBe('scalable-target');
    expect(propagationKind(NEW_ROLE)).toBe('role');
    expect(propagationKind(awsError('InvalidParameterException', 'Creation of service was not idempotent.'))).toBe(
      undefined,
    );
    expect(propagationKind(awsError('ValidationException', 'Maximum capacity cannot be less than minimum'))).toBe(
      undefined,
    );
    expect(propagationKind(awsError('ClientException', SLR.message))).toBe(undefined);
    expect(propagationKind(new Error(SLR.message))).toBe(undefined);
    expect(propagationKind(undefined)).toBe(undefined);
  });

  /** A clock that sleeping advances. */
  function clock() {
    let t = 0;
    const sleeps: number[] = [];
    return {
      sleeps,
      now: () => t,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        t += ms;
      },
    };
  }

  it('retries with backoff until AWS accepts', async () => {
    const c = clock();
    const answers: unknown[] = [SLR, SLR, NO_SERVICE, NEW_ROLE];
    const out = await retryPropagation(
      'create cluster',
      async () => {
        const next = answers.shift();
        if (next) throw next;
        return 'ok';
      },
      { sleep: c.sleep, now: c.now },
    );
    expect(out).toBe('ok');
    expect(c.sleeps).toEqual([500, 1000, 2000, 4000]);
  });

  it('does not retry other errors', async () => {
    const c = clock();
    let calls = 0;
    const other = awsError('InvalidParameterException', 'Creation of service was not idempotent.');
    await expect(
      retryPropagation(
        'create service',
        async () => {
          calls++;
          throw other;
        },
        { sleep: c.sleep, now: c.now },
      ),
    ).rejects.toBe(other);
    expect(calls).toBe(1);
    expect(c.sleeps).toEqual([]);
  });

  it('gives up after the bound with PW_TIMEOUT (exit 4), the AWS message and a hint', async () => {
    const c = clock();
    let calls = 0;
    const err = await retryPropagation(
      'create cluster shop-prod',
      async () => {
        calls++;
        throw SLR;
      },
      { sleep: c.sleep, now: c.now },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PatchworkError);
    const pw = err as PatchworkError;
    expect(pw.code).toBe('PW_TIMEOUT');
    expect(pw.exitCode).toBe(4);
    expect(pw.message).toContain('create cluster shop-prod');
    expect(pw.message).toContain('Unable to assume the service linked role');
    expect(pw.hint).toContain('aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com');
    expect(pw.data).toMatchObject({ propagation: 'service-linked-role', attempts: calls });
    expect(c.now()).toBe(30_000);
    // 0.5 + 1 + 2 + 4 + 5 + 5 + 5 + 5 + 2.5 s: capped at 5 s, the last sleep cut to the bound.
    expect(c.sleeps).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000, 5000, 2500]);
    expect(calls).toBe(10);
  });
});

describe('the creates that meet them retry them', () => {
  const ctx = (): ApplyContext => ({
    aws: testClients(),
    region: 'eu-west-1',
    facts: FACTS,
    ids: { securityGroups: new Map(), targetGroups: new Map(), loadBalancers: new Map(), listeners: new Map() },
    events: new Emitter(),
    pollMs: 1,
    waitMs: 1_000,
  });

  it('CreateCluster refused while the service-linked role propagates, then made', async () => {
    const ecs = awsMock(ECSClient);
    ecs.reset();
    ecs
      .on(CreateClusterCommand)
      .rejectsOnce(SLR)
      .resolves({ cluster: { clusterName: 'shop-prod' } });
    await REGISTRY['ecs-cluster'].create(ctx(), {
      kind: 'ecs-cluster',
      name: 'shop-prod',
      tags: {},
      containerInsights: 'enabled',
    });
    expect(ecs.commandCalls(CreateClusterCommand)).toHaveLength(2);
  });

  it('RegisterScalableTarget refused "ECS service doesn\'t exist" right after CreateService, then made', async () => {
    // Its middleware types differ from aws-sdk-client-mock's generic client type (a typing quirk only).
    const aas = awsMock(ApplicationAutoScalingClient as never);
    aas.reset();
    aas.on(RegisterScalableTargetCommand).rejectsOnce(NO_SERVICE).resolves({});
    await REGISTRY['scalable-target'].create(ctx(), {
      kind: 'scalable-target',
      name: 'service/shop-prod/shop-prod-web',
      service: 'web',
      tags: {},
      resourceId: 'service/shop-prod/shop-prod-web',
      min: 1,
      max: 3,
    });
    expect(aas.commandCalls(RegisterScalableTargetCommand)).toHaveLength(2);
  });
});
