import { describe, expect, it } from 'vitest';
import { type Change, plan, publicPlan, stages } from '../../src/lib/plan/index.js';
import { asObserved, desired, find, ONE_SERVICE } from './provision-fixtures.js';

const changes = (d = desired(), observed = asObserved(d)) => publicPlan(plan(d, observed)).changes;
/** The changes to make, without their apply `step` (the steps have their own tests below). */
const notNoop = (list: Change[]) => list.filter((c) => c.action !== 'noop').map(({ step: _s, ...c }) => c);
/** [step, action, kind, name] of the changes to make, in apply order. */
const inOrder = (list: Change[]) =>
  list
    .filter((c) => c.action !== 'noop')
    .sort((a, b) => a.step! - b.step!)
    .map((c) => [c.step, c.action, c.kind, c.name]);

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
      step: 1,
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

  describe('apply order (step)', () => {
    const httpsYaml = ONE_SERVICE.replace(
      'desiredCount: 2',
      'desiredCount: 2\n    https: { certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc" }',
    );

    it('switching to HTTPS: the 443 listener and its rule, then the 80 redirect, then the 80 rule goes', () => {
      const list = changes(desired(httpsYaml), asObserved(desired()));
      expect(inOrder(list)).toEqual([
        [1, 'update', 'security-group', 'shop-prod-alb'],
        [2, 'create', 'listener', 'shop-prod:443'],
        [3, 'create', 'listener-rule', 'shop-prod-web:443'],
        [4, 'update', 'listener', 'shop-prod:80'],
        [5, 'delete', 'listener-rule', 'shop-prod-web:80'],
      ]);
    });

    it('switching back: the 80 rule, then the 80 default, then the 443 rule and listener go', () => {
      const list = changes(desired(), asObserved(desired(httpsYaml)));
      expect(inOrder(list)).toEqual([
        [1, 'update', 'security-group', 'shop-prod-alb'],
        [2, 'create', 'listener-rule', 'shop-prod-web:80'],
        [3, 'update', 'listener', 'shop-prod:80'],
        [4, 'delete', 'listener-rule', 'shop-prod-web:443'],
        [5, 'delete', 'listener', 'shop-prod:443'],
      ]);
    });

    it('a rule whose target group goes too is deleted before it, even with writes in the plan', () => {
      const two = ONE_SERVICE.replace(
        'environments:',
        '  api:\n    build: { context: . }\n    port: 9090\n    route: { paths: ["/api/*"] }\nenvironments:',
      );
      const o = asObserved(desired(two));
      find(o, 'target-group').healthCheck.path = '/other'; // a write
      const tg = o.find((r) => r.kind === 'target-group' && r.name === 'shop-prod-api')!;
      const p = plan(desired(), o);
      // The target group is not the planner's to delete (not observed as an orphan): add its delete.
      p.changes.push({ kind: 'target-group', name: tg.name, action: 'delete', reason: 'test', observed: tg });
      const order = stages(p.changes).map((st) => [st.removing, st.kind, st.changes.map((c) => c.name)]);
      expect(order).toEqual([
        [true, 'listener-rule', ['shop-prod-api:80']],
        [true, 'target-group', ['shop-prod-api']],
        [false, 'target-group', ['shop-prod-web']],
      ]);
    });

    it('a rule deleted where a new rule takes its priority goes first (no PriorityInUse)', () => {
      const o = asObserved(desired());
      const old = { ...find(o, 'listener-rule'), name: 'shop-prod-other:80', targetGroup: 'shop-prod-other' };
      const withoutRule = o.filter((r) => r.kind !== 'listener-rule');
      const list = changes(desired(), [...withoutRule, old]);
      expect(inOrder(list)).toEqual([
        [1, 'delete', 'listener-rule', 'shop-prod-other:80'],
        [2, 'create', 'listener-rule', 'shop-prod-web:80'],
      ]);
    });
  });

  describe('PW_NO_IMAGE_YET only while true', () => {
    const codes = (d: ReturnType<typeof desired>, o: ReturnType<typeof asObserved>) =>
      plan(d, o).warnings.map((w) => w.code);

    it('a build: service not created yet, or still on its placeholder, warns', () => {
      expect(codes(desired(), [])).toEqual(['PW_PUBLIC_TASKS', 'PW_NO_IMAGE_YET']);
      const o = asObserved(desired());
      expect(find(o, 'ecs-service').taskFamily).toBe('shop-prod-web-bootstrap');
      expect(plan(desired(), o).warnings.find((w) => w.code === 'PW_NO_IMAGE_YET')?.message).toBe(
        'service web has no image yet: it runs a placeholder task definition and 0 tasks; run `patchwork deploy --env prod` next',
      );
    });

    it('a deployed build: service (a real task definition) does not; nor does an image: service', () => {
      const o = asObserved(desired());
      find(o, 'ecs-service').taskFamily = 'shop-prod-web';
      expect(codes(desired(), o)).toEqual(['PW_PUBLIC_TASKS']);
      const yaml = ONE_SERVICE.replace('    build: { context: . }', '    image: nginx:1.27');
      expect(codes(desired(yaml), [])).toEqual(['PW_PUBLIC_TASKS']);
    });
  });
});
