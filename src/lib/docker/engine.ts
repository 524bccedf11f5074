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
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw new PatchworkError('PW_NO_DOCKER', `no Docker engine answers at ${dockerTarget()} (${reason(err)})`, {
      hint: 'start Docker (`sudo systemctl start docker` or `dockerd`), or set DOCKER_HOST',
      cause: err,
    });
  } finally {
    if (timer) clearTimeout(timer);
  }
  return docker;
}

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message?.split('\n')[0] ?? String(err);
}
