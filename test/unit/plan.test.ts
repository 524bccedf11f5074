import { describe, expect, it } from 'vitest';
import { type Change, plan, publicPlan } from '../../src/lib/plan/index.js';
import { asObserved, desired, find, ONE_SERVICE } from './provision-fixtures.js';

const changes = (d = desired(), observed = asObserved(d)) => publicPlan(plan(d, observed)).changes;
const notNoop = (list: Change[]) => list.filter((c) => c.action !== 'noop');

describe('planner', () => {
  it('empty account: every resource is created, in dependency order', () => {
    const p = publicPlan(plan(desired(), []));
    expect(p.changes.map((c) => [c.action, c.kind, c.name])).toEqual([
      ['create', 'state-table', 'shop-prod-patchwork'],
      ['create', 'ecr-repository', 'shop-web'],
      ['create', 'log-group', 'shop-prod-web'],
      ['create', 'iam-role', 'shop-prod-web-execution'],
      ['create', 'iam-role', 'shop-prod-web-task'],
      ['create', 'ecs-cluster', 'shop-prod'],
      ['create', 'security-group', 'shop-prod-alb'],
      ['create', 'security-group', 'shop-prod-web-tasks'],
      ['create', 'load-balancer', 'shop-prod'],
      ['create', 'target-group', 'shop-prod-web'],
      ['create', 'listener', 'shop-prod:80'],
      ['create', 'listener-rule', 'shop-prod-web:80'],
      ['create', 'ecs-service', 'shop-prod-web'],
    ]);
    expect(p.changes[0]).toEqual({
      kind: 'state-table',
      name: 'shop-prod-patchwork',
      action: 'create',
      reason: 'does not exist',
    });
    expect(p.summary).toEqual({ create: 13, update: 0, replace: 0, delete: 0, noop: 0 });
    expect(p.pending).toBe(true);
  });

  it('AWS matches the config: all no-op, nothing pending', () => {
    const p = publicPlan(plan(desired(), asObserved(desired())));
    expect(p.summary).toEqual({ create: 0, update: 0, replace: 0, delete: 0, noop: 13 });
    expect(p.pending).toBe(false);
    expect(p.changes.every((c) => c.reason === 'matches the config')).toBe(true);
  });

  it('the --json shape: plain data, no SDK objects', () => {
    const p = publicPlan(plan(desired(), []));
    expect(Object.keys(p).sort()).toEqual(['changes', 'env', 'pending', 'summary', 'warnings']);
    expect(p.env).toEqual({ app: 'shop', env: 'prod', name: 'shop-prod', region: 'eu-west-1' });
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  describe('drift', () => {
    it('a deleted security group rule', () => {
      const d = desired();
      const o = asObserved(d);
      find(o, 'security-group', 'shop-prod-web-tasks').ingress = [];
      expect(notNoop(changes(d, o))).toEqual([
        {
          kind: 'security-group',
          name: 'shop-prod-web-tasks',
          service: 'web',
          action: 'update',
          reason: 'ingress rules differ',
          diff: [
            {
              field: 'ingress',
              from: [],
              to: [{ protocol: 'tcp', fromPort: 8080, toPort: 8080, sourceGroup: 'shop-prod-alb' }],
            },
          ],
        },
      ]);
    });

    it('a changed health check path', () => {
      const d = desired();
      const o = asObserved(d);
      find(o, 'target-group').healthCheck.path = '/other';
      expect(notNoop(changes(d, o))).toEqual([
        {
          kind: 'target-group',
          name: 'shop-prod-web',
          service: 'web',
          action: 'update',
          reason: 'healthCheck.path differs',
          diff: [{ field: 'healthCheck.path', from: '/other', to: '/healthz' }],
        },
      ]);
    });

    it('a changed desired count (service deployed, no autoscaling)', () => {
      const d = desired();
      const o = asObserved(d);
      const svc = find(o, 'ecs-service');
      svc.taskFamily = 'shop-prod-web';
      svc.desiredCount = 5;
      expect(notNoop(changes(d, o))).toEqual([
        {
          kind: 'ecs-service',
          name: 'shop-prod-web',
          service: 'web',
          action: 'update',
          reason: 'desired count 5 differs from 2',
          diff: [{ field: 'desiredCount', from: 5, to: 2 }],
        },
      ]);
    });

    it('desired count with autoscaling: inside the bounds is not drift, outside is', () => {
      const yaml = ONE_SERVICE.replace(
        'desiredCount: 2',
        'desiredCount: 2\n    autoscaling: { min: 2, max: 6, cpuPercent: 50 }',
      );
      const d = desired(yaml);
      const o = asObserved(d);
      const svc = find(o, 'ecs-service');
      svc.taskFamily = 'shop-prod-web';
      svc.desiredCount = 6;
      expect(notNoop(changes(d, o))).toEqual([]);
      svc.desiredCount = 9;
      expect(notNoop(changes(d, o))).toEqual([
        expect.objectContaining({
          kind: 'ecs-service',
          action: 'update',
          reason: 'desired count 9 is outside autoscaling 2..6',
          diff: [{ field: 'desiredCount', from: 9, to: 2 }],
        }),
      ]);
    });

    it('a service still on its bootstrap placeholder keeps 0 tasks', () => {
      const d = desired();
      const o = asObserved(d);
      expect(find(o, 'ecs-service').desiredCount).toBe(0);
      expect(notNoop(changes(d, o))).toEqual([]);
      find(o, 'ecs-service').desiredCount = 3;
      expect(notNoop(changes(d, o))).toEqual([
        expect.objectContaining({
          reason: 'still on the bootstrap placeholder (run deploy)',
          diff: [{ field: 'desiredCount', from: 3, to: 0 }],
        }),
      ]);
    });

    it('a deleted log group', () => {
      const d = desired();
      const o = asObserved(d).filter((r) => r.kind !== 'log-group');
      expect(notNoop(changes(d, o))).toEqual([
        { kind: 'log-group', name: 'shop-prod-web', service: 'web', action: 'create', reason: 'does not exist' },
      ]);
    });

    it('a removed tag', () => {
      const d = desired();
      const o = asObserved(d);
      const repo = find(o, 'ecr-repository');
      repo.tags = { ...repo.tags };
      delete repo.tags['managed-by'];
      repo.tags.team = 'payments'; // someone else's extra tag is left alone
      expect(notNoop(changes(d, o))).toEqual([
        {
          kind: 'ecr-repository',
          name: 'shop-web',
          service: 'web',
          action: 'update',
          reason: 'tag managed-by missing',
          diff: [{ field: 'tags.managed-by', from: null, to: 'patchwork' }],
        },
      ]);
    });

    it('log retention, cluster insights, trust policy, inline policy, PITR', () => {
      const d = desired();
      const o = asObserved(d);
      find(o, 'log-group').retentionDays = null;
      find(o, 'ecs-cluster').containerInsights = 'disabled';
      find(o, 'iam-role', 'shop-prod-web-task').trustService = 'ec2.amazonaws.com';
      find(o, 'iam-role', 'shop-prod-web-execution').inlinePolicy = null;
      find(o, 'state-table').pointInTimeRecovery = false;
      expect(notNoop(changes(d, o)).map((c) => [c.kind, c.name, c.action, c.reason])).toEqual([
        ['state-table', 'shop-prod-patchwork', 'update', 'pointInTimeRecovery differs'],
        ['log-group', 'shop-prod-web', 'update', 'retentionDays differs'],
        ['iam-role', 'shop-prod-web-execution', 'update', 'inlinePolicy differs'],
        ['iam-role', 'shop-prod-web-task', 'update', 'trustService differs'],
        ['ecs-cluster', 'shop-prod', 'update', 'containerInsights differs'],
      ]);
    });
  });

  describe('replace', () => {
    it('a target group of the wrong target type is replaced, with the rule and service that use it', () => {
      const d = desired();
      const o = asObserved(d);
      find(o, 'target-group').targetType = 'instance';
      expect(notNoop(changes(d, o))).toEqual([
        {
          kind: 'target-group',
          name: 'shop-prod-web',
          service: 'web',
          action: 'replace',
          reason: 'targetType cannot change in place',
          diff: [{ field: 'targetType', from: 'instance', to: 'ip' }],
        },
        {
          kind: 'listener-rule',
          name: 'shop-prod-web:80',
          service: 'web',
          action: 'replace',
          reason: 'target-group shop-prod-web is replaced',
        },
        {
          kind: 'ecs-service',
          name: 'shop-prod-web',
          service: 'web',
          action: 'replace',
          reason: 'target-group shop-prod-web is replaced',
        },
      ]);
    });

    it('an internal load balancer is replaced with its listeners and rules', () => {
      const d = desired();
      const o = asObserved(d);
      find(o, 'load-balancer').scheme = 'internal';
      expect(notNoop(changes(d, o)).map((c) => [c.kind, c.name, c.action, c.reason])).toEqual([
        ['load-balancer', 'shop-prod', 'replace', 'scheme cannot change in place'],
        ['listener', 'shop-prod:80', 'replace', 'load-balancer shop-prod is replaced'],
        ['listener-rule', 'shop-prod-web:80', 'replace', 'load-balancer shop-prod is replaced'],
      ]);
    });

    it('an ECS service on the EC2 launch type is replaced', () => {
      const d = desired();
      const o = asObserved(d);
      find(o, 'ecs-service').launchType = 'EC2';
      expect(notNoop(changes(d, o))).toEqual([
        expect.objectContaining({
          kind: 'ecs-service',
          action: 'replace',
          reason: 'launchType cannot change in place',
        }),
      ]);
    });
  });

  describe('delete', () => {
    it('https switched off: the 443 listener goes, the rule moves to 80', () => {
      const httpsYaml = ONE_SERVICE.replace(
        'desiredCount: 2',
        'desiredCount: 2\n    https: { certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc" }',
      );
      const before = asObserved(desired(httpsYaml));
      expect(notNoop(changes(desired(), before)).map((c) => [c.kind, c.name, c.action])).toEqual([
        ['security-group', 'shop-prod-alb', 'update'],
        ['listener', 'shop-prod:443', 'delete'],
        ['listener', 'shop-prod:80', 'update'],
        ['listener-rule', 'shop-prod-web:443', 'delete'],
        ['listener-rule', 'shop-prod-web:80', 'create'],
      ]);
    });

    it('alarms and scaling policies switched off are deleted; duplicates are deleted', () => {
      const yaml = ONE_SERVICE.replace(
        'desiredCount: 2',
        'desiredCount: 2\n    autoscaling: { min: 2, max: 4, cpuPercent: 50 }\n    alarms: { cpuPercent: 80 }',
      );
      const o = asObserved(desired(yaml));
      const dup = { ...find(o, 'listener-rule'), name: 'shop-prod-web:80#2', id: 'dup' };
      const list = changes(desired(), [...o, dup]);
      expect(notNoop(list).map((c) => [c.kind, c.name, c.action, c.reason])).toEqual([
        ['listener-rule', 'shop-prod-web:80#2', 'delete', 'duplicate'],
        ['scalable-target', 'service/shop-prod/shop-prod-web', 'delete', 'no longer in the config'],
        ['scaling-policy', 'shop-prod-web-cpu', 'delete', 'no longer in the config'],
        ['alarm', 'shop-prod-web-cpu', 'delete', 'no longer in the config'],
        ['alarm', 'shop-prod-web-unhealthy-hosts', 'delete', 'no longer in the config'],
      ]);
    });
  });
});
