/**
 * The local world's ECS extension (test/emulator), driven and observed with the AWS CLI v2 as a
 * peer client: rolling deployments that progress and complete, the circuit breaker with rollback,
 * targets registered in the service's target group, tasks run as real containers from the local
 * registry, the ALB data plane (HTTP through a load balancer's DNS name), and reset.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  createFargateService,
  createTargetGroup,
  defaultNetwork,
  type Net,
  registerFargateTaskDefinition,
  serviceTaskArns,
  webTarget,
} from '../helpers/emulator.js';
import { awsCli, emu, freePort, localWorld, resetWorld, waitFor } from '../helpers/localworld.js';
import { dockerOk, findGo, pushGoImage } from '../helpers/task-image.js';

const CLUSTER = 'emu';
const FAKE_REPO = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/emu-web';

function taskDefinition(family: string, image: string, env: Record<string, string> = {}): string {
  const container = {
    name: 'web',
    image,
    essential: true,
    portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
    environment: Object.entries(env).map(([name, value]) => ({ name, value })),
  };
  return registerFargateTaskDefinition(family, [container]);
}

function createService(
  net: Net,
  name: string,
  td: string,
  opts: { desired?: number; tg?: string; breaker?: { enable: boolean; rollback: boolean } } = {},
) {
  return createFargateService({
    cluster: CLUSTER,
    name,
    taskDefinition: td,
    network: net,
    desiredCount: opts.desired ?? 2,
    deploymentConfiguration: {
      deploymentCircuitBreaker: opts.breaker ?? { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
    },
    loadBalancers: opts.tg ? webTarget(opts.tg) : undefined,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
function service(name: string): any {
  return awsCli(['ecs', 'describe-services', '--cluster', CLUSTER, '--services', name]).services[0];
}

/** Poll describe-services (through the CLI) until `done(service)` holds. */
// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
async function until(name: string, done: (s: any) => boolean, what: string, timeoutMs = 30_000): Promise<any> {
  return waitFor(
    () => {
      const s = service(name);
      return done(s) ? s : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `${name}: ${what}` },
  );
}

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
const completed = (s: any) =>
  s.deployments.length === 1 && s.deployments[0].rolloutState === 'COMPLETED' && s.runningCount === s.desiredCount;
// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
const failedDeployment = (id: string) => (s: any) =>
  s.deployments.some((d: { id: string; rolloutState: string }) => d.id === id && d.rolloutState === 'FAILED');
// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
const updateService = (name: string, ...args: string[]): any =>
  awsCli(['ecs', 'update-service', '--cluster', CLUSTER, '--service', name, ...args]).service;
const stoppedArns = (name: string) => serviceTaskArns(CLUSTER, name, 'STOPPED');
// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
const messages = (s: any): string[] => s.events.map((e: { message: string }) => e.message);

let net: Net;

beforeEach(async () => {
  // These tests follow the scheduler step by step: reads are current (the read-after-write lag has its own
  // tests below), FAKE_REPO's images need not exist in ECR (the pull check has its own tests too), and the
  // account is not new (the first-use rules have their own file, emulator-iam.test.ts).
  await resetWorld({
    rolloutSeconds: 2,
    runContainers: false,
    consistencyLagSeconds: 0,
    checkImages: false,
    requireServiceLinkedRoles: false,
  });
  awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
  net = defaultNetwork();
});

describe('local world', () => {
  it('is provided by the global setup and answers', async () => {
    expect(inject('localWorld').endpoint).toBe(localWorld().endpoint);
    expect(process.env.AWS_ENDPOINT_URL).toBe(localWorld().endpoint);
    const health = await emu('health');
    expect(health).toMatchObject({ ok: true, emulator: 'patchwork' });
  });
});

describe('ECS rolling deployments (simulated tasks)', () => {
  it('CreateService rolls out, an UpdateService to a new task definition replaces it: PRIMARY/ACTIVE → COMPLETED', async () => {
    await emu('config', { rolloutSeconds: 10 }); // long enough for two AWS CLI calls (each a Python start) on a loaded machine
    const td1 = taskDefinition('emu-web', `${FAKE_REPO}:v1`);
    const td2 = taskDefinition('emu-web', `${FAKE_REPO}:v2`);
    const created = createService(net, 'web', td1);
    expect(created.deployments).toHaveLength(1);
    expect(created.deployments[0]).toMatchObject({
      status: 'PRIMARY',
      rolloutState: 'IN_PROGRESS',
      taskDefinition: td1,
    });
    expect(created.deployments[0].id).toMatch(/^ecs-svc\/\d{19}$/);
    expect(created.deploymentConfiguration).toEqual({
      deploymentCircuitBreaker: { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
    });
    const first = await until('web', completed, 'first deployment completed');
    expect(first.runningCount).toBe(2);
    expect(messages(first)[0]).toBe('(service web) has reached a steady state.');

    const updated = updateService('web', '--task-definition', td2);
    expect(updated.taskDefinition).toBe(td2);
    expect(updated.deployments.map((d: { status: string }) => d.status)).toEqual(['PRIMARY', 'ACTIVE']);
    expect(updated.deployments[0]).toMatchObject({ taskDefinition: td2, rolloutState: 'IN_PROGRESS', runningCount: 0 });
    expect(updated.deployments[0].rolloutStateReason).toBe(`ECS deployment ${updated.deployments[0].id} in progress.`);
    expect(updated.deployments[1]).toMatchObject({ taskDefinition: td1, runningCount: 2 });

    const midway = service('web');
    expect(midway.deployments).toHaveLength(2);
    expect(midway.runningCount).toBeGreaterThanOrEqual(2); // old tasks keep serving (minimumHealthyPercent 100)

    const done = await until('web', completed, 'second deployment completed');
    expect(done.deployments[0]).toMatchObject({
      id: updated.deployments[0].id,
      status: 'PRIMARY',
      taskDefinition: td2,
      rolloutState: 'COMPLETED',
      rolloutStateReason: `ECS deployment ${updated.deployments[0].id} completed.`,
      runningCount: 2,
      desiredCount: 2,
      failedTasks: 0,
    });
    expect(done.runningCount).toBe(2);
    expect(done.pendingCount).toBe(0);
    expect(done.deploymentConfiguration.deploymentCircuitBreaker).toEqual({ enable: true, rollback: true });
    expect(done.events[0].message).toBe('(service web) has reached a steady state.');
    expect(done.events[0].id).toBeTruthy();
    expect(new Date(done.events[0].createdAt).getTime()).toBeGreaterThanOrEqual(
      new Date(done.events.at(-1).createdAt).getTime(),
    );

    // Tasks are in moto's task list: 2 running for the service, the 2 replaced ones stopped.
    const running = awsCli(['ecs', 'list-tasks', '--cluster', CLUSTER, '--service-name', 'web']).taskArns;
    expect(running).toHaveLength(2);
    const stopped = stoppedArns('web');
    expect(stopped).toHaveLength(2);
    const tasks = awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', ...running]).tasks;
    for (const t of tasks) {
      expect(t).toMatchObject({ lastStatus: 'RUNNING', taskDefinitionArn: td2, group: 'service:web' });
    }
  });

  it('a desiredCount-only update scales without a new deployment; forceNewDeployment makes one', async () => {
    const td1 = taskDefinition('emu-web', `${FAKE_REPO}:v1`);
    createService(net, 'web', td1, { desired: 1 });
    const first = await until('web', completed, 'completed');
    const id = first.deployments[0].id;

    const scaled = updateService('web', '--desired-count', '3');
    expect(scaled.deployments).toHaveLength(1);
    expect(scaled.deployments[0].id).toBe(id);
    const after = await until('web', (s) => s.runningCount === 3, 'scaled to 3');
    expect(after.deployments).toHaveLength(1);
    expect(after.deployments[0]).toMatchObject({ id, rolloutState: 'COMPLETED', desiredCount: 3, runningCount: 3 });
    // the deployment configuration survives updates that do not mention it
    expect(after.deploymentConfiguration.deploymentCircuitBreaker).toEqual({ enable: true, rollback: true });

    const forced = updateService('web', '--force-new-deployment');
    expect(forced.deployments).toHaveLength(2);
    expect(forced.deployments[0].id).not.toBe(id);
    expect(forced.deployments[0].taskDefinition).toBe(td1);
    await until('web', completed, 'forced deployment completed');
  });

  it('CreateService for a service that is already ACTIVE is refused, not overwritten', () => {
    const td1 = taskDefinition('emu-web', `${FAKE_REPO}:v1`);
    createService(net, 'web', td1);
    expect(() => createService(net, 'web', td1)).toThrow(/Creation of service was not idempotent/);
  });

  it('a failing image trips the circuit breaker: FAILED, rolled back to the last completed task definition', async () => {
    const good = taskDefinition('emu-web', `${FAKE_REPO}:good`);
    const bad = taskDefinition('emu-web', `${FAKE_REPO}:bad`);
    await emu('failing-images', { image: `${FAKE_REPO}:bad` });
    // The FAILED deployment is listed only until the rollback completes: make that last a few seconds,
    // longer than an AWS CLI call takes on a busy machine.
    await emu('config', { rolloutSeconds: 6 });
    createService(net, 'web', good);
    await until('web', completed, 'first deployment completed');

    const upd = updateService('web', '--task-definition', bad);
    const failedId = upd.deployments[0].id;
    const rolledBack = await until('web', failedDeployment(failedId), 'deployment FAILED');
    const failed = rolledBack.deployments.find((d: { id: string }) => d.id === failedId);
    expect(failed.rolloutStateReason).toBe('ECS deployment circuit breaker: tasks failed to start.');
    expect(failed.failedTasks).toBeGreaterThanOrEqual(3);
    expect(rolledBack.deployments[0]).toMatchObject({ status: 'PRIMARY', taskDefinition: good });
    expect(rolledBack.deployments[0].rolloutStateReason).toMatch(
      /^ECS deployment circuit breaker: rolling back to deploymentId ecs-svc\/\d+\.$/,
    );
    expect(rolledBack.taskDefinition).toBe(good);
    expect(messages(rolledBack).some((m) => m.includes('circuit breaker'))).toBe(true);

    const settled = await until('web', completed, 'rollback completed');
    expect(settled.taskDefinition).toBe(good);
    expect(settled.deployments[0].taskDefinition).toBe(good);
    expect(settled.runningCount).toBe(2);

    // Without a circuit breaker the deployment keeps trying and stays IN_PROGRESS.
    await emu('config', { rolloutSeconds: 2 });
    createService(net, 'nobreaker', bad, { desired: 1, breaker: { enable: false, rollback: false } });
    const stuck = await until('nobreaker', (s) => s.deployments[0].failedTasks >= 4, 'tasks keep failing');
    expect(stuck.deployments).toHaveLength(1);
    expect(stuck.deployments[0].rolloutState).toBe('IN_PROGRESS');
    expect(stuck.runningCount).toBe(0);
    const nobreakerStopped = stoppedArns('nobreaker');
    const stoppedTask = awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', nobreakerStopped[0]!])
      .tasks[0];
    expect(stoppedTask).toMatchObject({ lastStatus: 'STOPPED', stoppedReason: 'Essential container in task exited' });
  });

  it('tasks are registered in the service target group (ENI address, containerPort) and deregistered when replaced', async () => {
    const tg = createTargetGroup(net, 'emu-web');
    const td1 = taskDefinition('emu-web', `${FAKE_REPO}:v1`);
    const td2 = taskDefinition('emu-web', `${FAKE_REPO}:v2`);
    createService(net, 'web', td1, { tg });
    await until('web', completed, 'completed');
    const health = awsCli(['elbv2', 'describe-target-health', '--target-group-arn', tg]).TargetHealthDescriptions;
    expect(health).toHaveLength(2);
    for (const h of health) {
      expect(h.Target.Port).toBe(8080);
      expect(h.Target.Id).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(h.TargetHealth.State).toBe('healthy');
    }
    const taskIps = awsCli([
      'ecs',
      'describe-tasks',
      '--cluster',
      CLUSTER,
      '--tasks',
      ...awsCli(['ecs', 'list-tasks', '--cluster', CLUSTER, '--service-name', 'web']).taskArns,
    ]).tasks.map(
      (t: { attachments: { details: { name: string; value: string }[] }[] }) =>
        t.attachments[0]?.details.find((d) => d.name === 'privateIPv4Address')?.value,
    );
    expect(health.map((h: { Target: { Id: string } }) => h.Target.Id).sort()).toEqual(taskIps.sort());

    // A test can make a target unhealthy; the AWS CLI sees it.
    const first = health[0].Target;
    await emu('target-health', {
      targetGroupArn: tg,
      id: first.Id,
      port: first.Port,
      state: 'unhealthy',
      reason: 'Target.FailedHealthChecks',
    });
    const one = awsCli([
      'elbv2',
      'describe-target-health',
      '--target-group-arn',
      tg,
      '--targets',
      `Id=${first.Id},Port=${first.Port}`,
    ]).TargetHealthDescriptions[0];
    expect(one.TargetHealth).toMatchObject({ State: 'unhealthy', Reason: 'Target.FailedHealthChecks' });

    awsCli(['ecs', 'update-service', '--cluster', CLUSTER, '--service', 'web', '--task-definition', td2]);
    await until('web', completed, 'replacement completed');
    const after = awsCli(['elbv2', 'describe-target-health', '--target-group-arn', tg]).TargetHealthDescriptions;
    expect(after).toHaveLength(2);
    const oldIds = new Set(health.map((h: { Target: { Id: string } }) => h.Target.Id));
    expect(after.some((h: { Target: { Id: string } }) => oldIds.has(h.Target.Id))).toBe(false);
    expect(
      messages(service('web')).some((m) => m.startsWith('(service web) deregistered 1 targets in (target-group')),
    ).toBe(true);
  });

  it('deleting a service stops its tasks and empties its target group', async () => {
    const tg = createTargetGroup(net, 'emu-del');
    createService(net, 'web', taskDefinition('emu-web', `${FAKE_REPO}:v1`), { tg });
    await until('web', completed, 'completed');
    awsCli(['ecs', 'delete-service', '--cluster', CLUSTER, '--service', 'web', '--force']);
    await waitFor(
      () => awsCli(['ecs', 'list-tasks', '--cluster', CLUSTER, '--service-name', 'web']).taskArns.length === 0,
      { what: 'tasks stopped' },
    );
    expect(awsCli(['elbv2', 'describe-target-health', '--target-group-arn', tg]).TargetHealthDescriptions).toEqual([]);
    expect(service('web').status).toBe('INACTIVE');
  });

  it('reset empties moto and the extension (failing images, overrides, config, tasks)', async () => {
    await emu('failing-images', { image: 'something:bad' });
    await emu('config', { rolloutSeconds: 9 });
    createService(net, 'web', taskDefinition('emu-web', `${FAKE_REPO}:v1`));
    await waitFor(async () => (await emu('tasks')).tasks.length === 2, { what: 'tasks launched' });

    const res = await fetch(`${localWorld().endpoint}/moto-api/reset`, { method: 'POST' });
    expect(res.ok).toBe(true);
    expect((await emu('tasks', undefined, 'GET')).tasks).toEqual([]);
    expect((await emu('failing-images')).failingImages).toEqual([]);
    expect((await emu('config')).rolloutSeconds).toBe(3);
    expect(awsCli(['ecs', 'list-clusters']).clusterArns).toEqual([]);
  });
});

describe('ECS request limits (AWS CLI)', () => {
  const cliError = (args: string[]): string => {
    try {
      awsCli(args);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`aws ${args.join(' ')} succeeded`);
  };

  it('DescribeServices: 11 names are refused as ECS refuses them, 10 are answered; switchable', async () => {
    const td = taskDefinition('emu-many', `${FAKE_REPO}:v1`);
    const names = Array.from({ length: 11 }, (_, i) => `many-${i + 1}`);
    for (const name of names) createService(net, name, td, { desired: 0 });
    const describe = (n: string[]) => ['ecs', 'describe-services', '--cluster', CLUSTER, '--services', ...n];

    const ten = awsCli(describe(names.slice(0, 10)));
    expect(ten.services.map((s: { serviceName: string }) => s.serviceName)).toEqual(names.slice(0, 10));
    expect(ten.failures).toEqual([]);
    const refused = cliError(describe(names));
    expect(refused).toContain('InvalidParameterException');
    expect(refused).toContain('service names can have at most 10 items.');

    await emu('config', { limitDescribeServices: false });
    expect(awsCli(describe(names)).services).toHaveLength(11);
  });

  it('ListTaskDefinitions: pages of 100 (maxResults 1..100), nextToken, sort ASC/DESC; switchable', async () => {
    // 205 revisions through the SDK (one process, not 205 CLI runs); the listing through the CLI.
    const { ECSClient, RegisterTaskDefinitionCommand } = await import('@aws-sdk/client-ecs');
    const world = localWorld();
    const ecs = new ECSClient({
      endpoint: world.endpoint,
      region: world.region,
      credentials: { accessKeyId: world.accessKeyId, secretAccessKey: world.secretAccessKey },
    });
    const register = (family: string) =>
      ecs.send(
        new RegisterTaskDefinitionCommand({
          family,
          containerDefinitions: [{ name: 'web', image: `${FAKE_REPO}:v1`, memory: 64 }],
        }),
      );
    for (let i = 0; i < 205; i++) await register('emu-paged');
    await register('emu-paged-b');
    await register('emu-a');
    const rev = (arns: string[]) => arns.map((a) => a.replace(/^.*task-definition\//, ''));
    const list = (...extra: string[]) => awsCli(['ecs', 'list-task-definitions', ...extra]);
    const family = ['--family-prefix', 'emu-paged'];

    // One call, no maxResults: the first 100, oldest first, and a token.
    const asc = list(...family, '--no-paginate');
    expect(rev(asc.taskDefinitionArns)).toEqual(Array.from({ length: 100 }, (_, i) => `emu-paged:${i + 1}`));
    expect(asc.nextToken).toEqual(expect.any(String));
    // DESC: newest first; the token continues where the page ended; the last page has no token.
    const d1 = list(...family, '--sort', 'DESC', '--no-paginate');
    expect(rev(d1.taskDefinitionArns)).toEqual(Array.from({ length: 100 }, (_, i) => `emu-paged:${205 - i}`));
    const d2 = list(...family, '--sort', 'DESC', '--no-paginate', '--next-token', d1.nextToken);
    expect(rev(d2.taskDefinitionArns)).toEqual(Array.from({ length: 100 }, (_, i) => `emu-paged:${105 - i}`));
    const d3 = list(...family, '--sort', 'DESC', '--no-paginate', '--next-token', d2.nextToken);
    expect(rev(d3.taskDefinitionArns)).toEqual([
      'emu-paged:5',
      'emu-paged:4',
      'emu-paged:3',
      'emu-paged:2',
      'emu-paged:1',
    ]);
    expect(d3.nextToken).toBeUndefined();
    // The CLI's own paginator follows the tokens: all 205, 30 a page.
    const all = list(...family, '--sort', 'DESC', '--page-size', '30');
    expect(all.taskDefinitionArns).toHaveLength(205);
    expect(rev(all.taskDefinitionArns).slice(0, 2)).toEqual(['emu-paged:205', 'emu-paged:204']);
    // Raw maxResults; out of 1..100 is refused.
    expect(list(...family, '--max-results', '7').taskDefinitionArns).toHaveLength(7);
    expect(cliError(['ecs', 'list-task-definitions', '--max-results', '101'])).toContain('InvalidParameterException');
    // Without a family: by family name, then revision; DESC reverses both.
    expect(rev(list('--sort', 'DESC', '--max-results', '3').taskDefinitionArns)).toEqual([
      'emu-paged-b:1',
      'emu-paged:205',
      'emu-paged:204',
    ]);
    expect(rev(list('--max-results', '2').taskDefinitionArns)).toEqual(['emu-a:1', 'emu-paged:1']);

    await emu('config', { pageTaskDefinitions: false });
    const flat = list(...family, '--no-paginate');
    expect(flat.taskDefinitionArns).toHaveLength(205);
    expect(flat.nextToken).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Real containers: a tiny static Go server in a FROM-scratch image, pushed to the local registry.

const GO = findGo();
const DOCKER_OK = dockerOk();

const APP_GO = `package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	if os.Getenv("CRASH") != "" {
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		os.Exit(3)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method,
			"host":   r.Host,
			"query":  r.URL.RawQuery,
			"body":   string(body),
			"xff":    r.Header.Get("X-Forwarded-For"),
			"proto":  r.Header.Get("X-Forwarded-Proto"),
			"port":   r.Header.Get("X-Forwarded-Port"),
		})
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, os.Getenv("GREETING"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`;

describe.skipIf(!GO || !DOCKER_OK)('ECS tasks as real containers (local registry image)', () => {
  let image = '';

  beforeAll(() => {
    image = pushGoImage(GO!, 'emu-app', APP_GO);
  });

  beforeEach(async () => {
    await emu('config', { runContainers: true, rolloutSeconds: 2, healthTimeoutSeconds: 15 });
  });

  it('runs the task container with host networking, registers a healthy 127.0.0.1 target, then rolls back a crashing one', async () => {
    const tg = createTargetGroup(net, 'emu-real');
    const good = taskDefinition('emu-real', image, { GREETING: 'hello from the task' });
    const crash = taskDefinition('emu-real', image, { CRASH: '1' });
    await emu('config', { rolloutSeconds: 6 }); // a longer drain: the FAILED deployment stays visible longer
    createService(net, 'real', good, { desired: 1, tg });
    const up = await until('real', completed, 'real task healthy', 60_000);
    expect(up.runningCount).toBe(1);

    const [target] = awsCli(['elbv2', 'describe-target-health', '--target-group-arn', tg]).TargetHealthDescriptions;
    expect(target.Target.Id).toBe('127.0.0.1');
    expect(target.TargetHealth.State).toBe('healthy');
    const body = await (await fetch(`http://127.0.0.1:${target.Target.Port}/`)).text();
    expect(body.trim()).toBe('hello from the task');

    const tasks = (await emu('tasks')).tasks;
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ mode: 'real', lastStatus: 'RUNNING', healthy: true });
    const labels = execFileSync(
      'docker',
      ['inspect', '--format', '{{json .Config.Labels}} {{.HostConfig.NetworkMode}}', tasks[0].containerId],
      { encoding: 'utf8' },
    );
    expect(labels).toContain('"patchwork.emulator":"1"');
    expect(labels.trim().endsWith('host')).toBe(true);

    const upd = updateService('real', '--task-definition', crash);
    const failedId = upd.deployments[0].id;
    const rolled = await until('real', failedDeployment(failedId), 'crashing deployment FAILED', 60_000);
    expect(rolled.taskDefinition).toBe(good);
    const stopped = stoppedArns('real');
    const described = awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', ...stopped]).tasks;
    const crashed = described.find((t: { taskDefinitionArn: string }) => t.taskDefinitionArn === crash);
    expect(crashed).toMatchObject({ lastStatus: 'STOPPED', stoppedReason: 'Essential container in task exited' });
    expect(crashed.containers[0].exitCode).toBe(3);
    // The old task kept serving: the ACTIVE deployment was never drained for a broken one.
    expect(rolled.runningCount).toBeGreaterThanOrEqual(1);
    // Crashed containers are removed by their task's runner within its next check (0.5-1 s), which may
    // come just after the deployment is reported FAILED: wait for it, but not for long. Only this world's
    // containers count: other worlds (other LOCALWORLD_DIRs) may share the Docker engine.
    const ours = `label=patchwork.emulator.port=${localWorld().motoPort}`;
    await waitFor(
      () =>
        execFileSync('docker', ['ps', '-q', '--filter', ours, '--filter', 'status=exited'], {
          encoding: 'utf8',
        }).trim() === '',
      { timeoutMs: 10_000, intervalMs: 250, what: 'no exited task containers left' },
    );
  });

  it('serves HTTP through the load balancer DNS name: forward to the task, rules, redirect, 502/503', async () => {
    const { motoPort } = localWorld();
    const tg = createTargetGroup(net, 'emu-alb');
    const spare = createTargetGroup(net, 'emu-alb-spare');
    const lb = awsCli([
      'elbv2',
      'create-load-balancer',
      '--name',
      'emu-alb',
      '--subnets',
      net.subnet,
      '--security-groups',
      net.sg,
    ]).LoadBalancers[0];
    // A loopback address of this world: 127.<moto port high byte>.<low byte>.<n>.
    const dns: string = lb.DNSName;
    expect(dns.startsWith(`127.${motoPort >> 8}.${motoPort & 255}.`)).toBe(true);
    expect(dns).toMatch(/^127\.\d+\.\d+\.([1-9]|[1-9]\d|1\d\d|2[0-4]\d|25[0-4])$/);
    expect(dns).not.toBe('127.0.0.1');
    const described = awsCli(['elbv2', 'describe-load-balancers', '--names', 'emu-alb']).LoadBalancers[0];
    expect(described.DNSName).toBe(dns);
    expect(described.CanonicalHostedZoneId).toBe(lb.CanonicalHostedZoneId);

    const listenerArgs = (action: unknown) => [
      'elbv2',
      'create-listener',
      '--load-balancer-arn',
      lb.LoadBalancerArn,
      '--protocol',
      'HTTP',
      '--port',
      '80',
      '--default-actions',
      JSON.stringify([action]),
    ];
    const listener = awsCli(listenerArgs({ Type: 'forward', TargetGroupArn: tg })).Listeners[0];
    // CreateListener is idempotent (a retry after a lost answer gets the same listener); other
    // settings on a taken port are DuplicateListener.
    expect(awsCli(listenerArgs({ Type: 'forward', TargetGroupArn: tg })).Listeners[0].ListenerArn).toBe(
      listener.ListenerArn,
    );
    expect(() => awsCli(listenerArgs({ Type: 'forward', TargetGroupArn: spare }))).toThrow(/DuplicateListener/);
    expect(awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners).toHaveLength(
      1,
    );
    awsCli([
      'elbv2',
      'create-rule',
      '--listener-arn',
      listener.ListenerArn,
      '--priority',
      '10',
      '--conditions',
      JSON.stringify([{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } }]),
      '--actions',
      JSON.stringify([
        {
          Type: 'fixed-response',
          FixedResponseConfig: { StatusCode: '200', ContentType: 'application/json', MessageBody: '{"api":true}' },
        },
      ]),
    ]);
    awsCli([
      'elbv2',
      'create-rule',
      '--listener-arn',
      listener.ListenerArn,
      '--priority',
      '20',
      '--conditions',
      JSON.stringify([{ Field: 'path-pattern', PathPatternConfig: { Values: ['/spare/?'] } }]),
      '--actions',
      JSON.stringify([{ Type: 'forward', TargetGroupArn: spare }]),
    ]);
    const redirect = awsCli([
      'elbv2',
      'create-listener',
      '--load-balancer-arn',
      lb.LoadBalancerArn,
      '--protocol',
      'HTTP',
      '--port',
      '8081',
      '--default-actions',
      JSON.stringify([
        {
          Type: 'redirect',
          RedirectConfig: {
            Protocol: 'HTTPS',
            Port: '443',
            Path: '/new/#{path}',
            Query: '#{query}&from=alb',
            StatusCode: 'HTTP_301',
          },
        },
      ]),
    ]).Listeners[0];

    // No task yet: the target group has no healthy target.
    const early = await fetch(`http://${dns}/`);
    expect(early.status).toBe(503);
    await early.text();

    createService(net, 'alb', taskDefinition('emu-alb', image, { GREETING: 'hello through the ALB' }), {
      desired: 1,
      tg,
    });
    await until('alb', completed, 'task healthy behind the load balancer', 60_000);

    const home = await fetch(`http://${dns}/`);
    expect(home.status).toBe(200);
    expect((await home.text()).trim()).toBe('hello through the ALB');

    // Method, path, query, body and headers reach the task, with the X-Forwarded-* headers.
    const echo = await fetch(`http://${dns}/echo?x=1&y=two`, { method: 'POST', body: 'ping' });
    expect(echo.status).toBe(200);
    expect(await echo.json()).toEqual({
      method: 'POST',
      host: dns,
      query: 'x=1&y=two',
      body: 'ping',
      xff: '127.0.0.1',
      proto: 'http',
      port: '80',
    });
    // The task's own answers come back unchanged (its 404 for an unknown path).
    const missing = await fetch(`http://${dns}/no-such-page`);
    expect(missing.status).toBe(404);
    await missing.text();

    // Rule priority 10: path-pattern /api/* -> fixed response.
    const api = await fetch(`http://${dns}/api/users?id=3`);
    expect(api.status).toBe(200);
    expect(api.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await api.json()).toEqual({ api: true });

    // Rule priority 20: /spare/? (one character) -> a target group without targets: 503.
    const spare503 = await fetch(`http://${dns}/spare/x`);
    expect(spare503.status).toBe(503);
    await spare503.text();
    const notSpare = await fetch(`http://${dns}/spare/xy`); // no match: default action, the task's 404
    expect(notSpare.status).toBe(404);
    await notSpare.text();
    // A registered target that does not answer: 502.
    const deadPort = await freePort();
    awsCli(['elbv2', 'register-targets', '--target-group-arn', spare, '--targets', `Id=127.0.0.1,Port=${deadPort}`]);
    const spare502 = await fetch(`http://${dns}/spare/x`);
    expect(spare502.status).toBe(502);
    await spare502.text();

    // The redirect listener.
    const moved = await fetch(`http://${dns}:8081/a/b?q=1`, { redirect: 'manual' });
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe(`https://${dns}/new/a/b?q=1&from=alb`);
    await moved.text();

    const state = (await emu('load-balancers')).loadBalancers;
    expect(state).toHaveLength(1);
    expect(state[0]).toMatchObject({ dnsName: dns, address: dns });
    expect(state[0].listeners.map((l: { port: number; serving: boolean }) => [l.port, l.serving])).toEqual([
      [80, true],
      [8081, true],
    ]);

    // A deleted listener stops answering; reset stops the others and frees the address.
    awsCli(['elbv2', 'delete-listener', '--listener-arn', redirect.ListenerArn]);
    await expect(fetch(`http://${dns}:8081/`)).rejects.toThrow();
    await resetWorld();
    await expect(fetch(`http://${dns}/`)).rejects.toThrow();
    expect((await emu('load-balancers')).loadBalancers).toEqual([]);
  });

  it('a container that never passes its health check fails the deployment; reset removes the containers', async () => {
    await emu('config', { healthTimeoutSeconds: 6 });
    const tg = createTargetGroup(net, 'emu-unhealthy', '/does-not-exist');
    createService(net, 'sick', taskDefinition('emu-sick', image), { desired: 1, tg });
    // While the task runs, its target fails the target group's HTTP check (404 on the path).
    const target = await waitFor(
      () => {
        const h = awsCli(['elbv2', 'describe-target-health', '--target-group-arn', tg]).TargetHealthDescriptions;
        return h.length === 1 && h[0].TargetHealth.State === 'unhealthy' ? h[0] : undefined;
      },
      { what: 'unhealthy 127.0.0.1 target', timeoutMs: 30_000 },
    );
    expect(target.Target.Id).toBe('127.0.0.1');
    expect(target.TargetHealth.Reason).toBe('Target.ResponseCodeMismatch');
    // After healthTimeoutSeconds the task is stopped and counted as failed.
    const failed = await until('sick', (s) => (s.deployments[0]?.failedTasks ?? 0) >= 1, 'a task failed', 60_000);
    expect(failed.deployments[0].rolloutState).toBe('IN_PROGRESS');
    const stopped = stoppedArns('sick');
    const task = awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', stopped[0]!]).tasks[0];
    expect(task.stoppedReason).toBe(`Task failed ELB health checks in (target-group ${tg})`);

    await resetWorld();
    const left = execFileSync(
      'docker',
      ['ps', '-aq', '--filter', `label=patchwork.emulator.port=${localWorld().motoPort}`],
      {
        encoding: 'utf8',
      },
    ).trim();
    expect(left).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// Rules AWS enforces that moto does not (README "Rules AWS enforces"), each on by default.

describe('ECS reads lag behind writes (consistencyLagSeconds, on by default)', () => {
  it('right after update-service, describe-services and list-tasks answer the previous state; after the lag, the new one', async () => {
    // A lag long enough that the AWS CLI's reads (≈1 s each on a busy machine) fall inside it.
    await emu('config', { consistencyLagSeconds: 8, rolloutSeconds: 1 });
    const td1 = taskDefinition('emu-web', `${FAKE_REPO}:v1`);
    const td2 = taskDefinition('emu-web', `${FAKE_REPO}:v2`);
    const created = createService(net, 'web', td1, { desired: 1 });
    expect(created.deployments[0].taskDefinition).toBe(td1); // the write's own answer is current
    // A service just created is not visible yet.
    const missing = awsCli(['ecs', 'describe-services', '--cluster', CLUSTER, '--services', 'web']);
    expect(missing.services).toEqual([]);
    expect(missing.failures[0].reason).toBe('MISSING');
    const first = await until('web', completed, 'first deployment completed');
    const oldTasks = awsCli(['ecs', 'list-tasks', '--cluster', CLUSTER, '--service-name', 'web']).taskArns;
    expect(oldTasks).toHaveLength(1);

    const updated = updateService('web', '--task-definition', td2);
    const ours = updated.deployments[0];
    expect(ours).toMatchObject({ status: 'PRIMARY', taskDefinition: td2 });
    const at = Date.now();
    const stale = service('web');
    expect(stale.deployments).toHaveLength(1);
    expect(stale.deployments[0]).toMatchObject({ id: first.deployments[0].id, status: 'PRIMARY', taskDefinition: td1 });
    expect(stale.taskDefinition).toBe(td1);
    expect(stale.deployments.some((d: { id: string }) => d.id === ours.id)).toBe(false);
    // The new deployment's task starts 0.5 s after the update; list-tasks does not show it yet.
    expect(awsCli(['ecs', 'list-tasks', '--cluster', CLUSTER, '--service-name', 'web']).taskArns).toEqual(oldTasks);
    expect(Date.now() - at).toBeLessThan(8000); // the reads above were inside the lag
    const fresh = await until(
      'web',
      (s) => s.deployments.some((d: { id: string }) => d.id === ours.id),
      'our deployment visible',
      20_000,
    );
    expect(Date.now() - at).toBeGreaterThanOrEqual(6000);
    expect(fresh.taskDefinition).toBe(td2);
    await until('web', completed, 'second deployment completed');
    const newTasks = awsCli(['ecs', 'list-tasks', '--cluster', CLUSTER, '--service-name', 'web']).taskArns;
    expect(newTasks).toHaveLength(1);
    expect(newTasks).not.toEqual(oldTasks);

    // Switched off: read-after-write.
    await emu('config', { consistencyLagSeconds: 0 });
    const again = updateService('web', '--task-definition', td1);
    expect(service('web').deployments[0].id).toBe(again.deployments[0].id);
  });
});

describe('images that cannot be pulled (checkImages, on by default)', () => {
  const NO_DIGEST = `sha256:${'0'.repeat(64)}`;

  async function stoppedReason(name: string): Promise<string> {
    const s = await until(name, (x) => x.deployments[0].failedTasks >= 1, 'a task failed', 20_000);
    expect(s.runningCount).toBe(0);
    const arns = stoppedArns(name);
    const task = awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', arns[0]!]).tasks[0];
    expect(task).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'TaskFailedToStart' });
    return task.stoppedReason;
  }

  it('a missing manifest in the loopback registry, an unreachable registry, an ECR image of this account that does not exist → CannotPullContainerError', async () => {
    await emu('config', { checkImages: true, rolloutSeconds: 1 });
    const registry = localWorld().registry;
    const closed = await freePort();
    const cases: [string, string, RegExp][] = [
      ['missing', `${registry}/emu-nothing@${NO_DIGEST}`, /not found/],
      ['unreachable', `127.0.0.1:${closed}/emu-web@${NO_DIGEST}`, /failed to do request|refused/i],
      ['ecr', `${FAKE_REPO}:v1`, /not found \(repository emu-web does not exist\)/],
    ];
    for (const [name, image] of cases) {
      createService(net, name, taskDefinition(`emu-${name}`, image), {
        desired: 1,
        breaker: { enable: false, rollback: false },
      });
    }
    for (const [name, image, why] of cases) {
      const reason = await stoppedReason(name);
      expect(reason.startsWith('CannotPullContainerError: ')).toBe(true);
      expect(reason).toContain(image);
      expect(reason).toMatch(why);
    }
  });

  it('failed pulls feed the circuit breaker: FAILED and rolled back', async () => {
    await emu('config', { checkImages: true, rolloutSeconds: 4 });
    awsCli(['ecr', 'create-repository', '--repository-name', 'emu-web']);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: 2,
        digest: `sha256:${'1'.repeat(64)}`,
      },
      layers: [],
    });
    awsCli(['ecr', 'put-image', '--repository-name', 'emu-web', '--image-tag', 'good', '--image-manifest', manifest]);
    const good = taskDefinition('emu-web', `${FAKE_REPO}:good`);
    const gone = taskDefinition('emu-web', `${FAKE_REPO}:deleted`);
    createService(net, 'web', good, { desired: 1 });
    await until('web', completed, 'the pullable image runs', 20_000);
    const upd = updateService('web', '--task-definition', gone);
    const failedId = upd.deployments[0].id;
    const rolled = await until('web', failedDeployment(failedId), 'deployment FAILED', 30_000);
    expect(rolled.taskDefinition).toBe(good);
    expect(rolled.deployments[0].rolloutStateReason).toMatch(/rolling back/);
  });

  it('switched off: the task runs (simulated)', async () => {
    await emu('config', { checkImages: false, rolloutSeconds: 1 });
    createService(net, 'web', taskDefinition('emu-web', `${FAKE_REPO}:v1`), { desired: 1 });
    await until('web', completed, 'completed', 20_000);
  });
});

describe('ELBv2 and ACM rules', () => {
  function loadBalancer(name: string): string {
    return awsCli(['elbv2', 'create-load-balancer', '--name', name, '--subnets', net.subnet]).LoadBalancers[0]
      .LoadBalancerArn;
  }
  const fail = (args: string[]) => {
    try {
      awsCli(args);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`aws ${args.join(' ')} succeeded`);
  };

  it('a rule with more than 5 condition values in total is refused (create-rule, modify-rule); 5 pass', () => {
    const tg = createTargetGroup(net, 'emu-rules');
    const lb = loadBalancer('emu-rules');
    const listener = awsCli([
      'elbv2',
      'create-listener',
      '--load-balancer-arn',
      lb,
      '--protocol',
      'HTTP',
      '--port',
      '18080',
      '--default-actions',
      JSON.stringify([{ Type: 'forward', TargetGroupArn: tg }]),
    ]).Listeners[0].ListenerArn;
    const conditions = (paths: number, hosts: number) =>
      JSON.stringify([
        { Field: 'path-pattern', PathPatternConfig: { Values: Array.from({ length: paths }, (_, i) => `/p${i}/*`) } },
        {
          Field: 'host-header',
          HostHeaderConfig: { Values: Array.from({ length: hosts }, (_, i) => `h${i}.example.com`) },
        },
      ]);
    const rule = (priority: number, c: string) => [
      'elbv2',
      'create-rule',
      '--listener-arn',
      listener,
      '--priority',
      String(priority),
      '--conditions',
      c,
      '--actions',
      JSON.stringify([{ Type: 'forward', TargetGroupArn: tg }]),
    ];
    expect(fail(rule(1, conditions(5, 1)))).toMatch(/ValidationError.*5' condition values/);
    expect(fail(rule(2, conditions(3, 3)))).toMatch(/ValidationError/);
    const ok = awsCli(rule(3, conditions(3, 2))).Rules[0].RuleArn;
    expect(fail(['elbv2', 'modify-rule', '--rule-arn', ok, '--conditions', conditions(4, 2)])).toMatch(
      /ValidationError.*condition values/,
    );
  });

  it('modify-target-group refuses a health-check timeout not below the interval (create-target-group already does)', () => {
    const tg = createTargetGroup(net, 'emu-hc');
    expect(
      fail(['elbv2', 'modify-target-group', '--target-group-arn', tg, '--health-check-timeout-seconds', '30']),
    ).toMatch(/ValidationError.*Health check timeout '30' must be smaller than the interval '30'/);
    expect(
      fail(['elbv2', 'modify-target-group', '--target-group-arn', tg, '--health-check-interval-seconds', '5']),
    ).toMatch(/must be smaller than the interval '5'/);
    const ok = awsCli([
      'elbv2',
      'modify-target-group',
      '--target-group-arn',
      tg,
      '--health-check-interval-seconds',
      '10',
      '--health-check-timeout-seconds',
      '5',
    ]).TargetGroups[0];
    expect(ok).toMatchObject({ HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 5 });
  });

  it('a load balancer name beginning with "internal-" is refused', () => {
    expect(fail(['elbv2', 'create-load-balancer', '--name', 'internal-prod', '--subnets', net.subnet])).toMatch(
      /ValidationError.*cannot begin with 'internal-'/,
    );
    expect(loadBalancer('prod-internal')).toMatch(/^arn:aws:elasticloadbalancing:/);
  });

  it('an HTTPS listener needs an ISSUED ACM certificate of its region: PENDING_VALIDATION → UnsupportedCertificate, unknown → CertificateNotFound', async () => {
    const tg = createTargetGroup(net, 'emu-tls');
    const lb = loadBalancer('emu-tls');
    const pending = awsCli(['acm', 'request-certificate', '--domain-name', 'pending.example.com']).CertificateArn;
    expect(awsCli(['acm', 'describe-certificate', '--certificate-arn', pending]).Certificate.Status).toBe(
      'PENDING_VALIDATION',
    );
    const https = (cert: string) => [
      'elbv2',
      'create-listener',
      '--load-balancer-arn',
      lb,
      '--protocol',
      'HTTPS',
      '--port',
      '18443',
      '--certificates',
      `CertificateArn=${cert}`,
      '--default-actions',
      JSON.stringify([{ Type: 'forward', TargetGroupArn: tg }]),
    ];
    expect(fail(https(pending))).toMatch(/UnsupportedCertificate/);
    const elsewhere = pending.replace(`:${localWorld().region}:`, ':us-west-2:');
    expect(fail(https(elsewhere))).toMatch(/CertificateNotFound/);
    // Validation completes (acmValidationSeconds): the certificate is ISSUED and accepted.
    await emu('config', { acmValidationSeconds: 0 });
    expect(awsCli(['acm', 'describe-certificate', '--certificate-arn', pending]).Certificate.Status).toBe('ISSUED');
    const listener = awsCli(https(pending)).Listeners[0];
    expect(listener.Certificates[0].CertificateArn).toBe(pending);
    const other = awsCli(['acm', 'request-certificate', '--domain-name', 'other.example.com']).CertificateArn;
    await emu('config', { acmValidationSeconds: 600 });
    const other2 = awsCli(['acm', 'request-certificate', '--domain-name', 'other2.example.com']).CertificateArn;
    expect(other).toBeTruthy();
    expect(
      fail([
        'elbv2',
        'modify-listener',
        '--listener-arn',
        listener.ListenerArn,
        '--certificates',
        `CertificateArn=${other2}`,
      ]),
    ).toMatch(/UnsupportedCertificate/);
  });
});
