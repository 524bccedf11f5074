/**
 * Progressive delivery on the local world, continued (one provision for all cases): a `linear`
 * release goes live in steps (the load generator on the production listener sees the new sha's
 * share rise step by step); `status` (text and --json) during the bake shows the strategy, the stage
 * and the traffic split; `patchwork rollback` during the bake, while the deploy still holds the
 * lock, returns production traffic to the old revision at once (ECS StopServiceDeployment ROLLBACK),
 * the deploy exits 3 recorded rolled-back and the rollback exits 0 recorded succeeded. The load
 * generator counts 0 failed requests throughout. Bake minutes are scaled (deploymentBakeScale).
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, ROOT, runCli } from '../helpers/cli.js';
import { awsCli, emu, waitFor } from '../helpers/localworld.js';
import { commitRelease, currentSha, lines, loadGenerator, type Sample } from '../helpers/progressive.js';
import { webappProject } from '../helpers/webapp.js';

const app = `pm${Date.now().toString(36)}`;
const cluster = `${app}-it`;
let root = '';
let env: NodeJS.ProcessEnv;
let dns = '';

// At 5 s per minute: each step 5 s, the bake 10 s, the pause hook's timeout (5 min) 25 s.
const SCALE = 5;
const DEPLOY =
  '{ strategy: linear, linear: { stepPercent: 34, stepBakeMinutes: 1 }, bakeMinutes: 2, pollSeconds: 1, timeoutSeconds: 300, smoke: { path: /healthz } }';

const cli = (args: string[], timeoutMs = 600_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });
const commit = (label: string) => commitRelease(root, app, label, DEPLOY);

/** Share (0..1) of `sha` among the samples in consecutive windows of `ms`, from `from` to `to`. */
function shares(samples: Sample[], sha: string, from: number, to: number, ms: number): number[] {
  const out: number[] = [];
  for (let t = from; t < to; t += ms) {
    const w = samples.filter((s) => s.t >= t && s.t < t + ms);
    if (w.length >= 10) out.push(w.filter((s) => s.sha === sha).length / w.length);
  }
  return out;
}

describe('progressive delivery: linear steps, status and rollback during the bake (local world)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    await emu('config', { deploymentBakeScale: SCALE });
    ({ root, env } = webappProject({ app, deploy: DEPLOY, prefix: 'pw-progressive-more-it-' }));
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    dns = awsCli(['elbv2', 'describe-load-balancers', '--names', cluster]).LoadBalancers[0].DNSName;
    const first = await cli(['deploy']);
    expect(first.code, first.stderr).toBe(0);
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 300_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('a linear release goes live in steps: the new sha takes 34%, then 68%, then all, 0 failures', async () => {
    const before = await currentSha(dns);
    const sha = commit('linear');
    const load = loadGenerator(dns);
    const run = await cli(['deploy']);
    const { seen, failed, samples } = await load.stop();
    expect(run.code, run.stderr).toBe(0);
    expect(failed).toBe(0);
    const weights = lines(run.stdout)
      .filter((e) => e.type === 'data' && e.kind === 'deployment.stage')
      .map((e) => e.data.productionWeight as number);
    // Sampled each second, the steps 5 s apart: every step is seen, in order (100 at the bake).
    expect([...new Set(weights)].filter((w) => w > 0)).toEqual([34, 68, 100]);
    // What users saw: only the old sha, then a share of about a third, then two thirds, then all.
    expect(Object.keys(seen).sort()).toEqual([before, sha].sort());
    const firstNew = samples.find((s) => s.sha === sha)!.t;
    const lastOld = samples.findLast((s) => s.sha === before)!.t;
    expect(samples.filter((s) => s.t < firstNew).every((s) => s.sha === before)).toBe(true);
    const share = shares(samples, sha, firstNew, lastOld, 1000);
    expect(share.some((p) => p >= 0.15 && p <= 0.5)).toBe(true);
    expect(share.some((p) => p >= 0.52 && p <= 0.85)).toBe(true);
    // The steps rise: the first third of the shift shares less than its last third.
    const third = Math.max(1, Math.floor(share.length / 3));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(share.slice(0, third))).toBeLessThan(mean(share.slice(-third)));
    // From the end of the shift, only the new sha answers.
    expect(samples.filter((s) => s.t > lastOld).every((s) => s.sha === sha)).toBe(true);
  }, 600_000);

  let deploying: Promise<CliRun> | null = null;
  let load: ReturnType<typeof loadGenerator> | null = null;
  let oldSha = '';
  let newSha = '';

  it('status during the bake: the strategy, the stage and the traffic split (text and --json)', async () => {
    oldSha = await currentSha(dns);
    newSha = commit('baking');
    load = loadGenerator(dns);
    deploying = cli(['deploy']);
    // All production traffic on the new sha (the last 30 answers, 1.5 s): the bake has begun. Hold it
    // (10 s at this scale) long enough to look at it: the world reads the scale at each tick.
    await waitFor(() => (load?.samples.length ?? 0) >= 30 && load!.samples.slice(-30).every((x) => x.sha === newSha), {
      timeoutMs: 300_000,
      intervalMs: 100,
      what: 'all production traffic on the new sha',
    });
    await emu('config', { deploymentBakeScale: 600 });
    const json = await cli(['status']);
    const report = json.result.status as { services: { name: string; delivery?: Record<string, unknown> }[] };
    const svc = report.services.find((s) => s.name === 'web');
    expect(svc?.delivery, json.stdout).toEqual({
      strategy: 'LINEAR',
      status: 'IN_PROGRESS',
      stage: 'BAKE_TIME',
      productionWeight: 100,
      testWeight: 100,
    });
    const text = await runCli(['status', '-e', 'it'], { cwd: root, env, timeoutMs: 120_000 });
    expect(text.stdout + text.stderr).toContain(
      'strategy LINEAR: IN_PROGRESS at BAKE_TIME, production 100% / test 100% to the newest revision',
    );
    expect(await currentSha(dns)).toBe(newSha);
  }, 600_000);

  it('rollback during the bake returns production traffic to the old revision at once: deploy 3, rollback 0', async () => {
    expect(deploying, 'the deploy of the previous case').not.toBeNull();
    // The deploy still holds the lock: the rollback stops ECS's deployment first, then waits for the lock.
    const started = Date.now();
    const rolling = cli(['rollback', '--lock-wait', '3m']);
    const back = await waitFor(
      () => {
        const mine = load!.samples.filter((x) => x.t > started);
        return mine.length >= 10 && mine.slice(-10).every((x) => x.sha === oldSha) ? Date.now() : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'production traffic back on the old sha' },
    );
    // The rollback's own deployment (of the revision now serving) bakes at the usual scale.
    await emu('config', { deploymentBakeScale: SCALE });
    const rb = await rolling;
    const returned = Date.now();
    const dep = await deploying!;
    await new Promise((r) => setTimeout(r, 3000));
    const { failed, samples } = await load!.stop();
    console.error(`production traffic back on the old sha ${(back - started) / 1000} s after the rollback started`);
    // "At once": the CLI's start-up, one ListServiceDeployments and StopServiceDeployment (a loaded machine).
    expect(back - started).toBeLessThan(20_000);
    expect(rb.code, rb.stderr).toBe(0);
    expect(failed).toBe(0);
    expect(lines(rb.stdout).some((e) => e.type === 'log' && /stopped deployment/.test(e.message))).toBe(true);
    // From a second after the rollback returned: only the old sha (it was back long before).
    const after = samples.filter((s) => s.t > returned + 1000);
    expect(after.length).toBeGreaterThan(10);
    expect([...new Set(after.map((s) => s.sha))]).toEqual([oldSha]);
    expect(dep.code, dep.stderr).toBe(3);
    const res = lines(dep.stdout).at(-1);
    expect(res.error.code).toBe('PW_DEPLOY_ROLLED_BACK');
    expect(res.error.message).toMatch(/StopServiceDeployment/);
    expect(res.error.hint).toMatch(/stopped on request/);
    const history = (await cli(['releases'])).result.releases as { sha: string | null; outcome: string }[];
    expect(history.slice(0, 2).map((r) => [r.sha?.slice(0, 12), r.outcome])).toEqual([
      [oldSha, 'succeeded'],
      [newSha, 'rolled-back'],
    ]);
    expect(await currentSha(dns)).toBe(oldSha);
  }, 600_000);
});
