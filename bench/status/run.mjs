#!/usr/bin/env node
/**
 * Benchmark of `patchwork status` on the local world: API calls and wall time for an environment
 * of one service and one of three (target: no more than ~5 extra calls per extra service; describes
 * batched), beside the equivalent AWS CLI calls (the same reads, one `aws` process per call) in the
 * same run. Needs the built CLI (`npm run build`) and the local world (`bash scripts/localworld.sh
 * up`; AWS_ENDPOINT_URL set, or read from $LOCALWORLD_DIR/env.json or .localworld/env.json).
 * Resets moto first, provisions both environments (`image:` services run at their desired count),
 * then measures. Prints a markdown table and writes bench/status/results/<time>.json.
 *   node bench/status/run.mjs [--runs 5]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { endpointEnv, root } from '../world.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 5;

const { endpoint, region, env } = endpointEnv('bench/status');

const SERVICES = [
  ['web', '/*', 100],
  ['api', '/api/*', 10],
  ['admin', '/admin/*', 20],
];
/** A config dir with the first `n` services, one environment `bench`. */
function configDir(n) {
  const dir = mkdtempSync(join(tmpdir(), `pw-bench-status-${n}-`));
  const svcYaml = SERVICES.slice(0, n)
    .map(
      ([name, path, priority]) =>
        `  ${name}:\n    image: public.ecr.aws/docker/library/nginx:1.27\n    port: 8080\n    route: { paths: ["${path}"], priority: ${priority} }`,
    )
    .join('\n');
  writeFileSync(
    join(dir, 'patchwork.yml'),
    `app: s${n}\nregion: ${region}\nservices:\n${svcYaml}\nenvironments:\n  bench:\n    desiredCount: 1\n    alarms: { http5xxPerMinute: 5, cpuPercent: 80, memoryPercent: 80 }\n`,
  );
  return dir;
}

function patchwork(dir, args) {
  const start = process.hrtime.bigint();
  const res = spawnSync(process.execPath, [join(root, 'bin', 'run.js'), ...args, '--json'], {
    cwd: dir,
    env,
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const result = JSON.parse(res.stdout.trim().split('\n').pop());
  return { ms, code: res.status, result };
}

/** The same reads with the AWS CLI, one process per call; returns calls and wall time. */
function awsCliStatus(app, services) {
  let calls = 0;
  const aws = (...args) => {
    calls++;
    const res = spawnSync('aws', ['--endpoint-url', endpoint, '--region', region, '--output', 'json', ...args], {
      env,
      encoding: 'utf8',
    });
    if (res.status !== 0) throw new Error(`aws ${args.join(' ')}: ${res.stderr}`);
    return res.stdout ? JSON.parse(res.stdout) : {};
  };
  const name = `${app}-bench`;
  const start = process.hrtime.bigint();
  const svc = aws('ecs', 'describe-services', '--cluster', name, '--services', ...services.map((s) => `${name}-${s}`));
  const tds = new Set(svc.services.flatMap((s) => s.deployments.map((d) => d.taskDefinition)));
  for (const td of tds) aws('ecs', 'describe-task-definition', '--task-definition', td, '--include', 'TAGS');
  const lb = aws('elbv2', 'describe-load-balancers', '--names', name).LoadBalancers[0];
  for (const s of svc.services) {
    for (const l of s.loadBalancers) aws('elbv2', 'describe-target-health', '--target-group-arn', l.targetGroupArn);
  }
  aws('cloudwatch', 'describe-alarms', '--alarm-name-prefix', `${name}-`);
  const queries = svc.services.flatMap((s, i) => [
    {
      Id: `s${i}_cpu`,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/ECS',
          MetricName: 'CPUUtilization',
          Dimensions: [
            { Name: 'ClusterName', Value: name },
            { Name: 'ServiceName', Value: s.serviceName },
          ],
        },
        Period: 60,
        Stat: 'Average',
      },
    },
    {
      Id: `s${i}_req`,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/ApplicationELB',
          MetricName: 'RequestCount',
          Dimensions: [
            { Name: 'TargetGroup', Value: s.loadBalancers[0].targetGroupArn.split(':').pop() },
            { Name: 'LoadBalancer', Value: lb.LoadBalancerArn.split(':loadbalancer/').pop() },
          ],
        },
        Period: 60,
        Stat: 'Sum',
      },
    },
  ]);
  const now = Date.now();
  aws(
    'cloudwatch',
    'get-metric-data',
    '--start-time',
    new Date(now - 3_600_000).toISOString(),
    '--end-time',
    new Date(now).toISOString(),
    '--metric-data-queries',
    JSON.stringify(queries),
  );
  const table = `${name}-patchwork`;
  aws(
    'dynamodb',
    'query',
    '--table-name',
    table,
    '--key-condition-expression',
    'pk = :pk',
    '--expression-attribute-values',
    '{":pk":{"S":"release"}}',
    '--no-scan-index-forward',
    '--limit',
    '6',
  );
  aws(
    'dynamodb',
    'get-item',
    '--table-name',
    table,
    '--key',
    '{"pk":{"S":"lock"},"sk":{"S":"lock"}}',
    '--consistent-read',
  );
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, calls };
}

await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
const cases = [1, 3].map((n) => ({
  name: `${n} service${n === 1 ? '' : 's'}`,
  dir: configDir(n),
  app: `s${n}`,
  services: SERVICES.slice(0, n).map(([s]) => s),
}));
for (const c of cases) {
  const p = patchwork(c.dir, ['provision', '--env', 'bench']);
  if (p.code !== 0) throw new Error(`provision ${c.name} failed: ${JSON.stringify(p.result.error)}`);
}
// Wait for steady state so both measure the same shape (one deployment per service).
for (const c of cases) {
  for (let i = 0; i < 60 && patchwork(c.dir, ['status', '--env', 'bench']).code !== 0; i++) {
    await new Promise((r) => setTimeout(r, 1000));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const c of cases) {
  const pw = [];
  const cli = [];
  for (let i = 0; i < runs; i++) {
    pw.push(patchwork(c.dir, ['status', '--env', 'bench']));
    cli.push(awsCliStatus(c.app, c.services));
  }
  rows.push({
    case: c.name,
    exitCode: pw[0].code,
    patchwork: {
      calls: pw[0].result.apiCalls.total,
      byOperation: pw[0].result.apiCalls.byOperation,
      ms: Math.round(median(pw.map((r) => r.ms))),
    },
    awsCli: { calls: cli[0].calls, ms: Math.round(median(cli.map((r) => r.ms))) },
  });
}
console.log(`runs: ${runs} (median wall time), node ${process.version}, endpoint ${endpoint}`);
console.log('| case | patchwork status: API calls | wall ms | AWS CLI: calls | wall ms |\n|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.case} | ${r.patchwork.calls} | ${r.patchwork.ms} | ${r.awsCli.calls} | ${r.awsCli.ms} |`);
}
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
  JSON.stringify({ runs, rows }, null, 2),
);
