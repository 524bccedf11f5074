/**
 * `deploy.smoke.url` with a progressive strategy on the local world, through the CLI. The URL stands
 * for a CDN or a public host name in front of the load balancer: a small HTTP server on loopback
 * that forwards GET /version to the production listener and answers 503 when the revision behind
 * it is the one marked bad. It cannot reach the test listener, so at the pause it would see the old
 * revision and pass; deploy runs it in the bake instead, once production traffic is on the new
 * revision. A passing one lets the release go live (exit 0); a failing one makes deploy stop the
 * deployment (StopServiceDeployment ROLLBACK): exit 3, production back on the old sha, recorded
 * rolled-back. A load generator on the production listener counts 0 failed requests in both.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { awsCli, emu } from '../helpers/localworld.js';
import { commitRelease, currentSha, lines, loadGenerator } from '../helpers/progressive.js';
import { webappProject } from '../helpers/webapp.js';

const app = `ps${Date.now().toString(36)}`;
const cluster = `${app}-it`;
let root = '';
let env: NodeJS.ProcessEnv;
let dns = '';

/** The "CDN": what it forwarded (when, the sha that answered upstream, the status it gave). */
const seenByCdn: { t: number; sha: string; status: number }[] = [];
let badSha = 'none';
let cdn: Server;
let deploy = '';

const cli = (args: string[], timeoutMs = 600_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });
const commit = (label: string) => commitRelease(root, app, label, deploy);

describe('progressive delivery: deploy.smoke.url runs in the bake (local world)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    cdn = createServer((req, res) => {
      fetch(`http://${dns}:80/version`, { signal: AbortSignal.timeout(5000) })
        .then(async (up) => {
          const body = await up.text();
          const sha = (JSON.parse(body) as { sha: string }).sha.slice(0, 12);
          const status = sha === badSha ? 503 : up.status;
          seenByCdn.push({ t: Date.now(), sha, status });
          res.writeHead(status, { 'content-type': 'application/json' }).end(body);
        })
        .catch((err: Error) => res.writeHead(502).end(err.message));
      req.resume();
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    const port = (cdn.address() as { port: number }).port;
    // At 5 s per minute: the bake (2 min) 10 s, beyond the smoke test's 3 s; the pause hook's timeout 25 s.
    deploy = `{ strategy: blue-green, bakeMinutes: 2, pollSeconds: 1, timeoutSeconds: 300, smoke: { url: "http://127.0.0.1:${port}/version", timeoutSeconds: 3 } }`;
    await emu('config', undefined, 'DELETE');
    await emu('config', { deploymentBakeScale: 5 });
    ({ root, env } = webappProject({ app, deploy, prefix: 'pw-progressive-smoke-it-' }));
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    dns = awsCli(['elbv2', 'describe-load-balancers', '--names', cluster]).LoadBalancers[0].DNSName;
    const first = await cli(['deploy']);
    expect(first.code, first.stderr).toBe(0);
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 300_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
    await new Promise<void>((r) => (cdn ? cdn.close(() => r()) : r()));
  }, 400_000);

  it('a passing url smoke test runs with production traffic on the new revision: live, 0 failures', async () => {
    const sha = commit('good');
    const from = Date.now();
    const load = loadGenerator(dns);
    const run = await cli(['deploy']);
    const { failed } = await load.stop();
    expect(run.code, run.stderr).toBe(0);
    const events = lines(run.stdout);
    expect(events.some((e) => e.type === 'warning' && e.code === 'PW_SMOKE_URL_AFTER_TRAFFIC')).toBe(true);
    // It ran once production answered with the new sha (never at the pause, where the old one answers).
    const mine = seenByCdn.filter((r) => r.t >= from);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.sha === sha && r.status === 200)).toBe(true);
    expect(events.at(-1).smoke).toMatchObject({ ok: true, status: 200 });
    expect(failed).toBe(0);
    expect(await currentSha(dns)).toBe(sha);
  }, 600_000);

  it('a failing url smoke test in the bake: StopServiceDeployment ROLLBACK, exit 3, the old sha serves, 0 failures', async () => {
    const before = await currentSha(dns);
    badSha = commit('bad');
    const from = Date.now();
    const load = loadGenerator(dns);
    const run = await cli(['deploy']);
    await new Promise((r) => setTimeout(r, 2000));
    const { failed, samples } = await load.stop();
    expect(run.code, run.stderr).toBe(3);
    const result = lines(run.stdout).at(-1);
    expect(result.error.code).toBe('PW_DEPLOY_ROLLED_BACK');
    expect(result.error.cause).toBe('smoke');
    expect(result.error.message).toMatch(
      /was rolled back on web during the bake \(production traffic returned to the old revision\): smoke test GET http:\/\/127\.0\.0\.1:\d+\/version: answered 503, expected 200/,
    );
    // The smoke test saw only the bad revision (production had moved); users saw it too, then the old again.
    const mine = seenByCdn.filter((r) => r.t >= from);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.sha === badSha && r.status === 503)).toBe(true);
    expect(failed).toBe(0);
    const lastBad = samples.findLast((s) => s.sha === badSha)?.t ?? 0;
    expect(samples.filter((s) => s.t > lastBad).length).toBeGreaterThan(0);
    expect(samples.filter((s) => s.t > lastBad).every((s) => s.sha === before)).toBe(true);
    expect(await currentSha(dns)).toBe(before);
    const history = (await cli(['releases'])).result.releases as { sha: string | null; outcome: string }[];
    expect(history.slice(0, 2).map((r) => [r.sha?.slice(0, 12), r.outcome])).toEqual([
      [badSha, 'rolled-back'],
      [before, 'succeeded'],
    ]);
  }, 600_000);
});
