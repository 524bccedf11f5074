/**
 * The world's ECS native deployment strategies (test/emulator/pwemu/bluegreen.py; README "Blue/green,
 * canary and linear deployments"), driven and observed with the AWS CLI: a BLUE_GREEN deployment walks the
 * lifecycle stages, the test listener answers from green before production moves, a PAUSE hook holds until
 * ContinueServiceDeployment, CANARY splits production traffic, an alarm in ALARM during the bake and
 * StopServiceDeployment ROLLBACK return traffic to blue by themselves (green stops after the deregistration
 * delay: a request it holds is answered); CreateService refuses settings AWS
 * refuses. Traffic is measured through the ALB data plane (HTTP to the load balancer's listener ports).
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createFargateServiceArgs,
  createTargetGroup,
  defaultNetwork,
  type Net,
  registerFargateTaskDefinition,
} from '../helpers/emulator.js';
import { awsCli, DEFAULT_EMULATOR_CONFIG, emu, resetWorld, runAwsCli, waitFor } from '../helpers/localworld.js';
import { dockerOk, findGo, pushGoImage } from '../helpers/task-image.js';

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
type Json = any;

const CLUSTER = 'bg';
const BAKE_SCALE = 0.5; // seconds per "minute" of bake time in this file

const GO = findGo();
const DOCKER_OK = dockerOk();

// A tiny server that answers its VERSION on every path.
const APP_GO = `package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, os.Getenv("VERSION")) })
	http.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Second)
		fmt.Fprintln(w, os.Getenv("VERSION"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`;

interface World {
  net: Net;
  dns: string;
  blue: string;
  green: string;
  prodRule: string;
  testRule: string;
  role: string;
}

function forward(blue: string, green: string, wb = 100, wg = 0) {
  return [
    {
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: [
          { TargetGroupArn: blue, Weight: wb },
          { TargetGroupArn: green, Weight: wg },
        ],
      },
    },
  ];
}

/** An ALB with a production listener (80) and rule, a test listener (8081) and rule, two target groups, a role. */
function setUpWorld(): World {
  const net = defaultNetwork();
  const lb = awsCli(['elbv2', 'create-load-balancer', '--name', 'bg-alb', '--subnets', net.subnet]).LoadBalancers[0];
  const tg = (name: string) => createTargetGroup(net, name, '/');
  const blue = tg('bg-blue');
  const green = tg('bg-green');
  const listener = (port: number) =>
    awsCli([
      'elbv2',
      'create-listener',
      '--load-balancer-arn',
      lb.LoadBalancerArn,
      '--protocol',
      'HTTP',
      '--port',
      String(port),
      '--default-actions',
      JSON.stringify([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404' } }]),
    ]).Listeners[0].ListenerArn as string;
  const rule = (listenerArn: string) =>
    awsCli([
      'elbv2',
      'create-rule',
      '--listener-arn',
      listenerArn,
      '--priority',
      '1',
      '--conditions',
      JSON.stringify([{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }]),
      '--actions',
      JSON.stringify(forward(blue, green)),
    ]).Rules[0].RuleArn as string;
  const prodRule = rule(listener(80));
  const testRule = rule(listener(8081));
  const role = awsCli([
    'iam',
    'create-role',
    '--role-name',
    'ecsInfrastructureRoleForLoadBalancers',
    '--assume-role-policy-document',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    }),
  ]).Role.Arn as string;
  return { net, dns: lb.DNSName, blue, green, prodRule, testRule, role };
}

function loadBalancers(w: World, adv: Record<string, unknown> = {}) {
  return [
    {
      targetGroupArn: w.blue,
      containerName: 'web',
      containerPort: 8080,
      advancedConfiguration: {
        alternateTargetGroupArn: w.green,
        productionListenerRule: w.prodRule,
        testListenerRule: w.testRule,
        roleArn: w.role,
        ...adv,
      },
    },
  ];
}

function taskDefinition(image: string, version: string): string {
  return registerFargateTaskDefinition('bg-app', [
    {
      name: 'web',
      image,
      essential: true,
      portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
      environment: [{ name: 'VERSION', value: version }],
    },
  ]);
}

function createServiceArgs(w: World, name: string, td: string, dc: Record<string, unknown>, lbs = loadBalancers(w)) {
  // A default (public) subnet: the task needs a public IP to reach the registry (networkReachability).
  return createFargateServiceArgs({
    cluster: CLUSTER,
    name,
    taskDefinition: td,
    network: w.net,
    deploymentConfiguration: dc,
    loadBalancers: lbs,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
function service(name: string): any {
  return awsCli(['ecs', 'describe-services', '--cluster', CLUSTER, '--services', name]).services[0];
}

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
function serviceDeployment(arn: string): any {
  return awsCli(['ecs', 'describe-service-deployments', '--service-deployment-arns', arn]).serviceDeployments[0];
}

function latestDeploymentArn(name: string): string {
  return awsCli(['ecs', 'list-service-deployments', '--cluster', CLUSTER, '--service', name]).serviceDeployments[0]
    .serviceDeploymentArn;
}

function weights(rule: string): number[] {
  const [r] = awsCli(['elbv2', 'describe-rules', '--rule-arns', rule]).Rules;
  return r.Actions[0].ForwardConfig.TargetGroups.map((g: { Weight: number }) => g.Weight);
}

/** `n` requests to the load balancer on `port`: how many answers per body. */
async function sample(dns: string, port: number, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://${dns}:${port}/`);
    const body = res.status === 200 ? (await res.text()).trim() : `HTTP ${res.status} ${await res.text()}`;
    seen[body] = (seen[body] ?? 0) + 1;
  }
  return seen;
}

async function untilDeployment(
  arn: string,
  done: (d: Json) => boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<Json> {
  return waitFor(
    () => {
      const d = serviceDeployment(arn);
      return done(d) ? d : undefined;
    },
    { timeoutMs, intervalMs: 300, what },
  );
}

async function firstRevisionLive(w: World, name: string): Promise<void> {
  await waitFor(
    () => {
      const s = service(name);
      return s.deployments.length === 1 && s.deployments[0].rolloutState === 'COMPLETED' && s.runningCount === 1
        ? s
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 300, what: `${name}: first revision live` },
  );
  await waitFor(async () => ((await sample(w.dns, 80, 1)).v1 === 1 ? true : undefined), {
    timeoutMs: 20_000,
    intervalMs: 300,
    what: 'v1 answers through the production listener',
  });
}

function update(name: string, td: string, dc?: Record<string, unknown>) {
  const args = ['ecs', 'update-service', '--cluster', CLUSTER, '--service', name, '--task-definition', td];
  if (dc) args.push('--deployment-configuration', JSON.stringify(dc));
  awsCli(args);
  return latestDeploymentArn(name);
}

const BREAKER = { enable: true, rollback: true };

beforeEach(async () => {
  await resetWorld({
    rolloutSeconds: 1,
    consistencyLagSeconds: 0,
    requireServiceLinkedRoles: false,
    iamPropagationSeconds: 0,
    deploymentBakeScale: BAKE_SCALE,
  });
  awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
});

describe('CreateService/UpdateService: the strategies as AWS validates them', () => {
  it('echoes strategy, bake, canary, hooks and advancedConfiguration; refuses what AWS refuses', async () => {
    await emu('config', { runContainers: false, checkImages: false });
    const w = setUpWorld();
    const td = taskDefinition('example.invalid/app:1', 'v1');
    const refused = (dc: Record<string, unknown>, lbs = loadBalancers(w)) => {
      const res = runAwsCli(createServiceArgs(w, 'refused', td, dc, lbs));
      expect(res.status).not.toBe(0);
      return res.stderr;
    };
    expect(refused({ strategy: 'BLUE_GREEN' })).toMatch(/InvalidParameterException.*bakeTimeInMinutes/);
    expect(
      refused({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 1 }, [
        { targetGroupArn: w.blue, containerName: 'web', containerPort: 8080 },
      ] as never),
    ).toMatch(/advancedConfiguration is required/);
    expect(
      refused({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 1 }, loadBalancers(w, { alternateTargetGroupArn: w.blue })),
    ).toMatch(/alternate target group must be different/);
    expect(refused({ strategy: 'CANARY', canaryConfiguration: { canaryPercent: 0.05 } })).toMatch(/canaryPercent/);
    expect(refused({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 2 } })).toMatch(/stepPercent/);
    expect(refused({ strategy: 'ROLLING', canaryConfiguration: { canaryPercent: 5 } })).toMatch(
      /only valid when the deployment strategy is CANARY/,
    );
    expect(
      refused({
        strategy: 'CANARY',
        lifecycleHooks: [{ targetType: 'AWS_LAMBDA', lifecycleStages: ['POST_SCALE_UP'] }],
      }),
    ).toMatch(/hookTargetArn must be provided/);
    expect(
      refused(
        { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 1 },
        loadBalancers(w, { roleArn: 'arn:aws:iam::123456789012:role/none' }),
      ),
    ).toMatch(/Unable to assume role/);

    const dc = {
      strategy: 'CANARY',
      bakeTimeInMinutes: 3,
      canaryConfiguration: { canaryPercent: 12.5, canaryBakeTimeInMinutes: 2 },
      lifecycleHooks: [{ targetType: 'PAUSE', lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'] }],
      alarms: { alarmNames: ['bg-5xx'], enable: true, rollback: true },
      deploymentCircuitBreaker: BREAKER,
    };
    const created = awsCli(createServiceArgs(w, 'ok', td, dc)).service;
    expect(created.deploymentConfiguration).toMatchObject(dc);
    expect(created.loadBalancers[0].advancedConfiguration).toEqual(loadBalancers(w)[0]?.advancedConfiguration);
    expect(created.currentServiceDeployment).toMatch(/^arn:aws:ecs:eu-west-1:\d{12}:service-deployment\/bg\/ok\//);
    const described = service('ok');
    expect(described.deploymentConfiguration.canaryConfiguration).toEqual({
      canaryPercent: 12.5,
      canaryBakeTimeInMinutes: 2,
    });
    // UpdateService validates the configuration the service would have the same way.
    const res = runAwsCli([
      'ecs',
      'update-service',
      '--cluster',
      CLUSTER,
      '--service',
      'ok',
      '--deployment-configuration',
      JSON.stringify({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 101 } }),
    ]);
    expect(res.stderr).toMatch(/canaryConfiguration is only valid|stepPercent/);
    // advancedConfiguration.roleArn is a passed role: the caller needs iam:PassRole on it (IAM evaluation).
    awsCli(['iam', 'create-user', '--user-name', 'deployer']);
    const key = awsCli(['iam', 'create-access-key', '--user-name', 'deployer']).AccessKey;
    const allow = (actions: string[]) =>
      awsCli([
        'iam',
        'put-user-policy',
        '--user-name',
        'deployer',
        '--policy-name',
        'deploy',
        '--policy-document',
        JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] }),
      ]);
    const credentials = { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
    allow(['ecs:*', 'elasticloadbalancing:*', 'ec2:*']);
    const denied = runAwsCli(createServiceArgs(w, 'by-user', td, { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 1 }), {
      credentials,
    });
    expect(denied.stderr).toMatch(
      /AccessDenied.*iam:PassRole on resource: arn:aws:iam::\d{12}:role\/ecsInfrastructureRoleForLoadBalancers/,
    );
    allow(['ecs:*', 'elasticloadbalancing:*', 'ec2:*', 'iam:PassRole']);
    await waitFor(
      () =>
        runAwsCli(createServiceArgs(w, 'by-user', td, { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 1 }), {
          credentials,
        }).status === 0 || undefined,
      { timeoutMs: 15_000, intervalMs: 1000, what: 'CreateService with iam:PassRole allowed' },
    );
    // Switchable, as every rule of the world.
    await emu('config', { checkDeploymentStrategies: false });
    expect(runAwsCli(createServiceArgs(w, 'unchecked', td, { strategy: 'BLUE_GREEN' })).status).toBe(0);
  }, 300_000);
});

describe('UpdateService: switching between strategies as ECS does', () => {
  it('members sent replace the stored ones whole, members left out are kept; no switch while a deployment is in progress', async () => {
    // Simulated tasks that take 8 s to roll: long enough to try a second switch during the first one's deployment.
    await emu('config', { runContainers: false, checkImages: false, rolloutSeconds: 8 });
    const w = setUpWorld();
    const td = taskDefinition('example.invalid/app:1', 'v1');
    const plain = [{ targetGroupArn: w.blue, containerName: 'web', containerPort: 8080 }];
    awsCli(createServiceArgs(w, 'sw', td, { deploymentCircuitBreaker: BREAKER }, plain as never));
    const settled = () =>
      waitFor(
        () => {
          const s = service('sw');
          return s.deployments.length === 1 && s.deployments[0].rolloutState === 'COMPLETED' ? s : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500, what: 'the deployment completed' },
      );
    await settled();
    const updated = (dc: Record<string, unknown>, lbs?: unknown) => {
      const args = ['ecs', 'update-service', '--cluster', CLUSTER, '--service', 'sw'];
      args.push('--deployment-configuration', JSON.stringify(dc));
      if (lbs) args.push('--load-balancers', JSON.stringify(lbs));
      return runAwsCli(args);
    };
    const hooks = [{ targetType: 'PAUSE', lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'] }];
    // ROLLING -> CANARY with advancedConfiguration: accepted; the load balancer change starts a deployment,
    // a rolling one (update-rolling-to-bluegreen).
    const toCanary = updated(
      {
        strategy: 'CANARY',
        bakeTimeInMinutes: 3,
        canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 2 },
        lifecycleHooks: hooks,
      },
      loadBalancers(w),
    );
    expect(toCanary.status, toCanary.stderr).toBe(0);
    const migration = serviceDeployment(latestDeploymentArn('sw'));
    expect(migration.statusReason).toMatch(/strategy changed.*rolling update/);
    expect(migration.lifecycleStage).toBeUndefined();
    // A second switch while that deployment is in progress: refused.
    const busy = updated({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 } });
    expect(busy.stderr).toMatch(
      /InvalidParameterException.*cannot change from CANARY to LINEAR while a deployment is in progress/,
    );
    // Settings of the same strategy may change meanwhile.
    const same = updated({ bakeTimeInMinutes: 4 });
    expect(same.status, same.stderr).toBe(0);
    await settled();
    // CANARY -> LINEAR leaving canaryConfiguration out: accepted; what was not sent is kept.
    const toLinear = updated({
      strategy: 'LINEAR',
      linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 },
    });
    expect(toLinear.status, toLinear.stderr).toBe(0);
    let dc = service('sw').deploymentConfiguration;
    expect(dc).toMatchObject({
      strategy: 'LINEAR',
      bakeTimeInMinutes: 4,
      linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 },
      lifecycleHooks: hooks,
      deploymentCircuitBreaker: BREAKER,
    });
    // A member sent replaces the stored one whole: its fields left out are not kept from before.
    expect(updated({ linearConfiguration: { stepPercent: 25 } }).status).toBe(0);
    expect(service('sw').deploymentConfiguration.linearConfiguration).toEqual({ stepPercent: 25 });
    // A canary configuration with another strategy is still refused when sent.
    expect(updated({ canaryConfiguration: { canaryPercent: 5 } }).stderr).toMatch(
      /only valid when the deployment strategy is CANARY/,
    );
    // LINEAR -> ROLLING: hooks left out are kept (ECS needs an empty list to clear them) ...
    expect(updated({ strategy: 'ROLLING' }).status).toBe(0);
    dc = service('sw').deploymentConfiguration;
    expect(dc.strategy).toBe('ROLLING');
    expect(dc.lifecycleHooks).toEqual(hooks);
    // ... hooks sent with ROLLING are refused; an empty list clears them.
    expect(updated({ lifecycleHooks: hooks }).stderr).toMatch(/lifecycleHooks are only supported/);
    expect(updated({ lifecycleHooks: [] }).status).toBe(0);
    expect(service('sw').deploymentConfiguration.lifecycleHooks ?? []).toEqual([]);
    // Switchable, as every rule of the world.
    await emu('config', { replaceDeploymentConfigurationMembers: false, checkStrategyChangeInProgress: false });
    const again = updated({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 30, stepBakeTimeInMinutes: 2 } });
    expect(again.status, again.stderr).toBe(0);
    awsCli(['ecs', 'update-service', '--cluster', CLUSTER, '--service', 'sw', '--force-new-deployment']);
    const during = updated({ strategy: 'BLUE_GREEN' });
    expect(during.status, during.stderr).toBe(0);
    expect(updated({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 40 } }).status).toBe(0);
    expect(service('sw').deploymentConfiguration.linearConfiguration).toEqual({
      stepPercent: 40,
      stepBakeTimeInMinutes: 2,
    });
  }, 180_000);
});

describe.skipIf(!GO || !DOCKER_OK)('blue/green, canary and rollbacks through the ALB data plane', () => {
  let image = '';

  beforeAll(() => {
    image = pushGoImage(GO!, 'bg-app', APP_GO);
    expect(image).toBeTruthy();
  }, 300_000);

  beforeEach(async () => {
    await emu('config', { runContainers: true, healthTimeoutSeconds: 20 });
  });

  it('BLUE_GREEN: stages in order, green on the test listener while production stays blue, a PAUSE hook holds until ContinueServiceDeployment', async () => {
    const w = setUpWorld();
    const dc = {
      strategy: 'BLUE_GREEN',
      bakeTimeInMinutes: 40, // 20 s: long enough to look at both revisions through a slow CLI
      deploymentCircuitBreaker: BREAKER,
      lifecycleHooks: [
        {
          targetType: 'PAUSE',
          lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'],
          timeoutConfiguration: { timeoutInMinutes: 120, action: 'ROLLBACK' },
        },
      ],
    };
    awsCli(createServiceArgs(w, 'web', taskDefinition(image, 'v1'), dc));
    await firstRevisionLive(w, 'web');

    const arn = update('web', taskDefinition(image, 'v2'));
    const stages: string[] = [];
    const paused = await untilDeployment(
      arn,
      (d) => {
        if (d.lifecycleStage && stages.at(-1) !== d.lifecycleStage) stages.push(d.lifecycleStage);
        return d.lifecycleHookDetails?.some((h: { status: string }) => h.status === 'AWAITING_ACTION');
      },
      'the PAUSE hook awaits action',
    );
    expect(paused.status).toBe('IN_PROGRESS');
    expect(paused.lifecycleStage).toBe('POST_TEST_TRAFFIC_SHIFT');
    const [hook] = paused.lifecycleHookDetails;
    expect(hook).toMatchObject({ targetType: 'PAUSE', status: 'AWAITING_ACTION', timeoutAction: 'ROLLBACK' });
    expect(hook.hookId).toMatch(/^ecs-pause-/);
    // Green answers on the test listener; production is all blue.
    expect(await sample(w.dns, 8081, 20)).toEqual({ v2: 20 });
    expect(await sample(w.dns, 80, 20)).toEqual({ v1: 20 });
    expect(weights(w.testRule)).toEqual([0, 100]);
    expect(weights(w.prodRule)).toEqual([100, 0]);
    // Green's task is in the alternate target group, blue's in the primary one.
    const ids = (tg: string) =>
      awsCli(['elbv2', 'describe-target-health', '--target-group-arn', tg]).TargetHealthDescriptions;
    expect(ids(w.green)).toHaveLength(1);
    expect(ids(w.blue)).toHaveLength(1);
    // The hook holds.
    await new Promise((r) => setTimeout(r, 2000));
    expect(serviceDeployment(arn).lifecycleStage).toBe('POST_TEST_TRAFFIC_SHIFT');
    expect(await sample(w.dns, 80, 5)).toEqual({ v1: 5 });

    // A wrong hook id is refused; the right one continues.
    expect(
      runAwsCli(['ecs', 'continue-service-deployment', '--service-deployment-arn', arn, '--hook-id', 'ecs-pause-nope'])
        .stderr,
    ).toMatch(/InvalidParameterException/);
    awsCli([
      'ecs',
      'continue-service-deployment',
      '--service-deployment-arn',
      arn,
      '--hook-id',
      hook.hookId,
      '--action',
      'CONTINUE',
    ]);
    const baking = await untilDeployment(arn, (d) => d.lifecycleStage === 'BAKE_TIME', 'bake time');
    expect(baking.targetServiceRevision.requestedProductionTrafficWeight).toBe(100);
    expect(await sample(w.dns, 80, 20)).toEqual({ v2: 20 });
    expect(weights(w.prodRule)).toEqual([0, 100]);
    // Blue is kept through the bake.
    expect(ids(w.blue)).toHaveLength(1);
    expect(service('web').deployments).toHaveLength(2);

    const done = await untilDeployment(arn, (d) => d.status === 'SUCCESSFUL', 'deployment successful');
    expect(done.lifecycleHookDetails[0].status).toBe('SUCCEEDED');
    expect(stages).toEqual(expect.arrayContaining(['POST_TEST_TRAFFIC_SHIFT']));
    const s = service('web');
    expect(s.deployments).toHaveLength(1);
    expect(s.deployments[0]).toMatchObject({ status: 'PRIMARY', rolloutState: 'COMPLETED' });
    expect(s.taskDefinition).toMatch(/bg-app:2$/);
    await waitFor(() => (ids(w.blue).length === 0 ? true : undefined), { timeoutMs: 20_000, what: 'blue drained' });
    expect(await sample(w.dns, 80, 10)).toEqual({ v2: 10 });
    const list = awsCli([
      'ecs',
      'list-service-deployments',
      '--cluster',
      CLUSTER,
      '--service',
      'web',
    ]).serviceDeployments;
    expect(list.map((d: { status: string }) => d.status)).toEqual(['SUCCESSFUL', 'SUCCESSFUL']);
  }, 300_000);

  it('CANARY: canaryPercent of production on green during the canary bake, then all of it', async () => {
    const w = setUpWorld();
    const dc = {
      strategy: 'CANARY',
      bakeTimeInMinutes: 2,
      canaryConfiguration: { canaryPercent: 30, canaryBakeTimeInMinutes: 30 },
      deploymentCircuitBreaker: BREAKER,
    };
    awsCli(createServiceArgs(w, 'web', taskDefinition(image, 'v1'), dc));
    await firstRevisionLive(w, 'web');
    const arn = update('web', taskDefinition(image, 'v2'));
    const canary = await untilDeployment(
      arn,
      (d) =>
        d.lifecycleStage === 'PRODUCTION_TRAFFIC_SHIFT' &&
        d.targetServiceRevision.requestedProductionTrafficWeight === 30,
      'the canary step',
    );
    expect(canary.sourceServiceRevisions[0].requestedProductionTrafficWeight).toBe(70);
    expect(weights(w.prodRule)).toEqual([70, 30]);
    const seen = await sample(w.dns, 80, 200);
    expect((seen.v1 ?? 0) + (seen.v2 ?? 0)).toBe(200);
    expect(seen.v2).toBeGreaterThan(200 * 0.3 - 25);
    expect(seen.v2).toBeLessThan(200 * 0.3 + 25);
    await untilDeployment(arn, (d) => d.status === 'SUCCESSFUL', 'canary deployment successful');
    expect(await sample(w.dns, 80, 10)).toEqual({ v2: 10 });
  }, 300_000);

  it('an alarm in ALARM during the bake rolls back by itself: production and test back on blue, green stopped', async () => {
    const w = setUpWorld();
    awsCli([
      'cloudwatch',
      'put-metric-alarm',
      '--alarm-name',
      'bg-5xx',
      '--namespace',
      'AWS/ApplicationELB',
      '--metric-name',
      'HTTPCode_Target_5XX_Count',
      '--statistic',
      'Sum',
      '--period',
      '60',
      '--evaluation-periods',
      '1',
      '--threshold',
      '1',
      '--comparison-operator',
      'GreaterThanOrEqualToThreshold',
    ]);
    const dc = {
      strategy: 'BLUE_GREEN',
      bakeTimeInMinutes: 120,
      deploymentCircuitBreaker: BREAKER,
      alarms: { alarmNames: ['bg-5xx'], enable: true, rollback: true },
    };
    awsCli(createServiceArgs(w, 'web', taskDefinition(image, 'v1'), dc));
    await firstRevisionLive(w, 'web');
    const arn = update('web', taskDefinition(image, 'v2'));
    const greenId = service('web').deployments[0].id;
    await untilDeployment(arn, (d) => d.lifecycleStage === 'BAKE_TIME', 'bake time');
    expect(await sample(w.dns, 80, 10)).toEqual({ v2: 10 });
    awsCli([
      'cloudwatch',
      'set-alarm-state',
      '--alarm-name',
      'bg-5xx',
      '--state-value',
      'ALARM',
      '--state-reason',
      'test',
    ]);
    const rolled = await untilDeployment(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL', 'rolled back', 60_000);
    expect(rolled.alarms).toMatchObject({ status: 'TRIGGERED', triggeredAlarmNames: ['bg-5xx'] });
    expect(rolled.rollback.reason).toMatch(/bg-5xx/);
    expect(weights(w.prodRule)).toEqual([100, 0]);
    expect(weights(w.testRule)).toEqual([100, 0]);
    expect(await sample(w.dns, 80, 20)).toEqual({ v1: 20 });
    // Green's tasks have stopped: its deployment is INACTIVE and leaves DescribeServices' `deployments`
    // (ECS keeps only PRIMARY and ACTIVE ones); the history stays in the service deployment.
    const s = await waitFor(
      () => {
        const now = service('web');
        return now.deployments.length === 1 ? now : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 300, what: 'only the PRIMARY deployment left' },
    );
    expect(s.taskDefinition).toMatch(/bg-app:1$/);
    expect(s.deployments[0]).toMatchObject({ status: 'PRIMARY', rolloutState: 'COMPLETED' });
    expect(s.deployments.some((d: { id: string }) => d.id === greenId)).toBe(false);
    expect(serviceDeployment(arn)).toMatchObject({ status: 'ROLLBACK_SUCCESSFUL' });
    expect(awsCli(['elbv2', 'describe-target-health', '--target-group-arn', w.green]).TargetHealthDescriptions).toEqual(
      [],
    );
  }, 300_000);

  it('StopServiceDeployment ROLLBACK during the bake returns production traffic at once; a request green holds is answered', async () => {
    // Deregistration delay rolloutSeconds / 2 = 8 s, longer than the 5 s request held by green.
    await emu('config', { rolloutSeconds: 16 });
    const w = setUpWorld();
    const dc = { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 120, deploymentCircuitBreaker: BREAKER };
    awsCli(createServiceArgs(w, 'web', taskDefinition(image, 'v1'), dc));
    await firstRevisionLive(w, 'web');
    const arn = update('web', taskDefinition(image, 'v2'));
    await untilDeployment(arn, (d) => d.lifecycleStage === 'BAKE_TIME', 'bake time');
    expect(await sample(w.dns, 80, 5)).toEqual({ v2: 5 });
    // Sent to green before the rollback: ECS deregisters green and stops it after the deregistration
    // delay, so the load balancer answers it (the world used to stop green at once: a 502).
    const held = fetch(`http://${w.dns}:80/slow`)
      .then(async (r) => `${r.status} ${(await r.text()).trim()}`)
      .catch((err: Error) => `failed: ${err.message}`);
    await new Promise((r) => setTimeout(r, 500));
    expect(
      awsCli(['ecs', 'stop-service-deployment', '--service-deployment-arn', arn, '--stop-type', 'ROLLBACK'])
        .serviceDeploymentArn,
    ).toBe(arn);
    expect(await sample(w.dns, 80, 20)).toEqual({ v1: 20 });
    expect(await held).toBe('200 v2');
    const rolled = await untilDeployment(arn, (d) => d.status === 'ROLLBACK_SUCCESSFUL', 'rolled back', 60_000);
    expect(rolled.rollback.reason).toMatch(/StopServiceDeployment/);
    await emu('config', { rolloutSeconds: DEFAULT_EMULATOR_CONFIG.rolloutSeconds });
    // A finished deployment cannot be stopped again.
    expect(
      runAwsCli(['ecs', 'stop-service-deployment', '--service-deployment-arn', arn, '--stop-type', 'ROLLBACK']).stderr,
    ).toMatch(/ConflictException/);
  }, 300_000);
});
