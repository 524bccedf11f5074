/** The dry-run diff (pure): views of task definitions, field changes, secrecy, service settings, the text. */
import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { describeDiff } from '../../src/cli/format/diff.js';
import {
  diffTask,
  EMPTY_TASK,
  parseImage,
  releaseDiff,
  type ServiceView,
  serviceDiff,
  taskView,
} from '../../src/lib/release/diff.js';
import { deriveTaskDefinition } from '../../src/lib/release/taskdef.js';
import { target } from './provision-fixtures.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const SHA1 = 'a'.repeat(40);
const SHA2 = 'b'.repeat(40);
const ARN = (n: number) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-prod-web:${n}`;

const YAML = (env: string, extra = '') => `app: shop
region: eu-west-1
services:
  web:
    build: { context: . }
    port: 8080
    healthCheck: { path: /healthz }
    env: { ${env} }
    secrets: { DB_PASSWORD: "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db" }
${extra}environments:
  prod: {}
`;

const ROLES: TaskDefinition = {
  family: 'shop-prod-web',
  executionRoleArn: 'arn:aws:iam::123456789012:role/shop-prod-web-execution',
  containerDefinitions: [{ name: 'web', image: 'placeholder', user: '65532' }],
};

/** The revision a deploy of `sha`@`digest` with config `yaml` registers, as DescribeTaskDefinition would return it. */
function registered(yaml: string, digest: string, sha: string, time = '2026-12-01T10:00:00.000Z') {
  const t = target(yaml);
  const input = deriveTaskDefinition(t, t.services[0]!, ROLES, {
    image: `127.0.0.1:5000/shop-prod-web@${digest}`,
    sha,
    deployer: 'arn:aws:iam::1:user/ci',
    time,
  });
  return { td: input as TaskDefinition, tags: input.tags ?? [] };
}

describe('parseImage', () => {
  it('splits repository, tag and digest (a registry port is not a tag)', () => {
    expect(parseImage(`127.0.0.1:5000/shop-prod-web@${D1}`, SHA1)).toEqual({
      repository: '127.0.0.1:5000/shop-prod-web',
      tag: SHA1,
      digest: D1,
    });
    expect(parseImage('127.0.0.1:5000/shop-prod-web:v1', null)).toEqual({
      repository: '127.0.0.1:5000/shop-prod-web',
      tag: 'v1',
      digest: null,
    });
    expect(parseImage('nginx', null)).toEqual({ repository: 'nginx', tag: null, digest: null });
  });
});

describe('taskView', () => {
  it('reads what the user sets from a registered revision, the sha from its patchwork:sha tag', () => {
    const r = registered(YAML('LOG_LEVEL: info'), D1, SHA1);
    expect(taskView(r.td, 'web', r.tags)).toEqual({
      image: { repository: '127.0.0.1:5000/shop-prod-web', tag: SHA1, digest: D1 },
      env: { LOG_LEVEL: 'info' },
      secrets: { DB_PASSWORD: 'arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db' },
      cpu: '256',
      memory: '512',
      ports: ['8080/tcp'],
      healthCheck: null,
      command: null,
      entryPoint: null,
      user: '65532',
      workingDirectory: null,
      readonlyRootFilesystem: true,
      logConfiguration: {
        driver: 'awslogs',
        'awslogs-group': 'shop-prod-web',
        'awslogs-region': 'eu-west-1',
        'awslogs-stream-prefix': 'web',
      },
      runtimePlatform: 'LINUX/X86_64',
    });
  });
});

describe('diffTask', () => {
  it('the same config and image registered again (other time, other revision): no change', () => {
    const a = registered(YAML('LOG_LEVEL: info'), D1, SHA1, '2026-12-01T10:00:00.000Z');
    const b = registered(YAML('LOG_LEVEL: info'), D1, SHA1, '2026-12-01T11:00:00.000Z');
    expect(diffTask(taskView(a.td, 'web', a.tags), taskView(b.td, 'web', b.tags))).toEqual([]);
  });

  it('one env value changed: exactly that field, with both values', () => {
    const a = registered(YAML('LOG_LEVEL: info, A: b'), D1, SHA1);
    const b = registered(YAML('LOG_LEVEL: debug, A: b'), D1, SHA1);
    expect(diffTask(taskView(a.td, 'web', a.tags), taskView(b.td, 'web', b.tags))).toEqual([
      { field: 'env.LOG_LEVEL', change: 'changed', before: 'info', after: 'debug' },
    ]);
  });

  it('a new image: one image change with tag and digest on both sides', () => {
    const a = registered(YAML('A: b'), D1, SHA1);
    const b = registered(YAML('A: b'), D2, SHA2);
    expect(diffTask(taskView(a.td, 'web', a.tags), taskView(b.td, 'web', b.tags))).toEqual([
      {
        field: 'image',
        change: 'changed',
        before: { repository: '127.0.0.1:5000/shop-prod-web', tag: SHA1, digest: D1 },
        after: { repository: '127.0.0.1:5000/shop-prod-web', tag: SHA2, digest: D2 },
      },
    ]);
  });

  it('an image still to be built (digest unknown) is a change even with the same tag', () => {
    const a = registered(YAML('A: b'), D1, SHA1);
    const before = taskView(a.td, 'web', a.tags);
    const after = { ...before, image: { ...before.image!, digest: null } };
    expect(diffTask(before, after).map((c) => c.field)).toEqual(['image']);
  });

  it('env added and removed, secrets by name and source, cpu/memory, command, user, platform, health check', () => {
    const a = registered(YAML('A: b, GONE: x'), D1, SHA1);
    const b = registered(
      YAML(
        'A: b, NEW: "1"',
        [
          '    cpu: 512',
          '    memory: 1024',
          '    command: ["/app/web", "-serve"]',
          '    user: "1000"',
          '    build: { context: ., platform: linux/arm64 }',
          '',
        ].join('\n'),
      ).replace('    build: { context: . }\n', ''),
      D1,
      SHA1,
    );
    const before = taskView(a.td, 'web', a.tags);
    const after = taskView(b.td, 'web', b.tags);
    after.secrets = { DB_PASSWORD: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db', API_TOKEN: 'arn:x' };
    after.healthCheck = { command: ['CMD', '/app/web', '-healthcheck'], interval: 10 };
    expect(diffTask(before, after)).toEqual([
      { field: 'env.GONE', change: 'removed', before: 'x', after: null },
      { field: 'env.NEW', change: 'added', before: null, after: '1' },
      { field: 'secrets.API_TOKEN', change: 'added', before: null, after: 'arn:x' },
      {
        field: 'secrets.DB_PASSWORD',
        change: 'changed',
        before: 'arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db',
        after: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db',
      },
      { field: 'cpu', change: 'changed', before: '256', after: '512' },
      { field: 'memory', change: 'changed', before: '512', after: '1024' },
      {
        field: 'healthCheck',
        change: 'added',
        before: null,
        after: { command: ['CMD', '/app/web', '-healthcheck'], interval: 10 },
      },
      { field: 'command', change: 'added', before: null, after: ['/app/web', '-serve'] },
      { field: 'user', change: 'changed', before: '65532', after: '1000' },
      { field: 'runtimePlatform', change: 'changed', before: 'LINUX/X86_64', after: 'LINUX/ARM64' },
    ]);
  });

  it('env values that look like secrets are named, never shown', () => {
    const before = { ...EMPTY_TASK, env: { SESSION_SECRET: 'old', KEY: 'AKIAABCDEFGHIJKLMNOP', PLAIN: 'a' } };
    const after = { ...EMPTY_TASK, env: { SESSION_SECRET: 'new', KEY: 'x', PLAIN: 'b' } };
    expect(diffTask(before, after)).toEqual([
      { field: 'env.KEY', change: 'changed', before: '(hidden)', after: '(hidden)', hidden: true },
      { field: 'env.PLAIN', change: 'changed', before: 'a', after: 'b' },
      { field: 'env.SESSION_SECRET', change: 'changed', before: '(hidden)', after: '(hidden)', hidden: true },
    ]);
    const added = diffTask(EMPTY_TASK, { ...EMPTY_TASK, env: { DB_PASSWORD: 'hunter2' } });
    expect(added).toEqual([
      { field: 'env.DB_PASSWORD', change: 'added', before: null, after: '(hidden)', hidden: true },
    ]);
  });

  it('ports and the log configuration', () => {
    const before = { ...EMPTY_TASK, ports: ['8080/tcp'], logConfiguration: { driver: 'awslogs', group: 'a' } };
    const after = { ...EMPTY_TASK, ports: ['9090/tcp'], logConfiguration: { driver: 'awslogs', group: 'b' } };
    expect(diffTask(before, after).map((c) => [c.field, c.before, c.after])).toEqual([
      ['ports', ['8080/tcp'], ['9090/tcp']],
      ['logConfiguration', { driver: 'awslogs', group: 'a' }, { driver: 'awslogs', group: 'b' }],
    ]);
  });
});

const SERVICE: ServiceView = {
  desiredCount: 2,
  deploymentConfiguration: { minimumHealthyPercent: 100, maximumPercent: 200, circuitBreaker: true, rollback: true },
  healthCheckGracePeriodSeconds: 10,
};

describe('serviceDiff', () => {
  const a = registered(YAML('LOG_LEVEL: info'), D1, SHA1);
  const view = taskView(a.td, 'web', a.tags);

  it('what already runs: no change; the reused revision is named', () => {
    expect(
      serviceDiff({
        service: 'web',
        current: { arn: ARN(3), task: view, service: SERVICE },
        next: { arn: ARN(3), task: view, desiredCount: null },
        config: SERVICE,
        scaleBounds: null,
        placeholder: false,
      }),
    ).toEqual({ service: 'web', taskDefinition: { current: ARN(3), next: ARN(3) }, changes: [], provision: [] });
  });

  it('leaving the placeholder: the desired count the release starts is a change, not drift', () => {
    const d = serviceDiff({
      service: 'web',
      current: { arn: ARN(1), task: view, service: { ...SERVICE, desiredCount: 0 } },
      next: { arn: null, task: view, desiredCount: 2 },
      config: SERVICE,
      scaleBounds: null,
      placeholder: true,
    });
    expect(d.changes).toEqual([{ field: 'desiredCount', change: 'changed', before: 0, after: 2 }]);
    expect(d.provision).toEqual([]);
  });

  it('service settings off the config are listed for provision; a count within autoscaling bounds is not', () => {
    const running: ServiceView = {
      desiredCount: 4,
      deploymentConfiguration: {
        minimumHealthyPercent: 50,
        maximumPercent: 200,
        circuitBreaker: false,
        rollback: false,
      },
      healthCheckGracePeriodSeconds: 10,
    };
    const input = {
      service: 'web',
      current: { arn: ARN(3), task: view, service: running },
      next: { arn: null, task: view, desiredCount: null },
      config: SERVICE,
      placeholder: false,
    };
    expect(serviceDiff({ ...input, scaleBounds: null }).provision).toEqual([
      { field: 'desiredCount', change: 'changed', before: 4, after: 2 },
      {
        field: 'deploymentConfiguration',
        change: 'changed',
        before: running.deploymentConfiguration,
        after: SERVICE.deploymentConfiguration,
      },
    ]);
    expect(serviceDiff({ ...input, scaleBounds: { min: 2, max: 6 } }).provision.map((c) => c.field)).toEqual([
      'deploymentConfiguration',
    ]);
    expect(serviceDiff({ ...input, scaleBounds: null }).changes).toEqual([]);
  });
});

describe('releaseDiff and its text', () => {
  it('pending only when some service changes; the text shows fields and provision drift', () => {
    const a = registered(YAML('LOG_LEVEL: info'), D1, SHA1);
    const b = registered(YAML('LOG_LEVEL: debug'), D1, SHA1);
    const web = serviceDiff({
      service: 'web',
      current: { arn: ARN(3), task: taskView(a.td, 'web', a.tags), service: SERVICE },
      next: { arn: null, task: taskView(b.td, 'web', b.tags), desiredCount: null },
      config: { ...SERVICE, healthCheckGracePeriodSeconds: 30 },
      scaleBounds: null,
      placeholder: false,
    });
    const d = releaseDiff('deploy', 'prod', [web]);
    expect(d.pending).toBe(true);
    expect(describeDiff(d, 'deploy to prod (dry run): changes pending')).toBe(
      [
        'deploy to prod (dry run): changes pending',
        'web: would deploy: shop-prod-web:3 → a new revision',
        '  ~ env.LOG_LEVEL: "info" → "debug"',
        '  differs from the config, set by `patchwork provision` (not by this deploy):',
        '    ~ healthCheckGracePeriodSeconds: 10 → 30',
      ].join('\n'),
    );
    const same = releaseDiff('rollback', 'prod', [{ ...web, changes: [], provision: [] }]);
    expect(same.pending).toBe(false);
    expect(describeDiff(same, 't')).toBe('t\nweb: no change (runs shop-prod-web:3)');
  });

  it('an image line shows the short sha and digest, or that the digest comes with the build', () => {
    const d = releaseDiff('deploy', 'prod', [
      {
        service: 'web',
        taskDefinition: { current: ARN(3), next: null },
        changes: [
          {
            field: 'image',
            change: 'changed',
            before: { repository: 'r/shop-prod-web', tag: SHA1, digest: D1 },
            after: { repository: 'r/shop-prod-web', tag: SHA2, digest: null },
          },
        ],
        provision: [],
      },
    ]);
    expect(describeDiff(d, 't').split('\n')[2]).toBe(
      `  ~ image: r/shop-prod-web:${SHA1.slice(0, 12)} (${D1.slice(0, 19)}…) → r/shop-prod-web:${SHA2.slice(0, 12)} (digest when built)`,
    );
  });
});
