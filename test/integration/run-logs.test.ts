/**
 * `run` and `logs` on the local world with the webapp deployed (real containers, the awslogs driver
 * shipping their output into CloudWatch Logs): a one-off task's output and exit code, a task that
 * cannot pull, Ctrl-C while run waits (in a pty: both answers to its question; without a terminal),
 * the access lines of requests made through the load balancer (then followed), a deploy.preDeploy
 * task that fails before anything is rolled out, and a release that exits at start (deploy and
 * status show its stopped task's last log lines, also under read-only.json).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { createIamUser, fillPolicy } from '../helpers/iam-users.js';
import { awsCli, emu, localWorld, waitFor } from '../helpers/localworld.js';
import { runInPty } from '../helpers/pty.js';
import { dockerOk, findGo, taskImage } from '../helpers/task-image.js';
import { copyWebapp, webappConfig } from '../helpers/webapp.js';

const GO = findGo();
const app = `rl${Date.now().toString(36)}`;
let root = '';
let env: NodeJS.ProcessEnv;
let lbUrl = '';

const cli = (args: string[], timeoutMs = 120_000): Promise<CliRun> =>
  runCli([...args.slice(0, 1), '-e', 'it', ...args.slice(1)], { cwd: root, env, timeoutMs });

describe.skipIf(!GO || !dockerOk())('run and logs (local world)', () => {
  let image = '';

  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    const world = localWorld();
    env = isolatedEnv({
      AWS_ENDPOINT_URL: world.endpoint,
      AWS_ACCESS_KEY_ID: world.accessKeyId,
      AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    });
    root = mkdtempSync(join(tmpdir(), 'pw-run-logs-'));
    copyWebapp(root);
    writeFileSync(
      join(root, 'patchwork.yml'),
      webappConfig({ app, deploy: '{ pollSeconds: 1, timeoutSeconds: 120 }' }),
    );
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
    const prov = await runCli(['provision', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 180_000 });
    expect(prov.code, prov.stderr).toBe(0);
    const dep = await runCli(['deploy', '-e', 'it'], { cwd: root, env, timeoutMs: 600_000 });
    expect(dep.code, dep.stderr).toBe(0);
    image = taskImage(GO!);
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-it`]).LoadBalancers[0];
    lbUrl = `http://${lb.DNSName}`;
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 200_000);

  it('run -- /webapp -version prints the version and exits 0; a started task is tagged startedBy patchwork', async () => {
    const r = await cli(['run', '--', '/webapp', '-version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^webapp sha=[0-9a-f]{40} built=\S+ go=go\S+$/m);
    const j = await cli(['run', '--json', '--', '/webapp', '-version']);
    expect(j.code, j.stderr).toBe(0);
    expect(j.result).toMatchObject({ ok: true, exitCode: 0, stopCode: 'EssentialContainerExited', oneOff: false });
    expect((j.result.tail as string[]).join('\n')).toMatch(/webapp sha=/);
    const task = awsCli(['ecs', 'describe-tasks', '--cluster', `${app}-it`, '--tasks', j.result.taskArn as string])
      .tasks[0];
    expect(task.startedBy).toBe('patchwork');
    expect(task.taskDefinitionArn).toBe(
      awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', `${app}-it-web`]).services[0]
        .taskDefinition,
    );
  }, 240_000);

  it('a command exiting 7 makes run exit 7 (a one-off revision with --image, tagged one-off)', async () => {
    const r = await cli(['run', '--json', '--image', image, '--', '/task', 'say', 'migrating', 'exit', '7']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.result).toMatchObject({ exitCode: 7, oneOff: true });
    expect(r.events.some((e) => e.kind === 'log.line' && (e.data as { message: string }).message === 'migrating')).toBe(
      true,
    );
    const tags = awsCli(['ecs', 'list-tags-for-resource', '--resource-arn', r.result.taskDefinition as string]).tags;
    expect(tags).toContainEqual({ key: 'patchwork:one-off', value: 'true' });
  }, 240_000);

  it('a task that cannot pull its image exits 1 with CannotPullContainerError', async () => {
    const missing = image.replace(/@sha256:[0-9a-f]{64}$/, `@sha256:${'0'.repeat(64)}`);
    const r = await cli(['run', '--image', missing, '--', '/task']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not run: CannotPullContainerError: /);
  }, 240_000);

  describe('Ctrl-C while run waits for its task', () => {
    const task = (arn: string) =>
      awsCli(['ecs', 'describe-tasks', '--cluster', `${app}-it`, '--tasks', arn]).tasks[0] as {
        lastStatus: string;
        desiredStatus: string;
      };
    const arnIn = (out: string) => /arn:aws:ecs:[^\s]+:task\/[^\s]+/.exec(out)?.[0] ?? '';
    const long = (...flags: string[]) => [
      'run',
      '-e',
      'it',
      '--image',
      image,
      ...flags,
      '--',
      '/task',
      'say',
      'started',
      'sleep',
      '120',
    ];
    const prompt = /Stop task [0-9a-f-]+\? \[Y\/n\] $/;

    it("in a terminal it asks; 'n' leaves the task running and says how to follow and stop it (exit 0)", async () => {
      const r = await runInPty(long(), { cwd: root, env, interruptOn: /^started$/m, prompt, answer: 'n' });
      expect(r.code, r.plain).toBe(0);
      const m = /task ([0-9a-f-]+) left running: (arn:\S+)/.exec(r.plain);
      expect(m, r.plain).not.toBeNull();
      const [, id, arn] = m!;
      expect(r.plain).toContain(`Stop task ${id}? [Y/n]`);
      expect(r.plain).toContain(`patchwork logs --env it --service web --task ${id} --follow`);
      expect(r.plain).toContain(`aws ecs stop-task --cluster ${app}-it --task ${arn}`);
      expect(task(arn!)).toMatchObject({ lastStatus: 'RUNNING', desiredStatus: 'RUNNING' });
      awsCli(['ecs', 'stop-task', '--cluster', `${app}-it`, '--task', arn!]);
    }, 240_000);

    it("in a terminal 'y' (and a second Ctrl-C at the question) stops the task and waits until STOPPED (exit 130)", async () => {
      for (const answer of ['y', '\x03']) {
        const r = await runInPty(long(), { cwd: root, env, interruptOn: /^started$/m, prompt, answer });
        const where = `answer ${JSON.stringify(answer)}:\n${r.plain.slice(-1500)}`;
        expect(r.code, where).toBe(130);
        expect(r.plain, where).toMatch(/Stop task [0-9a-f-]+\? \[Y\/n\]/);
        const id = /PW_INTERRUPTED: interrupted \(SIGINT\) and task ([0-9a-f-]+) stopped$/m.exec(r.plain)?.[1];
        expect(id, where).toBeDefined();
        expect(r.plain, where).toContain(`task ${id} is STOPPED`);
        // It was STOPPED before the CLI exited: no wait here.
        expect(task(id!).lastStatus).toBe('STOPPED');
      }
    }, 300_000);

    it('without a terminal Ctrl-C (SIGINT) stops the task at once, asking nothing (exit 130)', async () => {
      const child = spawn(process.execPath, [BIN, ...long('--json')], { cwd: root, env, stdio: 'pipe' });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      const exited = new Promise<number | null>((r) => child.on('exit', r));
      await waitFor(() => out.includes('"message":"started"'), { timeoutMs: 60_000, what: 'the task to start' });
      child.kill('SIGINT');
      expect(await exited, err).toBe(130);
      expect(err).not.toContain('Stop task');
      const arn = arnIn(out);
      expect(arn).not.toBe('');
      expect(task(arn).desiredStatus).toBe('STOPPED');
      await waitFor(() => task(arn).lastStatus === 'STOPPED', { timeoutMs: 60_000, what: 'the task to stop' });
    }, 240_000);
  });

  it('logs --since 5m shows the access lines of requests made through the load balancer; --follow a new one', async () => {
    const marker = `/pw-logs-${Date.now()}`;
    expect((await fetch(`${lbUrl}${marker}`)).status).toBe(404);
    const shown = await waitFor(
      async () => {
        const r = await cli(['logs', '--since', '5m']);
        return r.code === 0 && r.stdout.includes(marker) ? r : false;
      },
      { timeoutMs: 30_000, intervalMs: 1000, what: 'the access line in logs' },
    );
    expect(shown.stdout).toMatch(new RegExp(`web/[0-9a-f]{8} web \\| .*"msg":"request".*"path":"${marker}"`));
    const j = await cli(['logs', '--since', '5m', '--json', '--filter', marker.slice(1)]);
    const lines = j.events.filter((e) => e.kind === 'log.line').map((e) => e.data as { message: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.message.includes(marker))).toBe(true);

    // --follow: a request made while following shows within 2 poll intervals (pollSeconds: 1).
    const child = spawn(process.execPath, [BIN, 'logs', '-e', 'it', '--since', '1m', '--follow'], { cwd: root, env });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    try {
      await waitFor(() => out.includes(marker), { timeoutMs: 20_000, what: 'the first poll' });
      const next = `/pw-follow-${Date.now()}`;
      const t0 = Date.now();
      await fetch(`${lbUrl}${next}`);
      await waitFor(() => out.includes(next), { timeoutMs: 10_000, intervalMs: 50, what: 'the new line' });
      // Within 2 poll intervals (pollSeconds 1: 2 s) plus the world's log shipping: the app writes
      // access lines in 100 ms batches and the awslogs shipper puts them every 0.2 s; from a request
      // to its line in FilterLogEvents measured 110–230 ms on this world (8 requests), so 500 ms.
      const SHIPPING_ALLOWANCE_MS = 500;
      expect(Date.now() - t0).toBeLessThanOrEqual(2 * 1000 + SHIPPING_ALLOWANCE_MS);
      expect(out.split(next).length - 1).toBe(1);
    } finally {
      child.kill('SIGINT');
    }
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
  }, 240_000);

  it('a failing deploy.preDeploy leaves the service on its old revision: exit 3, recorded failed with the output', async () => {
    const sha = git(root, 'rev-parse', 'HEAD');
    const svc = () =>
      awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', `${app}-it-web`]).services[0];
    const before = svc().taskDefinition;
    writeFileSync(
      join(root, 'patchwork.yml'),
      webappConfig({
        app,
        deploy: '{ pollSeconds: 1, timeoutSeconds: 120, preDeploy: [{ command: ["/webapp", "-no-such-flag"] }] }',
      }),
    );
    git(root, 'commit', '-q', '-am', 'preDeploy that fails');
    const r = await cli(['deploy', '--json', '--sha', sha], 300_000);
    expect(r.code, r.stderr).toBe(3);
    expect(r.result.error).toMatchObject({ code: 'PW_PREDEPLOY_FAILED', exitCode: 3, taskExitCode: 2 });
    expect(svc().taskDefinition).toBe(before);
    expect(svc().deployments).toHaveLength(1);
    const rel = await cli(['releases', '--json']);
    const last = (rel.result.releases as { outcome: string; reason: string | null }[])[0]!;
    expect(last.outcome).toBe('failed');
    expect(last.reason).toMatch(
      /preDeploy \/webapp -no-such-flag on web exited 2; output:\n.*flag provided but not defined: -no-such-flag/s,
    );
  }, 400_000);

  it('a release that exits at start: deploy exits 3 showing its stopped task and last log lines; status, while it crash-loops, exits 6 with the same', async () => {
    // The first commit's image is pushed (the commits after it only change patchwork.yml).
    const sha = git(root, 'rev-list', '--max-parents=0', 'HEAD');
    // The webapp refuses a bad LOG_LEVEL: it prints why on stderr and exits 2 before listening.
    writeFileSync(
      join(root, 'patchwork.yml'),
      webappConfig({ app, deploy: '{ pollSeconds: 1, timeoutSeconds: 120 }' }).replace(
        '    healthCheck: { path: /healthz }\n',
        '    healthCheck: { path: /healthz }\n    env: { LOG_LEVEL: bogus }\n',
      ),
    );
    git(root, 'commit', '-q', '-am', 'a release that exits at start');
    const crash = 'LOG_LEVEL="bogus": expected debug, info, warn or error';
    const r = await cli(['deploy', '--sha', sha], 300_000);
    expect(r.code, r.stderr).toBe(3);
    // Progress lines (no terminal: plain lines on stdout), then the error line on stderr.
    expect(r.stdout).toMatch(/web: stopped task [0-9a-f-]+: Essential container in task exited \(exit code 2\)/);
    expect(r.stdout).toMatch(/web: {3}its last \d+ log line\(s\):/);
    expect(r.stdout).toContain(`web:   | ${crash}`);
    expect(r.stderr).toMatch(/^PW_DEPLOY_ROLLED_BACK: /);
    // --json: the same lines as log events, and the task in the error's data.
    const j = await cli(['deploy', '--json', '--sha', sha], 300_000);
    expect(j.code, j.stderr).toBe(3);
    expect(j.result.error).toMatchObject({
      code: 'PW_DEPLOY_ROLLED_BACK',
      failedTask: { stopCode: 'EssentialContainerExited', exitCode: 2, logError: null },
    });
    expect((j.result.error as { failedTask: { logTail: string[] } }).failedTask.logTail).toContain(crash);
    expect(j.events.some((e) => e.type === 'log' && e.message === `web:   | ${crash}`)).toBe(true);

    // Without the breaker tripping (the world's threshold raised) the service keeps crash-looping.
    await emu('config', { failThreshold: 1000 });
    try {
      const started = await cli(['deploy', '--sha', sha, '--no-wait'], 300_000);
      expect(started.code, started.stderr).toBe(0);
      const j = await waitFor(
        async () => {
          const st = await cli(['status', '--json']);
          const web = (st.result.status as { services: { stoppedTask: { logTail: string[] } | null }[] })?.services[0];
          return st.code === 6 && web?.stoppedTask?.logTail.includes(crash) ? st : false;
        },
        { timeoutMs: 60_000, intervalMs: 2000, what: 'status to show the crashed task' },
      );
      const web = (j.result.status as { services: { stoppedTask: Record<string, unknown> }[] }).services[0]!;
      expect(web.stoppedTask).toMatchObject({ stopCode: 'EssentialContainerExited', exitCode: 2, logError: null });
      // Under read-only.json (IAM evaluated by the world): ListTasks, DescribeTasks and GetLogEvents allowed.
      const reader = createIamUser(`pw-ro-${app}`, {
        inline: [
          fillPolicy(JSON.parse(readFileSync(join(ROOT, 'examples', 'iam', 'read-only.json'), 'utf8')), {
            account: '123456789012',
            region: localWorld().region,
            app,
            env: 'it',
          }),
        ],
      });
      const ro = await runCli(['status', '-e', 'it', '--json'], {
        cwd: root,
        env: { ...env, AWS_ACCESS_KEY_ID: reader.accessKeyId, AWS_SECRET_ACCESS_KEY: reader.secretAccessKey },
      });
      expect(ro.code, ro.stderr).toBe(6);
      const roWeb = (ro.result.status as { services: { stoppedTask: { logTail: string[]; logError: null } }[] })
        .services[0]!;
      expect(roWeb.stoppedTask.logError).toBeNull();
      expect(roWeb.stoppedTask.logTail).toContain(crash);
      const text = await cli(['status']);
      expect(text.code).toBe(6);
      expect(text.stdout).toMatch(
        / {4}stopped task [0-9a-f-]+ at \S+: Essential container in task exited \(exit code 2\)/,
      );
      expect(text.stdout).toContain(`      | ${crash}`);
    } finally {
      await emu('config', undefined, 'DELETE');
    }
  }, 600_000);
});
