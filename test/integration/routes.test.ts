/**
 * Routes and listener changes on the local world (real containers behind the emulator's ALB data
 * plane), observed with the AWS CLI and curl-like requests to the load balancer's loopback address:
 * - `/*` listed first and `/api/*` second: the rule priorities put `/api/*` first, and a request for
 *   `/api/...` is answered by api's container (its X-Request-Id prefix is per process);
 * - PW_NO_IMAGE_YET on the first provision, not on one after the deploy;
 * - switching to HTTPS: the dry run lists the :443 listener and the :80 redirect before the :80
 *   rules' deletion, and a client polling port 80 throughout the provision never gets a 404.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const app = `rt${Date.now().toString(36)}`;
const lbName = `${app}-it`;
let root = '';
let env: NodeJS.ProcessEnv;
let dns = '';

// biome-ignore lint/suspicious/noExplicitAny: JSON lines
const lines = (run: CliRun): any[] =>
  run.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const result = (run: CliRun) => lines(run).at(-1);
const warnings = (run: CliRun) =>
  lines(run)
    .filter((e) => e.type === 'warning')
    .map((e) => e.code as string);
const cli = (args: string[], timeoutMs = 300_000) =>
  runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs });

function config(https = ''): string {
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
    '    route: { paths: ["/*"] }',
    '  api:',
    '    build: { context: app }',
    '    port: 8080',
    '    healthCheck: { path: /healthz }',
    '    route: { paths: ["/api/*"] }',
    'environments:',
    `  it: { desiredCount: 1, alarms: ~${https} }`,
    'deploy: { pollSeconds: 1, timeoutSeconds: 180 }',
    '',
  ].join('\n');
}

/** GET through the load balancer's port-80 listener (or a task directly): status and request-id prefix. */
async function get(url: string): Promise<{ status: number; rid: string }> {
  const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return { status: res.status, rid: (res.headers.get('x-request-id') ?? '').split('-')[0]! };
}

const rules = () => {
  const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', lbName]).LoadBalancers[0];
  const listeners = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners as {
    Port: number;
    ListenerArn: string;
  }[];
  return listeners.flatMap((l) =>
    (
      awsCli(['elbv2', 'describe-rules', '--listener-arn', l.ListenerArn]).Rules as {
        Priority: string;
        IsDefault: boolean;
        Conditions: { Field: string; Values?: string[]; PathPatternConfig?: { Values: string[] } }[];
      }[]
    )
      .filter((r) => !r.IsDefault)
      .map((r) => ({
        port: l.Port,
        priority: Number(r.Priority),
        paths: r.Conditions.find((c) => c.Field === 'path-pattern')?.PathPatternConfig?.Values ?? [],
      }))
      .sort((a, b) => a.port - b.port || a.priority - b.priority),
  );
};

describe('routes by specificity and listener changes without a 404 window (local world)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    const world = localWorld();
    env = isolatedEnv({
      AWS_ENDPOINT_URL: world.endpoint,
      AWS_ACCESS_KEY_ID: world.accessKeyId,
      AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    });
    root = mkdtempSync(join(tmpdir(), 'pw-routes-it-'));
    copyWebapp(root);
    writeFileSync(join(root, 'patchwork.yml'), config());
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
  }, 1_200_000);

  afterAll(async () => {
    await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  }, 200_000);

  it('`/*` listed before `/api/*`: api gets the lower priority and answers /api/...; PW_NO_IMAGE_YET only before the deploy', async () => {
    const prov = await cli(['provision', '--yes'], 240_000);
    expect(prov.code, prov.stderr).toBe(0);
    expect(warnings(prov).filter((c) => c === 'PW_NO_IMAGE_YET')).toHaveLength(2);
    const [first, second] = rules();
    expect(first!.paths).toEqual(['/api/*']);
    expect(second!.paths).toEqual(['/*']);
    expect(first!.priority).toBeLessThan(second!.priority);

    const dep = await cli(['deploy'], 600_000);
    expect(dep.code, dep.stderr).toBe(0);
    dns = awsCli(['elbv2', 'describe-load-balancers', '--names', lbName]).LoadBalancers[0].DNSName;
    const addressOf = async (svc: string) =>
      ((await emu(`tasks?service=${app}-it-${svc}&cluster=${app}-it`)).tasks as { address: string }[])[0]!.address;
    const apiDirect = await get(`http://${await addressOf('api')}/healthz`);
    const webDirect = await get(`http://${await addressOf('web')}/healthz`);
    expect(apiDirect.rid).not.toBe(webDirect.rid);
    const viaLbApi = await get(`http://${dns}/api/orders`);
    expect(viaLbApi.rid).toBe(apiDirect.rid); // api's own 404 (its routes are /, /healthz, …): api answered
    const viaLbRoot = await get(`http://${dns}/`);
    expect(viaLbRoot).toEqual({ status: 200, rid: webDirect.rid });

    const again = await cli(['provision', '--yes'], 240_000);
    expect(again.code, again.stderr).toBe(0);
    expect(warnings(again)).not.toContain('PW_NO_IMAGE_YET');
    expect(result(again).applied).toBe(0);
  }, 900_000);

  it('switching to HTTPS: the plan orders create before delete, and port 80 never answers 404 meanwhile', async () => {
    await emu('config', { acmValidationSeconds: 0 });
    const cert = awsCli(['acm', 'request-certificate', '--domain-name', 'shop.example.com']).CertificateArn;
    writeFileSync(join(root, 'patchwork.yml'), config(`, https: { certificateArn: "${cert}" }`));

    const dry = await cli(['provision', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const steps = (result(dry).plan.changes as { kind: string; name: string; action: string; step: number }[])
      .filter((c) => c.action !== 'noop' && c.kind.startsWith('listener'))
      .sort((a, b) => a.step - b.step)
      .map((c) => `${c.action} ${c.kind} ${c.name.replace(`${app}-it`, '')}`);
    expect(steps).toEqual([
      'create listener :443',
      'create listener-rule -api:443',
      'create listener-rule -web:443',
      'update listener :80',
      'delete listener-rule -api:80',
      'delete listener-rule -web:80',
    ]);
    // The human plan lists them in that order too.
    const human = await runCli(['provision', '-e', 'it', '--dry-run'], { cwd: root, env });
    const order = human.stdout
      .concat(human.stderr)
      .split('\n')
      .filter((l) => /listener/.test(l) && /^\s+[+~-] /.test(l));
    expect(order.findIndex((l) => l.includes(':443'))).toBeLessThan(
      order.findIndex((l) => l.includes('- listener-rule')),
    );

    const seen = new Map<number, number>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const { status } = await get(`http://${dns}/`).catch(() => ({ status: -1, rid: '' }));
        seen.set(status, (seen.get(status) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const run = await cli(['provision', '--yes'], 240_000);
    await new Promise((r) => setTimeout(r, 300));
    polling = false;
    await poller;
    expect(run.code, run.stderr).toBe(0);
    const counts = Object.fromEntries(seen);
    expect(counts[404], JSON.stringify(counts)).toBeUndefined();
    expect(counts[-1], JSON.stringify(counts)).toBeUndefined();
    expect(counts[200], JSON.stringify(counts)).toBeGreaterThan(0);
    expect(counts[301], JSON.stringify(counts)).toBeGreaterThan(0);
    expect(rules().map((r) => [r.port, r.paths[0]])).toEqual([
      [443, '/api/*'],
      [443, '/*'],
    ]);
    expect(readFileSync(join(root, 'patchwork.yml'), 'utf8')).toContain(cert);
  }, 600_000);
});
