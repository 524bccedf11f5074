/**
 * What the local-world benchmarks (bench/<name>/run.mjs) share: the repository root, `--flag value`
 * arguments, the local world (loopback only) with its emulator API and a CLI environment for it, git
 * with a fixed identity, and a temp project holding the webapp.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const argv = process.argv.slice(2);
/** The value after `name` on the command line, or `dflt`. */
export const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
export const flag = (name) => argv.includes(name);

/**
 * The local world's env.json ($LOCALWORLD_DIR, else .localworld/); anything but a loopback endpoint
 * ends the process (exit 2), naming `bench`.
 */
export function localWorld(bench) {
  const dir = process.env.LOCALWORLD_DIR ?? join(root, '.localworld');
  const world = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8'));
  if (!/^http:\/\/(127\.|localhost)/.test(world.endpoint)) {
    console.error(`${bench}: the local world must be on loopback`);
    process.exit(2);
  }
  return world;
}

/** A process environment for patchwork and the AWS CLI against the world: its keys, no profiles, no metadata; then `extra`. */
export const worldEnv = (world, extra = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  AWS_REGION: world.region,
  AWS_ACCESS_KEY_ID: world.accessKeyId,
  AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  DOCKER_HOST: world.dockerHost,
  NO_COLOR: '1',
  ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
  ...extra,
});

/** The world's HTTP API (`moto-api/…`, `_patchwork/…`): GET, or POST with a JSON body; the answer's text. */
export const emulator = (world) => async (path, body, method) => {
  const res = await fetch(`${world.endpoint}/${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.text();
};

export const git = (cwd, ...a) =>
  execFileSync('git', a, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'b',
      GIT_AUTHOR_EMAIL: 'b@x',
      GIT_COMMITTER_NAME: 'b',
      GIT_COMMITTER_EMAIL: 'b@x',
    },
  }).trim();

/** A new temp dir (`prefix`) with the webapp's sources in `app/` (no test files, no built binary). */
export function webappDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cpSync(join(root, 'webapp'), join(dir, 'app'), {
    recursive: true,
    filter: (s) => !/\.test$/.test(s) && basename(s) !== 'bin',
  });
  return dir;
}

/**
 * For the benches that also run against an endpoint given in AWS_ENDPOINT_URL: that, or else the
 * local world's ($LOCALWORLD_DIR or .localworld/env.json); anything but loopback ends the process
 * (exit 2), naming `bench`. The endpoint, its region, and a process environment for it (the caller's
 * credentials if set, else the world's default `testing`).
 */
export function endpointEnv(bench) {
  let endpoint = process.env.AWS_ENDPOINT_URL;
  let region = process.env.AWS_REGION ?? 'eu-west-1';
  const envFile = join(process.env.LOCALWORLD_DIR ?? join(root, '.localworld'), 'env.json');
  if (!endpoint && existsSync(envFile)) {
    const w = JSON.parse(readFileSync(envFile, 'utf8'));
    endpoint = w.endpoint ?? w.AWS_ENDPOINT_URL;
    region = w.region ?? w.AWS_REGION ?? region;
  }
  if (!endpoint || !/^http:\/\/(127\.|localhost)/.test(endpoint)) {
    console.error(`${bench}: set AWS_ENDPOINT_URL to the local world (loopback only)`);
    process.exit(2);
  }
  const env = {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'testing',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'testing',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    CI: 'true',
  };
  return { endpoint, region, env };
}
