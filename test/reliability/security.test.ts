/**
 * Security defaults (issue #10, scenario 6) of a provisioned stack, observed only through the AWS
 * CLI (never through patchwork's own reads): the execution role scoped to its own repository, log
 * group and secrets; tasks reachable only from the load balancer, on their port, without public
 * IPs in private subnets; immutable, scanned ECR images; read-only, non-root containers; TLS 1.3 on
 * 443 with 80 redirecting; plaintext secrets refused before any call.
 *
 * The service uses a prebuilt `image:` with the default registry (ECR), so provision creates the
 * repository and starts the service on that image (the emulator simulates its tasks).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, runCli } from '../helpers/cli.js';
import { awsCli, localWorld, resetWorld, worldAwsEnv } from '../helpers/localworld.js';

const APP = 'sec';
const ENV = 'it';
const NAME = `${APP}-${ENV}`;
const SVC = `${NAME}-web`;
/** The image repository: shared by the app's environments (`<app>-<service>`). */
const REPO = `${APP}-web`;
const PORT = 8080;
const ACCOUNT = '123456789012';
let dir = '';
let region = '';
let certArn = '';
let secretArn = '';
let privateSubnet = '';
const worldEnv = () => isolatedEnv({ ...worldAwsEnv(), PATCHWORK_REGISTRY: undefined });

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
type J = any;

beforeAll(async () => {
  // acmValidationSeconds 0: the requested certificate is ISSUED (its validation done), as a listener needs.
  await resetWorld({ runContainers: false, checkSecrets: false, acmValidationSeconds: 0 });
  region = localWorld().region;
  dir = mkdtempSync(join(tmpdir(), 'pw-security-'));
  const subnets: J[] = awsCli(['ec2', 'describe-subnets', '--filters', 'Name=default-for-az,Values=true']).Subnets;
  const sorted = subnets.sort((a: J, b: J) => String(a.AvailabilityZone).localeCompare(String(b.AvailabilityZone)));
  expect(sorted.length).toBeGreaterThanOrEqual(3);
  const vpc = sorted[0].VpcId as string;
  const [pub1, pub2] = sorted.map((s: J) => s.SubnetId as string);
  // A private subnet as AWS needs one (the network preflight checks it): in the load balancer's first
  // zone, its own route table sending 0.0.0.0/0 to a NAT gateway in a public subnet.
  const priv = awsCli([
    'ec2',
    'create-subnet',
    '--vpc-id',
    sorted[0].VpcId,
    '--cidr-block',
    '172.31.96.0/20',
    '--availability-zone',
    sorted[0].AvailabilityZone,
  ]).Subnet.SubnetId as string;
  const eip = awsCli(['ec2', 'allocate-address', '--domain', 'vpc']).AllocationId as string;
  const nat = awsCli(['ec2', 'create-nat-gateway', '--subnet-id', pub1!, '--allocation-id', eip]).NatGateway
    .NatGatewayId;
  const rt = awsCli(['ec2', 'create-route-table', '--vpc-id', sorted[0].VpcId]).RouteTable.RouteTableId as string;
  awsCli(['ec2', 'associate-route-table', '--route-table-id', rt, '--subnet-id', priv]);
  awsCli([
    'ec2',
    'create-route',
    '--route-table-id',
    rt,
    '--destination-cidr-block',
    '0.0.0.0/0',
    '--nat-gateway-id',
    nat,
  ]);
  privateSubnet = priv;
  certArn = awsCli(['acm', 'request-certificate', '--domain-name', 'sec.example.com']).CertificateArn;
  expect(certArn).toMatch(/^arn:aws:acm:/);
  secretArn = `arn:aws:ssm:${region}:${ACCOUNT}:parameter/sec/db`;
  writeFileSync(
    join(dir, 'patchwork.yml'),
    `app: ${APP}
region: ${region}
services:
  web:
    image: sec-web:1
    port: ${PORT}
    secrets:
      DB_PASSWORD: ${secretArn}
environments:
  ${ENV}:
    network: { vpc: ${vpc}, publicSubnets: [${pub1}, ${pub2}], privateSubnets: [${priv}] }
    https: { certificateArn: "${certArn}" }
`,
  );
  const run = await runCli(['provision', '--env', ENV, '--json'], { env: worldEnv(), cwd: dir, timeoutMs: 300_000 });
  expect(run.code, run.stderr).toBe(0);
}, 600_000);

describe('IAM: the execution role', () => {
  it('is scoped to its own repository, log group and secret; only ecr:GetAuthorizationToken on *', () => {
    const role = `${SVC}-execution`;
    const { PolicyDocument: doc } = awsCli([
      'iam',
      'get-role-policy',
      '--role-name',
      role,
      '--policy-name',
      'patchwork-execution',
    ]);
    const policy = typeof doc === 'string' ? JSON.parse(decodeURIComponent(doc)) : doc;
    const statements: J[] = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
    const list = (v: unknown) => (Array.isArray(v) ? v : [v]) as string[];
    const byAction = new Map<string, string[]>();
    for (const s of statements) {
      expect(s.Effect).toBe('Allow');
      expect(s.NotResource, 'no NotResource').toBeUndefined();
      expect(s.NotAction, 'no NotAction').toBeUndefined();
      for (const a of list(s.Action)) {
        expect(a, 'no wildcard actions').not.toMatch(/\*/);
        byAction.set(a, [...(byAction.get(a) ?? []), ...list(s.Resource)]);
      }
    }
    for (const [action, resources] of byAction) {
      if (action === 'ecr:GetAuthorizationToken') {
        expect(resources).toEqual(['*']); // AWS supports no resource-level permission for it
        continue;
      }
      for (const r of resources) expect(r, `${action} on *`).not.toBe('*');
    }
    const repoArn = `arn:aws:ecr:${region}:${ACCOUNT}:repository/${REPO}`;
    // The app's shared repository, and the environment's own of the layout before (README "promote":
    // running tasks and rollbacks to releases from before the switch still pull from it).
    const legacyArn = `arn:aws:ecr:${region}:${ACCOUNT}:repository/${SVC}`;
    for (const a of ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability']) {
      expect([...(byAction.get(a) ?? [])].sort(), a).toEqual([repoArn, legacyArn].sort());
    }
    const logArn = `arn:aws:logs:${region}:${ACCOUNT}:log-group:${SVC}:*`;
    for (const a of ['logs:CreateLogStream', 'logs:PutLogEvents']) expect(byAction.get(a), a).toEqual([logArn]);
    expect(byAction.get('ssm:GetParameters')).toEqual([secretArn]);
    expect([...byAction.keys()].sort()).toEqual(
      [
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:GetAuthorizationToken',
        'ecr:GetDownloadUrlForLayer',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'ssm:GetParameters',
      ].sort(),
    );
    // No broad managed policy (e.g. AmazonECSTaskExecutionRolePolicy, which allows every repository).
    expect(awsCli(['iam', 'list-attached-role-policies', '--role-name', role]).AttachedPolicies).toEqual([]);
    // Only ECS tasks can assume it.
    const trust = awsCli(['iam', 'get-role', '--role-name', role]).Role.AssumeRolePolicyDocument;
    const trustDoc = typeof trust === 'string' ? JSON.parse(decodeURIComponent(trust)) : trust;
    const principals = (Array.isArray(trustDoc.Statement) ? trustDoc.Statement : [trustDoc.Statement]).flatMap((s: J) =>
      list(s.Principal?.Service),
    );
    expect(principals).toEqual(['ecs-tasks.amazonaws.com']);
  });

  it('the task role has no permissions unless the config names some', () => {
    const role = `${SVC}-task`;
    expect(awsCli(['iam', 'list-attached-role-policies', '--role-name', role]).AttachedPolicies).toEqual([]);
    expect(awsCli(['iam', 'list-role-policies', '--role-name', role]).PolicyNames).toEqual([]);
  });
});

describe('network', () => {
  const group = (name: string): J =>
    awsCli(['ec2', 'describe-security-groups', '--filters', `Name=group-name,Values=${name}`]).SecurityGroups[0];

  it('the service security group admits only the load balancer group, on the container port', () => {
    const alb = group(`${NAME}-alb`);
    const tasks = group(`${SVC}-tasks`);
    expect(alb?.GroupId).toMatch(/^sg-/);
    expect(tasks?.GroupId).toMatch(/^sg-/);
    expect(tasks.IpPermissions).toHaveLength(1);
    const rule = tasks.IpPermissions[0];
    expect(rule).toMatchObject({ IpProtocol: 'tcp', FromPort: PORT, ToPort: PORT });
    expect(rule.IpRanges ?? []).toEqual([]);
    expect(rule.Ipv6Ranges ?? []).toEqual([]);
    expect(rule.PrefixListIds ?? []).toEqual([]);
    expect((rule.UserIdGroupPairs ?? []).map((p: J) => p.GroupId)).toEqual([alb.GroupId]);
    // The load balancer itself is open only on 80 and 443.
    const albPorts = (alb.IpPermissions as J[]).map((p) => `${p.IpProtocol}:${p.FromPort}-${p.ToPort}`).sort();
    expect(albPorts).toEqual(['tcp:443-443', 'tcp:80-80']);
  });

  it('tasks run in the private subnet without a public IP', () => {
    const svc = awsCli(['ecs', 'describe-services', '--cluster', NAME, '--services', SVC]).services[0];
    const net = svc.networkConfiguration.awsvpcConfiguration;
    expect(net.assignPublicIp).toBe('DISABLED');
    expect(net.subnets).toEqual([privateSubnet]);
    expect(net.securityGroups).toEqual([group(`${SVC}-tasks`).GroupId]);
  });
});

describe('images and containers', () => {
  it('the ECR repository has immutable tags and scans on push', () => {
    const repo = awsCli(['ecr', 'describe-repositories', '--repository-names', REPO]).repositories[0];
    expect(repo.imageTagMutability).toBe('IMMUTABLE');
    expect(repo.imageScanningConfiguration?.scanOnPush).toBe(true);
  });

  it('the running task definition has a read-only root filesystem, is not privileged, secrets by reference', () => {
    const svc = awsCli(['ecs', 'describe-services', '--cluster', NAME, '--services', SVC]).services[0];
    const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition;
    const c = td.containerDefinitions.find((x: J) => x.name === 'web');
    expect(c.readonlyRootFilesystem).toBe(true);
    expect(c.privileged ?? false).toBe(false);
    expect(c.linuxParameters?.capabilities?.add ?? []).toEqual([]);
    expect(c.secrets).toEqual([{ name: 'DB_PASSWORD', valueFrom: secretArn }]);
    expect(JSON.stringify(c.environment ?? [])).not.toContain('DB_PASSWORD');
    expect(td.networkMode).toBe('awsvpc');
  });

  // Never root by default: the config's `user`, else the image's non-root USER, else 65532. (Once a
  // bug: no task definition set a user, so containers ran as whatever the image said, root by default.)
  it('the running task definition runs its container as a non-root user', () => {
    const svc = awsCli(['ecs', 'describe-services', '--cluster', NAME, '--services', SVC]).services[0];
    const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition;
    const c = td.containerDefinitions.find((x: J) => x.name === 'web');
    expect(c.user, 'containerDefinitions[].user').toBeDefined();
    expect(['', 'root', '0', '0:0']).not.toContain(String(c.user).trim());
  });
});

describe('HTTPS', () => {
  it('443 uses a TLS 1.3 policy with the certificate; 80 only redirects to HTTPS with a 301', () => {
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', NAME]).LoadBalancers[0];
    expect(lb.Scheme).toBe('internet-facing');
    const listeners: J[] = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners;
    expect(listeners.map((l) => l.Port).sort()).toEqual([443, 80]);
    const https = listeners.find((l) => l.Port === 443)!;
    expect(https.Protocol).toBe('HTTPS');
    expect(https.SslPolicy).toMatch(/TLS13/);
    expect(https.Certificates.map((c: J) => c.CertificateArn)).toEqual([certArn]);
    const http = listeners.find((l) => l.Port === 80)!;
    expect(http.Protocol).toBe('HTTP');
    expect(http.DefaultActions).toHaveLength(1);
    expect(http.DefaultActions[0].Type).toBe('redirect');
    expect(http.DefaultActions[0].RedirectConfig).toMatchObject({
      Protocol: 'HTTPS',
      Port: '443',
      StatusCode: 'HTTP_301',
    });
    // Nothing is forwarded over plain HTTP: no rule on 80 sends traffic to a target group.
    const rules: J[] = awsCli(['elbv2', 'describe-rules', '--listener-arn', http.ListenerArn]).Rules;
    for (const r of rules) for (const a of r.Actions) expect(a.Type).not.toBe('forward');
  });
});

describe('plaintext secrets', () => {
  it.each([
    ['a plaintext value under secrets:', '    secrets: { DB_PASSWORD: hunter2 }'],
    ['a secret-named variable under env:', '    env: { API_TOKEN: abc123 }'],
    ['an AWS access key as a value', '    env: { SOMETHING: AKIAABCDEFGHIJKLMNOP }'],
  ])('%s is refused (exit 2) before any AWS call', async (_what, line) => {
    const file = join(dir, 'plaintext.yml');
    writeFileSync(
      file,
      `app: ${APP}\nregion: ${region}\nservices:\n  web:\n    image: sec-web:1\n    port: ${PORT}\n${line}\nenvironments:\n  ${ENV}: {}\n`,
    );
    const run = await runCli(['provision', '--env', ENV, '--config', file, '--json'], { env: worldEnv(), cwd: dir });
    expect(run.code, run.stderr).toBe(2);
    expect(run.result.error?.code).toBe('PW_CONFIG_INVALID');
    expect(run.stderr).toMatch(/plaintext|plain text/);
    expect(run.stderr).toMatch(/\n {2}try: /);
    expect(run.result.apiCalls?.total).toBe(0);
    // The value went nowhere: not in any task definition of the service's families.
    const families = awsCli(['ecs', 'list-task-definitions', '--family-prefix', SVC]).taskDefinitionArns as string[];
    for (const arn of families) {
      const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', arn]).taskDefinition;
      expect(JSON.stringify(td)).not.toMatch(/hunter2|abc123|AKIAABCDEFGHIJKLMNOP/);
    }
  });
});
