/** The Docker engine through its API (dockerode): never the `docker` CLI. Loaded lazily. */
import type Docker from 'dockerode';
import { PatchworkError } from '../errors.js';

/** DOCKER_HOST and whether TLS is asked for (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH), as env.ts read them. */
export interface EngineEnv {
  dockerHost?: string | undefined;
  dockerTls?: boolean;
}

/** Where the engine is expected: DOCKER_HOST, else the default socket. */
export function dockerTarget(env: EngineEnv = {}): string {
  return env.dockerHost || 'unix:///var/run/docker.sock';
}

/**
 * A dockerode client for the engine `env` names: a unix socket or plain tcp:// is given to it
 * explicitly; TLS or ssh:// are left to dockerode's own reading of DOCKER_HOST and DOCKER_CERT_PATH.
 */
async function newDockerode(env: EngineEnv): Promise<Docker> {
  const { default: Dockerode } = await import('dockerode');
  const where = directPing(dockerTarget(env), !!env.dockerTls);
  return where ? new Dockerode(where) : new Dockerode();
}

/** Connects and pings (bounded by timeoutMs); no engine → PW_NO_DOCKER. */
export async function connectDocker(timeoutMs = 5_000, env: EngineEnv = {}): Promise<Docker> {
  const docker = await newDockerode(env);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new PatchworkError('PW_NO_DOCKER', `no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw noDocker(err, env);
  } finally {
    if (timer) clearTimeout(timer);
  }
  return docker;
}

function noDocker(err: unknown, env: EngineEnv): PatchworkError {
  return new PatchworkError('PW_NO_DOCKER', `no Docker engine answers at ${dockerTarget(env)} (${reason(err)})`, {
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
export async function reachEngine(timeoutMs = 5_000, env: EngineEnv = {}): Promise<Engine> {
  const target = dockerTarget(env);
  const where = directPing(target, !!env.dockerTls);
  if (!where) {
    const docker = await connectDocker(timeoutMs, env);
    return { target, docker: async () => docker };
  }
  try {
    await ping(where, timeoutMs);
  } catch (err) {
    throw noDocker(err, env);
  }
  let client: Promise<Docker> | undefined;
  return {
    target,
    docker: () => {
      client ??= newDockerode(env);
      return client;
    },
  };
}

type PingTarget = { socketPath: string } | { host: string; port: number };

function directPing(target: string, tls: boolean): PingTarget | null {
  if (target.startsWith('unix://')) return { socketPath: target.slice('unix://'.length) };
  if (tls) return null;
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
