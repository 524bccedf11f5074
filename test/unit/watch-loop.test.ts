/** The watch loop (mocked SDK): our deployment tracked by id through stale reads; the alarm baseline. */
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  type Deployment,
  DescribeServicesCommand,
  ECSClient,
  ListTasksCommand,
  type Service,
} from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Emitter } from '../../src/lib/events.js';
import { watchRollout } from '../../src/lib/watch/index.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());
afterEach(() => {
  vi.restoreAllMocks();
});

const OLD = 'arn:aws:ecs:eu-west-1:1:task-definition/shop-prod-web:6';
const OURS = 'arn:aws:ecs:eu-west-1:1:task-definition/shop-prod-web:7';
const T = new Date('2026-12-01T06:00:00Z');
const svc = (deployments: Deployment[]): Service => ({
  serviceName: 'shop-prod-web',
  desiredCount: 1,
  runningCount: 1,
  deployments,
  events: [],
});
const oldPrimary: Deployment = {
  id: 'ecs-svc/1',
  status: 'PRIMARY',
  taskDefinition: OLD,
  rolloutState: 'COMPLETED',
  createdAt: new Date(T.getTime() - 60_000),
  desiredCount: 1,
  runningCount: 1,
};
const ours = (rolloutState: Deployment['rolloutState']): Deployment => ({
  id: 'ecs-svc/2',
  status: 'PRIMARY',
  taskDefinition: OURS,
  rolloutState,
  createdAt: T,
  desiredCount: 1,
  runningCount: 1,
});

function run(
  alarmPrefix: string | null = null,
  alarmBaseline: string[] = [],
  more: Partial<Parameters<typeof watchRollout>[0]> = {},
) {
  return watchRollout({
    aws: testClients(),
    cluster: 'shop-prod',
    services: [
      {
        name: 'web',
        serviceName: 'shop-prod-web',
        taskDefinition: OURS,
        deployment: { id: 'ecs-svc/2', createdAt: T },
      },
    ],
    pollSeconds: 0,
    timeoutSeconds: 2,
    alarmPrefix,
    alarmBaseline,
    judgesAlarm: (n) => n.startsWith('shop-prod-web-'),
    events: new Emitter(() => {}),
    sleep: async () => {},
    ...more,
  });
}

describe('watchRollout', () => {
  it('stale reads (the previous PRIMARY) are waited out; done once ours is COMPLETED', async () => {
    awsMock(ElasticLoadBalancingV2Client);
    awsMock(ECSClient)
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [svc([oldPrimary])] })
      .resolvesOnce({ services: [svc([oldPrimary])] })
      .resolvesOnce({ services: [svc([ours('IN_PROGRESS'), { ...oldPrimary, status: 'ACTIVE' }])] })
      .resolves({ services: [svc([ours('COMPLETED')])] });
    expect(await run()).toMatchObject({ state: 'done' });
  });

  it('ours seen, then a newer PRIMARY (ECS rolled back): failed', async () => {
    awsMock(ElasticLoadBalancingV2Client);
    const rollback: Deployment = {
      ...oldPrimary,
      id: 'ecs-svc/3',
      createdAt: new Date(T.getTime() + 10_000),
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: 'ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.',
    };
    awsMock(ECSClient)
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [svc([oldPrimary])] })
      .resolvesOnce({ services: [svc([ours('IN_PROGRESS')])] })
      .resolves({ services: [svc([rollback])] });
    expect(await run()).toMatchObject({
      state: 'failed',
      cause: 'circuit-breaker',
      reason: expect.stringMatching(/rolling back/),
    });
  });

  it('a failure is said and handed to the caller the moment it is seen, before the stopped tasks are read; failing tasks are announced a poll earlier', async () => {
    awsMock(ElasticLoadBalancingV2Client);
    const order: string[] = [];
    const ecs = awsMock(ECSClient);
    ecs.on(ListTasksCommand).callsFake(() => {
      order.push('ListTasks');
      return { taskArns: [] };
    });
    let polls = 0;
    ecs.on(DescribeServicesCommand).callsFake(() => {
      polls++;
      const failed = polls >= 4;
      return {
        services: [
          svc([
            {
              ...ours(failed ? 'FAILED' : 'IN_PROGRESS'),
              failedTasks: Math.min(3, Math.max(0, polls - 1)),
              ...(failed ? { rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.' } : {}),
            },
          ]),
        ],
      };
    });
    const result = await run(null, [], {
      timeoutSeconds: 5,
      events: new Emitter((e) => {
        if (e.type === 'log' && e.message.startsWith('web: failed')) order.push(e.message);
      }),
      onTasksFailing: (name) => order.push(`tasks failing: ${name} at poll ${polls}`),
      onFailed: (name) => order.push(`failed: ${name} at poll ${polls}`),
    });
    expect(result).toMatchObject({ state: 'failed', cause: 'circuit-breaker', stoppedReasons: [], failedTask: null });
    expect(order).toEqual([
      'tasks failing: web at poll 2',
      'web: failed (circuit-breaker): ECS deployment circuit breaker: tasks failed to start.',
      'failed: web at poll 4',
      'ListTasks',
    ]);
  });

  it('an alarm of the baseline does not fail the rollout; once it clears and fires again it does; other services are ignored', async () => {
    awsMock(ElasticLoadBalancingV2Client);
    awsMock(ECSClient)
      .on(DescribeServicesCommand)
      .resolves({ services: [svc([ours('IN_PROGRESS')])] });
    const alarm = (name: string) => ({ AlarmName: name, StateValue: 'ALARM' as const });
    const cw = awsMock(CloudWatchClient);
    cw.on(DescribeAlarmsCommand)
      .resolvesOnce({ MetricAlarms: [alarm('shop-prod-web-cpu'), alarm('shop-prod-api-cpu')] })
      .resolvesOnce({ MetricAlarms: [alarm('shop-prod-api-cpu')] })
      .resolves({ MetricAlarms: [alarm('shop-prod-web-cpu')] });
    const result = await run('shop-prod-', ['shop-prod-web-cpu']);
    expect(result).toMatchObject({ state: 'failed', cause: 'alarm', reason: 'alarm in ALARM: shop-prod-web-cpu' });
    expect(cw.commandCalls(DescribeAlarmsCommand)).toHaveLength(3); // not at the first poll: that was the baseline
  });

  it('polls on a fixed schedule from the start: slow polls do not push the later ones back (the same number of polls)', async () => {
    let clock = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => clock);
    const answers = [ours('IN_PROGRESS'), ours('IN_PROGRESS'), ours('IN_PROGRESS'), ours('IN_PROGRESS')];
    const took = [300, 300, 1700, 300];
    let polls = 0;
    awsMock(ElasticLoadBalancingV2Client);
    awsMock(ECSClient)
      .on(DescribeServicesCommand)
      .callsFake(() => {
        clock += took[polls] ?? 0;
        return { services: [svc([answers[polls++] ?? ours('COMPLETED')])] };
      });
    const waits: number[] = [];
    const started = clock;
    const result = await watchRollout({
      aws: testClients(),
      cluster: 'shop-prod',
      services: [
        {
          name: 'web',
          serviceName: 'shop-prod-web',
          taskDefinition: OURS,
          deployment: { id: 'ecs-svc/2', createdAt: T },
        },
      ],
      pollSeconds: 1,
      timeoutSeconds: 60,
      alarmPrefix: null,
      events: new Emitter(() => {}),
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
      },
    });
    expect(result).toMatchObject({ state: 'done' });
    // Polls at 1, 2, 3 s; the third overran (1.7 s, until 4.7 s): the next slot at least half an
    // interval away is 6 s (5 s is 0.3 s away); then 7 s — not 1 s after each poll's end.
    expect(waits).toEqual([1000, 700, 700, 1300, 700]);
    expect(clock - started).toBe(7000);
    expect(polls).toBe(5);
  });
});
