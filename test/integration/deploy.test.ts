/**
 * deploy, rollback, releases and the lock on the local world (moto + the ECS extension's rollout
 * lifecycle, real containers from the loopback registry), observed with the AWS CLI:
 * deploy webapp → exit 0; an image whose container exits → circuit breaker → exit 3 and the
 * service back on the previous task definition; rollback → previous; rollback --to an older sha;
 * unknown --to → exit 2; 5 concurrent deploys → one proceeds, the others exit 5; unlock.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import {
  awsCli,
  DEFAULT_EMULATOR_CONFIG,
  deployLock,
  emu,
  expireDeployLock,
  localWorld,
  lockFromAnotherHost,
} from '../helpers/localworld.js';
import { copyWebapp, webappConfig } from '../helpers/webapp.js';

const app = `dp${Date.now().toString(36)}`;
const fullName = `${app}-it-web`;
/** The image repository: shared by the app's environments (`<app>-<svc>`). */
const repoName = `${app}-web`;
let root = '';
let env: NodeJS.ProcessEnv;
let registry = '';

// biome-ignore lint/suspicious/noExplicitAny: JSON result lines
function result(run: CliRun): any {
  const lines = run.stdout.trim().split('\n').filter(Boolean);
  return JSON.parse(lines[lines.length - 1] ?? '{}');
}
const cli = (args: string[], timeoutMs = 300_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

/** The state table of the test environment, and its lock item as the AWS CLI sees it (undefined when free). */
const table = `${app}-it-patchwork`;
const lockItem = () => deployLock(table);

/**
 * Starts a deploy in the background and returns once it holds the lock. The emulator's rollout is
 * slowed to 30 s first, so the lock stays held while the test looks at it (on a loaded machine
 * one AWS CLI call takes a second or two); `restoreRollout()` puts the default back.
 */
async function deployHoldingLock() {
  await emu('config', { rolloutSeconds: 30 });
  const child = spawn(process.execPath, [BIN, 'deploy', '-e', 'it'], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const t0 = Date.now();
  while (!lockItem() && child.exitCode === null && Date.now() - t0 < 30_000)
    await new Promise((r) => setTimeout(r, 100));
  expect(lockItem(), `no lock seen; the deploy (exit ${child.exitCode}) said:\n${stderr}`).toBeTruthy();
  return child;
}
const restoreRollout = () => emu('config', { rolloutSeconds: DEFAULT_EMULATOR_CONFIG.rolloutSeconds });
const service = () =>
  awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', fullName]).services[0] as {
    taskDefinition: string;
    desiredCount: number;
    runningCount: number;
    deployments: { status: string; taskDefinition: string }[];
  };
const imageOf = (td: string) =>
  awsCli(['ecs', 'describe-task-definition', '--task-definition', td]).taskDefinition.containerDefinitions[0]
    .image as string;

/** Commit a Dockerfile deriving from the first image with a label: a new digest in seconds. */
function commitVariant(base: string, label: string): string {
  writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${base}\nLABEL patchwork.test.variant="${label}"\n`);
  git(root, 'commit', '-q', '-am', label);
  return git(root, 'rev-parse', 'HEAD');
}

describe('deploy / rollback / releases / lock (local world)', () => {
  const shas: string[] = [];
  const tds: string[] = [];
  let firstImage = '';

  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    // The emulator's defaults (every AWS rule on, real containers), whatever an earlier test file set.
    await emu('config', undefined, 'DELETE');
    const world = localWorld();
    registry = world.registry;
    env = isolatedEnv({
      AWS_ENDPOINT_URL: world.endpoint,
      AWS_ACCESS_KEY_ID: world.accessKeyId,
      AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    });
    root = mkdtempSync(join(tmpdir(), 'pw-deploy-it-'));
    copyWebapp(root);
    writeFileSync(
      join(root, 'patchwork.yml'),
      webappConfig({ app, deploy: '{ pollSeconds: 1, timeoutSeconds: 120, keepReleases: 5 }' }),
    );
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
    shas.push(git(root, 'rev-parse', 'HEAD'));
    const prov = await runCli(['provision', '-e', 'it', '--json', '--yes'], { cwd: root, env, timeoutMs: 180_000 });
    expect(prov.code, prov.stderr).toBe(0);
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 200_000);

  it('deploys webapp from the bootstrap placeholder: digest-pinned, running, exit 0', async () => {
    const run = await cli(['deploy']);
    expect(run.code, run.stderr).toBe(0);
    const svc = service();
    expect(svc.taskDefinition).toContain(`:task-definition/${fullName}:`);
    expect(svc.desiredCount).toBe(1);
    expect(svc.runningCount).toBe(1);
    expect(svc.deployments).toHaveLength(1);
    firstImage = imageOf(svc.taskDefinition);
    expect(firstImage).toMatch(new RegExp(`^${registry.replace(/\./g, '\\.')}/${repoName}@sha256:[0-9a-f]{64}$`));
    const tags = awsCli(['ecs', 'list-tags-for-resource', '--resource-arn', svc.taskDefinition]).tags as {
      key: string;
      value: string;
    }[];
    expect(tags.find((t) => t.key === 'patchwork:sha')?.value).toBe(shas[0]);
    tds.push(svc.taskDefinition);
    expect(result(run).release.outcome).toBe('succeeded');
  }, 900_000);

  it('an image whose container exits → circuit breaker → exit 3, service back on the previous task definition', async () => {
    shas.push(commitVariant(firstImage, 'broken'));
    // Build first to learn the digest, and make exactly that image's containers exit.
    const built = await cli(['build']);
    expect(built.code, built.stderr).toBe(0);
    const digest = result(built).images[0].digest as string;
    await emu('failing-images', { image: digest });
    const run = await cli(['deploy']);
    await emu('failing-images', { image: digest }, 'DELETE');
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/PW_DEPLOY_ROLLED_BACK/);
    expect(run.stderr).toMatch(/circuit breaker/);
    expect(service().taskDefinition).toBe(tds[0]);
    // Seen on the first poll after ECS's "deployment failed" event: the watch's `failed` event is at
    // most one poll (1 s) after it at rest (~0.8 s here); on a loaded machine a poll whose calls
    // overrun half an interval makes the fixed schedule skip a slot (one poll more), and the
    // detecting DescribeServices itself is slow: 2 polls + 1 s, so this guards the schedule, not load.
    const seen = run.events.find(
      (e) => e.type === 'log' && /^web: failed \(circuit-breaker\): /.test(String(e.message)),
    );
    expect(seen, run.stdout).toBeTruthy();
    const ecsFailed = (
      awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', fullName]).services[0].events as {
        createdAt: string | number;
        message: string;
      }[]
    ).find((e) => /deployment failed/.test(e.message));
    expect(ecsFailed).toBeTruthy();
    // The CLI prints the wire's epoch seconds (cli_timestamp_format none, v1's default) or ISO 8601.
    const at = ecsFailed!.createdAt;
    const ecsAt = typeof at === 'number' || /^\d+(\.\d+)?$/.test(at) ? Number(at) * 1000 : Date.parse(at);
    const detectedAfter = (Date.parse(String(seen!.time)) - ecsAt) / 1000;
    expect(detectedAfter).toBeGreaterThanOrEqual(-0.05);
    expect(detectedAfter, `seen ${detectedAfter} s after ECS's event`).toBeLessThanOrEqual(2 * 1 + 1);
  }, 300_000);

  it('rollback → the previous successful release (re-using its task definition); --to an older sha', async () => {
    shas.push(commitVariant(firstImage, 'good'));
    const ok = await cli(['deploy']);
    expect(ok.code, ok.stderr).toBe(0);
    tds.push(service().taskDefinition);
    expect(tds[1]).not.toBe(tds[0]);

    const back = await cli(['rollback']);
    expect(back.code, back.stderr).toBe(0);
    expect(result(back).sha).toBe(shas[0]);
    expect(service().taskDefinition).toBe(tds[0]);
    expect(service().runningCount).toBe(1);

    const to = await cli(['rollback', '--to', shas[2]!.slice(0, 8)]);
    expect(to.code, to.stderr).toBe(0);
    expect(service().taskDefinition).toBe(tds[1]);
    const digest = imageOf(tds[1]!).split('@')[1];
    const tasks = await emu(`tasks?service=${fullName}&cluster=${app}-it`);
    expect(JSON.stringify(tasks)).toContain(digest);
  }, 300_000);

  it('rollback --to an unknown or failed sha → exit 2 listing the nearest releases, nothing changed', async () => {
    const before = service().taskDefinition;
    const unknown = await cli(['rollback', '--to', 'abcdef0']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/PW_UNKNOWN_RELEASE.*nearest/);
    const failed = await cli(['rollback', '--to', shas[1]!.slice(0, 10)]);
    expect(failed.code).toBe(2);
    expect(service().taskDefinition).toBe(before);
  }, 60_000);

  it('releases lists history newest first with outcomes', async () => {
    const run = await cli(['releases']);
    expect(run.code, run.stderr).toBe(0);
    const r = result(run);
    const kinds = (r.releases as { kind: string; outcome: string; sha: string }[]).map(
      (x) => `${x.kind}:${x.outcome}:${x.sha.slice(0, 7)}`,
    );
    expect(kinds).toEqual([
      `rollback:succeeded:${shas[2]!.slice(0, 7)}`,
      `rollback:succeeded:${shas[0]!.slice(0, 7)}`,
      `deploy:succeeded:${shas[2]!.slice(0, 7)}`,
      `deploy:rolled-back:${shas[1]!.slice(0, 7)}`,
      `deploy:succeeded:${shas[0]!.slice(0, 7)}`,
    ]);
    expect(r.lock).toBeNull();
  }, 60_000);

  it('5 concurrent deploys: exactly one proceeds, the others exit 5 naming the holder', async () => {
    const runs = await Promise.all(Array.from({ length: 5 }, () => cli(['deploy'])));
    const codes = runs.map((r) => r.code).sort();
    expect(codes, runs.map((r) => r.stderr).join('\n')).toEqual([0, 5, 5, 5, 5]);
    for (const r of runs.filter((x) => x.code === 5))
      expect(r.stderr).toMatch(/PW_LOCK_HELD: the deploy lock is held by .* \(deploy [0-9a-f]{12}, for \d+s/);
  }, 300_000);

  it('with --lock-wait they run one after another', async () => {
    const runs = await Promise.all(Array.from({ length: 3 }, () => cli(['deploy', '--lock-wait', '2m'])));
    expect(
      runs.map((r) => r.code),
      runs.map((r) => r.stderr).join('\n'),
    ).toEqual([0, 0, 0]);
  }, 300_000);

  it('kill -9 during a deploy leaves the lock: a run here takes it over at once (its process is gone); from another host it holds (exit 5) until it expires; unlock breaks it', async () => {
    let child = await deployHoldingLock();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await restoreRollout();
    // The lock names the dead process and this host: the next run here sees it has exited.
    expect(lockItem()?.host?.S).toBeTruthy();
    const here = await cli(['deploy']);
    expect(here.code, here.stderr).toBe(0);
    expect(here.stdout).toMatch(
      /"code":"PW_LOCK_TAKEN_OVER","message":"took over the deploy lock of [^"]*: its process \d+ on this host has exited"/,
    );
    expect(lockItem()).toBeUndefined();

    child = await deployHoldingLock();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await restoreRollout();
    // Seen from another machine, which cannot tell that process has exited.
    lockFromAnotherHost(table);
    const blocked = await cli(['deploy']);
    expect(blocked.code).toBe(5);
    // Time passes: the lock expires (TTL ≥ 60 s; set its expiry into the past rather than sleep).
    expireDeployLock(table, 5000);
    const taken = await cli(['deploy']);
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stdout).toMatch(/"code":"PW_LOCK_TAKEN_OVER"/);
    expect(lockItem()).toBeUndefined();

    // A lock left by someone else, broken deliberately and recorded.
    awsCli([
      'dynamodb',
      'put-item',
      '--table-name',
      table,
      '--item',
      JSON.stringify({
        pk: { S: 'lock' },
        sk: { S: 'lock' },
        holder: { S: 'ghost@ci' },
        command: { S: 'deploy 123' },
        token: { S: 't' },
        startedAt: { N: String(Date.now()) },
        expiresAt: { N: String(Date.now() + 600_000) },
      }),
    ]);
    expect((await cli(['deploy'])).stderr).toMatch(/held by ghost@ci/);
    const un = await cli(['unlock']);
    expect(un.code, un.stderr).toBe(0);
    expect(result(un).broken.holder).toBe('ghost@ci');
    const hist = result(await cli(['releases']));
    expect(hist.releases[0]).toMatchObject({ kind: 'unlock', outcome: 'unlocked' });
    expect(hist.releases.length).toBeLessThanOrEqual(5); // keepReleases
  }, 300_000);

  it('Ctrl-C (SIGINT) during a deploy: exit 130, lock released, release interrupted; --fast is marked in history', async () => {
    const child = await deployHoldingLock();
    // Stop it once its release is recorded (the build is skipped: the registry has HEAD), i.e.
    // during the update or the 30 s rollout wait.
    const inProgress = () =>
      (
        awsCli([
          'dynamodb',
          'query',
          '--table-name',
          table,
          '--key-condition-expression',
          'pk = :p',
          '--filter-expression',
          'outcome = :o',
          '--expression-attribute-values',
          '{":p":{"S":"release"},":o":{"S":"in-progress"}}',
          '--consistent-read',
        ]).Items as unknown[]
      ).length > 0;
    const t0 = Date.now();
    while (!inProgress() && child.exitCode === null && Date.now() - t0 < 30_000)
      await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
    await restoreRollout();
    // The CLI aborts the deploy (no signal re-raised): it ends by itself with exit 130.
    expect(code).toBe(130);
    expect(lockItem()).toBeUndefined();
    const hist = result(await cli(['releases']));
    expect(hist.lock).toBeNull();
    expect(hist.releases[0]).toMatchObject({ kind: 'deploy', outcome: 'interrupted' });
    expect(inProgress()).toBe(false);

    const fast = await cli(['deploy', '--fast']);
    expect(fast.code, fast.stderr).toBe(0);
    expect(result(fast).release).toMatchObject({ fast: true, outcome: 'succeeded' });
  }, 300_000);

  it('an alarm already in ALARM before the deploy does not fail it (PW_ALARM_ALREADY_FIRING); one that fires during the rollout rolls back, exit 3', async () => {
    const before = service().taskDefinition;
    const alarms = awsCli(['cloudwatch', 'describe-alarms', '--alarm-name-prefix', `${app}-it-`]).MetricAlarms as {
      AlarmName: string;
    }[];
    const name = alarms.find((a) => a.AlarmName.startsWith(`${fullName}-`))?.AlarmName;
    expect(name, JSON.stringify(alarms.map((a) => a.AlarmName))).toBeTruthy();
    const setAlarm = (state: 'ALARM' | 'OK') =>
      awsCli([
        'cloudwatch',
        'set-alarm-state',
        '--alarm-name',
        name!,
        '--state-value',
        state,
        '--state-reason',
        'test',
      ]);

    // Already firing before UpdateService: the baseline, named in a warning; the deploy succeeds.
    setAlarm('ALARM');
    const firing = await cli(['deploy']);
    setAlarm('OK');
    expect(firing.code, firing.stderr).toBe(0);
    expect(firing.stdout).toMatch(/"code":"PW_ALARM_ALREADY_FIRING"/);
    expect(firing.stderr).toContain(`PW_ALARM_ALREADY_FIRING: alarm ${name} was already in ALARM`);
    expect(result(firing).release.outcome).toBe('succeeded');
    const deployed = service().taskDefinition;
    expect(deployed).not.toBe(before);

    // OK → ALARM after UpdateService: a failure, patchwork puts the previous release back.
    await emu('config', { rolloutSeconds: 20 }); // the old task drains for 10 s: time to fire the alarm
    const child = spawn(process.execPath, [BIN, 'deploy', '-e', 'it', '--json'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const t0 = Date.now();
    while (!/update service/.test(stderr) && child.exitCode === null && Date.now() - t0 < 120_000)
      await new Promise((r) => setTimeout(r, 200));
    setAlarm('ALARM');
    const code = await exited;
    setAlarm('OK');
    await restoreRollout();
    expect(code, stderr).toBe(3);
    expect(stderr).toMatch(new RegExp(`PW_DEPLOY_ROLLED_BACK: .*alarm in ALARM: ${name}`));
    expect(stdout).not.toMatch(/PW_ALARM_ALREADY_FIRING/);
    expect(service().taskDefinition).toBe(deployed);
    expect(service().deployments).toHaveLength(1);
  }, 600_000);

  it('through a 2 s ECS read-after-write lag a deploy exits 0 and records succeeded (not a false rolled-back)', async () => {
    await emu('config', { consistencyLagSeconds: 2 });
    try {
      const before = service().taskDefinition;
      const run = await cli(['deploy']);
      expect(run.code, run.stderr).toBe(0);
      expect(result(run).release.outcome).toBe('succeeded');
      const now = service();
      expect(now.taskDefinition).not.toBe(before);
      expect(now.deployments).toHaveLength(1);
      const hist = result(await cli(['releases']));
      expect(hist.releases[0]).toMatchObject({ kind: 'deploy', outcome: 'succeeded' });
    } finally {
      await emu('config', { consistencyLagSeconds: DEFAULT_EMULATOR_CONFIG.consistencyLagSeconds });
    }
  }, 300_000);

  it('an image the registry cannot serve → CannotPullContainerError → circuit breaker → exit 3 with the pull error', async () => {
    const before = service().taskDefinition;
    // The registry under another name: deploy's own-registry check does not apply (pinned by digest),
    // and ECS (the emulator) finds no such manifest.
    const port = registry.split(':')[1];
    const missing = `localhost:${port}/${repoName}@sha256:${'e'.repeat(64)}`;
    const run = await cli(['deploy', '--image', missing]);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/PW_DEPLOY_ROLLED_BACK: .*circuit breaker/);
    expect(run.stderr).toMatch(/task stopped: CannotPullContainerError: /);
    expect(result(run).error.stoppedReasons.join('\n')).toContain(missing);
    expect(service().taskDefinition).toBe(before);
  }, 300_000);

  it('--no-build / --sha / --image deploy what the registry has; a missing image is exit 2 with nothing changed', async () => {
    const built = (run: CliRun) =>
      run.events.filter((e) => e.type === 'data' && e.kind === 'image' && (e.data as { built: boolean }).built);
    const nb = await cli(['deploy', '--no-build']);
    expect(nb.code, nb.stderr).toBe(0);
    expect(result(nb)).toMatchObject({ source: 'registry', sha: shas[2] });
    expect(built(nb)).toEqual([]);

    const old = await cli(['deploy', '--sha', shas[0]!]);
    expect(old.code, old.stderr).toBe(0);
    expect(imageOf(service().taskDefinition)).toBe(firstImage);
    expect(built(old)).toEqual([]);

    const pinned = imageOf(tds[1]!);
    const byDigest = await cli(['deploy', '--image', pinned]);
    expect(byDigest.code, byDigest.stderr).toBe(0);
    expect(result(byDigest).source).toBe('image');
    expect(imageOf(service().taskDefinition)).toBe(pinned);
    // A tag in the environment's registry is resolved to its digest.
    const byTag = await cli(['deploy', '--image', `${registry}/${repoName}:${shas[0]}`]);
    expect(byTag.code, byTag.stderr).toBe(0);
    expect(imageOf(service().taskDefinition)).toBe(firstImage);

    const before = service().taskDefinition;
    commitVariant(firstImage, 'never-built');
    const missing = await cli(['deploy', '--no-build']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/PW_IMAGE_NOT_FOUND: web: the registry has no image tagged [0-9a-f]{40}/);
    expect(missing.stderr).toMatch(/try: run `patchwork build`/);
    const noTag = await cli(['deploy', '--image', `${registry}/${repoName}:no-such-tag`]);
    expect(noTag.code).toBe(2);
    expect(noTag.stderr).toMatch(/PW_IMAGE_NOT_FOUND/);
    // Nothing to build: the registry is read before the lock, so a missing image writes nothing
    // (no lock taken, no history record) — only the look-up's reads (ECR DescribeImages on AWS;
    // the local world's registry answers over its own HTTP API).
    for (const run of [missing, noTag]) {
      expect(run.result.apiCalls?.mutating, JSON.stringify(run.result.apiCalls)).toBe(0);
      expect(run.result.apiCalls?.byOperation['DynamoDB.PutItem']).toBeUndefined();
      expect(run.result.apiCalls?.byOperation['DynamoDB.DeleteItem']).toBeUndefined();
    }
    const absentSha = await cli(['deploy', '--sha', '0123456789abcdef0123456789abcdef01234567']);
    expect(absentSha.code).toBe(2);
    expect(absentSha.stderr).toMatch(/PW_IMAGE_NOT_FOUND/);
    expect(absentSha.result.apiCalls?.mutating).toBe(0);
    expect(absentSha.result.apiCalls?.byOperation['DynamoDB.PutItem']).toBeUndefined();
    const external = await cli(['deploy', '--image', 'ghcr.io/example/app:1.0']);
    expect(external.code).toBe(2);
    expect(external.stderr).toMatch(/PW_USAGE: .*not pinned by digest/);
    expect(external.stderr).toMatch(/try: pass it as repository@sha256:<digest>/);
    const malformed = await cli(['deploy', '--image', 'Not An Image']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/PW_USAGE: --image Not An Image is not an image reference/);
    // Both are found before the lock: not one AWS call.
    expect(external.result.apiCalls?.total).toBe(0);
    expect(malformed.result.apiCalls?.total).toBe(0);
    expect(service().taskDefinition).toBe(before);
  }, 300_000);

  it('--sha takes the 12-character prefix `releases` prints (from git) or a 7-character one (from the pushed tags): the release records the full sha; non-hex is exit 2 with no AWS call', async () => {
    const byPrefix = await cli(['deploy', '--sha', shas[2]!.slice(0, 12)]);
    expect(byPrefix.code, byPrefix.stderr).toBe(0);
    expect(result(byPrefix)).toMatchObject({ source: 'registry', sha: shas[2] });
    const tags = awsCli(['ecs', 'list-tags-for-resource', '--resource-arn', service().taskDefinition]).tags as {
      key: string;
      value: string;
    }[];
    expect(tags.find((t) => t.key === 'patchwork:sha')?.value).toBe(shas[2]);
    expect(result(await cli(['releases'])).releases[0]).toMatchObject({
      kind: 'deploy',
      outcome: 'succeeded',
      sha: shas[2],
    });

    // No git to ask (GIT_DIR points nowhere): the registry's tags resolve the prefix.
    const noGit = await runCli(['deploy', '--sha', shas[0]!.slice(0, 7).toUpperCase(), '-e', 'it', '--json'], {
      cwd: root,
      env: { ...env, GIT_DIR: join(root, 'no-such-git-dir') },
      timeoutMs: 300_000,
    });
    expect(noGit.code, noGit.stderr).toBe(0);
    expect(result(noGit).sha).toBe(shas[0]);
    expect(imageOf(service().taskDefinition)).toBe(firstImage);
    expect(result(await cli(['releases'])).releases[0]).toMatchObject({ kind: 'deploy', sha: shas[0] });

    const nonHex = await cli(['deploy', '--sha', 'main']);
    expect(nonHex.code).toBe(2);
    expect(nonHex.stderr).toMatch(/PW_USAGE: --sha "main" is not a git sha/);
    expect(nonHex.result.apiCalls?.total).toBe(0);
  }, 300_000);

  it('the lock is taken before the build: a deploy that finds it held exits 5 without building', async () => {
    // HEAD ('never-built') is not in the registry: the holder builds it under the lock.
    const child = await deployHoldingLock();
    const blocked = await cli(['deploy']);
    expect(blocked.code).toBe(5);
    expect(blocked.events.filter((e) => e.type === 'task' && String(e.id).startsWith('build:'))).toEqual([]);
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    await restoreRollout();
    expect(code).toBe(0);
    expect(lockItem()).toBeUndefined();
  }, 600_000);

  it('deploy.smoke is fetched through the load balancer: passing → recorded; failing → rolled back, exit 3', async () => {
    const config = join(root, 'patchwork.yml');
    const original = readFileSync(config, 'utf8');
    const smoke = (path: string) =>
      writeFileSync(
        config,
        original.replace(
          /^deploy: .*$/m,
          `deploy: { pollSeconds: 1, timeoutSeconds: 120, keepReleases: 5, smoke: { path: ${path}, timeoutSeconds: 4 } }`,
        ),
      );
    try {
      const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-it`]).LoadBalancers[0];
      smoke('/healthz');
      commitVariant(firstImage, 'smoke-ok');
      const ok = await cli(['deploy']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(result(ok).smoke).toMatchObject({ ok: true, status: 200, url: `http://${lb.DNSName}/healthz` });
      const good = service().taskDefinition;

      smoke('/no-such-page');
      commitVariant(firstImage, 'smoke-bad');
      const bad = await cli(['deploy']);
      expect(bad.code, bad.stderr).toBe(3);
      expect(bad.stderr).toMatch(
        /PW_DEPLOY_ROLLED_BACK: .*smoke test GET http:\/\/.*\/no-such-page: answered 404, expected 200/,
      );
      expect(result(bad).error).toMatchObject({ cause: 'smoke', rolledBack: true });
      expect(service().taskDefinition).toBe(good);
      // --fast skips it.
      const fast = await cli(['deploy', '--fast']);
      expect(fast.code, fast.stderr).toBe(0);
      expect(result(fast).smoke).toBeNull();
    } finally {
      writeFileSync(config, original);
    }
  }, 600_000);
});
