/**
 * Environment faults (issue #10, scenario 5), through the built CLI on the local world: each ends
 * with its documented exit code (README, src/lib/errors.ts), one `PW_…: message` line with a
 * `try:` hint, and no stack trace.
 *
 * Already covered elsewhere (not repeated): doctor without credentials / with an unreachable
 * endpoint / without Docker / with a registry that does not answer (integration/aws-foundation),
 * build without Docker (integration/build). Here: the verbs people run in CI (deploy, status,
 * provision) under the same faults, expired credentials (forged by the fault proxy), a region where
 * nothing was provisioned, and a registry that answers but refuses the push.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/lib/errors.js';
import { type FaultProxy, startFaultProxy } from '../faults/proxy.js';
import { type CliRun, isolatedEnv, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, localWorld, resetWorld, waitFor, worldAwsEnv } from '../helpers/localworld.js';

const APP = 'envfault';
const ENV = 'it';
let repo = '';
let config = '';
const world = () => localWorld();
const worldEnv = (extra: Record<string, string | undefined> = {}) =>
  isolatedEnv({ ...worldAwsEnv(), PATCHWORK_REGISTRY: undefined, ...extra });

/** The contract for every failure: documented code and exit, one line, a hint, no stack. */
function expectFailure(run: CliRun, code: keyof typeof ErrorCodes, exit?: number): void {
  const detail = `stdout:\n${run.stdout.slice(-1500)}\nstderr:\n${run.stderr.slice(-1500)}`;
  expect(run.result.error?.code, detail).toBe(code);
  expect(run.code, detail).toBe(exit ?? ErrorCodes[code]);
  expect(run.result.exitCode).toBe(run.code);
  const lines = run.stderr.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${code}: `));
  expect(at, detail).toBeGreaterThanOrEqual(0);
  expect(lines[at + 1], detail).toMatch(/^ {2}try: \S/);
  expect(run.stderr, detail).not.toMatch(/^\s+at /m);
  expect(run.stderr, detail).not.toMatch(/Warning:|TypeError|ReferenceError/);
  expect(String(run.result.error?.hint ?? '')).not.toBe('');
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * A loopback "registry" that answers the Registry API's reads (ping, manifest lookups: 404) but
 * refuses every upload with `status`, or (`refuseAll`) refuses everything.
 */
async function refusingRegistry(
  status: number,
  refuseAll = false,
): Promise<{ server: HttpServer; host: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    const json = (code: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(code, {
        'content-type': 'application/json',
        'docker-distribution-api-version': 'registry/2.0',
        'content-length': String(Buffer.byteLength(text)),
        ...headers,
      });
      res.end(text);
    };
    const refuse = () =>
      json(status, {
        errors: [{ code: status === 401 ? 'UNAUTHORIZED' : 'DENIED', message: `refused by test (${status})` }],
      });
    const url = req.url ?? '';
    if (refuseAll) return refuse();
    if (req.method === 'GET' && (url === '/v2/' || url === '/v2')) return json(200, {});
    if ((req.method === 'HEAD' || req.method === 'GET') && /\/(manifests|blobs)\//.test(url)) {
      return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'not here' }] });
    }
    return refuse();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { server, host: `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, seen };
}

const registries: { server: HttpServer; host: string; seen: string[] }[] = [];

function writeConfig(file: string, registry: string): void {
  writeFileSync(
    file,
    [
      `app: ${APP}`,
      `region: ${world().region}`,
      `registry: "${registry}"`,
      'services:',
      '  web:',
      '    build: { context: app }',
      '    port: 8080',
      'environments:',
      `  ${ENV}: { desiredCount: 1 }`,
      '',
    ].join('\n'),
  );
}

beforeAll(async () => {
  await resetWorld({ runContainers: false });
  registries.push(await refusingRegistry(403), await refusingRegistry(500), await refusingRegistry(401, true));
  // A git repository with a tiny image (FROM scratch: nothing to pull) and one config per registry.
  repo = mkdtempSync(join(tmpdir(), 'pw-envfault-'));
  mkdirSync(join(repo, 'app'));
  writeFileSync(join(repo, 'app', 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
  writeFileSync(join(repo, 'app', 'hello.txt'), 'hello\n');
  config = join(repo, 'patchwork.yml');
  writeConfig(config, world().registry);
  registries.forEach((r, i) => {
    writeConfig(join(repo, `refusing-${i}.yml`), r.host);
  });
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'fixture');
  const prov = await runCli(['provision', '--env', ENV, '--config', config, '--json'], {
    env: worldEnv(),
    cwd: repo,
    timeoutMs: 240_000,
  });
  expect(prov.code, prov.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  await Promise.all(registries.map((r) => new Promise<void>((res) => r.server.close(() => res()))));
});

describe('Docker engine down', () => {
  it('deploy → PW_NO_DOCKER (exit 1), nothing changed in ECS, the lock released', async () => {
    const describe = () =>
      awsCli(['ecs', 'describe-services', '--cluster', `${APP}-${ENV}`, '--services', `${APP}-${ENV}-web`]);
    // Provisioned a moment ago: ECS reads lag behind CreateService (the world's consistencyLagSeconds).
    const before = await waitFor(() => (describe().services[0] ? describe() : undefined), {
      timeoutMs: 10_000,
      what: 'the provisioned service visible',
    });
    const run = await runCli(['deploy', '--env', ENV, '--config', config, '--json', '--timeout', '60s'], {
      env: worldEnv({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' }),
      cwd: repo,
      timeoutMs: 120_000,
    });
    expectFailure(run, 'PW_NO_DOCKER');
    expect(run.stderr).toMatch(/try: start Docker/);
    // No UpdateService / RegisterTaskDefinition happened.
    const ops = Object.keys(run.result.apiCalls?.byOperation ?? {});
    expect(ops.filter((o) => /UpdateService|RegisterTaskDefinition/.test(o))).toEqual([]);
    const after = describe();
    expect(after.services[0].taskDefinition).toBe(before.services[0].taskDefinition);
    // Whether or not deploy took the lock before building, it is not left behind.
    const lock = awsCli([
      'dynamodb',
      'get-item',
      '--table-name',
      `${APP}-${ENV}-patchwork`,
      '--key',
      JSON.stringify({ pk: { S: 'lock' }, sk: { S: 'lock' } }),
    ]);
    expect(lock.Item).toBeUndefined();
  });
});

describe('credentials', () => {
  it.each([
    ['status', ['status']],
    ['provision --dry-run', ['provision', '--dry-run']],
    ['deploy', ['deploy']],
  ])('missing: %s → PW_NO_CREDENTIALS (exit 1)', async (_name, verb) => {
    const run = await runCli([...verb, '--env', ENV, '--config', config, '--json'], {
      env: isolatedEnv({ AWS_ENDPOINT_URL: world().endpoint, AWS_REGION: world().region }),
      cwd: repo,
    });
    expectFailure(run, 'PW_NO_CREDENTIALS');
    expect(run.stderr).toMatch(/try: set AWS_PROFILE/);
    // Nothing changed: at most the lock's write was tried (deploy asks for the lock first), and failed.
    expect(run.result.apiCalls?.mutating ?? 0).toBeLessThanOrEqual(1);
    if (run.result.apiCalls?.mutating) expect(run.result.apiCalls.byOperation['DynamoDB.TransactWriteItems']).toBe(1);
  });

  describe('expired (the fault proxy answers every call with the expired-token error)', () => {
    let proxy: FaultProxy;
    let url = '';
    beforeAll(async () => {
      ({ proxy, url } = await startFaultProxy({
        target: world().endpoint,
        rules: [
          {
            error: {
              code: {
                json: 'ExpiredTokenException',
                query: 'ExpiredToken',
                ec2: 'RequestExpired',
                cbor: 'ExpiredToken',
              },
              status: 400,
              message: 'The security token included in the request is expired',
            },
          },
        ],
      }));
    });
    afterAll(async () => proxy.close());

    it.each([
      ['status', ['status']],
      ['provision --dry-run', ['provision', '--dry-run']],
      ['deploy', ['deploy']],
    ])('%s → PW_CREDENTIALS_EXPIRED (exit 1), not retried', async (_name, verb) => {
      proxy.reset();
      const run = await runCli([...verb, '--env', ENV, '--config', config, '--json'], {
        env: worldEnv({ AWS_ENDPOINT_URL: url }),
        cwd: repo,
        timeoutMs: 120_000,
      });
      expectFailure(run, 'PW_CREDENTIALS_EXPIRED');
      expect(run.stderr).toMatch(/try: refresh them/);
      expect(proxy.errorCount).toBeGreaterThan(0);
      // An expired token is not transient: one attempt per call; nothing changed (at most the lock's
      // write was tried — deploy asks for the lock first — and refused).
      expect(run.result.apiCalls?.attempts).toBe(run.result.apiCalls?.total);
      expect(run.result.apiCalls?.mutating ?? 0).toBeLessThanOrEqual(1);
      if (run.result.apiCalls?.mutating) expect(run.result.apiCalls.byOperation['DynamoDB.TransactWriteItems']).toBe(1);
    });
  });
});

describe('endpoint unreachable', () => {
  it.each([
    ['status', ['status']],
    ['provision --dry-run', ['provision', '--dry-run']],
    ['deploy', ['deploy']],
  ])('%s → PW_ENDPOINT_UNREACHABLE (exit 1) after the retries', async (_name, verb) => {
    const port = await closedPort();
    const run = await runCli([...verb, '--env', ENV, '--config', config, '--json'], {
      env: worldEnv({ AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_MAX_ATTEMPTS: '2' }),
      cwd: repo,
      timeoutMs: 120_000,
    });
    expectFailure(run, 'PW_ENDPOINT_UNREACHABLE');
    expect(run.stderr).toContain(`cannot reach http://127.0.0.1:${port}`);
    expect(run.stderr).toMatch(/try: check AWS_ENDPOINT_URL/);
    expect(run.result.apiCalls?.total).toBeGreaterThanOrEqual(1);
    // Retried (AWS_MAX_ATTEMPTS=2), never more than allowed; calls made in parallel may be cut short
    // by the first failure, so not every call reaches its second attempt.
    const { total = 0, attempts = 0 } = run.result.apiCalls ?? {};
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(2 * total);
  });
});

describe('endpoint that takes the connection and never answers', () => {
  it('status → PW_ENDPOINT_UNREACHABLE after the request timeout (30 s per attempt), not a hang', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      sockets.add(s); // accept, read, never answer
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const run = await runCli(['status', '--env', ENV, '--config', config, '--json'], {
        env: worldEnv({ AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_MAX_ATTEMPTS: '1' }),
        cwd: repo,
        timeoutMs: 120_000,
      });
      expectFailure(run, 'PW_ENDPOINT_UNREACHABLE');
      expect(Date.now() - started).toBeLessThan(90_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  }, 150_000);
});

describe('region', () => {
  const other = () => (world().region === 'eu-north-1' ? 'ap-southeast-2' : 'eu-north-1');

  it('a region where nothing was provisioned: status says so, exit 2, nothing created', async () => {
    const run = await runCli(['status', '--env', ENV, '--config', config, '--json', '--region', other()], {
      env: worldEnv(),
      cwd: repo,
    });
    expectFailure(run, 'PW_NOT_PROVISIONED', 2);
    expect(run.stderr).toMatch(/never provisioned|not provisioned/i);
    expect(run.stderr).toMatch(/try: .*provision/);
    expect(run.result.apiCalls?.mutating).toBe(0);
  });

  it("status in the environment's own region still works (the case above created nothing)", async () => {
    const run = await runCli(['status', '--env', ENV, '--config', config, '--json'], { env: worldEnv(), cwd: repo });
    expect([0, 6]).toContain(run.code);
  });

  it.each([
    ['--region flag', ['--region', 'xx-nowhere-1']],
    ['AWS_REGION with no region in the config', []],
  ])('an invalid region name (%s) → PW_UNKNOWN_REGION (exit 2), no call', async (what, args) => {
    let cfg = config;
    const extra: Record<string, string | undefined> = {};
    if (args.length === 0) {
      cfg = join(repo, 'no-region.yml');
      writeFileSync(
        cfg,
        'app: envfault\nservices: { web: { build: { context: app }, port: 8080 } }\nenvironments: { it: {} }\n',
      );
      extra.AWS_REGION = 'moon-central-1';
      extra.AWS_DEFAULT_REGION = undefined;
    }
    const run = await runCli(['status', '--env', ENV, '--config', cfg, '--json', ...args], {
      env: worldEnv(extra),
      cwd: repo,
    });
    expectFailure(run, 'PW_UNKNOWN_REGION');
    expect(run.result.apiCalls?.total, what).toBe(0);
  });
});

describe('registry refusing the push', () => {
  it.each([
    ['uploads refused with 403', 'PW_PUSH_FAILED', 0],
    ['uploads answered 500 (the engine retries them first)', 'PW_PUSH_FAILED', 1],
    ['everything refused with 401', 'PW_REGISTRY_UNREACHABLE', 2],
  ])('build against a registry with %s → %s (exit 1), no stack', async (what, want, i) => {
    const reg = registries[i as number]!;
    reg.seen.length = 0;
    const run = await runCli(['build', '--env', ENV, '--config', join(repo, `refusing-${i}.yml`), '--json'], {
      env: worldEnv(),
      cwd: repo,
      timeoutMs: 240_000,
    });
    const code = run.result.error?.code as 'PW_PUSH_FAILED' | 'PW_REGISTRY_UNREACHABLE';
    console.info(`registry ${what}: exit ${run.code} ${code}: ${run.result.error?.message}`);
    expect(code, run.stderr).toBe(want);
    expectFailure(run, code);
    // The registry was really asked (the refusal is its answer, not a connection failure).
    expect(reg.seen.length).toBeGreaterThan(0);
    expect(run.stderr).toContain(reg.host);
  });
});
