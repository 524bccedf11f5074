import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, describe, expect, it } from 'vitest';
import { AwsClients } from '../../src/lib/aws/clients.js';
import { ApiCallCounter, isMutating } from '../../src/lib/aws/counter.js';
import { AWS_CONTEXT, mapAwsError } from '../../src/lib/aws/errors.js';
import { regionProblem } from '../../src/lib/aws/regions.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());

const withContext = (err: object) =>
  Object.defineProperty(err, AWS_CONTEXT, {
    value: { service: 'ECS', operation: 'DescribeServices', region: 'eu-west-1', endpoint: undefined },
  });

describe('counter', () => {
  it.each([
    ['DescribeServices', false],
    ['ListTasks', false],
    ['GetAuthorizationToken', false],
    ['BatchGetImage', false],
    ['Query', false],
    ['UpdateService', true],
    ['PutItem', true],
    ['RegisterTaskDefinition', true],
    ['BatchDeleteImage', true],
  ])('isMutating(%s) = %s', (op, m) => expect(isMutating(op)).toBe(m));

  it('snapshots totals per operation', () => {
    const c = new ApiCallCounter();
    c.record('ECS', 'DescribeServices');
    c.record('ECS', 'DescribeServices');
    c.record('ECS', 'UpdateService');
    c.attempt();
    expect(c.snapshot()).toEqual({
      total: 3,
      mutating: 1,
      attempts: 1,
      byOperation: { 'ECS.DescribeServices': 2, 'ECS.UpdateService': 1 },
    });
  });
});

describe('client factory', () => {
  it('applies region, adaptive retries and the endpoint; compression off only for CloudWatch behind an endpoint', () => {
    const aws = new AwsClients({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:1' });
    expect(aws.clientConfig('ecs')).toMatchObject({
      region: 'eu-west-1',
      retryMode: 'adaptive',
      endpoint: 'http://127.0.0.1:1',
      // A silent endpoint is an error after 30 s (then retried), not an endless wait.
      requestHandler: { requestTimeout: 30_000, throwOnRequestTimeout: true },
    });
    expect(aws.clientConfig('ecs').disableRequestCompression).toBeUndefined();
    expect(aws.clientConfig('cloudwatch').disableRequestCompression).toBe(true);
    const real = new AwsClients({ region: 'eu-west-1', endpoint: '' });
    expect(real.clientConfig('cloudwatch').disableRequestCompression).toBeUndefined();
  });

  it('creates each client once, lazily, and counts calls through the mock', async () => {
    const sts = awsMock(STSClient);
    sts.on(GetCallerIdentityCommand).resolves({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/ci' });
    const aws = testClients();
    const a = await aws.get('sts');
    expect(await aws.get('sts')).toBe(a);
    const out = await a.send(new GetCallerIdentityCommand({}));
    expect(out.Account).toBe('123456789012');
  });
});

describe('mapAwsError', () => {
  it('missing credentials', () => {
    const e = mapAwsError(
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
    );
    expect(e).toBeInstanceOf(PatchworkError);
    expect((e as PatchworkError).code).toBe('PW_NO_CREDENTIALS');
    expect((e as PatchworkError).hint).toMatch(/AWS_PROFILE/);
  });
  it('expired credentials', () => {
    const e = mapAwsError(withContext(Object.assign(new Error('token expired'), { name: 'ExpiredTokenException' })));
    expect((e as PatchworkError).code).toBe('PW_CREDENTIALS_EXPIRED');
  });
  it('unreachable endpoint, also behind AggregateError and cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const e = mapAwsError(withContext(new AggregateError([refused], 'x')));
    expect((e as PatchworkError).code).toBe('PW_ENDPOINT_UNREACHABLE');
    const e2 = mapAwsError(withContext(new Error('wrapped', { cause: { code: 'ENOTFOUND' } })));
    expect((e2 as PatchworkError).code).toBe('PW_ENDPOINT_UNREACHABLE');
  });
  it('access denied and other service errors keep service and operation', () => {
    const denied = mapAwsError(
      withContext(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' })),
    ) as PatchworkError;
    expect(denied.code).toBe('PW_ACCESS_DENIED');
    expect(denied.message).toContain('ECS.DescribeServices');
    const other = mapAwsError(
      withContext(Object.assign(new Error('boom'), { name: 'ServerException' })),
    ) as PatchworkError;
    expect(other.code).toBe('PW_AWS_ERROR');
    expect(other.exitCode).toBe(1);
  });
  it('leaves non-AWS errors alone', () => {
    const plain = new Error('x');
    expect(mapAwsError(plain)).toBe(plain);
  });
});

describe('regions', () => {
  it('knows real regions and refuses typos', () => {
    expect(regionProblem('eu-west-1')).toBeUndefined();
    expect(regionProblem('eu-wset-1')).toMatch(/unknown/);
  });
});
