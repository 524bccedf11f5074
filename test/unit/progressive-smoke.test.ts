/**
 * `deploy.smoke.url` with a progressive strategy: the URL cannot reach the test listener (at the
 * pause it would test the old revision), so the follower runs it once production traffic is all on
 * the new revision and the old one still runs (the bake), and a failure stops the deployment with
 * StopServiceDeployment ROLLBACK. The config refuses a bake too short for the smoke test's retries.
 */
import {
  ContinueServiceDeploymentCommand,
  DescribeServiceDeploymentsCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  type ServiceDeployment,
  StopServiceDeploymentCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/lib/config/load.js';
import { resolveEnvironment } from '../../src/lib/config/resolve.js';
import { Emitter, type PatchworkEvent } from '../../src/lib/events.js';
import { followDeployment, isLive, nextStep, viewOf } from '../../src/lib/release/progressive.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { ONE_SERVICE } from './provision-fixtures.js';

afterAll(restoreAwsMocks);

const sd = (over: Partial<ServiceDeployment>): ServiceDeployment => ({
  serviceDeploymentArn: 'arn:sd/1',
  status: 'IN_PROGRESS',
  ...over,
});
const weights = (production: number) => ({
  targetServiceRevision: { requestedProductionTrafficWeight: production, requestedTestTrafficWeight: 100 },
});
const pause = sd({
  lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
  lifecycleHookDetails: [{ hookId: 'h1', targetType: 'PAUSE', status: 'AWAITING_ACTION' }],
  ...weights(0),
});
const bake = sd({ lifecycleStage: 'BAKE_TIME', ...weights(100) });

describe('when production traffic is on the new revision (pure)', () => {
  const v = (over: Partial<ServiceDeployment>) => viewOf(sd(over));

  it('live: all production traffic moved and the old revision not yet cleaned up', () => {
    expect(isLive(v({ lifecycleStage: 'BAKE_TIME', ...weights(100) }))).toBe(true);
    expect(isLive(v({ lifecycleStage: 'POST_PRODUCTION_TRAFFIC_SHIFT', ...weights(100) }))).toBe(true);
    // At the pause production is all on the old revision; a canary share is not all of it.
    expect(isLive(viewOf(pause))).toBe(false);
    expect(isLive(v({ lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT', ...weights(10) }))).toBe(false);
    expect(isLive(v({ lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT', ...weights(100) }))).toBe(false);
    // The clean-up drains the old tasks: too late for a weight change back.
    expect(isLive(v({ lifecycleStage: 'CLEAN_UP', ...weights(100) }))).toBe(false);
    expect(isLive(v({ status: 'ROLLBACK_IN_PROGRESS', lifecycleStage: 'BAKE_TIME', ...weights(100) }))).toBe(false);
  });

  it('next step: the live check when due and live, the pause first, terminal states win', () => {
    expect(nextStep(viewOf(bake), new Set(), true)).toEqual({ kind: 'live' });
    expect(nextStep(viewOf(bake), new Set(), false)).toEqual({ kind: 'wait' });
    expect(nextStep(viewOf(pause), new Set(), true)).toEqual({ kind: 'pause', hookId: 'h1' });
    expect(nextStep(viewOf(pause), new Set(['h1']), true)).toEqual({ kind: 'wait' });
    expect(nextStep(v({ status: 'SUCCESSFUL', ...weights(100) }), new Set(), true)).toEqual({ kind: 'done' });
  });
});

describe('following with a live check', () => {
  const follow = async (reads: ServiceDeployment[], live: boolean[], stop?: Error) => {
    const ecs = awsMock(ECSClient);
    ecs.on(ListServiceDeploymentsCommand).resolves({ serviceDeployments: [{ serviceDeploymentArn: 'arn:sd/1' }] });
    const d = ecs.on(DescribeServiceDeploymentsCommand);
    // A passed pre-traffic check reads the deployment once more (is the pause still waiting?).
    for (const r of reads.flatMap((r) => (r === pause ? [r, r] : [r]))) d.resolvesOnce({ serviceDeployments: [r] });
    ecs.on(ContinueServiceDeploymentCommand).resolves({});
    if (stop) ecs.on(StopServiceDeploymentCommand).rejects(stop);
    else ecs.on(StopServiceDeploymentCommand).resolves({});
    const events: PatchworkEvent[] = [];
    const order: string[] = [];
    const verdicts = [...live];
    const out = await followDeployment({
      ecs: await testClients().get('ecs'),
      cluster: 'shop-prod',
      service: 'web',
      serviceName: 'shop-prod-web',
      since: new Date(0),
      pollMs: 1,
      deadline: Date.now() + 10_000,
      events: new Emitter((e) => events.push(e)),
      check: async () => {
        order.push('pre-traffic');
        return { ok: true };
      },
      live: async () => {
        order.push('live');
        return verdicts.shift() ? { ok: true } : { ok: false, reason: 'smoke test GET https://shop/ answered 500' };
      },
      sleep: async () => {},
    });
    return { out, ecs, events, order };
  };

  it('passing: the pause is answered first, the live check runs once in the bake, then done', async () => {
    const { out, ecs, order, events } = await follow(
      [
        pause,
        sd({ lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT', ...weights(100) }),
        bake,
        bake,
        sd({ status: 'SUCCESSFUL' }),
      ],
      [true],
    );
    expect(out).toEqual({ state: 'done', arn: 'arn:sd/1' });
    expect(order).toEqual(['pre-traffic', 'live']);
    expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);
    const tasks = events.flatMap((e) => (e.type === 'task' && e.status !== 'start' ? [`${e.id} ${e.status}`] : []));
    expect(tasks).toEqual(['pre-traffic:web done', 'live-smoke:web done']);
  });

  it('failing in the bake: StopServiceDeployment ROLLBACK, rolled back with cause smoke', async () => {
    const { out, ecs, events } = await follow([pause, bake, sd({ status: 'ROLLBACK_IN_PROGRESS' })], [false]);
    expect(out).toEqual({
      state: 'rolled-back',
      arn: 'arn:sd/1',
      reason: 'smoke test GET https://shop/ answered 500',
      cause: 'smoke',
    });
    expect(ecs.commandCalls(StopServiceDeploymentCommand).map((c) => c.args[0].input)).toEqual([
      { serviceDeploymentArn: 'arn:sd/1', stopType: 'ROLLBACK' },
    ]);
    expect(ecs.commandCalls(ContinueServiceDeploymentCommand)[0]!.args[0].input.action).toBe('CONTINUE');
    expect(events.some((e) => e.type === 'task' && e.id === 'live-smoke:web' && e.status === 'fail')).toBe(true);
  });

  it('a bake no reading saw: the check runs at the end; a failure leaves the release, failed (cause smoke)', async () => {
    const { out, ecs, order } = await follow([pause, sd({ status: 'SUCCESSFUL' })], [false]);
    expect(order).toEqual(['pre-traffic', 'live']);
    expect(out).toMatchObject({ state: 'failed', cause: 'smoke' });
    expect((out as { reason: string }).reason).toMatch(
      /answered 500; the deployment had completed .* `patchwork rollback`/,
    );
    expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);
    expect((await follow([pause, sd({ status: 'SUCCESSFUL' })], [true])).out.state).toBe('done');
  });

  it('the deployment ended before the stop: the next reading decides (completed: failed, release stays)', async () => {
    const conflict = Object.assign(new Error('is SUCCESSFUL and cannot be stopped'), { name: 'ConflictException' });
    const { out, events } = await follow([pause, bake, sd({ status: 'SUCCESSFUL' })], [false], conflict);
    expect(out).toMatchObject({ state: 'failed', cause: 'smoke' });
    expect(events.some((e) => e.type === 'log' && /could no longer be stopped/.test(e.message))).toBe(true);
  });
});

describe('config', () => {
  const withDeploy = (deploy: string) => `${ONE_SERVICE}deploy: ${deploy}\n`;
  const resolve = (yaml: string) => resolveEnvironment(parseConfig(yaml, 'patchwork.yml', '/tmp'), 'prod', {});
  const failure = (yaml: string): string => {
    try {
      resolve(yaml);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('no error');
  };

  it('smoke.url with a progressive strategy needs a bake that outlasts the smoke test', () => {
    const url = 'smoke: { url: "https://shop.example.com/healthz" }';
    expect(resolve(withDeploy(`{ strategy: blue-green, ${url} }`)).deploy.smoke?.url).toBe(
      'https://shop.example.com/healthz',
    );
    expect(failure(withDeploy(`{ strategy: blue-green, bakeMinutes: 0, ${url} }`))).toBe(
      "patchwork.yml:11 deploy.bakeMinutes: smoke.url cannot reach the test listener, so with strategy blue-green it is checked in the bake, after production traffic moved; a bake of 0 minute(s) does not outlast the smoke test's 10s, so a failure could not return traffic to the old revision: set bakeMinutes to 1 or more, or use smoke.path (checked through the test listener before production traffic)",
    );
    expect(
      failure(withDeploy('{ strategy: canary, smoke: { url: "https://shop.example.com/", timeoutSeconds: 300 } }')),
    ).toMatch(
      /deploy\.smoke\.timeoutSeconds: .* a bake of 5 minute\(s\) does not outlast the smoke test's 300s.* set bakeMinutes to 6 or more/,
    );
    // A path smoke test runs at the pause through the test listener: no bake needed. Rolling: no rule.
    expect(
      resolve(withDeploy('{ strategy: linear, bakeMinutes: 0, smoke: { path: /healthz } }')).deploy.bakeMinutes,
    ).toBe(0);
    expect(resolve(withDeploy(`{ ${url} }`)).deploy.strategy).toBe('rolling');
  });
});
