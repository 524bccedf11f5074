/**
 * The cost estimate of provision's plan on the local world (eu-west-1: its figures are us-east-1's
 * carried × 1.10): `provision --dry-run` (text) and `--dry-run --json` (a `cost` data event and
 * `result.cost`) with a line per component; egress nat-per-az → endpoints changes the NAT and
 * endpoint lines; after a real provision the next plan prices what runs (read from AWS) as
 * "before", and a desiredCount change shows as before → after on the Fargate line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, isolatedEnv, runCli } from '../helpers/cli.js';
import { localWorld, resetWorld, settleEcsReads, worldAwsEnv } from '../helpers/localworld.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON payloads
type Json = any;
let dir = '';
const env = () => isolatedEnv(worldAwsEnv());

const config = (o: { network?: string; desiredCount?: number; autoscaling?: false }) => `app: cost
region: ${localWorld().region}
services:
  web:
    image: public.ecr.aws/docker/library/nginx:1.27
    port: 8080
    user: "101"
environments:
  prod:
    desiredCount: ${o.desiredCount ?? 2}
${o.autoscaling === false ? '' : '    autoscaling: { min: 1, max: 4, cpuPercent: 60 }\n'}${o.network ? `    network: ${o.network}\n` : ''}`;

const provision = (o: Parameters<typeof config>[0], ...args: string[]) => {
  writeFileSync(join(dir, 'patchwork.yml'), config(o));
  return runCli(['provision', '--env', 'prod', ...args], { cwd: dir, env: env(), timeoutMs: 180_000 });
};
const res = (run: CliRun): Json => run.result;
const costEvent = (run: CliRun): Json => run.events.find((e) => e.type === 'data' && e.kind === 'cost')?.data;
const line = (cost: Json, component: string): Json => cost.lines.find((l: Json) => l.component === component);
const change = (cost: Json, component: string): Json => cost.changes.find((c: Json) => c.component === component);
const COMPONENTS = [
  'fargate',
  'load-balancer',
  'nat-gateway',
  'vpc-endpoints',
  'public-ipv4',
  'logs',
  'alarms',
  'state-table',
];

describe('cost estimate in provision plans (local world)', () => {
  beforeAll(async () => {
    await resetWorld();
    dir = mkdtempSync(join(tmpdir(), 'pw-cost-'));
  }, 60_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run --json: a cost event and result.cost with every component; egress nat-per-az → endpoints changes it', async () => {
    expect(localWorld().region).toBe('eu-west-1');
    const perAz = await provision({ network: '{ create: true, egress: nat-per-az }' }, '--dry-run', '--json');
    expect(perAz.code, perAz.stderr).toBe(0);
    const a = costEvent(perAz);
    expect(a).toEqual(res(perAz).cost);
    expect(a.lines.map((l: Json) => l.component)).toEqual(COMPONENTS);
    expect(a).toMatchObject({ currency: 'USD', hoursPerMonth: 730, carried: { from: 'us-east-1', multiplier: 1.1 } });
    expect(a.table.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // Nothing exists yet: before is 0 everywhere, the delta is the whole estimate.
    expect(a.before.total).toBe(0);
    expect(a.delta).toBe(a.total.desired);
    // 2 NAT gateways: 2 × 0.045 × 1.1 × 730; Fargate: 2 tasks (max 4) × (0.25 × 0.04048 + 0.5 × 0.004445) × 1.1 × 730.
    expect(line(a, 'nat-gateway')).toMatchObject({ desired: 72.27, max: 72.27 });
    expect(line(a, 'vpc-endpoints')).toMatchObject({ desired: 0 });
    expect(line(a, 'fargate')).toMatchObject({ desired: 19.82, max: 39.64 });
    expect(change(a, 'nat-gateway')).toEqual({ component: 'nat-gateway', before: 0, after: 72.27, delta: 72.27 });

    const endpoints = await provision({ network: '{ create: true, egress: endpoints }' }, '--dry-run', '--json');
    expect(endpoints.code, endpoints.stderr).toBe(0);
    const b = res(endpoints).cost;
    expect(line(b, 'nat-gateway')).toMatchObject({ desired: 0 });
    // ecr.api, ecr.dkr, logs × 2 AZs × 0.01 × 1.1 × 730.
    expect(line(b, 'vpc-endpoints')).toMatchObject({ desired: 48.18 });
    // Two fewer Elastic IPs (0.005 × 730 each, never multiplied).
    expect(line(a, 'public-ipv4').desired - line(b, 'public-ipv4').desired).toBeCloseTo(7.3, 2);
    expect(a.total.desired - b.total.desired).toBeCloseTo(72.27 - 48.18 + 7.3, 2);
    // No write on a dry run.
    expect(res(endpoints).apiCalls.mutating).toBe(0);
  }, 120_000);

  it('--dry-run (text): the estimate per component with the table date and what is extra', async () => {
    const run = await provision({ network: '{ create: true, egress: nat }' }, '--dry-run');
    expect(run.code, run.stderr).toBe(0);
    const out = run.stdout + run.stderr;
    expect(out).toMatch(
      /Estimated monthly cost \(USD, 730 h, prices of \d{4}-\d{2}-\d{2}; eu-west-1 carried from us-east-1 × 1\.10/,
    );
    expect(out).toMatch(/NAT gateways\s+\$0\.00 →\s+\$36\.14\s+\+\$36\.14\s+1 NAT gateway/);
    expect(out).toMatch(/Fargate tasks\s+\$0\.00 →\s+\$19\.82\s+\+\$19\.82\s+max \$39\.64/);
    expect(out).toMatch(/^ {2}total\s+\$0\.00 →\s+\$[\d.]+/m);
    expect(out).toMatch(/not included: data processing.*data transfer/);
  }, 120_000);

  it('after provision, "before" is what runs (read from AWS): a desiredCount change is before → after on Fargate', async () => {
    // Without autoscaling (which would leave any count inside its bounds alone), at 2 tasks.
    const applied = await provision({ autoscaling: false }, '--json', '--yes');
    expect(applied.code, applied.stderr).toBe(0);
    expect(res(applied).cost.before.total).toBe(0);
    expect(line(res(applied).cost, 'fargate')).toMatchObject({ desired: 19.82, max: 19.82 });

    // ECS answers MISSING for a service created a moment ago (its read-after-write lag; the world
    // models it): a plan read within it would create the service again. The CLI now starts fast
    // enough to fall inside it.
    await settleEcsReads();
    const same = await provision({ autoscaling: false }, '--dry-run', '--json');
    expect(same.code, same.stderr).toBe(0);
    expect(res(same).pending).toBe(false);
    expect(res(same).cost.delta).toBe(0);
    expect(res(same).cost.changes.filter((c: Json) => c.delta !== 0)).toEqual([]);

    const more = await provision({ autoscaling: false, desiredCount: 3 }, '--dry-run', '--json');
    expect(more.code, more.stderr).toBe(0);
    // The running service has 2 tasks of 0.25 vCPU / 0.5 GB (its task definition): 2 → 3 tasks.
    expect(change(res(more).cost, 'fargate')).toEqual({
      component: 'fargate',
      before: 19.82,
      after: 29.73,
      delta: 9.91,
    });
    expect(res(more).cost.delta).toBeGreaterThan(9.91); // + the third task's public IPv4 and logs
  }, 300_000);
});
