/**
 * The local world checks every request against AWS's own API models (botocore's service-2.json in
 * the emulator's venv; test/emulator/pwemu/validate.py): a request the model refuses is answered as
 * that service answers it (error code, HTTP 400, "which member, which constraint") and never reaches
 * moto; a valid one goes through unchanged. Driven with the AWS CLI, whose own client-side checks
 * are off here (`expectViolation`), so each request reaches the world as written.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import {
  awsCli,
  emu,
  localWorld,
  resetWorld,
  runAwsCli,
  unexpectedViolations,
  type ValidationReport,
} from '../helpers/localworld.js';

/** Runs a request meant to be refused; returns the CLI's error line ("An error occurred (Code) ...: message"). */
function refused(args: string[]): string {
  const res = runAwsCli(args, { expectViolation: true });
  expect(res.status, `aws ${args.join(' ')} should fail; stdout: ${res.stdout}`).not.toBe(0);
  const line = res.stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('An error occurred'));
  expect(line, res.stderr).toBeDefined();
  return line as string;
}

function vpcId(): string {
  return awsCli(['ec2', 'describe-vpcs']).Vpcs[0].VpcId;
}

const long = (n: number) => 'a'.repeat(n);

beforeEach(async () => {
  await resetWorld({ validateRequests: true }); // even in a run with PATCHWORK_EMULATOR_VALIDATE=0
});

describe('the two requests of issue 22', () => {
  it('elbv2 create-target-group --health-check-interval-seconds 400 is refused (5-300)', async () => {
    const vpc = vpcId();
    const base = ['elbv2', 'create-target-group', '--name', 'tg-a', '--protocol', 'HTTP', '--port', '80'];
    const line = refused([...base, '--vpc-id', vpc, '--health-check-interval-seconds', '400']);
    expect(line).toBe(
      'An error occurred (ValidationError) when calling the CreateTargetGroup operation: 1 validation error ' +
        "detected: Value '400' at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have " +
        'value less than or equal to 300',
    );
    expect(awsCli(['elbv2', 'describe-target-groups']).TargetGroups).toEqual([]);
    // The same request with a valid interval is accepted and kept as sent.
    const tg = awsCli([...base, '--vpc-id', vpc, '--health-check-interval-seconds', '300']).TargetGroups[0];
    expect(tg.HealthCheckIntervalSeconds).toBe(300);
  });

  it('ecs register-task-definition --network-mode bogus is refused (bridge/host/awsvpc/none)', () => {
    const containers = JSON.stringify([{ name: 'web', image: 'nginx', memory: 128 }]);
    const base = ['ecs', 'register-task-definition', '--family', 'web', '--container-definitions', containers];
    expect(refused([...base, '--network-mode', 'bogus'])).toBe(
      'An error occurred (InvalidParameterException) when calling the RegisterTaskDefinition operation: ' +
        "1 validation error detected: Value 'bogus' at 'networkMode' failed to satisfy constraint: Member must " +
        'satisfy enum value set: [bridge, host, awsvpc, none]',
    );
    expect(awsCli(['ecs', 'list-task-definitions']).taskDefinitionArns).toEqual([]);
    const td = awsCli([...base, '--network-mode', 'awsvpc']).taskDefinition;
    expect(td.networkMode).toBe('awsvpc');
    expect(td.containerDefinitions[0]).toMatchObject({ name: 'web', image: 'nginx', memory: 128 });
  });
});

describe('one refusal per constraint kind and protocol family', () => {
  const containers = JSON.stringify([{ name: 'web', image: 'nginx', memory: 128 }]);

  it('JSON (ECS, CloudWatch Logs, ECR): required, length, range, enum, pattern', () => {
    expect(refused(['ecs', 'register-task-definition', '--cli-input-json', '{"family":"web"}'])).toContain(
      "(InvalidParameterException) when calling the RegisterTaskDefinition operation: 1 validation error detected: Value null at 'containerDefinitions' failed to satisfy constraint: Member must not be null",
    );
    expect(refused(['logs', 'create-log-group', '--log-group-name', long(513)])).toContain(
      "(InvalidParameterException) when calling the CreateLogGroup operation: 1 validation error detected: Value '" +
        `${long(513)}' at 'logGroupName' failed to satisfy constraint: Member must have length less than or equal to 512`,
    );
    expect(refused(['ecr', 'describe-repositories', '--max-results', '1001'])).toBe(
      "An error occurred (InvalidParameterException) when calling the DescribeRepositories operation: Invalid parameter at 'maxResults' failed to satisfy constraint: 'must have value less than or equal to 1000'",
    );
    expect(refused(['ecs', 'list-services', '--launch-type', 'SPOT'])).toMatch(
      /^An error occurred \(InvalidParameterException\) when calling the ListServices operation: 1 validation error detected: Value 'SPOT' at 'launchType' failed to satisfy constraint: Member must satisfy enum value set: \[EC2, FARGATE, EXTERNAL.*\]$/,
    );
    expect(refused(['logs', 'create-log-group', '--log-group-name', 'bad name!'])).toContain(
      "(InvalidParameterException) when calling the CreateLogGroup operation: 1 validation error detected: Value 'bad name!' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
    );
    expect(refused(['ecr', 'create-repository', '--repository-name', 'Shop/Web'])).toMatch(
      /^An error occurred \(InvalidParameterException\) when calling the CreateRepository operation: Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '.+''$/,
    );
    // Several violations in one request: all of them, AWS's count first.
    expect(
      refused([
        'ecs',
        'register-task-definition',
        '--cli-input-json',
        JSON.stringify({ family: 'web', networkMode: 'x', requiresCompatibilities: ['FARGATE', 'LAMBDA'] }),
      ]),
    ).toMatch(
      /: 3 validation errors detected: Value null at 'containerDefinitions' .*; Value 'x' at 'networkMode' .*; Value 'LAMBDA' at 'requiresCompatibilities.2.member' failed to satisfy constraint: Member must satisfy enum value set: \[EC2, FARGATE, EXTERNAL.*\]$/,
    );
    // Nothing reached moto.
    expect(awsCli(['logs', 'describe-log-groups']).logGroups).toEqual([]);
    expect(awsCli(['ecr', 'describe-repositories']).repositories).toEqual([]);
    // The valid requests go through unchanged.
    awsCli(['logs', 'create-log-group', '--log-group-name', '/patchwork/shop-web']);
    awsCli(['logs', 'put-retention-policy', '--log-group-name', '/patchwork/shop-web', '--retention-in-days', '30']);
    expect(awsCli(['logs', 'describe-log-groups']).logGroups[0]).toMatchObject({
      logGroupName: '/patchwork/shop-web',
      retentionInDays: 30,
    });
    expect(awsCli(['ecr', 'create-repository', '--repository-name', 'shop/web']).repository.repositoryName).toBe(
      'shop/web',
    );
    expect(
      awsCli(['ecs', 'register-task-definition', '--family', 'web', '--container-definitions', containers])
        .taskDefinition.family,
    ).toBe('web');
  });

  it('query (ELBv2, IAM): required, length, range, enum, pattern; lists as Member.N', () => {
    const vpc = vpcId();
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    expect(
      refused([
        'elbv2',
        'create-target-group',
        '--cli-input-json',
        JSON.stringify({ Protocol: 'HTTP', Port: 80, VpcId: vpc }),
      ]),
    ).toBe(
      "An error occurred (ValidationError) when calling the CreateTargetGroup operation: 1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
    );
    expect(refused(['iam', 'create-role', '--role-name', long(65), '--assume-role-policy-document', policy])).toBe(
      `An error occurred (ValidationError) when calling the CreateRole operation: 1 validation error detected: Value '${long(65)}' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64`,
    );
    expect(refused(['elbv2', 'create-target-group', '--name', 'tg', '--port', '70000', '--vpc-id', vpc])).toContain(
      "Value '70000' at 'port' failed to satisfy constraint: Member must have value less than or equal to 65535",
    );
    expect(refused(['elbv2', 'create-target-group', '--name', 'tg', '--protocol', 'SMTP', '--vpc-id', vpc])).toContain(
      "(ValidationError) when calling the CreateTargetGroup operation: 1 validation error detected: Value 'SMTP' at 'protocol' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE",
    );
    expect(refused(['iam', 'create-role', '--role-name', 'shop web', '--assume-role-policy-document', policy])).toBe(
      "An error occurred (ValidationError) when calling the CreateRole operation: 1 validation error detected: Value 'shop web' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    );
    // Inside a list of structures (Tags.member.N.Key): the path names the element.
    expect(
      refused(['elbv2', 'create-target-group', '--name', 'tg', '--vpc-id', vpc, '--tags', `Key=${long(129)},Value=v`]),
    ).toContain(
      `at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128`,
    );
    expect(awsCli(['elbv2', 'describe-target-groups']).TargetGroups).toEqual([]);
    expect(awsCli(['iam', 'list-roles']).Roles.filter((r: { Path: string }) => r.Path === '/')).toEqual([]);
    const role = awsCli(['iam', 'create-role', '--role-name', 'shop-web', '--assume-role-policy-document', policy]);
    expect(role.Role.RoleName).toBe('shop-web');
    const tg = awsCli([
      'elbv2',
      'create-target-group',
      '--name',
      'tg',
      '--protocol',
      'HTTP',
      '--port',
      '80',
      '--vpc-id',
      vpc,
      '--tags',
      'Key=patchwork:app,Value=shop',
    ]).TargetGroups[0];
    expect(awsCli(['elbv2', 'describe-tags', '--resource-arns', tg.TargetGroupArn]).TagDescriptions[0].Tags).toEqual([
      { Key: 'patchwork:app', Value: 'shop' },
    ]);
  });

  it('EC2 query (Filter.N.Value.N): MissingParameter and InvalidParameterValue', () => {
    expect(refused(['ec2', 'create-security-group', '--cli-input-json', '{"GroupName":"web"}'])).toBe(
      'An error occurred (MissingParameter) when calling the CreateSecurityGroup operation: The request must contain the parameter GroupDescription',
    );
    expect(refused(['ec2', 'delete-launch-template', '--launch-template-name', long(129)])).toBe(
      `An error occurred (InvalidParameterValue) when calling the DeleteLaunchTemplate operation: Value (${long(129)}) for parameter LaunchTemplateName is invalid. Member must have length less than or equal to 128`,
    );
    expect(refused(['ec2', 'describe-vpcs', '--max-results', '2'])).toBe(
      'An error occurred (InvalidParameterValue) when calling the DescribeVpcs operation: Value (2) for parameter MaxResults is invalid. Member must have value greater than or equal to 5',
    );
    expect(refused(['ec2', 'create-vpc', '--cidr-block', '10.9.0.0/16', '--instance-tenancy', 'shared'])).toMatch(
      /^An error occurred \(InvalidParameterValue\) when calling the CreateVpc operation: Value \(shared\) for parameter InstanceTenancy is invalid\. Member must satisfy enum value set: \[default, dedicated, host\]$/,
    );
    expect(refused(['ec2', 'delete-launch-template', '--launch-template-name', 'web template'])).toBe(
      'An error occurred (InvalidParameterValue) when calling the DeleteLaunchTemplate operation: Value (web template) for parameter LaunchTemplateName is invalid. Member must satisfy regular expression pattern: [a-zA-Z0-9\\(\\)\\.\\-/_]+',
    );
    // Nested lists: Filter.1.Value.1 is parsed back into Filters[0].Values[0] and checked there.
    expect(
      refused(['ec2', 'describe-vpcs', '--filters', 'Name=cidr,Values=10.0.0.0/16', '--max-results', '2000']),
    ).toContain('for parameter MaxResults is invalid. Member must have value less than or equal to 1000');
    const before = awsCli(['ec2', 'describe-vpcs']).Vpcs.length;
    expect(awsCli(['ec2', 'describe-vpcs']).Vpcs).toHaveLength(before);
    const vpc = vpcId();
    const sg = awsCli(['ec2', 'create-security-group', '--group-name', 'web', '--description', 'web', '--vpc-id', vpc]);
    const found = awsCli([
      'ec2',
      'describe-security-groups',
      '--filters',
      'Name=group-name,Values=web,other',
      `Name=vpc-id,Values=${vpc}`,
      '--max-results',
      '5',
    ]).SecurityGroups;
    expect(found.map((g: { GroupId: string }) => g.GroupId)).toEqual([sg.GroupId]);
  });
});

describe('the counts and the switch', () => {
  it('counts violations per operation and member; a reset clears them, not sinceStart', async () => {
    const start = (await emu<ValidationReport>('validation')).sinceStart.total;
    refused(['logs', 'create-log-group', '--log-group-name', 'bad name!']);
    refused(['logs', 'create-log-group', '--log-group-name', 'bad name!']);
    refused(['ecs', 'register-task-definition', '--cli-input-json', '{"family":"web","networkMode":"x"}']);
    const report = await emu<ValidationReport>('validation');
    expect(report.enabled).toBe(true);
    expect(report.total).toBe(3);
    expect(report.byClient).toEqual({ expected: 3 });
    expect(report.operations['logs:CreateLogGroup']).toEqual({
      count: 2,
      members: { 'logGroupName (pattern)': 2 },
      clients: { expected: 2 },
    });
    expect(report.operations['ecs:RegisterTaskDefinition']?.members).toEqual({
      'containerDefinitions (required)': 1,
      'networkMode (enum)': 1,
    });
    expect(report.sinceStart.total).toBe(start + 3);
    expect(report.skippedPatterns).toEqual({});
    expect(unexpectedViolations(report)).toEqual({});
    await resetWorld();
    const after = await emu<ValidationReport>('validation');
    expect(after.total).toBe(0);
    expect(after.operations).toEqual({});
    expect(after.sinceStart.total).toBe(start + 3);
  });

  it('validateRequests: false lets the request through to moto (for one test; a reset restores it)', async () => {
    await emu('config', { validateRequests: false });
    const containers = JSON.stringify([{ name: 'web', image: 'nginx', memory: 128 }]);
    const td = awsCli([
      'ecs',
      'register-task-definition',
      '--family',
      'web',
      '--network-mode',
      'bogus',
      '--container-definitions',
      containers,
    ]).taskDefinition;
    expect(td.networkMode).toBe('bogus'); // what moto does on its own
    // moto's reset puts the emulator's config back to its defaults: validation on.
    expect((await fetch(`${localWorld().endpoint}/moto-api/reset`, { method: 'POST' })).ok).toBe(true);
    expect((await emu('config')).validateRequests).toBe(true);
    refused([
      'ecs',
      'register-task-definition',
      '--family',
      'web',
      '--network-mode',
      'bogus',
      '--container-definitions',
      containers,
    ]);
  });
});
