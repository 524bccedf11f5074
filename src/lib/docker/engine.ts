/** The Docker engine through its API (dockerode): never the `docker` CLI. Loaded lazily. */
import type Docker from 'dockerode';
import { PatchworkError } from '../errors.js';

/** Where the engine is expected: DOCKER_HOST, else the default socket. */
export function dockerTarget(): string {
  return process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

/** Connects and pings (bounded by timeoutMs); no engine → PW_NO_DOCKER. */
export async function connectDocker(timeoutMs = 5_000): Promise<Docker> {
  const { default: Dockerode } = await import('dockerode');
  const docker = new Dockerode();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new PatchworkError('PW_NO_DOCKER', `no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw noDocker(err);
  } finally {
    if (timer) clearTimeout(timer);
  }
  return docker;
}

function noDocker(err: unknown): PatchworkError {
  return new PatchworkError('PW_NO_DOCKER', `no Docker engine answers at ${dockerTarget()} (${reason(err)})`, {
    hint: 'start Docker (`sudo systemctl start docker` or `dockerd`), or set DOCKER_HOST',
    cause: err,
  });
}

function reason(err: unknown): string {
  if (err instanceof PatchworkError) return err.message;
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message?.split('\n')[0] ?? String(err);
}

/** An engine known to answer; the dockerode client is created (and its module loaded) on first use. */
export interface Engine {
  target: string;
  docker(): Promise<Docker>;
}

/**
 * Checks that the engine answers without loading dockerode (~200 ms of module loading), so a
 * command that ends up needing no build (everything already pushed) stays fast. Plain unix
 * sockets and tcp:// without TLS are pinged directly; anything else (TLS, ssh://) goes through
 * dockerode. No engine → PW_NO_DOCKER.
 */
export async function reachEngine(timeoutMs = 5_000): Promise<Engine> {
  const target = dockerTarget();
  const where = directPing(target);
  if (!where) {
    const docker = await connectDocker(timeoutMs);
    return { target, docker: async () => docker };
  }
  try {
    await ping(where, timeoutMs);
  } catch (err) {
    throw noDocker(err);
  }
  let client: Promise<Docker> | undefined;
  return {
    target,
    docker: () => {
      client ??= import('dockerode').then(({ default: Dockerode }) => new Dockerode());
      return client;
    },
  };
}

type PingTarget = { socketPath: string } | { host: string; port: number };

function directPing(target: string): PingTarget | null {
  if (target.startsWith('unix://')) return { socketPath: target.slice('unix://'.length) };
  if (process.env.DOCKER_TLS_VERIFY || process.env.DOCKER_CERT_PATH) return null;
  const m = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(target);
  if (!m) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2] ?? 2375) };
}

async function ping(where: PingTarget, timeoutMs: number): Promise<void> {
  const { request } = await import('node:http');
  await new Promise<void>((resolve, reject) => {
    const req = request({ ...where, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new PatchworkError('PW_NO_DOCKER', `HTTP ${res.statusCode} from /_ping`));
    });
    req.on('timeout', () => req.destroy(new PatchworkError('PW_NO_DOCKER', `no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
