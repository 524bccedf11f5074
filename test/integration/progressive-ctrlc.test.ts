/**
 * Ctrl-C (SIGINT) during a blue-green deploy at the pause (POST_TEST_TRAFFIC_SHIFT, the pre-traffic
 * check still retrying): exit 130, the error names the service deployment, its stage and what ECS
 * does by itself (it rolls back when the PAUSE hook times out), the same facts in --json; the world
 * agrees (DescribeServiceDeployments: at the pause, hook AWAITING_ACTION, then rolled back when the
 * hook times out); the lock is released and the release recorded `interrupted`. Hook timeouts are
 * scaled (deploymentBakeScale).
 */
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { awsCli, emu, waitFor } from '../helpers/localworld.js';
import { commitRelease, lines } from '../helpers/progressive.js';
import { webappProject } from '../helpers/webapp.js';

const app = `pc${Date.now().toString(36)}`;
const cluster = `${app}-it`;
let root = '';
let env: NodeJS.ProcessEnv;
// At 5 s per minute: the pause hook's timeout (5 min) is 25 s.
const SCALE = 5;
const DEPLOY =
  '{ strategy: blue-green, bakeMinutes: 1, pollSeconds: 1, timeoutSeconds: 300, smoke: { path: /healthz, timeoutSeconds: 120 } }';
const cli = (args: string[], timeoutMs = 600_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

describe('progressive delivery: Ctrl-C at the pause (local world)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    await emu('config', { deploymentBakeScale: SCALE });
    ({ root, env } = webappProject({ app, deploy: DEPLOY, prefix: 'pw-progressive-ctrlc-it-' }));
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    const first = await cli(['deploy']);
    expect(first.code, first.stderr).toBe(0);
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 300_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('SIGINT at the pause: exit 130, says ECS rolls back at the hook timeout, and it does', async () => {
    // A pre-traffic check that keeps failing (retried for 120 s): the deploy stays at the pause.
    const sha = commitRelease(root, app, 'paused', `${DEPLOY.slice(0, -2)}, preTraffic: [{ path: /no-such-page }] }`);
    const child = spawn(process.execPath, [BIN, 'deploy', '-e', 'it', '--json'], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    await waitFor(
      () => lines(stdout).some((e) => e.type === 'task' && /through the test listener/.test(JSON.stringify(e))),
      { timeoutMs: 300_000, intervalMs: 200, what: 'the pre-traffic check running at the pause' },
    );
    child.kill('SIGINT');
    const code = await exited;
    expect(code, stderr).toBe(130);
    const res = lines(stdout).at(-1);
    expect(res.error.code).toBe('PW_INTERRUPTED');
    const d = res.error.deployment;
    expect(d).toMatchObject({
      service: 'web',
      status: 'IN_PROGRESS',
      stage: 'POST_TEST_TRAFFIC_SHIFT',
      ecsWill: 'roll-back-at-hook-timeout',
      goesLive: false,
      hookTimeoutMinutes: 5,
    });
    expect(d.serviceDeploymentArn.endsWith(`/${d.serviceDeploymentId}`)).toBe(true);
    expect(res.error.message).toContain(`service deployment ${d.serviceDeploymentId} at POST_TEST_TRAFFIC_SHIFT`);
    expect(res.error.message).toMatch(/ECS rolls back when the hook times out at \d\d:\d\d UTC/);
    expect(res.error.hint).toContain('`patchwork rollback --env it` stops it now');
    expect(res.error.hint).toContain('`patchwork status --env it --watch` follows it');
    expect(stderr).toContain(`service deployment ${d.serviceDeploymentId}`);
    expect(stderr).not.toMatch(/it resumes where it stopped/);
    // The world: still at the pause, its hook waiting, as the error says.
    const now = awsCli(['ecs', 'describe-service-deployments', '--service-deployment-arns', d.serviceDeploymentArn])
      .serviceDeployments[0];
    expect(now.status).toBe('IN_PROGRESS');
    expect(now.lifecycleStage).toBe('POST_TEST_TRAFFIC_SHIFT');
    const hook = now.lifecycleHookDetails.find((h: { status: string }) => h.status === 'AWAITING_ACTION');
    // The AWS CLI prints timestamps as epoch seconds.
    expect(Math.abs(Number(hook.expiresAt) * 1000 - Date.parse(d.hookExpiresAt))).toBeLessThan(1000);
    // ... and ECS rolls back by itself when the hook times out (25 s at this scale).
    const after = await waitFor(
      () => {
        const sd = awsCli(['ecs', 'describe-service-deployments', '--service-deployment-arns', d.serviceDeploymentArn])
          .serviceDeployments[0];
        return sd.status.startsWith('ROLLBACK') ? sd : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000, what: 'ECS rolling back at the hook timeout' },
    );
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(d.hookExpiresAt) - 2000);
    expect(after.status).toMatch(/^ROLLBACK/);
    // Lock released, release recorded interrupted, with what ECS was to do.
    const history = await cli(['releases']);
    expect(history.result.lock ?? null).toBeNull();
    const rel = (history.result.releases as { sha: string | null; outcome: string; reason: string }[])[0]!;
    expect(rel.sha?.slice(0, 12)).toBe(sha);
    expect(rel.outcome).toBe('interrupted');
    expect(rel.reason).toContain('ECS rolls back when the hook times out');
    expect(awsCli(['ecs', 'list-services', '--cluster', cluster]).serviceArns.length).toBeGreaterThan(0);
  }, 600_000);
});
