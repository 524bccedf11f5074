import { describe, expect, it } from 'vitest';
import { desiredState, executionPolicy, lifecyclePolicy } from '../../src/lib/desired/index.js';
import { desired, FACTS, ONE_SERVICE, target } from './provision-fixtures.js';

const kinds = (yaml = ONE_SERVICE) => desired(yaml).resources.map((r) => `${r.kind}/${r.name}`);
const TAGS = { 'patchwork:app': 'shop', 'patchwork:env': 'prod', 'managed-by': 'patchwork' };
const SVC_TAGS = { ...TAGS, 'patchwork:service': 'web' };

describe('desired state', () => {
  it('one service: every resource kind, named and tagged', () => {
    expect(kinds()).toEqual([
      'state-table/shop-prod-patchwork',
      'ecs-cluster/shop-prod',
      'security-group/shop-prod-alb',
      'load-balancer/shop-prod',
      'listener/shop-prod:80',
      'ecr-repository/shop-web',
      'log-group/shop-prod-web',
      'iam-role/shop-prod-web-execution',
      'iam-role/shop-prod-web-task',
      'security-group/shop-prod-web-tasks',
      'target-group/shop-prod-web',
      'listener-rule/shop-prod-web:80',
      'ecs-service/shop-prod-web',
    ]);
    const d = desired();
    const SHARED = {
      'patchwork:app': 'shop',
      'patchwork:service': 'web',
      'patchwork:shared': 'true',
      'managed-by': 'patchwork',
    };
    for (const r of d.resources)
      expect(r.tags).toEqual(r.kind === 'ecr-repository' ? SHARED : r.service ? SVC_TAGS : TAGS);
  });

  it('state table: pk/sk strings, on demand, point-in-time recovery', () => {
    expect(desired().resources[0]).toEqual({
      kind: 'state-table',
      name: 'shop-prod-patchwork',
      tags: TAGS,
      keys: { pk: 'S', sk: 'S' },
      billingMode: 'PAY_PER_REQUEST',
      pointInTimeRecovery: true,
    });
  });

  it('security groups: ALB from allowed CIDRs, tasks only from the ALB group on the container port', () => {
    const d = desired(
      ONE_SERVICE.replace('desiredCount: 2', 'desiredCount: 2\n    allowedCidrs: ["10.0.0.0/8", "192.168.0.0/16"]'),
    );
    const alb = d.resources.find((r) => r.name === 'shop-prod-alb');
    const tasks = d.resources.find((r) => r.name === 'shop-prod-web-tasks');
    expect(alb).toMatchObject({
      ingress: [
        { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '10.0.0.0/8' },
        { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '192.168.0.0/16' },
      ],
    });
    expect(tasks).toMatchObject({
      ingress: [{ protocol: 'tcp', fromPort: 8080, toPort: 8080, sourceGroup: 'shop-prod-alb' }],
    });
  });

  it('execution role: only its own repository, log group and named secrets', () => {
    const yaml = ONE_SERVICE.replace(
      '    port: 8080',
      '    port: 8080\n    secrets: { DB: "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db", K: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbC" }',
    );
    const t = target(yaml);
    const doc = JSON.parse(executionPolicy(t, t.services[0]!, FACTS));
    expect(doc.Statement).toEqual([
      { Action: ['ecr:GetAuthorizationToken'], Effect: 'Allow', Resource: ['*'], Sid: 'EcrToken' },
      {
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        Effect: 'Allow',
        // The shared repository, and the per-env one of before the switch (its releases still pull).
        Resource: [
          'arn:aws:ecr:eu-west-1:123456789012:repository/shop-web',
          'arn:aws:ecr:eu-west-1:123456789012:repository/shop-prod-web',
        ],
        Sid: 'PullOwnRepository',
      },
      {
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Effect: 'Allow',
        Resource: ['arn:aws:logs:eu-west-1:123456789012:log-group:shop-prod-web:*'],
        Sid: 'WriteOwnLogs',
      },
      {
        Action: ['ssm:GetParameters'],
        Effect: 'Allow',
        Resource: ['arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db'],
        Sid: 'ReadOwnParameters',
      },
      {
        Action: ['secretsmanager:GetSecretValue'],
        Effect: 'Allow',
        Resource: ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbC-??????'],
        Sid: 'ReadOwnSecrets',
      },
    ]);
  });

  it('a plain registry: no ECR repository and no ECR permissions', () => {
    const yaml = ONE_SERVICE.replace('region: eu-west-1', 'region: eu-west-1\nregistry: 127.0.0.1:5000');
    expect(kinds(yaml).filter((k) => k.startsWith('ecr-repository/'))).toEqual([]);
    const t = target(yaml);
    expect(executionPolicy(t, t.services[0]!, FACTS)).not.toContain('ecr:');
    const svc = desired(yaml).resources.find((r) => r.kind === 'ecs-service');
    expect(svc).toMatchObject({
      bootstrap: { image: '127.0.0.1:5000/shop-web:patchwork-bootstrap', placeholder: true },
    });
  });

  it('ECR repository: immutable tags, scan on push, lifecycle keeping the configured count', () => {
    const repo = desired(ONE_SERVICE.replace('desiredCount: 2', 'desiredCount: 2\n    keepImages: 7')).resources.find(
      (r) => r.kind === 'ecr-repository',
    );
    expect(repo).toMatchObject({ tagMutability: 'IMMUTABLE', scanOnPush: true, encryption: 'AES256' });
    expect(repo).toMatchObject({ lifecyclePolicy: lifecyclePolicy(7) });
    // Released images (tagged release-<digest> by deploy) are matched first and never expire; the
    // rest keep the configured count.
    expect(JSON.parse(lifecyclePolicy(7))).toEqual({
      rules: [
        {
          action: { type: 'expire' },
          description: 'never expire an image a release ran (tagged release-*)',
          rulePriority: 1,
          selection: {
            countNumber: 9999,
            countType: 'imageCountMoreThan',
            tagPrefixList: ['release-'],
            tagStatus: 'tagged',
          },
        },
        {
          action: { type: 'expire' },
          description: 'keep the last 7 images',
          rulePriority: 2,
          selection: { countNumber: 7, countType: 'imageCountMoreThan', tagStatus: 'any' },
        },
      ],
    });
  });

  it('shared repositories: <app>-<svc>, tagged shared (no env), keeping the most images any sharing environment asks for', () => {
    const yaml = ONE_SERVICE.replace(
      'desiredCount: 2',
      'desiredCount: 2\n    keepImages: 7\n  staging: { keepImages: 40 }\n  old: { keepImages: 99, registryLayout: per-env }',
    );
    const repo = desired(yaml).resources.find((r) => r.kind === 'ecr-repository');
    expect(repo).toMatchObject({
      name: 'shop-web',
      lifecyclePolicy: lifecyclePolicy(40),
      tags: {
        'patchwork:app': 'shop',
        'patchwork:service': 'web',
        'patchwork:shared': 'true',
        'managed-by': 'patchwork',
      },
    });
    expect(repo?.tags['patchwork:env']).toBeUndefined();
    const old = target(yaml, 'old');
    expect(old.services[0]!.repository).toBe('shop-old-web');
    const oldRepo = desiredState(old, FACTS).resources.find((r) => r.kind === 'ecr-repository');
    expect(oldRepo).toMatchObject({
      name: 'shop-old-web',
      lifecyclePolicy: lifecyclePolicy(99),
      tags: { 'patchwork:env': 'old' },
    });
    expect(JSON.parse(executionPolicy(old, old.services[0]!, FACTS)).Statement[1].Resource).toEqual([
      'arn:aws:ecr:eu-west-1:123456789012:repository/shop-old-web',
    ]);
  });

  it('https: 443 with the certificate and TLS 1.3 policy, 80 redirects, rules on 443', () => {
    const yaml = ONE_SERVICE.replace(
      'desiredCount: 2',
      'desiredCount: 2\n    https: { certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123" }',
    );
    const d = desired(yaml);
    expect(d.resources.filter((r) => r.kind === 'listener')).toEqual([
      expect.objectContaining({
        name: 'shop-prod:443',
        protocol: 'HTTPS',
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc-123',
        sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        defaultAction: expect.objectContaining({ type: 'fixed-response', statusCode: '404' }),
      }),
      expect.objectContaining({
        name: 'shop-prod:80',
        protocol: 'HTTP',
        defaultAction: { type: 'redirect', protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' },
      }),
    ]);
    expect(d.resources.find((r) => r.kind === 'listener-rule')).toMatchObject({
      name: 'shop-prod-web:443',
      listenerPort: 443,
    });
    expect(d.resources.find((r) => r.name === 'shop-prod-alb')).toMatchObject({
      ingress: [
        { fromPort: 80, cidr: '0.0.0.0/0' },
        { fromPort: 443, cidr: '0.0.0.0/0' },
      ],
    });
  });

  it('ECS service: Fargate, circuit breaker with rollback, 100/200, no exec, tags propagated, placeholder bootstrap', () => {
    const svc = desired().resources.find((r) => r.kind === 'ecs-service');
    expect(svc).toMatchObject({
      cluster: 'shop-prod',
      launchType: 'FARGATE',
      desiredCount: 2,
      assignPublicIp: 'ENABLED',
      securityGroups: ['shop-prod-web-tasks'],
      loadBalancer: { targetGroup: 'shop-prod-web', containerName: 'web', containerPort: 8080 },
      deployment: { minimumHealthyPercent: 100, maximumPercent: 200, circuitBreaker: true, rollback: true },
      healthCheckGracePeriodSeconds: 30,
      enableExecuteCommand: false,
      propagateTags: 'SERVICE',
      taskFamily: 'shop-prod-web-bootstrap',
      bootstrap: {
        family: 'shop-prod-web-bootstrap',
        image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-web:patchwork-bootstrap',
        placeholder: true,
        executionRole: 'arn:aws:iam::123456789012:role/shop-prod-web-execution',
        taskRole: 'arn:aws:iam::123456789012:role/shop-prod-web-task',
        logGroup: 'shop-prod-web',
      },
    });
    // PW_NO_IMAGE_YET depends on what runs: the planner's (plan.test.ts).
    expect(desired().warnings.map((w) => w.code)).toEqual(['PW_PUBLIC_TASKS']);
  });

  it('a service with image: bootstraps on that image, in the deploy family', () => {
    const yaml = ONE_SERVICE.replace('    build: { context: . }', '    image: nginx:1.27');
    const svc = desired(yaml).resources.find((r) => r.kind === 'ecs-service');
    expect(svc).toMatchObject({ taskFamily: 'shop-prod-web', bootstrap: { image: 'nginx:1.27', placeholder: false } });
    expect(desired(yaml).warnings.map((w) => w.code)).toEqual(['PW_PUBLIC_TASKS']);
  });

  it('private subnets: tasks there without public IPs, the ALB in the public ones, no warning', () => {
    const d = desired(ONE_SERVICE, {
      ...FACTS,
      taskSubnets: ['subnet-0ccccccccccccccccc'],
      tasksArePrivate: true,
    });
    expect(d.resources.find((r) => r.kind === 'ecs-service')).toMatchObject({
      subnets: ['subnet-0ccccccccccccccccc'],
      assignPublicIp: 'DISABLED',
    });
    expect(d.resources.find((r) => r.kind === 'load-balancer')).toMatchObject({ subnets: FACTS.publicSubnets });
    expect(d.warnings.map((w) => w.code)).not.toContain('PW_PUBLIC_TASKS');
  });

  it('autoscaling and alarms', () => {
    const yaml = ONE_SERVICE.replace(
      'desiredCount: 2',
      `desiredCount: 2
    autoscaling: { min: 2, max: 6, cpuPercent: 60, requestsPerTarget: 500 }
    alarms: { http5xxPerMinute: 5, cpuPercent: 80, memoryPercent: 85, snsTopicArn: "arn:aws:sns:eu-west-1:123456789012:ops" }`,
    );
    const d = desiredState(target(yaml), FACTS);
    const names = d.resources.map((r) => `${r.kind}/${r.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'scalable-target/service/shop-prod/shop-prod-web',
        'scaling-policy/shop-prod-web-cpu',
        'scaling-policy/shop-prod-web-requests',
        'alarm/shop-prod-alb-5xx',
        'alarm/shop-prod-web-target-5xx',
        'alarm/shop-prod-web-unhealthy-hosts',
        'alarm/shop-prod-web-cpu',
        'alarm/shop-prod-web-memory',
      ]),
    );
    expect(d.resources.find((r) => r.name === 'shop-prod-web-requests')).toMatchObject({
      metric: 'ALBRequestCountPerTarget',
      targetValue: 500,
      resourceLabel: { loadBalancer: 'shop-prod', targetGroup: 'shop-prod-web' },
    });
    expect(d.resources.find((r) => r.name === 'shop-prod-web-cpu' && r.kind === 'alarm')).toMatchObject({
      namespace: 'AWS/ECS',
      metricName: 'CPUUtilization',
      threshold: 80,
      dimensions: { ClusterName: 'shop-prod', ServiceName: 'shop-prod-web' },
      actions: ['arn:aws:sns:eu-west-1:123456789012:ops'],
    });
    expect(d.resources.find((r) => r.kind === 'ecs-service')).toMatchObject({ scaleBounds: { min: 2, max: 6 } });
  });

  it('two services: one ALB, a rule each with stable priorities and their paths', () => {
    const yaml = `app: shop
region: eu-west-1
services:
  web: { build: { context: . }, port: 8080, route: { paths: ["/*"], priority: 100 } }
  api: { build: { context: . }, port: 9090, route: { paths: ["/api/*"], priority: 10 } }
environments: { prod: {} }
`;
    const d = desired(yaml);
    expect(d.resources.filter((r) => r.kind === 'load-balancer')).toHaveLength(1);
    expect(d.resources.filter((r) => r.kind === 'listener-rule')).toEqual([
      expect.objectContaining({ name: 'shop-prod-web:80', priority: 100, paths: ['/*'], targetGroup: 'shop-prod-web' }),
      expect.objectContaining({
        name: 'shop-prod-api:80',
        priority: 10,
        paths: ['/api/*'],
        targetGroup: 'shop-prod-api',
      }),
    ]);
  });
});
