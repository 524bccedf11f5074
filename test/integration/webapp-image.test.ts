/**
 * The webapp image as patchwork ships it: built from webapp/ with the real Docker engine (the
 * builder image comes from scripts/golang-image.sh, since nothing can be pulled here), then run
 * with host networking on loopback. The `docker` CLI is only an observer here.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = 'patchwork-webapp-it:latest';
const CONTAINER = `patchwork-webapp-it-${process.pid}`;
const GIT_SHA = 'it0123456789';
const BUILD_TIME = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const MAX_IMAGE_BYTES = 8_000_000;

function docker(args: string[], timeoutMs = 120_000): string {
  try {
    return execFileSync('docker', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`docker ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

interface ImageInspect {
  Size: number;
  Config: {
    User: string;
    ExposedPorts?: Record<string, object>;
    Entrypoint: string[] | null;
    Cmd: string[] | null;
    Healthcheck?: { Test: string[] };
  };
}

describe('webapp image', () => {
  let port = 0;
  let base = '';
  let started = false;

  beforeAll(async () => {
    // Idempotent: only the first run on a machine builds golang:<version>.
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 900_000,
    });
    docker(
      [
        'build',
        '--network',
        'host',
        '--build-arg',
        `GIT_SHA=${GIT_SHA}`,
        '--build-arg',
        `BUILD_TIME=${BUILD_TIME}`,
        '-t',
        IMAGE,
        join(ROOT, 'webapp'),
      ],
      300_000,
    );
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
  }, 900_000);

  afterAll(() => {
    if (started) {
      try {
        docker(['rm', '-f', CONTAINER], 30_000);
      } catch {
        // already gone
      }
    }
  });

  it('is small, non-root and exposes only 8080/tcp', () => {
    const [info] = JSON.parse(docker(['image', 'inspect', IMAGE])) as ImageInspect[];
    expect(info).toBeDefined();
    expect(info!.Size).toBeLessThanOrEqual(MAX_IMAGE_BYTES);
    expect(info!.Config.User).toBe('65532:65532');
    expect(Object.keys(info!.Config.ExposedPorts ?? {})).toEqual(['8080/tcp']);
    // CMD, not ENTRYPOINT: a one-off task's command override (`patchwork run -- /webapp -version`) replaces it whole.
    expect(info!.Config.Entrypoint).toBeNull();
    expect(info!.Config.Cmd).toEqual(['/webapp']);
    expect(info!.Config.Healthcheck?.Test).toEqual(['CMD', '/webapp', '-healthcheck']);
  });

  it('starts, answers /healthz and reports its release on /version', async () => {
    docker([
      'run',
      '-d',
      '--name',
      CONTAINER,
      '--network',
      'host',
      '-e',
      `PORT=${port}`,
      '-e',
      'HOST=127.0.0.1',
      '-e',
      'APP_ENV=it',
      '-e',
      'RATE_LIMIT_RPS=1',
      '-e',
      'RATE_LIMIT_BURST=5',
      IMAGE,
    ]);
    started = true;
    await waitFor('/healthz to answer 200', 30_000, async () => {
      const res = await fetch(`${base}/healthz`);
      return res.status === 200 ? true : undefined;
    });

    const res = await fetch(`${base}/version`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = (await res.json()) as Record<string, string>;
    expect(body.sha).toBe(GIT_SHA);
    expect(body.built).toBe(BUILD_TIME);
    expect(body.go).toMatch(/^go1\.\d+/);

    const top = await fetch(`${base}/nope`);
    expect(top.status).toBe(404);
    const post = await fetch(`${base}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  }, 60_000);

  it('runs as uid 65532 and its shell-less HEALTHCHECK reports healthy', async () => {
    expect(docker(['inspect', '-f', '{{.Config.User}}', CONTAINER]).trim()).toBe('65532:65532');
    const health = await waitFor('docker health status healthy', 60_000, async () => {
      const s = docker(['inspect', '-f', '{{.State.Health.Status}}', CONTAINER]).trim();
      if (s === 'unhealthy') throw new Error('container reported unhealthy');
      return s === 'healthy' ? s : undefined;
    });
    expect(health).toBe('healthy');
  }, 90_000);

  it('rate limits a burst with 429 and Retry-After, but never the health checks', async () => {
    const responses = await Promise.all(Array.from({ length: 30 }, () => fetch(`${base}/`)));
    const statuses = responses.map((r) => r.status);
    const limited = responses.filter((r) => r.status === 429);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeGreaterThanOrEqual(20);
    for (const r of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    await Promise.all(responses.map((r) => r.arrayBuffer()));

    const health = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/healthz`)));
    expect(health.map((r) => r.status)).toEqual(Array(20).fill(200));
    await Promise.all(health.map((r) => r.arrayBuffer()));
  }, 60_000);

  it('drains on SIGTERM (docker stop) and exits 0 well inside the drain timeout', async () => {
    const t0 = Date.now();
    docker(['stop', '--time', '25', CONTAINER], 60_000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(20_000);
    expect(docker(['inspect', '-f', '{{.State.ExitCode}}', CONTAINER]).trim()).toBe('0');
    const logs = docker(['logs', CONTAINER]);
    expect(logs).toContain('"msg":"shutdown: draining"');
    expect(logs).toContain('"msg":"shutdown: complete"');
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  }, 90_000);
});
