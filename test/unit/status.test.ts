/**
 * status, without AWS: health evaluation from described states, event de-duplication, relative
 * times, sparklines, alarm assignment, the one batched metric query, and the JSON shape of a whole
 * report read through mocked SDK clients (snapshot: a change here is a contract change).
 */
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import {
  DescribeLoadBalancersCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, describe, expect, it } from 'vitest';
import { sparkline, toBuckets } from '../../src/cli/format/sparkline.js';
import { statusText } from '../../src/cli/format/status.js';
import type { PatchworkEvent } from '../../src/lib/events.js';
import { toReleaseItem } from '../../src/lib/release/history.js';
import { toItem } from '../../src/lib/release/lock.js';
import { openSession } from '../../src/lib/session.js';
import {
  assignAlarms,
  attributeSha,
  dedupeEvents,
  evaluateEnvironment,
  evaluateService,
  metricQueries,
  readStatus,
  relativeTime,
  type ServiceFacts,
  shortAge,
} from '../../src/lib/status/index.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());

const steady = (over: Partial<ServiceFacts> = {}): ServiceFacts => ({
  name: 'web',
  serviceStatus: 'ACTIVE',
  counts: { running: 2, desired: 2, pending: 0 },
  deployments: [{ id: 'ecs-svc/1', status: 'PRIMARY', rolloutState: 'COMPLETED', rolloutStateReason: null }],
  targets: [
    { id: '10.0.0.1', port: 8080, state: 'healthy', reason: null },
    { id: '10.0.0.2', port: 8080, state: 'healthy', reason: null },
  ],
  hasTargetGroup: true,
  alarms: [{ name: 'shop-prod-web-cpu', state: 'OK' }],
  ...over,
});

describe('health evaluation', () => {
  it('steady state, all targets healthy, no alarm: healthy', () => {
    expect(evaluateService(steady())).toEqual([]);
  });
  it('INSUFFICIENT_DATA alarms and draining targets do not make it unhealthy', () => {
    expect(
      evaluateService(
        steady({
          alarms: [{ name: 'a', state: 'INSUFFICIENT_DATA' }],
          targets: [
            { id: '10.0.0.1', port: 8080, state: 'healthy', reason: null },
            { id: '10.0.0.9', port: 8080, state: 'draining', reason: 'Target.DeregistrationInProgress' },
          ],
        }),
      ),
    ).toEqual([]);
  });
  it('a rollout in progress (two deployments) is not steady', () => {
    const p = evaluateService(
      steady({
        deployments: [
          { id: 'ecs-svc/2', status: 'PRIMARY', rolloutState: 'IN_PROGRESS', rolloutStateReason: null },
          { id: 'ecs-svc/1', status: 'ACTIVE', rolloutState: 'COMPLETED', rolloutStateReason: null },
        ],
      }),
    );
    expect(p).toEqual(['web: rollout in progress (1 older deployment still active)']);
  });
  it('a blue/green or canary deployment in flight says its stage, not "older deployments" and "4/2 tasks"', () => {
    const twoRevisions = {
      counts: { running: 4, desired: 2, pending: 0 },
      deployments: [
        { id: 'ecs-svc/2', status: 'PRIMARY', rolloutState: 'IN_PROGRESS', rolloutStateReason: null },
        { id: 'ecs-svc/1', status: 'ACTIVE', rolloutState: 'COMPLETED', rolloutStateReason: null },
      ],
    };
    expect(
      evaluateService(
        steady({
          ...twoRevisions,
          delivery: { strategy: 'BLUE_GREEN', status: 'IN_PROGRESS', stage: 'BAKE_TIME', productionWeight: 100 },
        }),
      ),
    ).toEqual([
      "web: blue/green deployment in progress (stage BAKE_TIME, production 100% on the new revision): the previous revision's tasks stay until it ends",
    ]);
    expect(
      evaluateService(
        steady({
          ...twoRevisions,
          delivery: { strategy: 'CANARY', status: 'ROLLBACK_IN_PROGRESS', stage: null, productionWeight: 0 },
        }),
      ),
    ).toEqual([
      "web: canary deployment rolling back (production 0% on the new revision): the new revision's tasks are stopping",
    ]);
    // Finished (ROLLBACK_SUCCESSFUL): judged as any service; fewer tasks than desired is still said.
    expect(
      evaluateService(
        steady({
          counts: { running: 1, desired: 2, pending: 1 },
          delivery: { strategy: 'CANARY', status: 'IN_PROGRESS', stage: 'SCALE_UP', productionWeight: 0 },
        }),
      ),
    ).toContain('web: 1/2 tasks running, 1 pending');
    expect(
      evaluateService(
        steady({ delivery: { strategy: 'CANARY', status: 'ROLLBACK_SUCCESSFUL', stage: null, productionWeight: 0 } }),
      ),
    ).toEqual([]);
  });
  it('a failed deployment names the reason', () => {
    const p = evaluateService(
      steady({
        deployments: [
          {
            id: 'ecs-svc/3',
            status: 'PRIMARY',
            rolloutState: 'FAILED',
            rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
          },
        ],
      }),
    );
    expect(p).toEqual(['web: deployment ecs-svc/3 failed: ECS deployment circuit breaker: tasks failed to start.']);
  });
  it('running below desired, pending tasks', () => {
    expect(evaluateService(steady({ counts: { running: 1, desired: 2, pending: 1 } }))).toEqual([
      'web: 1/2 tasks running, 1 pending',
    ]);
  });
  it('an unhealthy target with its reason; no healthy target at all', () => {
    const p = evaluateService(
      steady({ targets: [{ id: '10.0.0.1', port: 8080, state: 'unhealthy', reason: 'Target.ResponseCodeMismatch' }] }),
    );
    expect(p).toEqual([
      'web: target 10.0.0.1:8080 is unhealthy (Target.ResponseCodeMismatch)',
      'web: no healthy target in the target group',
    ]);
  });
  it('a service with nothing desired (bootstrap placeholder) and no targets is healthy', () => {
    expect(evaluateService(steady({ counts: { running: 0, desired: 0, pending: 0 }, targets: [] }))).toEqual([]);
  });
  it('an alarm in ALARM', () => {
    expect(evaluateService(steady({ alarms: [{ name: 'shop-prod-web-cpu', state: 'ALARM' }] }))).toEqual([
      'alarm shop-prod-web-cpu is ALARM',
    ]);
  });
  it('a missing service says so and nothing else', () => {
    expect(
      evaluateService(steady({ serviceStatus: 'MISSING', counts: { running: 0, desired: 0, pending: 0 } })),
    ).toEqual(['web: service is MISSING']);
  });
  it('the environment: service problems plus the ALB alarm', () => {
    const env = evaluateEnvironment(
      [steady(), steady({ name: 'api' })],
      [{ name: 'shop-prod-alb-5xx', state: 'ALARM' }],
    );
    expect(env.healthy).toBe(false);
    expect(env.problems).toEqual(['alarm shop-prod-alb-5xx is ALARM']);
    expect(env.byService.get('api')).toEqual([]);
    expect(evaluateEnvironment([steady()], [{ name: 'x', state: 'OK' }]).healthy).toBe(true);
  });
});

describe('not deployed', () => {
  const placeholder = steady({ counts: { running: 0, desired: 0, pending: 0 }, targets: [], deployed: false });
  it('only the bootstrap placeholder in place: not-deployed, not healthy', () => {
    const h = evaluateEnvironment([placeholder], []);
    expect(h.state).toBe('not-deployed');
    expect(h.healthy).toBe(false);
    expect(h.problems).toEqual(['web: not deployed (only the bootstrap placeholder is in place)']);
  });
  it('one of two services never deployed: unhealthy, that service named', () => {
    const h = evaluateEnvironment([steady({ name: 'api' }), placeholder], []);
    expect(h.state).toBe('unhealthy');
    expect(h.problems).toEqual(['web: not deployed (only the bootstrap placeholder is in place)']);
  });
  it('a deployed, steady environment stays healthy', () => {
    expect(evaluateEnvironment([steady({ deployed: true })], [])).toMatchObject({ state: 'healthy', healthy: true });
  });
});

describe('the sha a revision runs comes from the release history, not from its tag alone', () => {
  const D1 = `sha256:${'a'.repeat(64)}`;
  const D2 = `sha256:${'b'.repeat(64)}`;
  const TD = (n: number) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-prod-web:${n}`;
  const history = [
    { sha: 'abc1234', services: [{ service: 'web', digest: D1, taskDefinitionArn: TD(2) }] },
    { sha: 'old0001', services: [{ service: 'web', digest: D2, taskDefinitionArn: TD(1) }] },
  ];
  const td = (arn: string, digest: string | null, tagSha: string | null) => ({
    arn,
    digest,
    tagSha,
    image: digest ? `r/web@${digest}` : 'nginx:1.27',
  });
  it('the record that registered this task definition', () => {
    expect(attributeSha('web', td(TD(2), D1, 'abc1234'), history)).toEqual({
      sha: 'abc1234',
      shaSource: 'release',
      shaNote: null,
    });
  });
  it('a revision registered by another tool with the same image: the record of that digest', () => {
    expect(attributeSha('web', td(TD(5), D1, 'abc1234'), history)).toMatchObject({
      sha: 'abc1234',
      shaSource: 'digest',
    });
    // Even a wrong tag does not win over the digest.
    expect(attributeSha('web', td(TD(6), D2, 'abc1234'), history)).toMatchObject({ sha: 'old0001' });
  });
  it('a copied tag on another image: no sha, and a note saying why', () => {
    const other = `sha256:${'c'.repeat(64)}`;
    expect(attributeSha('web', td(TD(7), other, 'abc1234'), history)).toEqual({
      sha: null,
      shaSource: null,
      shaNote: 'unknown (image sha256:cccccccccccc… not from a patchwork release)',
    });
    expect(attributeSha('web', td(TD(8), null, 'abc1234'), []).shaNote).toBe(
      'unknown (image nginx:1.27 not from a patchwork release)',
    );
  });
  it('another service with the same digest does not lend its sha; no tag and no record: nothing claimed', () => {
    expect(attributeSha('api', td(TD(9), D1, null), history)).toEqual({ sha: null, shaSource: null, shaNote: null });
    expect(attributeSha('web', null, history).sha).toBeNull();
  });
});

describe('events and times', () => {
  const now = new Date('2026-11-23T10:00:00Z');
  it('relative times', () => {
    expect(relativeTime('2026-11-23T09:59:58Z', now)).toBe('now');
    expect(relativeTime('2026-11-23T09:59:15Z', now)).toBe('45s ago');
    expect(relativeTime('2026-11-23T09:57:00Z', now)).toBe('3m ago');
    expect(relativeTime('2026-11-23T07:00:00Z', now)).toBe('3h ago');
    expect(relativeTime('2026-11-19T10:00:00Z', now)).toBe('4d ago');
    expect(relativeTime(null, now)).toBe('');
    expect(shortAge(42)).toBe('42s');
    expect(shortAge(300)).toBe('5m');
    expect(shortAge(7200)).toBe('2h');
    expect(shortAge(null)).toBe('?');
  });
  it('newest first, repeated messages once (at their newest) with a count, limited', () => {
    const events = [
      { createdAt: new Date('2026-11-23T06:00:00Z'), message: '(service web) has reached a steady state.' },
      { createdAt: new Date('2026-11-23T09:58:00Z'), message: '(service web) has reached a steady state.' },
      { createdAt: new Date('2026-11-23T09:57:00Z'), message: '(service web) has started 1 tasks: (task a).' },
      { createdAt: new Date('2026-11-23T03:00:00Z'), message: '(service web) has reached a steady state.' },
      { createdAt: new Date('2026-11-23T09:50:00Z'), message: '(service web) has started 1 tasks: (task b).' },
    ];
    expect(dedupeEvents(events, now)).toEqual([
      { at: '2026-11-23T09:58:00.000Z', ago: '2m ago', message: '(service web) has reached a steady state.', count: 3 },
      {
        at: '2026-11-23T09:57:00.000Z',
        ago: '3m ago',
        message: '(service web) has started 1 tasks: (task a).',
        count: 1,
      },
      {
        at: '2026-11-23T09:50:00.000Z',
        ago: '10m ago',
        message: '(service web) has started 1 tasks: (task b).',
        count: 1,
      },
    ]);
    expect(dedupeEvents(events, now, 1)).toHaveLength(1);
  });
});

describe('sparklines', () => {
  it('scales from 0 to the max, one character a value', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([10, 5, 0])).toBe('█▅▁');
  });
  it('gaps are spaces; no data is blank; a flat series is flat', () => {
    expect(sparkline([1, null, 1])).toBe('█ █');
    expect(sparkline([null, null])).toBe('  ');
    expect(sparkline([0, 0, 0])).toBe('▁▁▁');
    expect(sparkline([])).toBe('');
  });
  it('reduces to a width by the max of each bucket, so a spike survives', () => {
    const values = new Array(60).fill(1);
    values[31] = 100;
    const line = sparkline(values, 30);
    expect(line).toHaveLength(30);
    expect(line[15]).toBe('█');
    expect(line.replace('█', '')).toBe('▁'.repeat(29));
  });
  it('places points on fixed minute buckets ending at the end', () => {
    const end = new Date('2026-11-23T10:00:00Z');
    expect(toBuckets(['2026-11-23T09:57:00Z', '2026-11-23T09:59:00Z'], [3, 5], end, 60, 4)).toEqual([null, 3, null, 5]);
    expect(toBuckets(['2026-11-23T08:00:00Z'], [1], end, 60, 2)).toEqual([null, null]);
  });
});

describe('alarms and metric queries', () => {
  const target = {
    name: 'shop-prod',
    services: [
      { name: 'web', fullName: 'shop-prod-web' },
      { name: 'web-api', fullName: 'shop-prod-web-api' },
    ],
  } as Parameters<typeof assignAlarms>[0];
  it('assigns alarms to their service by exact name; keeps the ALB alarm; drops other environments', () => {
    const a = (name: string) => ({ name, state: 'OK', reason: null, updatedAt: null });
    const { byService, envAlarms } = assignAlarms(target, [
      a('shop-prod-web-cpu'),
      a('shop-prod-web-target-5xx-b'),
      a('shop-prod-web-api-cpu'),
      a('shop-prod-alb-5xx'),
      a('shop-prod2-web-cpu'),
    ]);
    // The second target group's alarms (progressive strategies) are the service's too.
    expect(byService.get('web')?.map((x) => x.name)).toEqual(['shop-prod-web-cpu', 'shop-prod-web-target-5xx-b']);
    expect(byService.get('web-api')?.map((x) => x.name)).toEqual(['shop-prod-web-api-cpu']);
    expect(envAlarms.map((x) => x.name)).toEqual(['shop-prod-alb-5xx']);
    // --service web: web-api's alarms are not web's, although they share its prefix.
    const onlyWeb = { ...target, services: [target.services[0]!] };
    const narrowed = assignAlarms(onlyWeb, [a('shop-prod-web-cpu'), a('shop-prod-web-api-cpu'), a('shop-prod-web-x')]);
    expect(narrowed.byService.get('web')?.map((x) => x.name)).toEqual(['shop-prod-web-cpu']);
    expect(narrowed.envAlarms).toEqual([]);
  });
  it('five queries per service behind the ALB, two without a target group, all in one request', () => {
    const tg = new Map([['web', 'arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/shop-prod-web/abc']]);
    const lb = 'arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/shop-prod/def';
    const { queries, ids } = metricQueries(target, tg, lb);
    expect(queries).toHaveLength(7);
    expect(ids.get('s0_p95')).toEqual({ service: 'web', key: 'p95' });
    const p95 = queries.find((q) => q.Id === 's0_p95')!;
    expect(p95.MetricStat).toMatchObject({
      Stat: 'p95',
      Period: 60,
      Metric: {
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'TargetResponseTime',
        Dimensions: [
          { Name: 'TargetGroup', Value: 'targetgroup/shop-prod-web/abc' },
          { Name: 'LoadBalancer', Value: 'app/shop-prod/def' },
        ],
      },
    });
    expect(queries.filter((q) => q.Id?.startsWith('s1_')).map((q) => q.Id)).toEqual(['s1_cpu', 's1_memory']);
  });
});

describe('a whole report through mocked SDK clients', () => {
  const NOW = new Date('2026-11-23T10:00:30Z');
  const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-prod-web/0123456789abcdef';
  const LB = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop-prod/fedcba9876543210';
  const TD2 = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-prod-web:2';

  function mockWorld(cpuAlarm: 'OK' | 'ALARM') {
    const ecs = awsMock(ECSClient);
    ecs.on(DescribeServicesCommand).resolves({
      services: [
        {
          serviceName: 'shop-prod-web',
          status: 'ACTIVE',
          runningCount: 2,
          desiredCount: 2,
          pendingCount: 0,
          taskDefinition: TD2,
          loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 8080 }],
          deployments: [
            {
              id: 'ecs-svc/2',
              status: 'PRIMARY',
              taskDefinition: TD2,
              desiredCount: 2,
              runningCount: 2,
              pendingCount: 0,
              failedTasks: 0,
              rolloutState: 'COMPLETED',
              rolloutStateReason: 'ECS deployment ecs-svc/2 completed.',
              createdAt: new Date('2026-11-23T09:50:00Z'),
            },
          ],
          events: [
            {
              id: '2',
              createdAt: new Date('2026-11-23T09:55:00Z'),
              message: '(service shop-prod-web) has reached a steady state.',
            },
            {
              id: '1',
              createdAt: new Date('2026-11-23T09:51:00Z'),
              message: '(service shop-prod-web) has started 2 tasks.',
            },
          ],
        },
      ],
    });
    ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: TD2 })
      .resolves({ taskDefinition: { taskDefinitionArn: TD2 }, tags: [{ key: 'patchwork:sha', value: 'abc1234' }] });
    const elb = awsMock(ElasticLoadBalancingV2Client);
    elb.on(DescribeLoadBalancersCommand).resolves({
      LoadBalancers: [{ LoadBalancerArn: LB, DNSName: 'shop-prod-1.eu-west-1.elb.amazonaws.com' }],
    });
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: '10.0.0.1', Port: 8080 }, TargetHealth: { State: 'healthy' } },
        { Target: { Id: '10.0.0.2', Port: 8080 }, TargetHealth: { State: 'healthy' } },
      ],
    });
    const cw = awsMock(CloudWatchClient);
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        {
          AlarmName: 'shop-prod-web-cpu',
          StateValue: cpuAlarm,
          StateReason: 'threshold',
          StateUpdatedTimestamp: new Date('2026-11-23T09:00:00Z'),
        },
        { AlarmName: 'shop-prod-alb-5xx', StateValue: 'OK', StateUpdatedTimestamp: new Date('2026-11-23T09:00:00Z') },
      ],
    });
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        {
          Id: 's0_cpu',
          Timestamps: [new Date('2026-11-23T09:58:00Z'), new Date('2026-11-23T09:59:00Z')],
          Values: [12.5, 20],
        },
        { Id: 's0_p95', Timestamps: [new Date('2026-11-23T09:59:00Z')], Values: [0.084] },
      ],
    });
    const ddb = awsMock(DynamoDBClient);
    ddb.on(QueryCommand).resolves({
      Items: [
        toReleaseItem({
          id: 'r2',
          kind: 'deploy',
          sha: 'abc1234',
          services: [{ service: 'web', image: 'nginx:1.27', digest: null, taskDefinitionArn: TD2 }],
          deployer: 'ci@runner',
          startedAt: '2026-11-23T09:49:00.000Z',
          finishedAt: '2026-11-23T09:52:00.000Z',
          durationMs: 180_000,
          outcome: 'succeeded',
          reason: null,
          fast: false,
        }),
      ],
    });
    ddb.on(GetItemCommand).resolves({
      Item: toItem({
        holder: 'alice@laptop',
        command: 'deploy',
        token: 't',
        startedAt: NOW.getTime() - 60_000,
        expiresAt: NOW.getTime() + 840_000,
      }),
    });
    return [ecs, elb, cw, ddb];
  }

  async function session(onEvent?: (e: PatchworkEvent) => void) {
    const s = await openSession({
      ...(onEvent ? { onEvent } : {}),
      config: {
        app: 'shop',
        region: 'eu-west-1',
        services: { web: { image: 'nginx:1.27', port: 8080 } },
        environments: { prod: { alarms: { cpuPercent: 80 } } },
      } as never,
      env: 'prod',
    });
    return { ...s, aws: testClients() };
  }

  it('has the documented JSON shape (snapshot) in 8 calls', async () => {
    const mocks = mockWorld('OK');
    const s = await session();
    const report = await readStatus(s, { now: () => NOW });
    expect(report.healthy).toBe(true);
    expect(report.services[0]!.deployments[0]!.sha).toBe('abc1234');
    expect(report).toMatchSnapshot();
    // DescribeServices, DescribeTaskDefinition, DescribeLoadBalancers, DescribeTargetHealth,
    // DescribeAlarms, GetMetricData, Query, GetItem.
    expect(mocks.reduce((n, m) => n + m.calls().length, 0)).toBe(8);
  });

  it('a failed GetMetricData is a warning and metrics.error; health is still read', async () => {
    const [, , cw] = mockWorld('OK');
    cw!.on(GetMetricDataCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied' }));
    const events: PatchworkEvent[] = [];
    const s = await session((e) => events.push(e));
    const report = await readStatus(s, { now: () => NOW });
    expect(report.healthy).toBe(true);
    expect(report.metrics.error).toBe('AccessDenied: not authorized');
    expect(report.services[0]!.metrics.cpu.values).toEqual([]);
    expect(events).toContainEqual(expect.objectContaining({ type: 'warning', code: 'PW_METRICS_UNAVAILABLE' }));
    expect(statusText(report)).toContain('! metrics unavailable: AccessDenied: not authorized');
  });

  it('renders text with sparklines, and an alarm makes it unhealthy', async () => {
    mockWorld('ALARM');
    const report = await readStatus(await session(), { now: () => NOW });
    expect(report.healthy).toBe(false);
    expect(report.problems).toEqual(['alarm shop-prod-web-cpu is ALARM']);
    const text = statusText(report, { sparklines: true });
    expect(text).toContain('shop prod (eu-west-1) — ✗ unhealthy');
    expect(text).toContain('url: http://shop-prod-1.eu-west-1.elb.amazonaws.com');
    expect(text).toContain('PRIMARY abc1234 COMPLETED  2/2 running  10m old');
    expect(text).toMatch(/cpu % +\s+▅█ {2}now 20\.0% {2}max 20\.0%/);
    expect(text).toContain('p95 latency');
    expect(text).toContain('84ms');
    expect(text).toContain('lock: held by alice@laptop (deploy)');
    expect(statusText(report)).not.toMatch(/[▁▂▃▄▅▆▇█]/);
  });

  it('a service that is not healthy shows its newest task that stopped on its own, with its last log lines (3 more calls)', async () => {
    const mocks = mockWorld('ALARM');
    const ecs = mocks[0]!;
    const arn = (id: string) => `arn:aws:ecs:eu-west-1:123456789012:task/shop-prod/${id}`;
    ecs.on(ListTasksCommand).resolves({ taskArns: [arn('old'), arn('new'), arn('replaced')] });
    const stopped = (id: string, at: string, over: Record<string, unknown>) => ({
      taskArn: arn(id),
      taskDefinitionArn: TD2,
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stoppedAt: new Date(at),
      containers: [{ name: 'web', exitCode: 2 }],
      ...over,
    });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        stopped('old', '2026-11-23T09:50:00Z', {
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
        }),
        stopped('new', '2026-11-23T09:55:00Z', {
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
        }),
        // Newer, but the scheduler replaced it: not a failure.
        stopped('replaced', '2026-11-23T09:58:00Z', {
          stopCode: 'ServiceSchedulerInitiated',
          stoppedReason: 'Scaling activity initiated by (deployment ecs-svc/1)',
        }),
      ],
    });
    const logs = awsMock(CloudWatchLogsClient);
    logs.on(GetLogEventsCommand).resolves({
      events: [{ message: 'webapp: invalid configuration:\n' }, { message: 'LOG_LEVEL="x": expected debug' }],
    });
    const report = await readStatus(await session(), { now: () => NOW });
    expect(report.healthy).toBe(false);
    expect(report.services[0]!.stoppedTask).toEqual({
      taskId: 'new',
      taskArn: arn('new'),
      taskDefinition: TD2,
      stoppedAt: '2026-11-23T09:55:00.000Z',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      exitCode: 2,
      logTail: ['webapp: invalid configuration:', 'LOG_LEVEL="x": expected debug'],
      logError: null,
    });
    expect(logs.commandCalls(GetLogEventsCommand)[0]!.args[0].input).toEqual({
      logGroupName: 'shop-prod-web',
      logStreamName: 'web/web/new',
      limit: 10,
      startFromHead: false,
    });
    expect(ecs.commandCalls(ListTasksCommand)[0]!.args[0].input).toMatchObject({
      serviceName: 'shop-prod-web',
      desiredStatus: 'STOPPED',
    });
    // The 8 reads of a healthy report, then ListTasks, DescribeTasks, GetLogEvents.
    expect([...mocks, logs].reduce((n, m) => n + m.calls().length, 0)).toBe(11);
    expect(statusText(report)).toContain(
      [
        '    stopped task new at 2026-11-23T09:55:00.000Z: Essential container in task exited (exit code 2)',
        '      its last 2 log line(s):',
        '      | webapp: invalid configuration:',
        '      | LOG_LEVEL="x": expected debug',
      ].join('\n'),
    );
  });
});
