/**
 * The world's IAM evaluation (test/emulator/pwemu/iameval.py, README "IAM evaluation"), with the AWS
 * CLI v2 as the client: a request signed by an IAM user of the world is authorised against the
 * user's policies (inline, managed, its groups'), answered per service protocol as AWS answers a
 * denial; iam:PassRole where ECS checks it; a task's secrets against its execution role. The
 * harness's own test credentials are never evaluated.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createFargateService, fargateTaskDefinitionArgs } from '../helpers/emulator.js';
import { createIamUser, type IamUser } from '../helpers/iam-users.js';
import { awsCli, emu, resetWorld, runAwsCli, waitFor } from '../helpers/localworld.js';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const CLUSTER = 'emu-eval';

const as = (user: IamUser) => ({
  credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey },
});

/** The CLI's refusal line: "An error occurred (Code) when calling the Op operation: message". */
function refused(args: string[], user: IamUser): string {
  const res = runAwsCli(args, as(user));
  expect(res.status, `aws ${args.join(' ')} should be refused; stdout: ${res.stdout}`).not.toBe(0);
  return res.stderr.trim();
}

function allowed(args: string[], user: IamUser) {
  return awsCli(args, as(user));
}

const clusterArn = (name: string) => `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${name}`;
const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;

function registerArgs(family: string, roles: { execution?: string; task?: string }, secrets?: unknown[]): string[] {
  return fargateTaskDefinitionArgs(
    family,
    [
      {
        name: 'web',
        image: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/web:1`,
        essential: true,
        ...(secrets ? { secrets } : {}),
      },
    ],
    [
      ...(roles.execution ? ['--execution-role-arn', roles.execution] : []),
      ...(roles.task ? ['--task-role-arn', roles.task] : []),
    ],
  );
}

const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

describe('IAM evaluation of requests signed by IAM users', () => {
  let dev: IamUser;
  beforeEach(async () => {
    await resetWorld({ requireServiceLinkedRoles: false, iamPropagationSeconds: 0 });
    dev = createIamUser('dev', {
      inline: [
        {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'ecs:Describe*', Resource: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/emu-*` },
            { Effect: 'Deny', Action: 'ecs:DescribeClusters', Resource: clusterArn('emu-secret') },
            { Effect: 'Allow', Action: 'ecs:RegisterTaskDefinition', Resource: '*' },
            {
              Effect: 'Allow',
              Action: 'iam:PassRole',
              Resource: roleArn('emu-*'),
              Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
            },
          ],
        },
      ],
    });
  });

  it('allows what a policy allows (action wildcard, resource ARN pattern) and refuses the rest as the service does', () => {
    expect(allowed(['ecs', 'describe-clusters', '--clusters', 'emu-a'], dev).failures[0].reason).toBe('MISSING');
    expect(refused(['ecs', 'describe-clusters', '--clusters', 'prod'], dev)).toBe(
      'An error occurred (AccessDeniedException) when calling the DescribeClusters operation: ' +
        `User: arn:aws:iam::${ACCOUNT}:user/dev is not authorized to perform: ecs:DescribeClusters on resource: ` +
        `${clusterArn('prod')} because no identity-based policy allows the ecs:DescribeClusters action`,
    );
  });

  it('an explicit Deny wins over an Allow, and says so', () => {
    expect(refused(['ecs', 'describe-clusters', '--clusters', 'emu-secret'], dev)).toContain(
      `is not authorized to perform: ecs:DescribeClusters on resource: ${clusterArn('emu-secret')} with an explicit deny in an identity-based policy`,
    );
  });

  it('answers in each protocol: AccessDeniedException (JSON), AccessDenied (query), UnauthorizedOperation (EC2)', () => {
    expect(refused(['dynamodb', 'describe-table', '--table-name', 'emu-t'], dev)).toMatch(
      /^An error occurred \(AccessDeniedException\) when calling the DescribeTable operation: User: arn:aws:iam::\d+:user\/dev is not authorized to perform: dynamodb:DescribeTable on resource: arn:aws:dynamodb:eu-west-1:\d+:table\/emu-t because/,
    );
    expect(refused(['iam', 'get-role', '--role-name', 'emu-x'], dev)).toMatch(
      /^An error occurred \(AccessDenied\) when calling the GetRole operation: User: .* iam:GetRole on resource: arn:aws:iam::\d+:role\/emu-x because/,
    );
    expect(refused(['ec2', 'describe-vpcs'], dev)).toMatch(
      /^An error occurred \(UnauthorizedOperation\) when calling the DescribeVpcs operation: You are not authorized to perform this operation\. User: .* ec2:DescribeVpcs on resource: \* because/,
    );
    expect(refused(['cloudwatch', 'describe-alarms'], dev)).toMatch(/\(AccessDenied\) when calling the DescribeAlarms/);
    // sts:GetCallerIdentity needs no permission
    expect(allowed(['sts', 'get-caller-identity'], dev).Arn).toBe(`arn:aws:iam::${ACCOUNT}:user/dev`);
  });

  it('RegisterTaskDefinition needs iam:PassRole on each role it names, to ecs-tasks.amazonaws.com', () => {
    const ok = allowed(
      registerArgs('emu-ok', { execution: roleArn('emu-web-execution'), task: roleArn('emu-web-task') }),
      dev,
    );
    expect(ok.taskDefinition.taskDefinitionArn).toMatch(/task-definition\/emu-ok:1$/);
    expect(
      refused(registerArgs('emu-no', { execution: roleArn('emu-web-execution'), task: roleArn('admin') }), dev),
    ).toBe(
      'An error occurred (AccessDeniedException) when calling the RegisterTaskDefinition operation: ' +
        `User: arn:aws:iam::${ACCOUNT}:user/dev is not authorized to perform: iam:PassRole on resource: ` +
        `${roleArn('admin')} because no identity-based policy allows the iam:PassRole action`,
    );
    // nothing was registered
    expect(awsCli(['ecs', 'list-task-definitions', '--family-prefix', 'emu-no']).taskDefinitionArns).toEqual([]);
  });

  it('the condition iam:PassedToService is evaluated', () => {
    const ec2Only = createIamUser('ec2only', {
      inline: [
        {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'ecs:RegisterTaskDefinition', Resource: '*' },
            {
              Effect: 'Allow',
              Action: 'iam:PassRole',
              Resource: '*',
              Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
            },
          ],
        },
      ],
    });
    expect(refused(registerArgs('emu-c', { execution: roleArn('emu-web-execution') }), ec2Only)).toContain(
      `iam:PassRole on resource: ${roleArn('emu-web-execution')} because no identity-based policy allows`,
    );
    expect(allowed(registerArgs('emu-c', {}), ec2Only).taskDefinition.revision).toBe(1);
  });

  it("managed policies and the user's groups' policies count", () => {
    const ops = createIamUser('ops', {
      managed: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'dynamodb:*', Resource: '*' }] }],
    });
    expect(allowed(['dynamodb', 'list-tables'], ops).TableNames).toEqual([]);
    expect(refused(['ecs', 'list-clusters'], ops)).toContain('ecs:ListClusters');
    awsCli(['iam', 'create-group', '--group-name', 'ecs-readers']);
    awsCli([
      'iam',
      'put-group-policy',
      '--group-name',
      'ecs-readers',
      '--policy-name',
      'read',
      '--policy-document',
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecs:List*', Resource: '*' }] }),
    ]);
    awsCli(['iam', 'add-user-to-group', '--group-name', 'ecs-readers', '--user-name', 'ops']);
    expect(allowed(['ecs', 'list-clusters'], ops).clusterArns).toEqual([]);
  });

  it("the harness's test credentials are not evaluated, and the rule is switchable", async () => {
    expect(awsCli(['ecs', 'describe-clusters', '--clusters', 'prod']).failures[0].reason).toBe('MISSING');
    await emu('config', { evaluateIam: false });
    expect(allowed(['ecs', 'describe-clusters', '--clusters', 'prod'], dev).failures[0].reason).toBe('MISSING');
  });
});

describe("a task's secrets are read with its execution role", () => {
  beforeEach(async () => {
    await resetWorld({
      requireServiceLinkedRoles: false,
      iamPropagationSeconds: 0,
      runContainers: false,
      checkImages: false,
    });
  });

  /** The stopped tasks' reasons (the world's view: DescribeTasks shows the same stoppedReason). */
  async function stoppedReasons(service: string): Promise<string[]> {
    const { tasks } = await emu<{ tasks: { lastStatus: string; stoppedReason: string | null }[] }>(
      `tasks?all=1&cluster=${CLUSTER}&service=${service}`,
    );
    return tasks.filter((t) => t.lastStatus === 'STOPPED').map((t) => t.stoppedReason ?? '');
  }

  it('a parameter the execution role may not read stops the task with ECS ResourceInitializationError; one it may read runs', async () => {
    const param = awsCli(['ssm', 'put-parameter', '--name', '/emu/db', '--type', 'String', '--value', 'pw']) as unknown;
    expect(param).toBeTruthy();
    const paramArn = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/emu/db`;
    for (const name of ['emu-denied-execution', 'emu-allowed-execution'])
      awsCli(['iam', 'create-role', '--role-name', name, '--assume-role-policy-document', TRUST]);
    awsCli([
      'iam',
      'put-role-policy',
      '--role-name',
      'emu-allowed-execution',
      '--policy-name',
      'secrets',
      '--policy-document',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameters', Resource: paramArn }],
      }),
    ]);
    awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
    const subnet = awsCli(['ec2', 'describe-subnets', '--filters', 'Name=default-for-az,Values=true']).Subnets[0];
    for (const which of ['denied', 'allowed']) {
      const td = awsCli(
        registerArgs(`emu-${which}`, { execution: roleArn(`emu-${which}-execution`) }, [
          { name: 'DB_PASSWORD', valueFrom: paramArn },
        ]),
      ).taskDefinition.taskDefinitionArn;
      createFargateService({
        cluster: CLUSTER,
        name: which,
        taskDefinition: td,
        network: { subnets: [subnet.SubnetId] },
      });
    }
    const reasons = await waitFor(
      async () => {
        const r = await stoppedReasons('denied');
        return r.length ? r : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(reasons[0]).toBe(
      'ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm: ' +
        'service call has been retried 1 time(s): AccessDeniedException: User: ' +
        `arn:aws:sts::${ACCOUNT}:assumed-role/emu-denied-execution/${reasons[0]!.match(/emu-denied-execution\/([^ ]+)/)?.[1]} ` +
        `is not authorized to perform: ssm:GetParameters on resource: ${paramArn} because no identity-based policy allows the ssm:GetParameters action`,
    );
    const running = await waitFor(
      () => {
        const s = awsCli(['ecs', 'describe-services', '--cluster', CLUSTER, '--services', 'allowed']).services[0];
        return s?.runningCount === 1 ? s : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(running.runningCount).toBe(1);
    expect(await stoppedReasons('allowed')).toEqual([]);
  });
});
