/**
 * Progressive strategies (blue-green, canary, linear) on patchwork's side: config and its
 * validation, the extra desired resources, the service's deploymentConfiguration, and that what
 * ECS does between deployments (weights moved, the pair swapped) is not drift.
 */
import {
  ContinueServiceDeploymentCommand,
  CreateServiceCommand,
  DescribeServiceDeploymentsCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  type ServiceDeployment,
} from '@aws-sdk/client-ecs';
import { DescribeRulesCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/lib/config/load.js';
import { resolveEnvironment } from '../../src/lib/config/resolve.js';
import type { EcsService } from '../../src/lib/desired/types.js';
import { Emitter, type PatchworkEvent } from '../../src/lib/events.js';
import { plan, stages } from '../../src/lib/plan/index.js';
import {
  followDeployment,
  nextStep,
  pauseTimedOut,
  stageLine,
  stillPaused,
  viewOf,
} from '../../src/lib/release/progressive.js';
import {
  deploymentConfigurationOf,
  liveTargetGroup,
  loadBalancersChanged,
  observedProgressive,
  strategySwitchRefused,
} from '../../src/lib/resources/ecs-service.js';
import { REGISTRY } from '../../src/lib/resources/index.js';
import { forwardTargets, matchRule } from '../../src/lib/resources/listener-rule.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { asObserved, desired, FACTS, find, ONE_SERVICE } from './provision-fixtures.js';

afterAll(restoreAwsMocks);

const withDeploy = (deploy: string, env = '') =>
  `${ONE_SERVICE.replace('    desiredCount: 2\n', `    desiredCount: 2\n${env}`)}deploy: ${deploy}\n`;
const BLUE_GREEN = withDeploy('{ strategy: blue-green, bakeMinutes: 2 }');
const CANARY = withDeploy(
  '{ strategy: canary, canary: { percent: 12.5, bakeMinutes: 3 }, testListener: { port: 8443 } }',
);

const LINEAR = withDeploy(
  '{ strategy: linear, linear: { stepPercent: 25, stepBakeMinutes: 1 }, testListener: { port: 8443 } }',
);

const resolve = (yaml: string) => resolveEnvironment(parseConfig(yaml, 'patchwork.yml', '/tmp'), 'prod', {});
const failure = (yaml: string): string => {
  try {
    resolve(yaml);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('no error');
};

describe('config', () => {
  it('defaults: rolling; blue-green bakes 5 minutes with the test listener on 9000', () => {
    expect(resolve(ONE_SERVICE).deploy).toMatchObject({ strategy: 'rolling', canary: null, linear: null });
    expect(resolve(withDeploy('{ strategy: blue-green }')).deploy).toMatchObject({
      strategy: 'blue-green',
      bakeMinutes: 5,
      testListenerPort: 9000,
      canary: null,
      linear: null,
      preTraffic: [],
    });
    expect(resolve(withDeploy('{ strategy: canary }')).deploy.canary).toEqual({ percent: 10, bakeMinutes: 10 });
    expect(resolve(withDeploy('{ strategy: linear, linear: { stepPercent: 25 } }')).deploy.linear).toEqual({
      stepPercent: 25,
      stepBakeMinutes: 6,
    });
    expect(
      resolve(withDeploy('{ strategy: blue-green, preTraffic: [{ path: /ready }, { path: /v, expectStatus: 204 }] }'))
        .deploy.preTraffic,
    ).toEqual([
      { path: '/ready', expectStatus: 200 },
      { path: '/v', expectStatus: 204 },
    ]);
  });

  it('the environment overrides the top level', () => {
    const yaml = withDeploy('{ strategy: blue-green }', '    deploy: { strategy: canary }\n');
    expect(resolve(yaml).deploy.strategy).toBe('canary');
  });

  it("AWS's ranges are enforced with file:line before any call", () => {
    expect(failure(withDeploy('{ strategy: canary, canary: { percent: 0.05 } }'))).toMatch(
      /patchwork\.yml:\d+ deploy\.canary\.percent: /,
    );
    expect(failure(withDeploy('{ strategy: canary, canary: { percent: 12.34 } }'))).toMatch(
      /deploy\.canary\.percent: expected a multiple of 0\.1/,
    );
    expect(failure(withDeploy('{ strategy: linear, linear: { stepPercent: 2 } }'))).toMatch(
      /deploy\.linear\.stepPercent: /,
    );
    expect(failure(withDeploy('{ strategy: blue-green, bakeMinutes: 1441 }'))).toMatch(/deploy\.bakeMinutes: /);
    expect(failure(withDeploy('{ strategy: blue-green, testListener: { port: 443 } }'))).toMatch(
      /deploy\.testListener\.port: ports 80 and 443 serve production traffic/,
    );
    expect(failure(withDeploy('{ strategy: sideways }'))).toMatch(/deploy\.strategy: /);
  });

  it('settings of another strategy are errors at their line', () => {
    expect(failure(withDeploy('{ strategy: blue-green, canary: { percent: 5 } }'))).toMatch(
      /patchwork\.yml:\d+ deploy\.canary: canary: applies only to strategy: canary \(the strategy here is blue-green\)/,
    );
    expect(failure(withDeploy('{ testListener: { port: 9001 } }'))).toMatch(
      /deploy\.testListener: testListener: applies to strategy blue-green, canary or linear, not rolling/,
    );
  });

  it('a name too long for the second target group is refused', () => {
    const long = BLUE_GREEN.replace('app: shop', 'app: abcdefghijklmnopqrst').replace('  web:', '  webservice:');
    expect(failure(long)).toMatch(/needs a second target group "abcdefghijklmnopqrst-prod-webservice-b"/);
  });
});

describe('desired state', () => {
  it('rolling: none of the extra resources', () => {
    const names = desired().resources.map((r) => `${r.kind}/${r.name}`);
    expect(names.filter((n) => /-b$|:9000|ecs-lb/.test(n))).toEqual([]);
  });

  it('blue-green: a second target group, the test listener and rule, the ECS role, the port opened like production', () => {
    const d = desired(BLUE_GREEN);
    const names = d.resources.map((r) => `${r.kind}/${r.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'target-group/shop-prod-web',
        'target-group/shop-prod-web-b',
        'listener/shop-prod:80',
        'listener/shop-prod:9000',
        'listener-rule/shop-prod-web:80',
        'listener-rule/shop-prod-web:9000',
        'iam-role/shop-prod-ecs-lb',
      ]),
    );
    const sg = find(asObserved(d), 'security-group', 'shop-prod-alb');
    expect(sg.ingress).toEqual([
      { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' },
      { protocol: 'tcp', fromPort: 9000, toPort: 9000, cidr: '0.0.0.0/0' },
    ]);
    const testRule = find(asObserved(d), 'listener-rule', 'shop-prod-web:9000');
    const prodRule = find(asObserved(d), 'listener-rule', 'shop-prod-web:80');
    expect({ ...testRule, name: '', id: '', listenerPort: 0 }).toEqual({
      ...prodRule,
      name: '',
      id: '',
      listenerPort: 0,
    });
    expect(prodRule.alternateTargetGroup).toBe('shop-prod-web-b');
  });

  it("the ECS role: trusts ecs.amazonaws.com, may shift only this environment's rules and target groups", () => {
    const role = find(asObserved(desired(BLUE_GREEN)), 'iam-role', 'shop-prod-ecs-lb');
    expect(role.trustService).toBe('ecs.amazonaws.com');
    expect(JSON.parse(role.inlinePolicy!.document)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DescribeLoadBalancing',
          Effect: 'Allow',
          Action: [
            'elasticloadbalancing:DescribeListeners',
            'elasticloadbalancing:DescribeRules',
            'elasticloadbalancing:DescribeTargetGroups',
            'elasticloadbalancing:DescribeTargetHealth',
          ],
          Resource: ['*'],
        },
        {
          Sid: 'ShiftOwnListenerRules',
          Effect: 'Allow',
          Action: ['elasticloadbalancing:ModifyListener', 'elasticloadbalancing:ModifyRule'],
          Resource: [
            'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop-prod/*',
            'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop-prod/*',
          ],
        },
        {
          Sid: 'RegisterOwnTargets',
          Effect: 'Allow',
          Action: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
          Resource: [
            'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-prod-web/*',
            'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-prod-web-b/*',
          ],
        },
      ],
    });
  });

  it('the service: strategy, bake, canary, the PAUSE hook rolling back on timeout, the alarms', () => {
    const yaml = CANARY.replace('    desiredCount: 2\n', '    desiredCount: 2\n    alarms: { cpuPercent: 80 }\n');
    const svc = find(asObserved(desired(yaml)), 'ecs-service') as EcsService;
    expect(svc.strategy).toBe('CANARY');
    expect(svc.progressive).toEqual({
      bakeTimeInMinutes: 5,
      canary: { canaryPercent: 12.5, canaryBakeTimeInMinutes: 3 },
      linear: null,
      alternateTargetGroup: 'shop-prod-web-b',
      productionListenerRule: { listenerPort: 80, priority: svc.progressive!.productionListenerRule.priority },
      testListenerRule: { listenerPort: 8443, priority: svc.progressive!.productionListenerRule.priority },
      role: 'shop-prod-ecs-lb',
      pauseHookTimeoutMinutes: 10,
      alarms: ['shop-prod-web-cpu', 'shop-prod-web-unhealthy-hosts', 'shop-prod-web-unhealthy-hosts-b'],
    });
    expect(deploymentConfigurationOf(svc)).toEqual({
      minimumHealthyPercent: 100,
      maximumPercent: 200,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      strategy: 'CANARY',
      bakeTimeInMinutes: 5,
      canaryConfiguration: { canaryPercent: 12.5, canaryBakeTimeInMinutes: 3 },
      lifecycleHooks: [
        {
          targetType: 'PAUSE',
          lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'],
          timeoutConfiguration: { timeoutInMinutes: 10, action: 'ROLLBACK' },
        },
      ],
      alarms: {
        alarmNames: ['shop-prod-web-cpu', 'shop-prod-web-unhealthy-hosts', 'shop-prod-web-unhealthy-hosts-b'],
        enable: true,
        rollback: true,
      },
    });
  });

  describe('the green target group is watched too', () => {
    const ALARMS =
      '    alarms: { http5xxPerMinute: 5, cpuPercent: 80, snsTopicArn: "arn:aws:sns:eu-west-1:123456789012:ops" }\n';
    const canary = withDeploy('{ strategy: canary }', ALARMS);
    const rolling = `${ONE_SERVICE.replace('    desiredCount: 2\n', `    desiredCount: 2\n${ALARMS}`)}`;
    const alarmsOf = (yaml: string) => desired(yaml).resources.filter((r) => r.kind === 'alarm');
    const SVC_TAGS = {
      'patchwork:app': 'shop',
      'patchwork:env': 'prod',
      'patchwork:service': 'web',
      'managed-by': 'patchwork',
    };
    const common = {
      kind: 'alarm',
      periodSeconds: 60,
      treatMissingData: 'notBreaching',
      actions: ['arn:aws:sns:eu-west-1:123456789012:ops'],
      namespace: 'AWS/ApplicationELB',
      tags: SVC_TAGS,
    };

    it('canary: target 5xx and unhealthy hosts on both target groups of the pair, tagged like the service', () => {
      const mine = alarmsOf(canary).filter((a) => a.name.endsWith('-b'));
      expect(mine).toEqual([
        {
          ...common,
          name: 'shop-prod-web-target-5xx-b',
          metricName: 'HTTPCode_Target_5XX_Count',
          statistic: 'Sum',
          dimensions: { LoadBalancer: 'shop-prod', TargetGroup: 'shop-prod-web-b' },
          comparison: 'GreaterThanOrEqualToThreshold',
          threshold: 5,
          evaluationPeriods: 1,
        },
        {
          ...common,
          name: 'shop-prod-web-unhealthy-hosts-b',
          metricName: 'UnHealthyHostCount',
          statistic: 'Maximum',
          dimensions: { LoadBalancer: 'shop-prod', TargetGroup: 'shop-prod-web-b' },
          comparison: 'GreaterThanThreshold',
          threshold: 0,
          evaluationPeriods: 2,
        },
      ]);
      const primary = alarmsOf(canary).filter((a) => a.name === 'shop-prod-web-target-5xx');
      expect(primary.map((a) => a.dimensions)).toEqual([{ LoadBalancer: 'shop-prod', TargetGroup: 'shop-prod-web' }]);
    });

    it('rolling: no alarm on a second target group (there is none)', () => {
      expect(alarmsOf(rolling).map((a) => a.name)).toEqual([
        'shop-prod-alb-5xx',
        'shop-prod-web-target-5xx',
        'shop-prod-web-unhealthy-hosts',
        'shop-prod-web-cpu',
      ]);
    });

    it('deploymentConfiguration.alarms lists the alarms of both target groups, rollback on', () => {
      const svc = find(asObserved(desired(canary)), 'ecs-service') as EcsService;
      expect(deploymentConfigurationOf(svc).alarms).toEqual({
        alarmNames: [
          'shop-prod-alb-5xx',
          'shop-prod-web-cpu',
          'shop-prod-web-target-5xx',
          'shop-prod-web-target-5xx-b',
          'shop-prod-web-unhealthy-hosts',
          'shop-prod-web-unhealthy-hosts-b',
        ],
        enable: true,
        rollback: true,
      });
    });

    it('plan: switching to canary creates them; a drifted one is updated; back to rolling deletes them', () => {
      const act = (d: ReturnType<typeof desired>, o: ReturnType<typeof asObserved>) =>
        plan(d, o)
          .changes.filter((c) => c.kind === 'alarm' && c.action !== 'noop')
          .map((c) => [c.name, c.action, ...(c.reason ? [c.reason] : [])]);
      expect(act(desired(canary), asObserved(desired(rolling)))).toEqual([
        ['shop-prod-web-target-5xx-b', 'create', 'does not exist'],
        ['shop-prod-web-unhealthy-hosts-b', 'create', 'does not exist'],
      ]);
      const drifted = asObserved(desired(canary));
      const b = find(drifted, 'alarm', 'shop-prod-web-target-5xx-b');
      b.dimensions = { ...b.dimensions, TargetGroup: 'shop-prod-web' };
      expect(act(desired(canary), drifted)).toEqual([
        ['shop-prod-web-target-5xx-b', 'update', 'dimensions.TargetGroup differs'],
      ]);
      expect(act(desired(rolling), asObserved(desired(canary)))).toEqual([
        ['shop-prod-web-target-5xx-b', 'delete', 'no longer in the config'],
        ['shop-prod-web-unhealthy-hosts-b', 'delete', 'no longer in the config'],
      ]);
    });
  });

  it('rolling sends no strategy (ECS default) unless switching back', () => {
    const svc = find(asObserved(desired()), 'ecs-service') as EcsService;
    expect(deploymentConfigurationOf(svc)).toEqual({
      minimumHealthyPercent: 100,
      maximumPercent: 200,
      deploymentCircuitBreaker: { enable: true, rollback: true },
    });
    expect(deploymentConfigurationOf(svc, true)).toMatchObject({
      strategy: 'ROLLING',
      alarms: { alarmNames: [], enable: false, rollback: false },
    });
  });

  it('switching back to rolling clears the PAUSE hook and the alarms (UpdateService keeps members left out)', () => {
    const svc = find(asObserved(desired()), 'ecs-service') as EcsService;
    expect(deploymentConfigurationOf(svc, true)).toEqual({
      minimumHealthyPercent: 100,
      maximumPercent: 200,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      strategy: 'ROLLING',
      lifecycleHooks: [],
      alarms: { alarmNames: [], enable: false, rollback: false },
    });
  });
});

describe('what ECS changes is not drift', () => {
  it('a rule whose weights ECS moved to the second group reads as the desired rule', () => {
    const tgNames = new Map([
      ['arn:tg/a', 'shop-prod-web'],
      ['arn:tg/b', 'shop-prod-web-b'],
    ]);
    const targets = forwardTargets(
      {
        Actions: [
          {
            Type: 'forward',
            ForwardConfig: {
              TargetGroups: [
                { TargetGroupArn: 'arn:tg/a', Weight: 0 },
                { TargetGroupArn: 'arn:tg/b', Weight: 100 },
              ],
            },
          },
        ],
      },
      tgNames,
    );
    expect(targets).toEqual(['shop-prod-web', 'shop-prod-web-b']);
    const wanted = desired(BLUE_GREEN).resources.filter((r) => r.kind === 'listener-rule');
    expect(matchRule(wanted, 80, targets)?.name).toBe('shop-prod-web:80');
    expect(matchRule(wanted, 9000, ['shop-prod-web-b'])?.name).toBe('shop-prod-web:9000');
    expect(matchRule(wanted, 80, ['someone-else'])).toBeUndefined();
  });

  it('a service observed as configured plans no change; a changed bake is an update', () => {
    const d = desired(BLUE_GREEN);
    const observed = asObserved(d);
    expect(plan(d, observed).changes.filter((c) => c.action !== 'noop')).toEqual([]);
    const svc = find(observed, 'ecs-service') as EcsService;
    svc.progressive = { ...svc.progressive!, bakeTimeInMinutes: 60 };
    const c = plan(d, observed).changes.find((x) => x.kind === 'ecs-service');
    expect(c?.action).toBe('update');
  });

  it('switching rolling → blue-green is an update of the service, not a replace', () => {
    const d = desired(BLUE_GREEN);
    const observed = asObserved(desired());
    const c = plan(d, observed).changes.find((x) => x.kind === 'ecs-service');
    expect(c?.action).toBe('update');
    expect(c?.diff?.map((x) => x.field.split('.')[0])).toEqual(expect.arrayContaining(['strategy', 'progressive']));
  });

  it('switching canary → linear: an update of the service alone, its deploymentConfiguration, no load balancer change', () => {
    const d = desired(LINEAR);
    const observed = asObserved(desired(CANARY));
    const changes = plan(d, observed).changes.filter((c) => c.action !== 'noop');
    expect(changes.map((c) => `${c.action} ${c.kind}`)).toEqual(['update ecs-service']);
    const want = find(asObserved(d), 'ecs-service') as EcsService;
    const have = find(observed, 'ecs-service') as EcsService;
    expect(changes[0]?.diff?.map((x) => x.field)).toEqual(['strategy', 'progressive.canary', 'progressive.linear']);
    expect(loadBalancersChanged(want, have, changes[0]?.diff ?? [])).toBe(false);
    expect(deploymentConfigurationOf(want, true)).toEqual({
      minimumHealthyPercent: 100,
      maximumPercent: 200,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      strategy: 'LINEAR',
      bakeTimeInMinutes: 5,
      linearConfiguration: { stepPercent: 25, stepBakeTimeInMinutes: 1 },
      lifecycleHooks: [
        {
          targetType: 'PAUSE',
          lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'],
          timeoutConfiguration: { timeoutInMinutes: 10, action: 'ROLLBACK' },
        },
      ],
      alarms: { alarmNames: [], enable: false, rollback: false },
    });
  });

  it('switching back to rolling: the service update first, then the production rule, then the progressive parts go', () => {
    const p = plan(desired(), asObserved(desired(BLUE_GREEN)));
    const order = stages(p.changes).map(
      (st) => `${st.removing ? '-' : '+'} ${st.changes.map((c) => `${c.action} ${c.kind} ${c.name}`).join(', ')}`,
    );
    expect(order).toEqual([
      '+ update security-group shop-prod-alb',
      '+ update ecs-service shop-prod-web',
      '+ update listener-rule shop-prod-web:80',
      '- delete listener-rule shop-prod-web:9000',
      '- delete listener shop-prod:9000',
      '- delete target-group shop-prod-web-b',
      '- delete iam-role shop-prod-ecs-lb',
    ]);
  });

  it('the live target group of a rule: the heavier of a weighted forward, else its one group', () => {
    const fwd = (groups: [string, number][]) => ({
      Rules: [
        {
          Actions: [
            {
              Type: 'forward' as const,
              ForwardConfig: { TargetGroups: groups.map(([TargetGroupArn, Weight]) => ({ TargetGroupArn, Weight })) },
            },
          ],
        },
      ],
    });
    expect(
      liveTargetGroup(
        fwd([
          ['a', 0],
          ['b', 100],
        ]),
      ),
    ).toBe('b');
    expect(
      liveTargetGroup(
        fwd([
          ['a', 100],
          ['b', 0],
        ]),
      ),
    ).toBe('a');
    expect(liveTargetGroup({ Rules: [{ Actions: [{ Type: 'forward', TargetGroupArn: 'a' }] }] })).toBe('a');
    expect(liveTargetGroup({ Rules: [] })).toBeUndefined();
  });

  it('load balancers are sent only when the pair, the rules or the role change, or a side is rolling', () => {
    const canary = find(asObserved(desired(CANARY)), 'ecs-service') as EcsService;
    const blueGreen = find(asObserved(desired(BLUE_GREEN)), 'ecs-service') as EcsService;
    const rolling = find(asObserved(desired()), 'ecs-service') as EcsService;
    expect(loadBalancersChanged(canary, canary, [])).toBe(false);
    expect(loadBalancersChanged(rolling, rolling, [])).toBe(false);
    // The test listener moved (9000 → 8443): its rule is another one.
    expect(loadBalancersChanged(canary, blueGreen, [])).toBe(true);
    expect(loadBalancersChanged(rolling, canary, [])).toBe(true);
    expect(loadBalancersChanged(canary, rolling, [])).toBe(true);
    expect(loadBalancersChanged(rolling, rolling, [{ field: 'loadBalancer', from: 'a', to: 'b' }])).toBe(true);
  });

  it('DescribeServices read back in desired terms, the swapped pair included', () => {
    const rules = new Map([
      ['arn:rule/80', { listenerPort: 80, priority: 100 }],
      ['arn:rule/9000', { listenerPort: 9000, priority: 100 }],
    ]);
    const tgs = new Map([
      ['shop-prod-web', 'arn:tg/a'],
      ['shop-prod-web-b', 'arn:tg/b'],
    ]);
    expect(
      observedProgressive(
        {
          deploymentConfiguration: {
            strategy: 'LINEAR',
            bakeTimeInMinutes: 4,
            linearConfiguration: { stepPercent: 20, stepBakeTimeInMinutes: 1 },
            lifecycleHooks: [
              {
                targetType: 'PAUSE',
                lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'],
                timeoutConfiguration: { timeoutInMinutes: 10, action: 'ROLLBACK' },
              },
            ],
            alarms: { alarmNames: ['b', 'a'], enable: true, rollback: true },
          },
          loadBalancers: [
            {
              targetGroupArn: 'arn:tg/b',
              advancedConfiguration: {
                alternateTargetGroupArn: 'arn:tg/a',
                productionListenerRule: 'arn:rule/80',
                testListenerRule: 'arn:rule/9000',
                roleArn: 'arn:aws:iam::123456789012:role/shop-prod-ecs-lb',
              },
            },
          ],
        },
        rules,
        tgs,
      ),
    ).toEqual({
      bakeTimeInMinutes: 4,
      canary: null,
      linear: { stepPercent: 20, stepBakeTimeInMinutes: 1 },
      alternateTargetGroup: 'shop-prod-web',
      productionListenerRule: { listenerPort: 80, priority: 100 },
      testListenerRule: { listenerPort: 9000, priority: 100 },
      role: 'shop-prod-ecs-lb',
      pauseHookTimeoutMinutes: 10,
      alarms: ['a', 'b'],
    });
  });
});

describe('ecs-service create', () => {
  it('sends advancedConfiguration with the rule ARNs found on the listeners and the role ARN', async () => {
    const ecs = awsMock(ECSClient);
    const elb = awsMock(ElasticLoadBalancingV2Client);
    ecs.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: { status: 'ACTIVE', taskDefinitionArn: 'arn:td:1' },
    });
    ecs.on(CreateServiceCommand).resolves({});
    const svc = desired(BLUE_GREEN).resources.find((r) => r.kind === 'ecs-service') as EcsService;
    const priority = String(svc.progressive!.productionListenerRule.priority);
    elb
      .on(DescribeRulesCommand, { ListenerArn: 'arn:listener/80' })
      .resolves({ Rules: [{ RuleArn: 'arn:rule/80', Priority: priority }] })
      .on(DescribeRulesCommand, { ListenerArn: 'arn:listener/9000' })
      .resolves({ Rules: [{ RuleArn: 'arn:rule/9000', Priority: priority }] });
    await REGISTRY['ecs-service'].create(
      {
        aws: testClients(),
        region: 'eu-west-1',
        facts: FACTS,
        ids: {
          securityGroups: new Map([['shop-prod-web-tasks', 'sg-0c2d']]),
          targetGroups: new Map([
            ['shop-prod-web', 'arn:tg/a'],
            ['shop-prod-web-b', 'arn:tg/b'],
          ]),
          loadBalancers: new Map(),
          listeners: new Map([
            [80, 'arn:listener/80'],
            [9000, 'arn:listener/9000'],
          ]),
        },
        events: new Emitter(),
        pollMs: 1,
        waitMs: 1_000,
      },
      svc,
    );
    const input = ecs.commandCalls(CreateServiceCommand)[0]!.args[0].input;
    expect(input.loadBalancers).toEqual([
      {
        targetGroupArn: 'arn:tg/a',
        containerName: 'web',
        containerPort: 8080,
        advancedConfiguration: {
          alternateTargetGroupArn: 'arn:tg/b',
          productionListenerRule: 'arn:rule/80',
          testListenerRule: 'arn:rule/9000',
          roleArn: 'arn:aws:iam::123456789012:role/shop-prod-ecs-lb',
        },
      },
    ]);
    expect(input.deploymentConfiguration?.strategy).toBe('BLUE_GREEN');
    expect(input.deploymentConfiguration?.bakeTimeInMinutes).toBe(2);
  });
});

describe('following a service deployment', () => {
  const sd = (over: Partial<ServiceDeployment>): ServiceDeployment => ({
    serviceDeploymentArn: 'arn:sd/1',
    status: 'IN_PROGRESS',
    ...over,
  });

  it('reads stage, weights, the waiting PAUSE hook and the rollback reason', () => {
    expect(
      viewOf(
        sd({
          lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
          lifecycleHookDetails: [{ hookId: 'h1', targetType: 'PAUSE', status: 'AWAITING_ACTION' }],
          targetServiceRevision: { requestedProductionTrafficWeight: 0, requestedTestTrafficWeight: 100 },
        }),
      ),
    ).toEqual({
      arn: 'arn:sd/1',
      status: 'IN_PROGRESS',
      stage: 'POST_TEST_TRAFFIC_SHIFT',
      pausedHook: 'h1',
      productionWeight: 0,
      testWeight: 100,
      reason: null,
    });
    expect(
      viewOf(sd({ status: 'ROLLBACK_SUCCESSFUL', alarms: { triggeredAlarmNames: ['shop-prod-web-cpu'] } })).reason,
    ).toBe('alarm shop-prod-web-cpu in ALARM');
  });

  it('the human stage line names a status other than IN_PROGRESS (a rollback is never shown as a stage)', () => {
    const w = { productionWeight: 0, testWeight: 0 };
    expect(stageLine({ status: 'IN_PROGRESS', stage: 'BAKE_TIME', productionWeight: 100, testWeight: 100 })).toBe(
      'BAKE_TIME (production 100% / test 100% to the new revision)',
    );
    expect(stageLine({ status: 'ROLLBACK_IN_PROGRESS', stage: 'POST_TEST_TRAFFIC_SHIFT', ...w })).toBe(
      'ROLLBACK_IN_PROGRESS at POST_TEST_TRAFFIC_SHIFT (production 0% / test 0% to the new revision)',
    );
    expect(stageLine({ status: 'SUCCESSFUL', stage: 'CLEAN_UP', productionWeight: null, testWeight: null })).toBe(
      'SUCCESSFUL at CLEAN_UP',
    );
    expect(stageLine({ status: 'PENDING', stage: null, productionWeight: null, testWeight: null })).toBe('PENDING');
  });

  it('next step: done, rolled back, failed, answer the pause once, else wait', () => {
    const v = (over: Partial<ServiceDeployment>) => viewOf(sd(over));
    const paused = v({
      lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
      lifecycleHookDetails: [{ hookId: 'h1', targetType: 'PAUSE', status: 'AWAITING_ACTION' }],
    });
    expect(nextStep(v({ status: 'SUCCESSFUL' }), new Set())).toEqual({ kind: 'done' });
    expect(nextStep(v({ status: 'ROLLBACK_IN_PROGRESS', rollback: { reason: 'circuit breaker' } }), new Set())).toEqual(
      {
        kind: 'rolled-back',
        reason: 'circuit breaker',
      },
    );
    expect(nextStep(v({ status: 'ROLLBACK_FAILED' }), new Set()).kind).toBe('failed');
    expect(nextStep(v({ status: 'STOPPED' }), new Set()).kind).toBe('failed');
    expect(nextStep(paused, new Set())).toEqual({ kind: 'pause', hookId: 'h1' });
    expect(nextStep(paused, new Set(['h1']))).toEqual({ kind: 'wait' });
    expect(nextStep(v({ lifecycleStage: 'BAKE_TIME' }), new Set())).toEqual({ kind: 'wait' });
  });

  const follow = async (reads: ServiceDeployment[], ok: boolean) => {
    const ecs = awsMock(ECSClient);
    ecs.on(ListServiceDeploymentsCommand).resolves({ serviceDeployments: [{ serviceDeploymentArn: 'arn:sd/1' }] });
    const d = ecs.on(DescribeServiceDeploymentsCommand);
    for (const r of reads) d.resolvesOnce({ serviceDeployments: [r] });
    ecs.on(ContinueServiceDeploymentCommand).resolves({});
    const events: PatchworkEvent[] = [];
    const out = await followDeployment({
      ecs: await testClients().get('ecs'),
      cluster: 'shop-prod',
      service: 'web',
      serviceName: 'shop-prod-web',
      since: new Date(0),
      pollMs: 1,
      deadline: Date.now() + 10_000,
      events: new Emitter((e) => events.push(e)),
      check: async () => (ok ? { ok: true } : { ok: false, reason: 'GET /ready answered 500' }),
      sleep: async () => {},
    });
    return { out, ecs, events };
  };
  const pause = sd({
    lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
    lifecycleHookDetails: [{ hookId: 'h1', targetType: 'PAUSE', status: 'AWAITING_ACTION' }],
  });

  it('a passing check continues; stage events follow the deployment to SUCCESSFUL', async () => {
    const { out, ecs, events } = await follow(
      // The second pause reading: the check passed, is the pause still waiting (it is)?
      [
        sd({ lifecycleStage: 'SCALE_UP' }),
        pause,
        pause,
        sd({ lifecycleStage: 'BAKE_TIME' }),
        sd({ status: 'SUCCESSFUL' }),
      ],
      true,
    );
    expect(out).toEqual({ state: 'done', arn: 'arn:sd/1' });
    expect(ecs.commandCalls(ContinueServiceDeploymentCommand).map((c) => c.args[0].input)).toEqual([
      { serviceDeploymentArn: 'arn:sd/1', hookId: 'h1', action: 'CONTINUE' },
    ]);
    const stages = events.flatMap((e) => (e.type === 'data' && e.kind === 'deployment.stage' ? [e.data.stage] : []));
    expect(stages).toEqual(['SCALE_UP', 'POST_TEST_TRAFFIC_SHIFT', 'BAKE_TIME', null]);
  });

  it('a failing check answers ROLLBACK and the result names the check', async () => {
    const { out, ecs } = await follow([pause, sd({ status: 'ROLLBACK_IN_PROGRESS' })], false);
    expect(out).toEqual({
      state: 'rolled-back',
      arn: 'arn:sd/1',
      reason: 'GET /ready answered 500',
      cause: 'pre-traffic',
    });
    expect(ecs.commandCalls(ContinueServiceDeploymentCommand)[0]!.args[0].input.action).toBe('ROLLBACK');
  });

  it('a check that passed after the pause timed out is no pass: no ✓, no answer, the reason says raise the timeout', async () => {
    const timedOut = sd({
      status: 'ROLLBACK_IN_PROGRESS',
      lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
      lifecycleHookDetails: [{ hookId: 'h1', targetType: 'PAUSE', status: 'TIMED_OUT' }],
    });
    const { out, ecs, events } = await follow([pause, timedOut, timedOut], true);
    expect(out).toEqual({
      state: 'rolled-back',
      arn: 'arn:sd/1',
      reason:
        'the pause timed out before the checks finished (hook timeout ? min): raise deploy.timeoutSeconds, then run provision',
      cause: 'pause-timeout',
    });
    expect(ecs.commandCalls(ContinueServiceDeploymentCommand)).toHaveLength(0);
    const ends = events.flatMap((e) => (e.type === 'task' && e.status !== 'start' ? [e.status] : []));
    expect(ends).toEqual(['fail']);
  });

  it('stillPaused: only the same hook, still IN_PROGRESS and awaiting action (pure)', () => {
    expect(stillPaused(viewOf(pause), 'h1')).toBe(true);
    expect(stillPaused(viewOf(pause), 'h2')).toBe(false);
    expect(stillPaused(viewOf(sd({ lifecycleStage: 'BAKE_TIME' })), 'h1')).toBe(false);
    expect(
      stillPaused(
        viewOf(
          sd({
            lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
            lifecycleHookDetails: [{ hookId: 'h1', targetType: 'PAUSE', status: 'TIMED_OUT' }],
          }),
        ),
        'h1',
      ),
    ).toBe(false);
    expect(pauseTimedOut(5)).toBe(
      'the pause timed out before the checks finished (hook timeout 5 min): raise deploy.timeoutSeconds, then run provision',
    );
  });
});

describe('a strategy switch ECS refuses while a deployment runs', () => {
  it('is PW_STRATEGY_SWITCH_BLOCKED with what to do; other errors and same-strategy updates pass through', () => {
    const rolling = find(asObserved(desired()), 'ecs-service') as EcsService;
    const blueGreen = find(asObserved(desired(BLUE_GREEN)), 'ecs-service') as EcsService;
    const refused = Object.assign(
      new Error('cannot change from ROLLING to BLUE_GREEN while a deployment is in progress'),
      {
        name: 'InvalidParameterException',
      },
    );
    const e = strategySwitchRefused(refused, blueGreen, rolling);
    expect(e?.code).toBe('PW_STRATEGY_SWITCH_BLOCKED');
    expect(e?.exitCode).toBe(1);
    expect(e?.hint).toContain('patchwork provision --env prod');
    expect(e?.data).toEqual({ service: blueGreen.name, from: 'ROLLING', to: 'BLUE_GREEN' });
    expect(strategySwitchRefused(refused, rolling, rolling)).toBeNull();
    expect(
      strategySwitchRefused(Object.assign(new Error('bad'), { name: 'InvalidParameterException' }), blueGreen, rolling),
    ).toBeNull();
    expect(strategySwitchRefused(new Error('in progress'), blueGreen, rolling)).toBeNull();
  });
});
