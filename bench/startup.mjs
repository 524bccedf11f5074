#!/usr/bin/env node
/**
 * Start-up, interleaved in one run so machine load affects every case alike (median of --runs each):
 *   - cold start of `patchwork --help` and `patchwork deploy --help` as a ratio to `node -e ''`;
 *   - a deploy's start → first AWS call: `patchwork deploy --sha` (code cache on, and off with
 *     PATCHWORK_NO_COMPILE_CACHE=1) beside fabfuel's ecs-deploy (when bench/deploy/run.mjs has
 *     installed it into .localworld/bench-venv). Both talk to a loopback stand-in that records when
 *     the first AWS request arrives and refuses it (so each run ends there); for patchwork it also
 *     serves the image's manifest, which deploy checks in the registry before its first AWS call.
 * No local world needed. Usage: npm run bench:startup [-- --runs 20] [--json]
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;
const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const ecs = fileURLToPath(new URL('../.localworld/bench-venv/bin/ecs', import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- the stand-in: a registry that has the image, and an AWS endpoint that refuses ----------------
const SHA = '0123456789abcdef0123456789abcdef01234567';
const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 2 },
  layers: [],
});
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
let firstAwsCall = null;
const server = createServer((req, res) => {
  if (req.url.startsWith('/v2')) {
    const body = req.url.includes('/tags/') ? JSON.stringify({ tags: [SHA] }) : manifest;
    res.setHeader('docker-content-digest', digest);
    res.setHeader('content-type', req.url.includes('/tags/') ? 'application/json' : JSON.parse(manifest).mediaType);
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  firstAwsCall ??= performance.now();
  res.statusCode = 400;
  res.setHeader('content-type', 'application/x-amz-json-1.1');
  res.end('{"__type":"ValidationException","message":"bench: refused"}');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${server.address().port}`;
const project = mkdtempSync(join(tmpdir(), 'pw-bench-startup-'));
writeFileSync(
  join(project, 'patchwork.yml'),
  `app: bs\nregion: us-east-1\nregistry: "127.0.0.1:${server.address().port}"\nservices:\n  web:\n    build: { context: . }\n    port: 8080\n    healthCheck: { path: /healthz }\nenvironments:\n  b: { desiredCount: 1 }\n`,
);
const awsEnv = {
  ...process.env,
  AWS_ENDPOINT_URL: endpoint,
  AWS_MAX_ATTEMPTS: '1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCHSTARTUP',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
};

// ---- the cases ------------------------------------------------------------------------------------
const exitCases = {
  "baseline `node -e ''`": ['-e', ''],
  '`patchwork --help`': [bin, '--help'],
  '`patchwork deploy --help`': [bin, 'deploy', '--help'],
};
const firstCallCases = {
  'patchwork `deploy --sha`': [process.execPath, [bin, 'deploy', '--sha', SHA, '-e', 'b', '--json'], {}],
  'patchwork `deploy --sha`, PATCHWORK_NO_COMPILE_CACHE=1': [
    process.execPath,
    [bin, 'deploy', '--sha', SHA, '-e', 'b', '--json'],
    { PATCHWORK_NO_COMPILE_CACHE: '1' },
  ],
  ...(existsSync(ecs)
    ? { 'ecs-deploy `deploy --image`': [ecs, ['deploy', 'bs-b', 'bs-b-web', '--image', 'web', 'x'], {}] }
    : {}),
};

function timeExit(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
async function timeFirstCall([cmd, args, env]) {
  firstAwsCall = null;
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: project, env: { ...awsEnv, ...env }, stdio: 'ignore' });
  await new Promise((r) => child.on('close', r));
  if (firstAwsCall === null) throw new Error(`${cmd} ${args.join(' ')}: no AWS call`);
  return firstAwsCall - t0;
}

for (const args of Object.values(exitCases)) timeExit(args); // warm the file cache (and the code cache)
for (const c of Object.values(firstCallCases)) await timeFirstCall(c);
const samples = Object.fromEntries([...Object.keys(exitCases), ...Object.keys(firstCallCases)].map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [k, args] of Object.entries(exitCases)) samples[k].push(timeExit(args));
  for (const [k, c] of Object.entries(firstCallCases)) samples[k].push(await timeFirstCall(c));
}
server.close();
rmSync(project, { recursive: true, force: true });

const base = median(samples[Object.keys(exitCases)[0]]);
const peer = samples['ecs-deploy `deploy --image`'];
const rows = Object.keys(samples).map((k) => {
  const m = median(samples[k]);
  return {
    case: k,
    medianMs: Math.round(m),
    minMs: Math.round(Math.min(...samples[k])),
    maxMs: Math.round(Math.max(...samples[k])),
    ratio: +(m / (k in firstCallCases && peer ? median(peer) : base)).toFixed(2),
  };
});
console.log(
  '| case | until | median ms (min–max) | ratio |\n|---|---|---:|---:|\n' +
    rows
      .map(
        (r) =>
          `| ${r.case} | ${r.case in firstCallCases ? 'first AWS call' : 'exit'} | ${r.medianMs} (${r.minMs}–${r.maxMs}) | ${r.ratio}× ${r.case in firstCallCases && peer ? 'ecs-deploy' : "`node -e ''`"} |`,
      )
      .join('\n'),
);
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(
  `\n${runs} runs each, interleaved, node ${process.version}, load average after ${load}, NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'}`,
);
if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
