/**
 * provision on the local world (moto + the ECS extension), observed independently with the AWS
 * CLI: from empty, a no-op rerun (0 mutating calls), drift made out of band listed and repaired,
 * two services with path routing, bad network ids refused before any write, kill -9 then rerun.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BIN, type CliRun, isolatedEnv, runCli } from '../helpers/cli.js';
import { awsCli, emu, localWorld, resetWorld, waitFor, worldAwsEnv } from '../helpers/localworld.js';

const world = () => localWorld();
const env = () => isolatedEnv(worldAwsEnv());

/** One `image:` service (so it runs at its desired count) with autoscaling and alarms. */
const ONE = (region: string) => `app: shop
region: ${region}
services:
  web:
    image: public.ecr.aws/docker/library/nginx:1.27
    port: 8080
    healthCheck: { path: /healthz }
environments:
  prod:
    desiredCount: 2
    autoscaling: { min: 1, max: 3, cpuPercent: 60, requestsPerTarget: 500 }
    alarms: { http5xxPerMinute: 5, cpuPercent: 80, memoryPercent: 80 }
`;

const TWO = (region: string) => `app: shop
region: ${region}
services:
  web:
    build: { context: . }
    port: 8080
    route: { paths: ["/*"], priority: 100 }
  api:
    build: { context: . }
    port: 9090
    healthCheck: { path: /api/health }
    route: { paths: ["/api/*", "/v2/*"], priority: 10 }
environments:
  prod: { desiredCount: 1 }
`;

function configDir(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-provision-'));
  writeFileSync(join(dir, 'patchwork.yml'), yaml);
  return dir;
}

const provision = (cwd: string, ...args: string[]) =>
  runCli(['provision', '--env', 'prod', '--json', ...args], { cwd, env: env(), timeoutMs: 120_000 });

type PlanChange = { kind: string; name: string; action: string; reason: string; diff?: unknown[] };
const planOf = (run: CliRun) =>
  run.result.plan as { changes: PlanChange[]; summary: Record<string, number>; pending: boolean };
const pendingChanges = (run: CliRun) => planOf(run).changes.filter((c) => c.action !== 'noop');

/** Every resource of the environment, counted by tags (and by listing what tags cannot find). */
function inventory(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (kind: string, id: string) => {
    out[kind] ??= [];
    out[kind]!.push(id);
  };
  const tagged = awsCli([
    'resourcegroupstaggingapi',
    'get-resources',
    '--tag-filters',
    'Key=patchwork:env,Values=prod',
    'Key=managed-by,Values=patchwork',
  ]);
  for (const m of tagged.ResourceTagMappingList ?? []) {
    const arn: string = m.ResourceARN;
    const [, , service, , , rest] = arn.split(':');
    const type = `${service}:${(rest ?? '').split(/[/:]/)[0]}`;
    if (service === 'ecs' && type !== 'ecs:task-definition') {
      // Deleted ECS clusters and services stay listed as INACTIVE.
      const status =
        type === 'ecs:cluster'
          ? awsCli(['ecs', 'describe-clusters', '--clusters', arn]).clusters?.[0]?.status
          : awsCli(['ecs', 'describe-services', '--cluster', arn.split('/')[1]!, '--services', arn]).services?.[0]
              ?.status;
      if (status !== 'ACTIVE') continue;
    }
    add(type, arn);
  }
  for (const role of awsCli(['iam', 'list-roles']).Roles ?? []) {
    const tags = awsCli(['iam', 'list-role-tags', '--role-name', role.RoleName]).Tags ?? [];
    if (tags.some((t: { Key: string; Value: string }) => t.Key === 'patchwork:env' && t.Value === 'prod'))
      add('iam:role', role.RoleName);
  }
  for (const repo of awsCli(['ecr', 'describe-repositories']).repositories ?? []) {
    const tags = awsCli(['ecr', 'list-tags-for-resource', '--resource-arn', repo.repositoryArn]).tags ?? [];
    // The repository is shared by the app's environments: tagged patchwork:shared, not patchwork:env.
    if (tags.some((t: { Key: string; Value: string }) => t.Key === 'patchwork:shared' && t.Value === 'true'))
      add('ecr:repository', repo.repositoryName);
  }
  for (const lb of awsCli(['elbv2', 'describe-load-balancers']).LoadBalancers ?? []) {
    for (const l of awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners ??
      []) {
      add('elbv2:listener', `${lb.LoadBalancerName}:${l.Port}`);
      for (const r of awsCli(['elbv2', 'describe-rules', '--listener-arn', l.ListenerArn]).Rules ?? []) {
        if (!r.IsDefault) add('elbv2:rule', `${l.Port}@${r.Priority}`);
      }
    }
  }
  const targets = awsCli(['application-autoscaling', 'describe-scalable-targets', '--service-namespace', 'ecs']);
  for (const t of targets.ScalableTargets ?? []) add('autoscaling:target', t.ResourceId);
  const policies = awsCli(['application-autoscaling', 'describe-scaling-policies', '--service-namespace', 'ecs']);
  for (const p of policies.ScalingPolicies ?? []) add('autoscaling:policy', p.PolicyName);
  for (const v of Object.values(out)) v.sort();
  return out;
}

const count = (inv: Record<string, string[]>) => Object.fromEntries(Object.entries(inv).map(([k, v]) => [k, v.length]));

const EXPECTED_ONE = {
  'autoscaling:policy': 2,
  'autoscaling:target': 1,
  'cloudwatch:alarm': 5,
  'dynamodb:table': 1,
  'ec2:security-group': 2,
  'ecr:repository': 1,
  'ecs:cluster': 1,
  'ecs:service': 1,
  'ecs:task-definition': 1,
  'elasticloadbalancing:loadbalancer': 1,
  'elasticloadbalancing:targetgroup': 1,
  'elbv2:listener': 1,
  'elbv2:rule': 1,
  'iam:role': 2,
  'logs:log-group': 1,
};

beforeEach(async () => {
  await resetWorld();
});

describe('provision on the local world', () => {
  it('from empty: creates the stack; a second run makes 0 mutating calls and ≤ 30 reads', async () => {
    const cwd = configDir(ONE(world().region));
    const first = await provision(cwd);
    expect(first.code, first.stderr).toBe(0);
    expect(first.result.apiCalls!.mutating).toBeGreaterThan(20);
    expect(planOf(first).summary.create).toBe(21);
    // The declared tasks: one per resource.
    const tasks = first.events.find((e) => e.type === 'tasks') as { tasks: { id: string }[] };
    expect(tasks.tasks).toHaveLength(21);

    expect(count(inventory())).toEqual(EXPECTED_ONE);
    const table = awsCli(['dynamodb', 'describe-table', '--table-name', 'shop-prod-patchwork']).Table;
    expect(table.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(table.BillingModeSummary.BillingMode).toBe('PAY_PER_REQUEST');
    const pitr = awsCli(['dynamodb', 'describe-continuous-backups', '--table-name', 'shop-prod-patchwork']);
    expect(pitr.ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus).toBe('ENABLED');
    const repo = awsCli(['ecr', 'describe-repositories', '--repository-names', 'shop-web']).repositories[0];
    expect(repo).toMatchObject({ imageTagMutability: 'IMMUTABLE', imageScanningConfiguration: { scanOnPush: true } });
    // The world stores the lifecycle policy (moto does not apply it): released images are matched first.
    const lifecycle = JSON.parse(
      awsCli(['ecr', 'get-lifecycle-policy', '--repository-name', 'shop-web']).lifecyclePolicyText,
    );
    expect(lifecycle.rules[0].selection).toMatchObject({ tagStatus: 'tagged', tagPrefixList: ['release-'] });
    const svc = awsCli(['ecs', 'describe-services', '--cluster', 'shop-prod', '--services', 'shop-prod-web'])
      .services[0];
    expect(svc).toMatchObject({
      desiredCount: 2,
      launchType: 'FARGATE',
      healthCheckGracePeriodSeconds: 30,
      deploymentConfiguration: {
        minimumHealthyPercent: 100,
        maximumPercent: 200,
        deploymentCircuitBreaker: { enable: true, rollback: true },
      },
    });
    expect(svc.taskDefinition).toMatch(/task-definition\/shop-prod-web:1$/);
    const tg = awsCli(['elbv2', 'describe-target-groups', '--names', 'shop-prod-web']).TargetGroups[0];
    expect(tg).toMatchObject({ TargetType: 'ip', HealthCheckPath: '/healthz', Protocol: 'HTTP' });
    const logs = awsCli(['logs', 'describe-log-groups', '--log-group-name-prefix', 'shop-prod-web']).logGroups[0];
    expect(logs.retentionInDays).toBe(30);

    const second = await provision(cwd);
    expect(second.code, second.stderr).toBe(0);
    expect(pendingChanges(second)).toEqual([]);
    expect(second.result.apiCalls!.mutating).toBe(0);
    expect(second.result.apiCalls!.total).toBeLessThanOrEqual(30);
    expect(second.result.applied).toBe(0);

    const check = await provision(cwd, '--dry-run', '--exit-code');
    expect(check.code).toBe(0);
    expect(check.result.apiCalls!.mutating).toBe(0);
  });

  it('drift made with the AWS CLI is listed by --dry-run (exit 6) and repaired by apply', async () => {
    const cwd = configDir(ONE(world().region));
    const desiredCount = (): number | undefined =>
      awsCli(['ecs', 'describe-services', '--cluster', 'shop-prod', '--services', 'shop-prod-web']).services[0]
        ?.desiredCount;
    expect((await provision(cwd)).code).toBe(0);
    const sg = awsCli(['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=shop-prod-web-tasks'])
      .SecurityGroups[0];
    const albSg = awsCli(['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=shop-prod-alb'])
      .SecurityGroups[0];
    awsCli([
      'ec2',
      'revoke-security-group-ingress',
      '--group-id',
      sg.GroupId,
      '--protocol',
      'tcp',
      '--port',
      '8080',
      '--source-group',
      albSg.GroupId,
    ]);
    const tgArn = awsCli(['elbv2', 'describe-target-groups', '--names', 'shop-prod-web']).TargetGroups[0]
      .TargetGroupArn;
    awsCli(['elbv2', 'modify-target-group', '--target-group-arn', tgArn, '--health-check-path', '/changed']);
    awsCli(['ecs', 'update-service', '--cluster', 'shop-prod', '--service', 'shop-prod-web', '--desired-count', '9']);
    awsCli(['logs', 'delete-log-group', '--log-group-name', 'shop-prod-web']);
    const repoArn = awsCli(['ecr', 'describe-repositories', '--repository-names', 'shop-web']).repositories[0]
      .repositoryArn;
    awsCli(['ecr', 'untag-resource', '--resource-arn', repoArn, '--tag-keys', 'managed-by']);
    // ECS reads lag behind UpdateService (the world's consistencyLagSeconds): drift shows once it is visible.
    await waitFor(() => desiredCount() === 9, { timeoutMs: 10_000, what: 'the out-of-band desired count visible' });

    const dry = await provision(cwd, '--dry-run', '--exit-code');
    expect(dry.code).toBe(6);
    expect(dry.result.apiCalls!.mutating).toBe(0);
    expect(pendingChanges(dry).map((c) => [c.kind, c.name, c.action, c.reason])).toEqual([
      ['ecr-repository', 'shop-web', 'update', 'tag managed-by missing'],
      ['log-group', 'shop-prod-web', 'create', 'does not exist'],
      ['security-group', 'shop-prod-web-tasks', 'update', 'ingress rules differ'],
      ['target-group', 'shop-prod-web', 'update', 'healthCheck.path differs'],
      ['ecs-service', 'shop-prod-web', 'update', 'desired count 9 is outside autoscaling 1..3'],
    ]);

    const fix = await provision(cwd);
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.result.applied).toBe(5);
    await waitFor(() => desiredCount() === 2, { timeoutMs: 10_000, what: 'the repaired desired count visible' });
    const again = await provision(cwd, '--dry-run', '--exit-code');
    expect(again.code).toBe(0);
    expect(pendingChanges(again)).toEqual([]);

    const rules = awsCli(['ec2', 'describe-security-groups', '--group-ids', sg.GroupId]).SecurityGroups[0]
      .IpPermissions;
    expect(rules).toMatchObject([{ FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: albSg.GroupId }] }]);
    expect(
      awsCli(['elbv2', 'describe-target-groups', '--names', 'shop-prod-web']).TargetGroups[0].HealthCheckPath,
    ).toBe('/healthz');
    expect(desiredCount()).toBe(2);
    expect(awsCli(['logs', 'describe-log-groups', '--log-group-name-prefix', 'shop-prod-web']).logGroups).toHaveLength(
      1,
    );
    expect(awsCli(['ecr', 'list-tags-for-resource', '--resource-arn', repoArn]).tags).toContainEqual({
      Key: 'managed-by',
      Value: 'patchwork',
    });
  });

  it('two services share one ALB with path rules at stable priorities; build services wait for deploy', async () => {
    const cwd = configDir(TWO(world().region));
    const first = await provision(cwd);
    expect(first.code, first.stderr).toBe(0);
    expect(first.events.filter((e) => e.type === 'warning').map((e) => e.code)).toContain('PW_NO_IMAGE_YET');
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', 'shop-prod']).LoadBalancers[0];
    const [listener] = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners;
    expect(listener).toMatchObject({ Port: 80, Protocol: 'HTTP' });
    const tgs = awsCli(['elbv2', 'describe-target-groups', '--names', 'shop-prod-web', 'shop-prod-api']).TargetGroups;
    const tgName = new Map(
      tgs.map((t: { TargetGroupArn: string; TargetGroupName: string }) => [t.TargetGroupArn, t.TargetGroupName]),
    );
    const rules = awsCli(['elbv2', 'describe-rules', '--listener-arn', listener.ListenerArn])
      .Rules.filter((r: { IsDefault: boolean }) => !r.IsDefault)
      .map(
        (r: {
          Priority: string;
          Conditions: { Field: string; Values?: string[]; PathPatternConfig?: { Values: string[] } }[];
          Actions: { TargetGroupArn: string }[];
        }) => ({
          priority: r.Priority,
          paths: r.Conditions[0]!.PathPatternConfig?.Values ?? r.Conditions[0]!.Values,
          target: tgName.get(r.Actions[0]!.TargetGroupArn),
        }),
      )
      .sort((a: { priority: string }, b: { priority: string }) => Number(a.priority) - Number(b.priority));
    expect(rules).toEqual([
      { priority: '10', paths: ['/api/*', '/v2/*'], target: 'shop-prod-api' },
      { priority: '100', paths: ['/*'], target: 'shop-prod-web' },
    ]);
    for (const name of ['shop-prod-web', 'shop-prod-api']) {
      const svc = awsCli(['ecs', 'describe-services', '--cluster', 'shop-prod', '--services', name]).services[0];
      expect(svc.desiredCount).toBe(0);
      expect(svc.taskDefinition).toMatch(new RegExp(`task-definition/${name}-bootstrap:1$`));
      const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition;
      // The placeholder names the shared repository (<app>-<svc>), never pushed.
      expect(td.containerDefinitions[0].image).toMatch(
        new RegExp(`/${name.replace('shop-prod-', 'shop-')}:patchwork-bootstrap$`),
      );
    }
    const second = await provision(cwd);
    expect(second.result.apiCalls!.mutating).toBe(0);
    expect(pendingChanges(second)).toEqual([]);
  });

  it('build.platform linux/arm64 registers an ARM64 task definition; changing the platform is planned as drift', async () => {
    const arm = TWO(world().region)
      .replace('  web:\n    build: { context: . }', '  web:\n    build: { context: ., platform: linux/arm64 }')
      .replace('  api:\n    build: { context: . }', '  api:\n    build: { context: ., platform: linux/amd64 }');
    const cwd = configDir(arm);
    const first = await provision(cwd);
    expect(first.code, first.stderr).toBe(0);
    // ECS reads lag behind CreateService/UpdateService (the world's consistencyLagSeconds): a service
    // created a moment ago reads MISSING for a little while.
    const platformOf = async (service: string) => {
      const svc = await waitFor(
        () => awsCli(['ecs', 'describe-services', '--cluster', 'shop-prod', '--services', service]).services[0],
        { timeoutMs: 10_000, what: `${service} visible` },
      );
      return awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition
        .runtimePlatform;
    };
    expect(await platformOf('shop-prod-web')).toEqual({ cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' });
    expect(await platformOf('shop-prod-api')).toEqual({ cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' });
    expect(pendingChanges(await provision(cwd, '--dry-run'))).toEqual([]);

    // web moves to amd64: provision plans the platform as drift of the service, and applies it.
    writeFileSync(join(cwd, 'patchwork.yml'), arm.replace('platform: linux/arm64', 'platform: linux/amd64'));
    const dry = await provision(cwd, '--dry-run', '--exit-code');
    expect(dry.code).toBe(6);
    expect(dry.result.apiCalls!.mutating).toBe(0);
    expect(pendingChanges(dry)).toEqual([
      {
        kind: 'ecs-service',
        name: 'shop-prod-web',
        service: 'web',
        action: 'update',
        reason: 'runtimePlatform.cpuArchitecture differs',
        diff: [{ field: 'runtimePlatform.cpuArchitecture', from: 'ARM64', to: 'X86_64' }],
        step: 1,
      },
    ]);
    const fix = await provision(cwd);
    expect(fix.code, fix.stderr).toBe(0);
    // ECS reads lag behind UpdateService (the world's consistencyLagSeconds): the new revision shows
    // within the lag, and only then is there nothing left to plan.
    await waitFor(async () => (await platformOf('shop-prod-web')).cpuArchitecture === 'X86_64', {
      timeoutMs: 10_000,
      what: 'the service on the X86_64 revision',
    });
    expect(await platformOf('shop-prod-web')).toEqual({ cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' });
    expect(pendingChanges(await provision(cwd, '--dry-run'))).toEqual([]);
  });

  it('unknown subnet or VPC ids: exit 2 naming the config path, no mutating call', async () => {
    const yaml = ONE(world().region).replace(
      '    desiredCount: 2\n',
      '    desiredCount: 2\n    network: { publicSubnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210] }\n',
    );
    const run = await provision(configDir(yaml));
    expect(run.code).toBe(2);
    expect(run.result.error).toMatchObject({ code: 'PW_UNKNOWN_NETWORK' });
    expect(run.stderr).toMatch(
      /patchwork\.yml:\d+ environments\.prod\.network\.publicSubnets: subnets subnet-0123456789abcdef0, subnet-0fedcba9876543210 do not exist/,
    );
    expect(run.result.apiCalls!.mutating).toBe(0);

    const vpc = ONE(world().region).replace(
      '    desiredCount: 2\n',
      '    desiredCount: 2\n    network: { vpc: vpc-0123456789abcdef0 }\n',
    );
    const run2 = await provision(configDir(vpc));
    expect(run2.code).toBe(2);
    expect(run2.stderr).toMatch(/environments\.prod\.network\.vpc: VPC vpc-0123456789abcdef0 does not exist/);
    expect(run2.result.apiCalls!.mutating).toBe(0);
  });

  it('https: a certificate still PENDING_VALIDATION: exit 2 naming the config line before any change (ELBv2 would refuse it)', async () => {
    const cert = awsCli(['acm', 'request-certificate', '--domain-name', 'pending.example.com']).CertificateArn;
    const yaml = ONE(world().region).replace(
      '    desiredCount: 2\n',
      `    desiredCount: 2\n    https: { certificateArn: "${cert}" }\n`,
    );
    const run = await provision(configDir(yaml));
    expect(run.code, run.stderr).toBe(2);
    expect(run.result.error).toMatchObject({ code: 'PW_CERTIFICATE_NOT_ISSUED' });
    expect(run.stderr).toMatch(
      /patchwork\.yml:\d+ environments\.prod\.https\.certificateArn: certificate \S+ is PENDING_VALIDATION, not ISSUED/,
    );
    expect(run.stderr).toMatch(/try: complete its DNS validation/);
    expect(run.result.apiCalls!.mutating).toBe(0);
  });

  it('https: 443 with the ACM certificate and a TLS 1.3 policy, 80 redirects to 443', async () => {
    await emu('config', { acmValidationSeconds: 0 }); // its DNS validation has completed: ISSUED
    const cert = awsCli(['acm', 'request-certificate', '--domain-name', 'shop.example.com']).CertificateArn;
    expect(awsCli(['acm', 'describe-certificate', '--certificate-arn', cert]).Certificate.Status).toBe('ISSUED');
    const yaml = ONE(world().region).replace(
      '    desiredCount: 2\n',
      `    desiredCount: 2\n    https: { certificateArn: "${cert}" }\n`,
    );
    const cwd = configDir(yaml);
    const run = await provision(cwd);
    expect(run.code, run.stderr).toBe(0);
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', 'shop-prod']).LoadBalancers[0];
    const listeners = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners.sort(
      (a: { Port: number }, b: { Port: number }) => a.Port - b.Port,
    );
    expect(listeners).toMatchObject([
      {
        Port: 80,
        Protocol: 'HTTP',
        DefaultActions: [
          { Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } },
        ],
      },
      {
        Port: 443,
        Protocol: 'HTTPS',
        SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        Certificates: [{ CertificateArn: cert }],
      },
    ]);
    expect((await provision(cwd)).result.apiCalls!.mutating).toBe(0);
  });
});

/** Runs provision and SIGKILLs it once `n` resource tasks have finished (or at the start of `atStart`). */
function provisionKilled(cwd: string, stop: { afterDone?: number; atStart?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'provision', '--env', 'prod', '--json'], { cwd, env: env() });
    let buf = '';
    let done = 0;
    let killed = false;
    child.stdout.on('data', (d) => {
      buf += d;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (killed || !line.startsWith('{')) continue;
        const e = JSON.parse(line);
        if (e.type !== 'task' || e.id.startsWith('observe/')) continue;
        if (e.status === 'done') done++;
        if (
          (stop.afterDone !== undefined && done >= stop.afterDone) ||
          (stop.atStart && e.status === 'start' && e.id === stop.atStart)
        ) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('close', () => resolve(done));
  });
}

describe('crash safety', () => {
  it('killed with SIGKILL at several points, the next run converges with exactly one of each resource', async () => {
    const cwd = configDir(ONE(world().region));
    await provisionKilled(cwd, { afterDone: 3 });
    await provisionKilled(cwd, { afterDone: 4 });
    await provisionKilled(cwd, { atStart: 'ecs-service/shop-prod-web' });
    await provisionKilled(cwd, { afterDone: 1 });
    const final = await provision(cwd);
    expect(final.code, final.stderr).toBe(0);
    expect(count(inventory())).toEqual(EXPECTED_ONE);
    const again = await provision(cwd);
    expect(again.result.apiCalls!.mutating).toBe(0);
  });

  it('killed between registering the task definition and creating the service: no second revision', async () => {
    const cwd = configDir(ONE(world().region));
    // Stop right after RegisterTaskDefinition: every resource before the service is done first.
    const first = await provision(cwd, '--dry-run');
    const before = pendingChanges(first).findIndex((c) => c.kind === 'ecs-service');
    await provisionKilled(cwd, { afterDone: before });
    // Register the bootstrap revision as the killed run would have, then rerun.
    awsCli([
      'ecs',
      'register-task-definition',
      '--family',
      'shop-prod-web',
      '--requires-compatibilities',
      'FARGATE',
      '--network-mode',
      'awsvpc',
      '--cpu',
      '256',
      '--memory',
      '512',
      '--container-definitions',
      JSON.stringify([{ name: 'web', image: 'public.ecr.aws/docker/library/nginx:1.27', essential: true }]),
    ]);
    const run = await provision(cwd);
    expect(run.code, run.stderr).toBe(0);
    const arns = awsCli(['ecs', 'list-task-definitions', '--family-prefix', 'shop-prod-web']).taskDefinitionArns;
    expect(arns).toHaveLength(1);
  });
});
