#!/usr/bin/env node
/**
 * Benchmark of `patchwork provision` on the local world (one service, autoscaling and alarms):
 * API calls (total, mutating) and wall time for the first provision and for a no-op rerun, beside
 * an AWS CLI script (check.sh) that reads the same resources, in the same run. Needs the built CLI
 * (`npm run build`) and the local world (`bash scripts/localworld.sh up`; AWS_ENDPOINT_URL set,
 * or read from .localworld/env.json). Resets moto first. Prints a markdown table and writes
 * bench/provision/results/<time>.json.
 *   node bench/provision/run.mjs [--runs 3]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { endpointEnv, root } from '../world.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 3;

const { endpoint, region, env } = endpointEnv('bench/provision');

const dir = mkdtempSync(join(tmpdir(), 'pw-bench-provision-'));
writeFileSync(
  join(dir, 'patchwork.yml'),
  `app: shop
region: ${region}
services:
  web: { build: { context: . }, port: 8080, healthCheck: { path: /healthz } }
environments:
  bench:
    desiredCount: 2
    autoscaling: { min: 1, max: 4, cpuPercent: 60, requestsPerTarget: 500 }
    alarms: { http5xxPerMinute: 5, cpuPercent: 80, memoryPercent: 80 }
`,
);

function patchwork() {
  const start = process.hrtime.bigint();
  const res = spawnSync(process.execPath, [join(root, 'bin', 'run.js'), 'provision', '--env', 'bench', '--json'], {
    cwd: dir,
    env,
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const result = JSON.parse(res.stdout.trim().split('\n').pop());
  if (!result.ok) throw new Error(`provision failed: ${res.stderr}`);
  return { ms, total: result.apiCalls.total, mutating: result.apiCalls.mutating, applied: result.applied };
}

function cliCheck() {
  const start = process.hrtime.bigint();
  const out = execFileSync('bash', [join(here, 'check.sh')], {
    env: { ...env, APP_ENV: 'shop-bench', SVC: 'shop-bench-web' },
    encoding: 'utf8',
  });
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, total: Number(out.trim()), mutating: 0 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { first: [], noop: [], cli: [] };
for (let i = 0; i < runs; i++) {
  await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  rows.first.push(patchwork());
  rows.noop.push(patchwork());
  rows.cli.push(cliCheck());
}
const summary = Object.fromEntries(
  Object.entries(rows).map(([k, v]) => [
    k,
    { ms: Math.round(median(v.map((r) => r.ms))), total: v[0].total, mutating: v[0].mutating },
  ]),
);
const line = (name, r) => `| ${name} | ${r.total} | ${r.mutating} | ${r.ms} |`;
console.log(`runs: ${runs} (median wall time), node ${process.version}, endpoint ${endpoint}`);
console.log('| run | API calls | mutating | wall ms |\n|---|---|---|---|');
console.log(line('patchwork provision, first (empty account)', summary.first));
console.log(line('patchwork provision, no-op rerun', summary.noop));
console.log(line('AWS CLI script reading the same resources (check.sh)', summary.cli));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
  JSON.stringify({ runs: rows, summary }, null, 2),
);
