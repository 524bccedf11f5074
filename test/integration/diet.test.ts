/**
 * The deploy diet (issue 21) and history retention (issue 17), on the local world with every AWS
 * rule on (ListTaskDefinitions pages 100 at a time, as ECS does):
 * - a deploy of an already-pushed image costs ≤ 12 AWS calls (the `--json` result's apiCalls), the
 *   poll interval 1 s, and never lists the task definition family;
 * - `rollback --to` makes the same calls with 20 and with 500 revisions in the family;
 * - 2 successful releases, then 12 interrupted deploys (9 Ctrl-C, 3 kill -9 each broken by
 *   `unlock`, so 3 unlock entries): `rollback` goes back to the earlier successful release, whose
 *   task definition was never deregistered; revisions of pruned interrupted runs are.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECSClient, ListTaskDefinitionsCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliRun, isolatedEnv, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld, resetWorld } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const app = `dt${Date.now().toString(36)}`;
const family = `${app}-it-web`;
const cluster = `${app}-it`;
let root = '';
let env: NodeJS.ProcessEnv;
const shas: string[] = [];
const images: string[] = [];

// biome-ignore lint/suspicious/noExplicitAny: JSON result lines
const result = (run: CliRun): any => JSON.parse(run.stdout.trim().split('\n').filter(Boolean).at(-1) ?? '{}');
const cli = (args: string[], timeoutMs = 300_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });
const service = () => awsCli(['ecs', 'describe-services', '--cluster', cluster, '--services', family]).services[0];
const status = (td: string) =>
  awsCli(['ecs', 'describe-task-definition', '--task-definition', td]).taskDefinition.status as string;
/** The calls a run made outside the rollout wait's polls (whose number depends on the world's timing). */
const outsideWait = (byOperation: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(byOperation).filter(([op]) => op !== 'ECS.DescribeServices' && op !== 'ELBv2.DescribeTargetHealth'),
  );

function ecs(): ECSClient {
  const w = localWorld();
  return new ECSClient({
    region: w.region,
    endpoint: w.endpoint,
    credentials: { accessKeyId: w.accessKeyId, secretAccessKey: w.secretAccessKey },
  });
}

/** Grows the family to `n` ACTIVE revisions (copies of the running one, registered through the SDK). */
async function growFamily(n: number): Promise<number> {
  const client = ecs();
  const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', service().taskDefinition]).taskDefinition;
  const input = {
    family,
    containerDefinitions: td.containerDefinitions,
    requiresCompatibilities: td.requiresCompatibilities,
    networkMode: td.networkMode,
    cpu: td.cpu,
    memory: td.memory,
    executionRoleArn: td.executionRoleArn,
    taskRoleArn: td.taskRoleArn,
  };
  let have = 0;
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListTaskDefinitionsCommand({ familyPrefix: family, status: 'ACTIVE', nextToken }),
    );
    have += page.taskDefinitionArns?.length ?? 0;
    nextToken = page.nextToken;
  } while (nextToken);
  const batch: Promise<unknown>[] = [];
  for (let i = have; i < n; i++) {
    batch.push(client.send(new RegisterTaskDefinitionCommand(input)));
    if (batch.length === 8) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  client.destroy();
  return Math.max(have, n);
}

/** Starts `deploy --sha`, and once it registers its task definition (its release is recorded), sends `signal`. */
async function interruptedDeploy(sha: string, signal: 'SIGINT' | 'SIGKILL'): Promise<number | string | null> {
  const child = spawn(process.execPath, [BIN, 'deploy', '--sha', sha, '-e', 'it', '--json'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const code = new Promise<number | string | null>((resolve) => child.once('exit', (c, s) => resolve(c ?? s)));
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (/"register:web"/.test(out)) resolve();
    });
    child.once('exit', () => resolve());
  });
  child.kill(signal);
  const c = await code;
  expect(c, `${signal}: exit ${c}\n${err.slice(-2000)}`).toBe(signal === 'SIGINT' ? 130 : 'SIGKILL');
  return c;
}

beforeAll(async () => {
  await resetWorld({ rolloutSeconds: 3 });
  const world = localWorld();
  env = isolatedEnv({
    AWS_ENDPOINT_URL: world.endpoint,
    AWS_ACCESS_KEY_ID: world.accessKeyId,
    AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
  });
  root = mkdtempSync(join(tmpdir(), 'pw-diet-it-'));
  copyWebapp(root);
  // No alarms: the plain case of the issue (alarms add one DescribeAlarms per poll).
  writeFileSync(
    join(root, 'patchwork.yml'),
    [
      `app: ${app}`,
      `region: ${world.region}`,
      `registry: "${world.registry}"`,
      'services:',
      '  web:',
      '    build: { context: app }',
      '    port: 8080',
      '    healthCheck: { path: /healthz }',
      'environments:',
      '  it: { desiredCount: 1 }',
      'deploy: { pollSeconds: 1, timeoutSeconds: 120, keepReleases: 5 }',
      '',
    ].join('\n'),
  );
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'one');
  shas.push(git(root, 'rev-parse', 'HEAD'));
  const prov = await cli(['provision', '--yes'], 300_000);
  expect(prov.code, prov.stderr).toBe(0);
  const first = await cli(['deploy']);
  expect(first.code, first.stderr).toBe(0);
  images.push(result(first).services[0].image);
  writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${images[0]}\nLABEL patchwork.test.variant="two"\n`);
  git(root, 'commit', '-q', '-am', 'two');
  shas.push(git(root, 'rev-parse', 'HEAD'));
  const second = await cli(['deploy']);
  expect(second.code, second.stderr).toBe(0);
  images.push(result(second).services[0].image);
}, 1_200_000);

afterAll(async () => {
  await emu('config', undefined, 'DELETE').catch(() => {});
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('deploy diet', () => {
  it('a deploy of a pushed image: ≤ 12 AWS calls with a 1 s poll, no family listing, one lock write and one release', async () => {
    await new Promise((r) => setTimeout(r, 1600)); // the world's ECS read lag after the last update
    const run = await cli(['deploy', '--sha', shas[0]!]);
    expect(run.code, run.stderr).toBe(0);
    const calls = run.result.apiCalls!;
    console.log(`deploy of a pushed image: ${calls.total} calls ${JSON.stringify(calls.byOperation)}`);
    expect(calls.total, JSON.stringify(calls.byOperation)).toBeLessThanOrEqual(12);
    expect(calls.byOperation['ECS.ListTaskDefinitions']).toBeUndefined();
    // The lock with the record in progress, then the final record with the lock's release.
    expect(calls.byOperation['DynamoDB.TransactWriteItems']).toBe(2);
    expect(calls.byOperation['DynamoDB.PutItem']).toBeUndefined();
    expect(calls.byOperation['DynamoDB.Query']).toBe(1);
    expect(service().taskDefinition).toBe(result(run).services[0].taskDefinitionArn);
    expect(result(run).release.outcome).toBe('succeeded');
  }, 300_000);

  it('rollback --to makes the same calls with 20 and with 500 revisions in the family (paged like ECS)', async () => {
    expect((await emu('config')).pageTaskDefinitions).toBe(true);
    const counts: { revisions: number; byOperation: Record<string, number>; total: number }[] = [];
    for (const [i, size] of [20, 500].entries()) {
      const revisions = await growFamily(size);
      await new Promise((r) => setTimeout(r, 1600));
      const to = shas[i % 2 === 0 ? 1 : 0]!; // away from what runs
      const run = await cli(['rollback', '--to', to.slice(0, 8)]);
      expect(run.code, run.stderr).toBe(0);
      expect(result(run).sha).toBe(to);
      counts.push({ revisions, ...run.result.apiCalls! });
    }
    console.log(
      `rollback --to: ${counts.map((c) => `${c.revisions} revisions ${c.total} calls ${JSON.stringify(c.byOperation)}`).join(' | ')}`,
    );
    expect(counts[1]!.revisions).toBeGreaterThanOrEqual(500);
    expect(outsideWait(counts[1]!.byOperation)).toEqual(outsideWait(counts[0]!.byOperation));
    expect(counts[1]!.byOperation['ECS.ListTaskDefinitions']).toBeUndefined();
  }, 600_000);

  it('history: 2 successful releases, then 12 interrupted deploys and 3 unlocks → rollback goes back to the earlier one, whose task definition was kept', async () => {
    await new Promise((r) => setTimeout(r, 1600));
    const a = await cli(['deploy', '--sha', shas[0]!]);
    expect(a.code, a.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 1600));
    const b = await cli(['deploy', '--sha', shas[1]!]);
    expect(b.code, b.stderr).toBe(0);
    const earlier = result(a).services[0].taskDefinitionArn as string;
    const current = result(b).services[0].taskDefinitionArn as string;
    // 9 deploys stopped with Ctrl-C and 3 killed (kill -9) and broken by unlock, each after its record.
    for (let i = 0; i < 9; i++) await interruptedDeploy(shas[0]!, 'SIGINT');
    for (let i = 0; i < 3; i++) {
      await interruptedDeploy(shas[0]!, 'SIGKILL');
      const un = await cli(['unlock']);
      expect(un.code, un.stderr).toBe(0);
      expect(result(un).broken).toBeTruthy();
    }
    const before = result(await cli(['releases', '--limit', '100'])).releases as {
      kind: string;
      outcome: string;
      services: { taskDefinitionArn: string | null }[];
    }[];
    expect(before.slice(0, 15).filter((r) => r.kind === 'deploy' && r.outcome === 'interrupted')).toHaveLength(12);
    expect(before.slice(0, 15).filter((r) => r.kind === 'unlock')).toHaveLength(3);
    const noiseRevisions = before
      .slice(0, 15)
      .flatMap((r) => r.services.map((s) => s.taskDefinitionArn))
      .filter((x): x is string => !!x && x !== earlier && x !== current);
    expect(noiseRevisions.length).toBeGreaterThan(0);

    await new Promise((r) => setTimeout(r, 1600));
    const back = await cli(['rollback']);
    expect(back.code, back.stderr).toBe(0);
    expect(result(back).sha).toBe(shas[0]);
    expect(service().taskDefinition).toBe(earlier); // its own revision, re-used: it was never deregistered
    expect(status(earlier)).toBe('ACTIVE');
    expect(status(current)).toBe('ACTIVE');
    // History is bounded (the newest 5 entries and the newest 5 successful releases), and the
    // revisions only pruned interrupted runs named are gone.
    const after = result(await cli(['releases', '--limit', '100'])).releases as { outcome: string }[];
    expect(after.length).toBeLessThanOrEqual(10);
    expect(after.filter((r) => r.outcome === 'succeeded').length).toBeGreaterThanOrEqual(3);
    const gone = noiseRevisions.filter((td) => status(td) === 'INACTIVE');
    expect(gone.length, `deregistered ${gone.length} of ${noiseRevisions.length}`).toBeGreaterThan(0);
    // A second rollback still finds a target: the newer successful release.
    await new Promise((r) => setTimeout(r, 1600));
    const again = await cli(['rollback']);
    expect(again.code, again.stderr).toBe(0);
    expect(result(again).sha).toBe(shas[1]);
  }, 900_000);
});
