/**
 * An app with 12 services, more than the 10 ECS describes in one DescribeServices call (the local
 * world refuses more, as ECS does): provision starts 12 `image:` services (the webapp image, pushed
 * once to the local registry, desiredCount 1) and `status` reads them all healthy; `deploy --dry-run`
 * plans all 12; a deploy rolls all 12 out and waits on them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/lib/status/model.js';
import { type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, localWorld, resetWorld, worldAwsEnv } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const APP = 'many';
const ENV = 'it';
const NAMES = Array.from({ length: 12 }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);
const FULL = NAMES.map((n) => `${APP}-${ENV}-${n}`);

let root = '';
let image = '';
const env = () => isolatedEnv(worldAwsEnv());
const cli = (args: string[], timeoutMs = 240_000) => runCli([...args, '--json'], { cwd: root, env: env(), timeoutMs });

/** patchwork.yml: the 12 services, each on its own path; `source` is the YAML of each one's image or build. */
function config(source: string): string {
  const world = localWorld();
  return [
    `app: ${APP}`,
    `region: ${world.region}`,
    `registry: "${world.registry}"`,
    'services:',
    ...NAMES.flatMap((n) => [
      `  ${n}:`,
      `    ${source}`,
      '    port: 8080',
      '    healthCheck: { path: /healthz }',
      `    route: { paths: ["/${n}/*"] }`,
    ]),
    'environments:',
    `  ${ENV}: { desiredCount: 1 }`,
    'deploy: { pollSeconds: 1, timeoutSeconds: 180 }',
    '',
  ].join('\n');
}

const status = () => cli(['status', '--env', ENV]);
async function until(fn: () => Promise<CliRun>, ok: (r: CliRun) => boolean, ms = 90_000): Promise<CliRun> {
  const deadline = Date.now() + ms;
  let last = await fn();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await fn();
  }
  return last;
}
const taskDefinitions = (): string[] => {
  const out: string[] = [];
  for (let i = 0; i < FULL.length; i += 10) {
    const batch = FULL.slice(i, i + 10);
    const services = awsCli([
      'ecs',
      'describe-services',
      '--cluster',
      `${APP}-${ENV}`,
      '--services',
      ...batch,
    ]).services;
    out.push(...services.map((s: { taskDefinition: string }) => s.taskDefinition));
  }
  return out;
};

beforeAll(async () => {
  execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
  await resetWorld();
  root = mkdtempSync(join(tmpdir(), 'pw-many-'));
  copyWebapp(root);
  // One image for all 12 services, built and pushed once.
  const tag = `${localWorld().registry}/${APP}-web:it`;
  execFileSync('docker', ['build', '-q', '-t', tag, join(root, 'app')], { stdio: 'pipe', timeout: 300_000 });
  execFileSync('docker', ['push', tag], { stdio: 'pipe', timeout: 120_000 });
  const digests: string[] = JSON.parse(
    execFileSync('docker', ['inspect', '--format', '{{json .RepoDigests}}', tag], { encoding: 'utf8' }),
  );
  image = digests.find((d) => d.startsWith(`${localWorld().registry}/${APP}-web@sha256:`)) ?? '';
  expect(image).toBeTruthy();
  writeFileSync(join(root, 'patchwork.yml'), config(`image: "${image}"`));
}, 1_200_000);

afterAll(async () => {
  // Reset rather than destroy: it removes the 12 task containers at once.
  await resetWorld();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('an app with 12 services', () => {
  it('provision starts all 12; status --json reads all 12 healthy (exit 0)', async () => {
    const prov = await cli(['provision', '-e', ENV, '--yes'], 600_000);
    expect(prov.code, prov.stderr).toBe(0);
    const run = await until(status, (r) => r.code === 0);
    expect(run.code, `${run.stderr}\n${JSON.stringify((run.result.status as StatusReport)?.problems)}`).toBe(0);
    const s = run.result.status as StatusReport;
    expect(s.healthy).toBe(true);
    expect(s.services.map((x) => x.name)).toEqual(NAMES);
    for (const svc of s.services) {
      expect(svc.healthy, `${svc.name}: ${svc.problems.join('; ')}`).toBe(true);
      expect(svc.counts).toEqual({ running: 1, desired: 1, pending: 0 });
      expect(svc.targets.map((t) => t.state)).toEqual(['healthy']);
    }
    // 12 names: two DescribeServices calls (10 + 2), nothing mutating.
    expect(run.result.apiCalls?.byOperation['ECS.DescribeServices']).toBe(2);
    expect(run.result.apiCalls?.mutating).toBe(0);
  }, 900_000);

  it('with build: services, deploy --dry-run plans all 12 against what runs, and a deploy rolls all 12 out', async () => {
    // The same 12 services, now built from a one-line Dockerfile on the pushed image: a build takes
    // a second and pushes no new layer.
    writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${image}\nLABEL patchwork.test=many\n`);
    writeFileSync(join(root, 'patchwork.yml'), config('build: { context: app }'));
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'many');
    const before = taskDefinitions();

    const plan = await cli(['deploy', '-e', ENV, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    const planned = (
      plan.result as unknown as { services: { service: string; current: string | null; change: boolean }[] }
    ).services;
    expect(planned.map((p) => p.service)).toEqual(NAMES);
    planned.forEach((p, i) => {
      expect(p.current?.startsWith(before[i]!), `${p.service}: ${p.current}`).toBe(true);
      expect(p.change).toBe(true);
    });
    expect(plan.result.apiCalls?.byOperation['ECS.DescribeServices']).toBe(2);
    expect(plan.result.apiCalls?.mutating).toBe(0);

    const run = await cli(['deploy', '-e', ENV], 600_000);
    expect(run.code, run.stderr).toBe(0);
    const after = taskDefinitions();
    after.forEach((td, i) => {
      expect(td, FULL[i]).not.toBe(before[i]);
    });
    const final = await until(status, (r) => r.code === 0);
    expect(final.code, final.stderr).toBe(0);
    expect((final.result.status as StatusReport).services.every((x) => x.healthy && x.deployments.length === 1)).toBe(
      true,
    );
  }, 1_200_000);
});
