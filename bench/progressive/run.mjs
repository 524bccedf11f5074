#!/usr/bin/env node
/**
 * Progressive delivery benchmark on the local world: per strategy (rolling, blue-green, canary,
 * linear), a deploy of an already-pushed image (two builds of the webapp, alternating with
 * `deploy --sha`, so every run is a real change), with a load generator on the production listener
 * (GET /version every 50 ms, the sha of each answer). For every run:
 *   - time to production traffic: from the deploy's start to the first answer from the new sha
 *     through the production listener (:80);
 *   - total rollout: the deploy's wall time (it exits once ECS's deployment is SUCCESSFUL: after the
 *     bake and the clean-up; for rolling, once the rollout is COMPLETED and the smoke test passed);
 *   - failed requests seen by the load generator.
 * Bake times are scaled by the emulator's `deploymentBakeScale` (seconds of world time per configured
 * minute; default here 2): bakeMinutes 5, canary 10% for 5 minutes, linear 20% every 2 minutes.
 * The strategies run one after another (a provision switches between them, untimed), `--runs`
 * deploys each (median reported).
 * Needs `npm run build` and the local world (`bash scripts/localworld.sh up`); resets moto.
 *   node bench/progressive/run.mjs [--runs 3] [--scale 2] [--strategies rolling,blue-green,canary,linear]
 * Writes bench/progressive/results/<time>.json and prints the markdown table of BENCHMARKS.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, emulator, git, localWorld, root, webappDir, worldEnv } from '../world.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const RUNS = Number(arg('--runs', '3'));
const SCALE = Number(arg('--scale', '2'));
// A subset, e.g. `--strategies linear` (a provision switching straight from canary to linear is
// refused by the world: see BENCHMARKS.md).
const ONLY = arg('--strategies', null)?.split(',') ?? null;

const world = localWorld('bench/progressive');
const env = worldEnv(world, { AWS_ENDPOINT_URL: world.endpoint, CI: 'true' });

const emu = emulator(world);
await emu('moto-api/reset', {});
await emu('_patchwork/config', undefined, 'DELETE');
await emu('_patchwork/config', { deploymentBakeScale: SCALE });

execFileSync('bash', [join(root, 'scripts', 'golang-image.sh'), '--quiet'], { cwd: root, stdio: 'inherit' });
const app = `bp${Date.now().toString(36)}`;
const dir = webappDir('pw-bench-progressive-');

// The pause hook's timeout is deploy.timeoutSeconds in minutes, scaled too: 15 min keeps it well
// beyond the checks on the test listener at any scale used here.
const COMMON = 'pollSeconds: 1, timeoutSeconds: 900, smoke: { path: /healthz }';
const STRATEGIES = {
  rolling: `{ ${COMMON} }`,
  'blue-green': `{ strategy: blue-green, bakeMinutes: 5, ${COMMON} }`,
  canary: `{ strategy: canary, canary: { percent: 10, bakeMinutes: 5 }, bakeMinutes: 5, ${COMMON} }`,
  linear: `{ strategy: linear, linear: { stepPercent: 20, stepBakeMinutes: 2 }, bakeMinutes: 5, ${COMMON} }`,
};
const config = (deploy) =>
  [
    `app: ${app}`,
    `region: ${world.region}`,
    `registry: "${world.registry}"`,
    'services:',
    '  web:',
    '    build: { context: app }',
    '    port: 8080',
    '    healthCheck: { path: /healthz }',
    'environments:',
    '  b: { desiredCount: 2, alarms: { cpuPercent: 90 } }',
    `deploy: ${deploy}`,
    '',
  ].join('\n');

function patchwork(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'run.js'), ...args, '-e', 'b', '--json'], {
      cwd: dir,
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
async function must(args) {
  const r = await patchwork(args);
  if (r.code !== 0) {
    console.error(`patchwork ${args.join(' ')}: exit ${r.code}\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`);
    process.exit(1);
  }
  return r;
}

writeFileSync(join(dir, 'patchwork.yml'), config(STRATEGIES.rolling));
writeFileSync(join(dir, 'app', 'VARIANT'), 'one\n');
git(dir, 'init', '-q', '-b', 'main');
git(dir, 'add', '-A');
git(dir, 'commit', '-q', '-m', 'one');
const sha1 = git(dir, 'rev-parse', 'HEAD');
await must(['provision', '--yes']);
await must(['deploy']);
writeFileSync(join(dir, 'app', 'VARIANT'), 'two\n');
git(dir, 'commit', '-q', '-am', 'two');
const sha2 = git(dir, 'rev-parse', 'HEAD');
await must(['build']);
const lbs = JSON.parse(
  execFileSync(
    world.awsCli || 'aws',
    ['elbv2', 'describe-load-balancers', '--names', `${app}-b`, '--endpoint-url', world.endpoint],
    {
      env: { ...env, AWS_DEFAULT_REGION: world.region, AWS_PAGER: '' },
      encoding: 'utf8',
    },
  ),
);
const dns = lbs.LoadBalancers[0].DNSName;

/** GET /version on the production listener every 50 ms until stopped: [{t, sha | null}]. */
function loadGenerator() {
  const samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      try {
        const res = await fetch(`http://${dns}:80/version`, { signal: AbortSignal.timeout(5000) });
        samples.push({ t, sha: res.status === 200 ? (await res.json()).sha : null, status: res.status });
      } catch {
        samples.push({ t, sha: null, status: 0 });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = [loadavg()[0]];
const runs = [];
let current = sha1;
for (const [strategy, deploy] of Object.entries(STRATEGIES).filter(([k]) => !ONLY || ONLY.includes(k))) {
  // Switch (untimed): the config's strategy, then provision's UpdateService; wait out ECS's read lag.
  writeFileSync(join(dir, 'patchwork.yml'), config(deploy));
  await must(['provision', '--yes']);
  await new Promise((r) => setTimeout(r, 2000));
  for (let i = 0; i < RUNS; i++) {
    const sha = current === sha1 ? sha2 : sha1;
    const gen = loadGenerator();
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const r = await must(['deploy', '--sha', sha]);
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    const samples = await gen.stop();
    current = sha;
    const first = samples.find((s) => s.t >= t0 && s.sha === sha);
    const failed = samples.filter((s) => s.sha === null).length;
    const run = {
      strategy,
      sha: sha.slice(0, 12),
      toProductionS: first ? (first.t - t0) / 1000 : null,
      totalS: (t1 - t0) / 1000,
      requests: samples.length,
      failed,
      load1: loadavg()[0],
    };
    load.push(run.load1);
    runs.push(run);
    console.error(
      `${strategy} run ${i + 1}: production traffic after ${run.toProductionS?.toFixed(1)} s, total ${run.totalS.toFixed(1)} s, ${failed}/${samples.length} failed, load ${run.load1.toFixed(1)}`,
    );
    if (!r.stdout.includes('"ok":true')) console.error(r.stdout.slice(-500));
  }
}
await patchwork(['destroy', '--yes']);
rmSync(dir, { recursive: true, force: true });

const resultsDir = join(here, 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ scale: SCALE, runs, strategies: STRATEGIES, load }, null, 2));

const fmt = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
console.log(
  `deploymentBakeScale ${SCALE} s per minute, ${RUNS} runs each, load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} (${basename(file)})\n`,
);
console.log('| strategy | config | time to production traffic s | total rollout s | failed requests |');
console.log('|---|---|---:|---:|---:|');
for (const strategy of Object.keys(STRATEGIES).filter((k) => !ONLY || ONLY.includes(k))) {
  const mine = runs.filter((r) => r.strategy === strategy);
  const to = mine.map((r) => r.toProductionS).filter((x) => x !== null);
  console.log(
    `| ${strategy} | \`${STRATEGIES[strategy].replace(`, ${COMMON}`, '').replace(`${COMMON}`, '')}\` | ${to.length ? fmt(to) : 'n/a'} | ${fmt(mine.map((r) => r.totalS))} | ${mine.reduce((a, r) => a + r.failed, 0)} of ${mine.reduce((a, r) => a + r.requests, 0)} |`,
  );
}
