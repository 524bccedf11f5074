/**
 * Dry-run diffs and the deploy paths that had no test, on the local world (real containers from the
 * loopback registry; observed with the AWS CLI):
 * - `deploy --dry-run --json --exit-code`: nothing changed → exit 0; one env var changed in the
 *   config → exit 6 and exactly that field in the diff (result and `diff` event), no write;
 * - `rollback --dry-run --exit-code` to the running release → exit 0; to another → exit 6, the image;
 * - a release that never becomes healthy (its containers exit; the circuit breaker threshold raised
 *   so it never trips) with `--timeout` → exit 4, `timed-out` in `releases --json`, the new revision
 *   left in place; with `--rollback-on-timeout` → the previous revision back (describe-services) and
 *   the rollback recorded in the release's reason; `--no-wait` → exit 0 and `started`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld, settleEcsReads, waitFor } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const app = `dr${Date.now().toString(36)}`;
const fullName = `${app}-it-web`;
let root = '';
let env: NodeJS.ProcessEnv;

// biome-ignore lint/suspicious/noExplicitAny: JSON lines
type Json = any;
const lines = (run: CliRun): Json[] =>
  run.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const result = (run: CliRun): Json => lines(run).at(-1) ?? {};
const cli = (args: string[], timeoutMs = 300_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

function config(logLevel: string): string {
  const world = localWorld();
  return [
    `app: ${app}`,
    `region: ${world.region}`,
    `registry: "${world.registry}"`,
    'services:',
    '  web:',
    '    build: { context: app }',
    '    port: 8080',
    '    healthCheck: { path: /healthz }',
    `    env: { LOG_LEVEL: ${logLevel}, GREETING: hello }`,
    'environments:',
    '  it: { desiredCount: 1 }',
    'deploy: { pollSeconds: 1, timeoutSeconds: 120, keepReleases: 10 }',
    '',
  ].join('\n');
}
const writeConfig = (logLevel: string) => writeFileSync(join(root, 'patchwork.yml'), config(logLevel));

const service = () =>
  awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', fullName]).services[0] as {
    taskDefinition: string;
    deployments: { status: string; taskDefinition: string; rolloutState?: string }[];
  };
const imageOf = (td: string) =>
  awsCli(['ecs', 'describe-task-definition', '--task-definition', td]).taskDefinition.containerDefinitions[0]
    .image as string;
const newest = async () =>
  result(await cli(['releases'])).releases[0] as { kind: string; outcome: string; reason: string };

/** Commit a Dockerfile deriving from the first image with a label: a new digest in seconds. */
function commitVariant(base: string, label: string): string {
  writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${base}\nLABEL patchwork.test.variant="${label}"\n`);
  git(root, 'commit', '-q', '-am', label);
  return git(root, 'rev-parse', 'HEAD');
}

describe('dry-run diffs; deploy timeout, --rollback-on-timeout, --no-wait (local world)', () => {
  const shas: string[] = [];
  const tds: string[] = [];
  let firstImage = '';

  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    await emu('failing-images', undefined, 'DELETE');
    const world = localWorld();
    env = isolatedEnv({
      AWS_ENDPOINT_URL: world.endpoint,
      AWS_ACCESS_KEY_ID: world.accessKeyId,
      AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    });
    root = mkdtempSync(join(tmpdir(), 'pw-dryrun-it-'));
    copyWebapp(root);
    writeConfig('info');
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
    shas.push(git(root, 'rev-parse', 'HEAD'));
    const prov = await runCli(['provision', '-e', 'it', '--json', '--yes'], { cwd: root, env, timeoutMs: 180_000 });
    expect(prov.code, prov.stderr).toBe(0);
    const first = await cli(['deploy']);
    expect(first.code, first.stderr).toBe(0);
    tds.push(service().taskDefinition);
    firstImage = imageOf(tds[0]!);
    await settleEcsReads();
  }, 1_200_000);

  afterAll(async () => {
    await emu('failing-images', undefined, 'DELETE').catch(() => {});
    await emu('config', undefined, 'DELETE').catch(() => {});
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 200_000);

  it('deploy --dry-run: nothing changed → exit 0 with --exit-code; one env var changed → exit 6 and exactly that field', async () => {
    const same = await cli(['deploy', '--dry-run', '--exit-code']);
    expect(same.code, same.stderr).toBe(0);
    expect(result(same).pending).toBe(false);
    expect(result(same).diff.services).toEqual([
      { service: 'web', taskDefinition: { current: tds[0], next: null }, changes: [], provision: [] },
    ]);
    expect(same.stderr).toMatch(/nothing would change/);

    writeConfig('debug');
    const dry = await cli(['deploy', '--dry-run', '--exit-code']);
    writeConfig('info');
    expect(dry.code, dry.stderr).toBe(6);
    const r = result(dry);
    expect(r.pending).toBe(true);
    expect(r.diff.services).toHaveLength(1);
    expect(r.diff.services[0].changes).toEqual([
      { field: 'env.LOG_LEVEL', change: 'changed', before: 'info', after: 'debug' },
    ]);
    expect(r.diff.services[0].provision).toEqual([]);
    // The same diff as a typed event, and no write to AWS.
    const event = lines(dry).find((e) => e.type === 'data' && e.kind === 'diff');
    expect(event?.data).toEqual(r.diff);
    expect(r.apiCalls?.mutating).toBe(0);
    expect(dry.stderr).toMatch(/~ env\.LOG_LEVEL: "info" → "debug"/);
    expect(service().taskDefinition).toBe(tds[0]);
  }, 300_000);

  it('--sha of an image never pushed: exit 2 PW_IMAGE_NOT_FOUND, dry run or not, and no "would build" line', async () => {
    const sha = 'f'.repeat(40);
    for (const args of [
      ['deploy', '--dry-run', '--sha', sha],
      ['deploy', '--sha', sha],
    ]) {
      const run = await cli(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(/PW_IMAGE_NOT_FOUND: web: the registry has no image tagged f{40}/);
      expect(run.stderr).not.toMatch(/would build/);
    }
    expect(service().taskDefinition).toBe(tds[0]);
  }, 120_000);

  it('rollback --dry-run --exit-code: to the running release → exit 0; to another → exit 6 naming the image', async () => {
    shas.push(commitVariant(firstImage, 'second'));
    const ok = await cli(['deploy']);
    expect(ok.code, ok.stderr).toBe(0);
    tds.push(service().taskDefinition);
    await settleEcsReads();

    const running = await cli(['rollback', '--dry-run', '--exit-code', '--to', shas[1]!.slice(0, 10)]);
    expect(running.code, running.stderr).toBe(0);
    expect(result(running).pending).toBe(false);
    expect(result(running).diff.services[0]).toMatchObject({
      taskDefinition: { current: tds[1], next: tds[1] },
      changes: [],
    });

    const back = await cli(['rollback', '--dry-run', '--exit-code']);
    expect(back.code, back.stderr).toBe(6);
    const r = result(back);
    expect(r.sha).toBe(shas[0]);
    const [digest0, digest1] = [imageOf(tds[0]!), imageOf(tds[1]!)].map((i) => i.split('@')[1]);
    expect(r.diff.services[0].taskDefinition).toEqual({ current: tds[1], next: tds[0] });
    expect(r.diff.services[0].changes).toEqual([
      {
        field: 'image',
        change: 'changed',
        before: { repository: firstImage.split('@')[0], tag: shas[1], digest: digest1 },
        after: { repository: firstImage.split('@')[0], tag: shas[0], digest: digest0 },
      },
    ]);
    expect(r.apiCalls?.mutating).toBe(0);
    expect(service().taskDefinition).toBe(tds[1]);
  }, 300_000);

  it('never healthy with --rollback-on-timeout → exit 4, the previous revision back, the rollback recorded', async () => {
    shas.push(commitVariant(firstImage, 'never-healthy'));
    const built = await cli(['build']);
    expect(built.code, built.stderr).toBe(0);
    const digest = result(built).images[0].digest as string;
    // Its containers exit; the circuit breaker's threshold is out of reach: the rollout never ends.
    await emu('failing-images', { image: digest });
    await emu('config', { failThreshold: 1000 });

    const run = await cli(['deploy', '--timeout', '8s', '--rollback-on-timeout']);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/PW_TIMEOUT: .*timed out after [\d.]+s.*\(rolled back\)/);
    await settleEcsReads();
    expect(service().taskDefinition).toBe(tds[1]);
    const rec = await newest();
    expect(rec).toMatchObject({ kind: 'deploy', outcome: 'timed-out' });
    expect(rec.reason).toContain(`rolled back to ${tds[1]}`);
  }, 300_000);

  it('never healthy within --timeout → exit 4, timed-out in history, the new revision left rolling', async () => {
    const run = await cli(['deploy', '--timeout', '8s']);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/PW_TIMEOUT/);
    expect(run.stderr).not.toMatch(/rolled back/);
    const rec = await newest();
    expect(rec).toMatchObject({ kind: 'deploy', outcome: 'timed-out' });
    expect(rec.reason).toMatch(/^still waiting for web: /);
    await settleEcsReads();
    const svc = service();
    expect(svc.taskDefinition).not.toBe(tds[1]);
    expect(imageOf(svc.taskDefinition)).toContain(result(await cli(['build', '--dry-run'])).images[0].digest);
    // Nothing rolled back: the new deployment is still in progress beside the old one.
    expect(svc.deployments.find((d) => d.status === 'PRIMARY')?.rolloutState).toBe('IN_PROGRESS');
  }, 300_000);

  it('--no-wait → exit 0 right after UpdateService, `started` in history; the rollout goes on', async () => {
    await emu('failing-images', undefined, 'DELETE');
    await emu('config', { failThreshold: null });
    shas.push(commitVariant(firstImage, 'no-wait'));
    const run = await cli(['deploy', '--no-wait']);
    expect(run.code, run.stderr).toBe(0);
    expect(result(run).watch).toBeNull();
    expect(result(run).release.outcome).toBe('started');
    expect(await newest()).toMatchObject({ kind: 'deploy', outcome: 'started' });
    const td = result(run).services[0].taskDefinitionArn as string;
    const settled = await waitFor(
      () => {
        const s = service();
        return s.taskDefinition === td && s.deployments.length === 1 && s;
      },
      { timeoutMs: 60_000, what: 'the --no-wait rollout to complete' },
    );
    expect(settled.deployments[0]?.rolloutState).toBe('COMPLETED');
  }, 300_000);
});
