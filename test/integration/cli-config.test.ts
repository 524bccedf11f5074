/**
 * The CLI contract for bad input, run as a user runs it: exit 2, file:line path, a "try:" hint,
 * and not one connection to AWS (an endpoint that counts connections stands in for AWS). And a
 * signal during an AWS read (an endpoint that never answers): exit 130 (SIGINT) / 143 (SIGTERM).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';

const BAD = join(ROOT, 'test/fixtures/configs/bad');
const GOOD = join(ROOT, 'test/fixtures/configs/good.yml');

let server: Server;
let connections = 0;
let endpoint = '';

beforeAll(async () => {
  server = createServer((sock) => {
    connections++;
    sock.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const env = () =>
  isolatedEnv({ AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });

describe('malformed configs', () => {
  const files = readdirSync(BAD).filter((f) => f.endsWith('.yml'));
  it('has at least 10 cases', () => expect(files.length).toBeGreaterThanOrEqual(10));

  it.each(files)('%s → exit 2 with file:line path and no AWS call', async (file) => {
    const expectLine = readFileSync(join(BAD, file), 'utf8').split('\n')[0]!;
    const m = /code=(\S+) line=(\d+) path=(\S+) message=(.*)$/.exec(expectLine);
    expect(m, `bad expect header in ${file}`).not.toBeNull();
    const [, code, line, path, message] = m!;
    const before = connections;
    const run = await runCli(['deploy', '--env', 'prod', '--config', join(BAD, file), '--json'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.result.ok).toBe(false);
    expect(run.result.exitCode).toBe(2);
    expect(run.result.error?.code).toBe(code);
    const issues = run.result.error?.issues as { line: number; path: string; message: string; file: string }[];
    const issue = issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(issue?.line).toBe(Number(line));
    expect(issue?.message).toContain(message!.trim());
    // People see `file:line path: message` and a hint.
    expect(run.stderr).toContain(`${file}:${line} ${path}: `);
    expect(run.stderr).toMatch(/try: /);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack without --debug
    expect(run.result.apiCalls?.total).toBe(0);
    expect(connections).toBe(before);
  });
});

describe('environments and usage', () => {
  it('patchwork --help lists every verb', async () => {
    const run = await runCli(['--help'], { env: env() });
    expect(run.code).toBe(0);
    for (const verb of [
      'provision',
      'build',
      'deploy',
      'rollback',
      'status',
      'destroy',
      'releases',
      'unlock',
      'init',
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^\\s+${verb}\\s`, 'm'));
    }
  });

  it('an unknown --env lists the known ones and exits 2 without a call', async () => {
    const before = connections;
    const run = await runCli(['deploy', '--env', 'nope', '--config', GOOD], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PW_UNKNOWN_ENV: unknown environment "nope"; ');
    expect(run.stderr).toContain('defines: prod, staging');
    expect(run.stderr).toContain('try: pass --env');
    expect(connections).toBe(before);
  });

  it('--env production suggests the nearest name (prod, by prefix), --service wbe suggests web', async () => {
    const run = await runCli(['deploy', '--env', 'production', '--config', GOOD, '--json'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PW_UNKNOWN_ENV: unknown environment "production" (did you mean prod?)');
    expect(run.stderr).toContain('try: pass --env prod\n');
    expect(run.result.error).toMatchObject({ code: 'PW_UNKNOWN_ENV', suggestion: 'prod' });
    const svc = await runCli(['deploy', '--env', 'prod', '--service', 'wbe', '--config', GOOD], { env: env() });
    expect(svc.code).toBe(2);
    expect(svc.stderr).toContain('PW_UNKNOWN_SERVICE: unknown service "wbe" (did you mean web?)');
    expect(svc.stderr).toContain('try: pass --service web\n');
  });

  it('an unknown verb is PW_USAGE, exit 2, "did you mean", with a JSON result line under --json', async () => {
    const before = connections;
    const run = await runCli(['deplyo', '--env', 'prod'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PW_USAGE: unknown command "deplyo" (did you mean deploy?)');
    expect(run.stderr).toContain('try: patchwork deploy --help');
    expect(run.stderr).not.toContain('Error: command deplyo not found');
    const json = await runCli(['deplyo', '--json'], { env: env() });
    expect(json.code).toBe(2);
    expect(json.result).toMatchObject({
      type: 'result',
      ok: false,
      exitCode: 2,
      command: 'deplyo',
      error: { code: 'PW_USAGE', suggestion: 'deploy' },
    });
    const far = await runCli(['zzzzzz'], { env: env() });
    expect(far.code).toBe(2);
    expect(far.stderr).toContain('PW_USAGE: unknown command "zzzzzz"\n');
    expect(connections).toBe(before);
  });

  it('an unknown flag is PW_USAGE, exit 2, naming the nearest flag (own and global ones)', async () => {
    const run = await runCli(['deploy', '--no-wiat', '--env', 'prod', '--config', GOOD, '--json'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PW_USAGE: unknown flag --no-wiat (did you mean --no-wait?)');
    expect(run.result.error).toMatchObject({
      code: 'PW_USAGE',
      flags: [{ flag: '--no-wiat', suggestion: '--no-wait' }],
    });
    const global = await runCli(['status', '--jsn', '--env', 'prod', '--config', GOOD], { env: env() });
    expect(global.code).toBe(2);
    expect(global.stderr).toContain('unknown flag --jsn (did you mean --json?)');
  });

  it('PATCHWORK_ENV and PATCHWORK_CONFIG stand in for the flags', async () => {
    const run = await runCli(['deploy', '--json'], {
      env: { ...env(), PATCHWORK_ENV: 'nope', PATCHWORK_CONFIG: GOOD },
    });
    expect(run.code).toBe(2);
    expect(run.result.error?.code).toBe('PW_UNKNOWN_ENV');
  });

  it('no --env at all names the choices', async () => {
    const run = await runCli(['status', '--config', GOOD, '--json'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.result.error?.code).toBe('PW_ENV_REQUIRED');
    expect(run.result.error?.environments).toEqual(['prod', 'staging']);
  });

  it('a missing config file points at init', async () => {
    const run = await runCli(['deploy', '--env', 'prod', '--config', '/nonexistent/patchwork.yml'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PW_CONFIG_NOT_FOUND.*\n\s+try: run `patchwork init`/);
  });

  it('an unknown flag is a usage error (exit 2)', async () => {
    const run = await runCli(['deploy', '--env', 'prod', '--config', GOOD, '--bogus', '--json'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.result.error?.code).toBe('PW_USAGE');
  });

  it.each([
    ['deploy', '--timeout', '90x', '--timeout 90x: not a duration'],
    ['deploy', '--lock-wait', '99999h', '--lock-wait 99999h: must be between 0s and 24h'],
    ['rollback', '--timeout', '0s', '--timeout 0s: must be between 1s and 24h'],
    ['rollback', '--lock-wait', 'soon', '--lock-wait soon: not a duration'],
  ])(
    '%s %s %s: a duration flag refuses it (PW_USAGE, exit 2, one line naming the flag, no call)',
    async (verb, flag, value, message) => {
      const before = connections;
      const run = await runCli([verb, '--env', 'prod', '--config', GOOD, flag, value, '--json'], { env: env() });
      expect(run.code, run.stderr).toBe(2);
      expect(run.result.error?.code).toBe('PW_USAGE');
      expect(run.result.error?.message).toBe(message);
      expect(run.stderr.split('\n')).toContain(`PW_USAGE: ${message}`);
      expect(run.stderr).toMatch(/\n\s+try: write it as 90s, 10m or 1h/);
      expect(run.result.apiCalls?.total).toBe(0);
      expect(connections).toBe(before);
    },
  );

  it('duration flags take 90s, 10m, 1h and plain seconds (parsed before the config is read)', async () => {
    // A valid duration gets past the flag parser: the run then fails on the unknown env, not the flag.
    for (const value of ['90s', '10m', '1h', '1m30s', '600']) {
      const run = await runCli(
        ['deploy', '--env', 'nope', '--config', GOOD, '--timeout', value, '--lock-wait', value, '--json'],
        {
          env: env(),
        },
      );
      expect(run.result.error?.code, `${value}: ${run.stderr}`).toBe('PW_UNKNOWN_ENV');
    }
  });

  it('an unknown --region is refused before any call', async () => {
    const before = connections;
    const run = await runCli(['doctor', '--env', 'prod', '--config', GOOD, '--region', 'mars-north-1', '--json'], {
      env: env(),
    });
    expect(run.code).toBe(2);
    expect(run.result.error?.code).toBe('PW_UNKNOWN_REGION');
    expect(connections).toBe(before);
  });

  it('destroy refuses without --yes when there is no terminal', async () => {
    const run = await runCli(['destroy', '--env', 'prod', '--config', GOOD], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PW_CONFIRMATION_REQUIRED');
  });

  it('--debug shows the stack', async () => {
    const run = await runCli(['deploy', '--env', 'nope', '--config', GOOD, '--debug'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/\n\s+at /);
  });

  it('init writes a starter that validates, and refuses to overwrite', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'pw-init-'));
    const first = await runCli(['init', '--app', 'shop'], { env: env(), cwd: dir });
    expect(first.code).toBe(0);
    const text = readFileSync(join(dir, 'patchwork.yml'), 'utf8');
    expect(text).toMatch(/^app: shop/m);
    const again = await runCli(['init'], { env: env(), cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('PW_FILE_EXISTS');
    // The written file is accepted by the same validation every verb runs.
    // (it gets past validation to its first AWS call, which the counting endpoint refuses)
    const check = await runCli(['doctor', '--env', 'prod', '--skip-docker', '--json'], {
      env: { ...env(), AWS_MAX_ATTEMPTS: '1' },
      cwd: dir,
    });
    expect(check.code).toBe(1);
    expect(check.result.error?.code).toBe('PW_ENDPOINT_UNREACHABLE');
  });

  it('init --app Shop_1 names the flag, not a line of a file it never wrote', async () => {
    const { existsSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'pw-init-'));
    const run = await runCli(['init', '--app', 'Shop_1', '--json'], { env: env(), cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PW_USAGE: --app Shop_1: app must be lowercase letters');
    expect(run.stderr).not.toContain('patchwork.yml:');
    expect(run.result.error?.code).toBe('PW_USAGE');
    expect(existsSync(join(dir, 'patchwork.yml'))).toBe(false);
  });

  it('schema prints a JSON Schema that rejects unknown keys', async () => {
    const run = await runCli(['schema'], { env: env() });
    expect(run.code).toBe(0);
    const schema = JSON.parse(run.stdout);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['app', 'region', 'services', 'environments', 'deploy', 'registry']),
    );
  });
});

describe('a signal cancels the command', () => {
  // An endpoint that takes the connection and never answers: the command is stuck in a read.
  let silent: Server;
  let silentUrl = '';
  let seen = 0;
  const held: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((sock) => {
      seen++;
      held.push(sock);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s during an AWS read: PW_INTERRUPTED, exit %i, the command ends by itself',
    async (signal, exit) => {
      const before = seen;
      const child = spawn(process.execPath, [BIN, 'releases', '--env', 'prod', '--config', GOOD, '--json'], {
        env: isolatedEnv({
          AWS_ENDPOINT_URL: silentUrl,
          AWS_ACCESS_KEY_ID: 'testing',
          AWS_SECRET_ACCESS_KEY: 'testing',
        }),
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
      const t0 = Date.now();
      while (seen === before && child.exitCode === null && Date.now() - t0 < 20_000)
        await new Promise((r) => setTimeout(r, 50));
      expect(seen, stderr).toBeGreaterThan(before); // it is waiting on the endpoint now
      const sent = Date.now();
      child.kill(signal);
      const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
      expect(code, stderr).toBe(exit);
      expect(Date.now() - sent).toBeLessThan(10_000); // the read was cut, not waited out (30 s)
      expect(stderr).toMatch(new RegExp(`^PW_INTERRUPTED: interrupted \\(${signal}\\)`, 'm'));
      const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
      expect(result).toMatchObject({ type: 'result', ok: false, exitCode: exit, error: { code: 'PW_INTERRUPTED' } });
      expect(result.apiCalls.mutating).toBe(0);
    },
    60_000,
  );
});

describe('a signal when nobody reads the output (`deploy | cat` and Ctrl-C ends cat too)', () => {
  let silent: Server;
  let silentUrl = '';
  let seen = 0;
  const held: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((sock) => {
      seen++;
      held.push(sock);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it('SIGINT with stderr a closed pipe: no crash on EPIPE, the clean-up runs, exit 130', async () => {
    const child = spawn(process.execPath, [BIN, 'releases', '--env', 'prod', '--config', GOOD, '--json'], {
      env: isolatedEnv({ AWS_ENDPOINT_URL: silentUrl, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const t0 = Date.now();
    while (seen === 0 && child.exitCode === null && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(seen).toBeGreaterThan(0); // it is waiting on the endpoint now
    child.stderr.destroy(); // the reader is gone: the interrupt note meets EPIPE
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
    expect(code, stdout).toBe(130);
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    expect(result).toMatchObject({ type: 'result', exitCode: 130, error: { code: 'PW_INTERRUPTED' } });
  }, 60_000);
});

describe('Ctrl-C of a verb that takes no lock', () => {
  let silent: Server;
  let silentUrl = '';
  let seen = 0;
  const held: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((sock) => {
      seen++;
      held.push(sock);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it('status: the interrupt note does not speak of a deploy lock', async () => {
    const child = spawn(process.execPath, [BIN, 'status', '--env', 'prod', '--config', GOOD], {
      env: isolatedEnv({ AWS_ENDPOINT_URL: silentUrl, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const t0 = Date.now();
    while (seen === 0 && child.exitCode === null && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(seen, stderr).toBeGreaterThan(0);
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/^SIGINT: stopping; press Ctrl-C again/m);
    expect(stderr).not.toMatch(/lock/);
  }, 60_000);
});

describe('the region of the AWS profile', () => {
  it('comes after --region, the config, AWS_REGION and AWS_DEFAULT_REGION; [default] or AWS_PROFILE', async () => {
    // An endpoint that records the SigV4 credential scope (…/<date>/<region>/<service>/…) of each request.
    const regions: string[] = [];
    const http = createHttpServer((req, res) => {
      const m = /Credential=[^/]+\/\d+\/([^/]+)\//.exec(req.headers.authorization ?? '');
      regions.push(m?.[1] ?? '?');
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'AccessDeniedException', message: 'recorded' }));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const addr = http.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'pw-profile-region-'));
      writeFileSync(
        join(dir, 'patchwork.yml'),
        'app: shop\nservices:\n  web:\n    image: nginx:1.27\n    port: 8080\nenvironments:\n  prod: {}\n',
      );
      const cfg = join(dir, 'aws-config');
      writeFileSync(
        cfg,
        '[default]\nregion = eu-west-3\n\n[profile ci]\nregion = ap-southeast-2\naws_access_key_id = testing\naws_secret_access_key = testing\n',
      );
      const run = async (extra: Record<string, string | undefined>, args: string[] = []) => {
        regions.length = 0;
        const r = await runCli(['status', '--env', 'prod', '--json', ...args], {
          cwd: dir,
          env: isolatedEnv({
            AWS_ENDPOINT_URL: url,
            AWS_ACCESS_KEY_ID: 'testing',
            AWS_SECRET_ACCESS_KEY: 'testing',
            AWS_MAX_ATTEMPTS: '1',
            ...extra,
          }),
        });
        return { run: r, regions: [...new Set(regions)] };
      };
      expect((await run({ AWS_CONFIG_FILE: cfg })).regions).toEqual(['eu-west-3']);
      expect(
        (
          await run({
            AWS_CONFIG_FILE: cfg,
            AWS_PROFILE: 'ci',
            AWS_ACCESS_KEY_ID: undefined,
            AWS_SECRET_ACCESS_KEY: undefined,
          })
        ).regions,
      ).toEqual(['ap-southeast-2']);
      expect((await run({ AWS_CONFIG_FILE: cfg, AWS_DEFAULT_REGION: 'us-east-2' })).regions).toEqual(['us-east-2']);
      expect(
        (await run({ AWS_CONFIG_FILE: cfg, AWS_REGION: 'us-west-2' }, ['--region', 'eu-north-1'])).regions,
      ).toEqual(['eu-north-1']);
      // No region anywhere: PW_NO_REGION (exit 2) before any call, the profile named as a way out.
      const none = await run({ AWS_CONFIG_FILE: join(dir, 'missing') });
      expect(none.run.code).toBe(2);
      expect(none.run.result.error?.code).toBe('PW_NO_REGION');
      expect(none.run.stderr).toMatch(/try: .*AWS profile/);
      expect(none.regions).toEqual([]);
    } finally {
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});
