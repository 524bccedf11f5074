/**
 * patchwork as a library, from a separate tiny Node project: a temporary directory with its own
 * package.json depending on `"patchwork": "file:<this repo>"` (npm links it, no network), running
 * test/fixtures/consumer/index.mjs with plain `node`. It imports doctor, parseConfig, provision and
 * status from 'patchwork' (the package's `exports`, i.e. dist/), provisions an `image:` service on
 * the local world and reads its status. The results must have the shapes the CLI's `--json` result
 * line carries, progress must arrive through `onEvent`, and a TypeScript consumer (NodeNext) must
 * type-check against the package's declaration files. Then test/fixtures/consumer/abort.mjs embeds
 * `deploy` and cancels it with an AbortController during the rollout wait: the promise rejects with
 * PW_INTERRUPTED, the host process goes on, the lock is gone and the release is `interrupted`.
 * Needs `npm run build` (dist/).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, runCli } from '../helpers/cli.js';
import {
  awsCli,
  DEFAULT_EMULATOR_CONFIG,
  deployLock,
  emu,
  localWorld,
  REPO_ROOT,
  resetWorld,
  worldAwsEnv,
} from '../helpers/localworld.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'consumer');
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const env = () => isolatedEnv(worldAwsEnv());

const YAML = (region: string) => `app: shop
region: ${region}
services:
  web:
    image: public.ecr.aws/docker/library/nginx:1.27
    port: 8080
    healthCheck: { path: /healthz }
environments:
  local:
    desiredCount: 2
`;

/** A consumer written in TypeScript: it only has to type-check (proves `types` + `exports`). */
const CONSUMER_TS = `import {
  type DeployResult,
  type PatchworkEvent,
  type ProvisionResult,
  type RawConfig,
  type RollbackResult,
  type StatusReport,
  type WarningCode,
  build,
  deploy,
  ExitCode,
  PatchworkError,
  parseConfig,
  provision,
  rollback,
  status,
  WarningCodes,
} from 'patchwork';

const onEvent = (e: PatchworkEvent): void => {
  const kind: string = e.type;
  void kind;
  if (e.type === 'warning') {
    const code: WarningCode = e.code;
    void WarningCodes[code];
  }
  if (e.type === 'data' && e.kind === 'image') {
    const digest: string | null = e.data.digest; // the payload is typed by its kind
    void digest;
  }
};

export async function run(): Promise<boolean> {
  const p: ProvisionResult = await provision({ config: 'patchwork.yml', env: 'local', dryRun: true, onEvent });
  const creates: number = p.plan.summary.create;
  const config: RawConfig = parseConfig('app: shop', 'patchwork.yml').raw;
  const s: StatusReport = await status({ config, env: 'local' });
  const d: DeployResult = await deploy({
    config: 'patchwork.yml',
    env: 'local',
    onEvent,
    signal: AbortSignal.timeout(600_000),
    environment: { AWS_REGION: 'eu-west-1' },
  });
  let r: RollbackResult | null = null;
  try {
    r = await rollback({ config: 'patchwork.yml', env: 'local', to: 'abc1234' });
  } catch (err) {
    if (err instanceof PatchworkError) console.error(err.code, err.exitCode, err.hint);
  }
  await build({ config: 'patchwork.yml', env: 'local' });
  // @ts-expect-error healthy is a boolean: the declarations are real types, not any
  const wrong: string = s.healthy;
  void wrong;
  void d;
  void r;
  return creates >= 0 && s.healthy && ExitCode.OK === 0;
}
`;

const TSCONFIG = JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    },
    files: ['consumer.ts'],
  },
  null,
  2,
);

// biome-ignore lint/suspicious/noExplicitAny: JSON printed by the consumer
type Json = any;

let dir = '';
let out: Json;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.js')) || !existsSync(join(REPO_ROOT, 'dist', 'index.d.ts'))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
  await resetWorld();
  dir = mkdtempSync(join(tmpdir(), 'pw-consumer-'));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'pw-consumer',
      private: true,
      type: 'module',
      dependencies: { patchwork: `file:${REPO_ROOT}` },
    }),
  );
  writeFileSync(join(dir, 'patchwork.yml'), YAML(localWorld().region));
  writeFileSync(join(dir, 'consumer.ts'), CONSUMER_TS);
  writeFileSync(join(dir, 'tsconfig.json'), TSCONFIG);
  copyFileSync(join(FIXTURE, 'index.mjs'), join(dir, 'index.mjs'));
  copyFileSync(join(FIXTURE, 'abort.mjs'), join(dir, 'abort.mjs'));
  // A file: dependency on a directory is a symlink: nothing is fetched for patchwork itself.
  const npm = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (npm.status !== 0) throw new Error(`npm install in ${dir} failed: ${npm.stderr}`);

  const run = spawnSync(process.execPath, ['index.mjs'], { cwd: dir, env: env(), encoding: 'utf8', timeout: 240_000 });
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !line.startsWith('{')) {
    throw new Error(`consumer exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  }
  out = JSON.parse(line);
}, 400_000);

// node_modules/patchwork is a symlink: rmSync removes the link, never the repository behind it.
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('programmatic API from a separate project', () => {
  it('resolves patchwork through the link to this repository', () => {
    const esm = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', 'console.log(import.meta.resolve("patchwork"))'],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(esm.status, esm.stderr).toBe(0);
    // Node follows the link: the package's `exports` lead to this repository's dist/index.js.
    expect(esm.stdout.trim()).toBe(pathToFileURL(join(REPO_ROOT, 'dist', 'index.js')).href);
  });

  it('doctor: credentials and endpoint checked, the one STS call answered', () => {
    expect(out.error).toBeUndefined();
    expect(out.doctor).toMatchObject({ env: 'local', region: localWorld().region, endpoint: localWorld().endpoint });
    expect(Array.isArray(out.doctor.checks)).toBe(true);
    expect(out.doctor.account).toMatch(/^\d{12}$/);
  });

  it('provision: the result object of `provision --json` (plan with summary), applied on the world', () => {
    const p = out.provision;
    expect(p).toMatchObject({ env: 'local', name: 'shop-local', dryRun: false, pending: true });
    expect(p.applied).toBeGreaterThan(0);
    expect(Object.keys(p.plan.summary).sort()).toEqual(['create', 'delete', 'noop', 'replace', 'update']);
    expect(p.plan.summary.create).toBeGreaterThan(0);
    expect(p.plan.changes.length).toBeGreaterThan(0);
    expect(p.plan.changes[0]).toHaveProperty('action');
    expect(p.plan.changes[0]).toHaveProperty('kind');
  });

  it('status: healthy, the report `status --json` carries', () => {
    const s = out.status;
    expect(s.schemaVersion).toBe(1);
    expect(s.healthy).toBe(true);
    expect(s.problems).toEqual([]);
    expect(s.services[0].counts).toEqual({ running: 2, desired: 2, pending: 0 });
  });

  it('progress arrived through onEvent', () => {
    const events: Json[] = out.events;
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(['task', 'log', 'warning', 'tasks', 'data']).toContain(e.type);
      expect(typeof e.time).toBe('string');
    }
    expect(events.some((e) => e.type === 'task')).toBe(true);
  });

  it('the same shapes as the CLI: `provision --json` and `status --json` from the same directory', async () => {
    const prov = await runCli(['provision', '--env', 'local', '--json'], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect(prov.code, prov.stderr).toBe(0);
    for (const key of Object.keys(out.provision)) expect(prov.result).toHaveProperty(key);
    expect(Object.keys(prov.result.plan as object).sort()).toEqual(Object.keys(out.provision.plan).sort());
    // A second run (through the CLI) finds nothing to do: the library really changed the world.
    expect((prov.result.plan as Json).summary).toMatchObject({ create: 0, update: 0, replace: 0, delete: 0 });

    const st = await runCli(['status', '--env', 'local', '--json'], { cwd: dir, env: env(), timeoutMs: 60_000 });
    expect(st.code, st.stderr).toBe(0);
    const cli = st.result.status as Json;
    expect(Object.keys(cli).sort()).toEqual(Object.keys(out.status).sort());
    expect(Object.keys(cli.services[0]).sort()).toEqual(Object.keys(out.status.services[0]).sort());
    expect(st.result.healthy).toBe(out.status.healthy);
  });

  it('a TypeScript consumer type-checks against the declarations (exports + types, NodeNext)', () => {
    const tsc = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    expect(tsc.status, `${tsc.stdout}${tsc.stderr}`).toBe(0);
  });
});

describe('an embedded deploy cancelled with an AbortController', () => {
  // Outside the environment's registry, pinned by digest: taken on trust; the emulator simulates
  // its tasks (it cannot pull it), and its rollout is slowed so the abort lands in the wait.
  const image = `public.ecr.aws/docker/library/nginx@sha256:${'ab'.repeat(32)}`;
  const table = 'shop-local-patchwork';
  let run: Json;

  beforeAll(async () => {
    await emu('config', { rolloutSeconds: 60 });
    try {
      const child = spawnSync(process.execPath, ['abort.mjs', image], {
        cwd: dir,
        env: env(),
        encoding: 'utf8',
        timeout: 180_000,
      });
      const line = child.stdout.trim().split('\n').at(-1) ?? '';
      // The host process ended by itself, with its own exit code: the library did not exit it.
      if (child.status !== 0 || child.signal || !line.startsWith('{')) {
        throw new Error(`abort.mjs exited ${child.status ?? child.signal}:\n${child.stdout}\n${child.stderr}`);
      }
      run = JSON.parse(line);
    } finally {
      await emu('config', { rolloutSeconds: DEFAULT_EMULATOR_CONFIG.rolloutSeconds });
    }
  }, 240_000);

  it('rejects with PW_INTERRUPTED (exit code 130), well before the rollout would have ended', () => {
    expect(run.aborted).toBe(true);
    expect(run.abortedAfterEvents).not.toBeNull();
    expect(run.error).toMatchObject({ code: 'PW_INTERRUPTED', exitCode: 130 });
    expect(run.rejectedAfterMs).toBeLessThan(55_000);
    // The abort came during the wait: the service update was done, the rollout not.
    const updated = run.events.findIndex((e: Json) => e.id === 'update:web' && e.status === 'done');
    expect(updated).toBeGreaterThanOrEqual(0);
    expect(updated).toBeLessThan(run.abortedAfterEvents);
  });

  it('the host process keeps running: no signal handler left behind, the library still answers', () => {
    expect(run.sigintListeners).toBe(0);
    expect(run.sigtermListeners).toBe(0);
    expect(run.release).not.toBeNull(); // read through the library after the rejection
  });

  it('after the abort, only the clean-up reached AWS: the lock deleted, the release recorded', () => {
    // One transaction deletes the lock and writes the final record (alone, if the lock is not ours).
    expect(run.afterAbort).toContain('DynamoDB.TransactWriteItems');
    for (const call of run.afterAbort)
      expect(['DynamoDB.TransactWriteItems', 'DynamoDB.DeleteItem', 'DynamoDB.PutItem']).toContain(call);
  });

  it('the lock item is gone (AWS CLI) and the release is marked interrupted', () => {
    expect(deployLock(table)).toBeUndefined();
    expect(run.lock).toBeNull();
    expect(run.release).toMatchObject({ kind: 'deploy', outcome: 'interrupted' });
    expect(run.release.reason).toMatch(/interrupted/);
    expect(run.release.finishedAt).toEqual(expect.any(String));
    const items = awsCli([
      'dynamodb',
      'query',
      '--table-name',
      table,
      '--key-condition-expression',
      'pk = :p',
      '--expression-attribute-values',
      '{":p":{"S":"release"}}',
      '--consistent-read',
    ]).Items as { outcome: { S: string }; record: { S: string } }[];
    const mine = items.find((i) => (JSON.parse(i.record.S) as { id: string }).id === run.release.id);
    expect(mine?.outcome.S).toBe('interrupted');
  });
});
