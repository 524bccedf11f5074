#!/usr/bin/env node
/**
 * Deploy benchmark, side by side in ONE run, interleaved: patchwork, fabfuel's ecs-deploy (pinned in
 * bench/requirements.txt, installed into .localworld/bench-venv) and an AWS CLI script
 * (bench/deploy/awscli-deploy.sh), on the same local world, every AWS request through one counting
 * proxy (test/faults/proxy.ts with no faults; one listener per run, so each run's calls are its own).
 *   - deploy of an already-pushed image, alternating two images so every run is a real change
 *     (`--rounds` rounds, each tool once a round per world, the order rotating), in two worlds
 *     interleaved round by round: ECS's read-after-write lag on (the emulator's default
 *     consistencyLagSeconds, 1.5 s) and off (0) — with the lag, a tool that trusts its first
 *     DescribeServices after UpdateService sees the old deployment COMPLETED and returns before its
 *     rollout did; "exit − rollout completed" (from ECS's "deployment completed" event) shows it;
 *   - a failed deploy (an image whose containers exit: ECS's circuit breaker), `--fail-rounds` rounds
 *     (each tool once a round) — exit code, how long after ECS's failure event the tool exits, and for
 *     patchwork how long after it the tool saw the failure (the time of its `<service>: failed (…)`
 *     event in the --json stream) and when each of its calls after that started;
 *   - `patchwork rollback --to <sha>` with 20 and 220 revisions in the family (`--big` adds 2,000),
 *     ListTaskDefinitions paged as ECS pages it (the emulator's pageTaskDefinitions).
 * For every run: AWS calls, wall time, peak RSS (`/usr/bin/time -v`), time from process start to its
 * first AWS request (seen by the proxy). Same poll interval everywhere: 1 s.
 * Needs `npm run build` and the local world (`bash scripts/localworld.sh up`); resets moto.
 *   node bench/deploy/run.mjs [--rounds 5] [--fail-rounds 5] [--big] [--only deploy,failed,rollback]
 * Writes bench/deploy/results/<time>.json and prints the markdown tables of BENCHMARKS.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { arg, emulator, flag, git, localWorld, root, webappDir, worldEnv } from '../world.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(arg('--rounds', '5'));
const BIG = flag('--big');
const FAIL_ROUNDS = Number(arg('--fail-rounds', '5'));
/** Which parts run (default all): `--only failed` runs only the failed deploy (after its setup). */
const ONLY = new Set(arg('--only', 'deploy,failed,rollback').split(','));
const POLL = 1;

const world = localWorld('bench/deploy');
const awsCli = world.awsCli || 'aws';
const baseEnv = worldEnv(world, { AWS_DEFAULT_REGION: world.region, AWS_PAGER: '' });

// ---- the peer's venv ------------------------------------------------------------------------------
const venv = join(root, '.localworld', 'bench-venv');
const reqs = readFileSync(join(root, 'bench', 'requirements.txt'), 'utf8');
const stamp = join(venv, 'requirements.txt');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== reqs) {
  console.error('bench/deploy: installing ecs-deploy into', venv);
  execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(join(venv, 'bin', 'pip'), ['install', '-q', '-r', join(root, 'bench', 'requirements.txt')], {
    stdio: 'inherit',
  });
  writeFileSync(stamp, reqs);
}

// ---- the counting proxy: test/faults/proxy.ts, transpiled with the project's TypeScript ----------
const ts = (await import('typescript')).default;
const proxyDir = mkdtempSync(join(tmpdir(), 'pw-bench-proxy-'));
const proxyJs = join(proxyDir, 'proxy.mjs');
writeFileSync(
  proxyJs,
  ts.transpileModule(readFileSync(join(root, 'test', 'faults', 'proxy.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText,
);
const { FaultProxy } = await import(pathToFileURL(proxyJs).href);
const proxy = new FaultProxy({ target: world.endpoint, seed: 1, rules: [] });

// ---- the world ------------------------------------------------------------------------------------
const emu = emulator(world);
await emu('moto-api/reset', {});
await emu('_patchwork/config', { pageTaskDefinitions: true });

const app = `bd${Date.now().toString(36)}`;
const dir = webappDir('pw-bench-deploy-');
writeFileSync(
  join(dir, 'patchwork.yml'),
  `app: ${app}\nregion: ${world.region}\nregistry: "${world.registry}"\nservices:\n  web:\n    build: { context: app }\n    port: 8080\n    healthCheck: { path: /healthz }\nenvironments:\n  b: { desiredCount: 1 }\ndeploy: { pollSeconds: ${POLL}, timeoutSeconds: 180, keepReleases: 10 }\n`,
);
git(dir, 'init', '-q', '-b', 'main');
git(dir, 'add', '-A');
git(dir, 'commit', '-q', '-m', 'one');
const cluster = `${app}-b`;
const service = `${app}-b-web`;

/** Runs a command under /usr/bin/time -v through its own proxy listener. */
async function run(tool, label, cmd, args, opts = {}) {
  const endpoint = await proxy.listen(label);
  const timeFile = join(proxyDir, `${label}.time`);
  const env = {
    ...baseEnv,
    AWS_ENDPOINT_URL: endpoint,
    ENDPOINT: endpoint,
    AWS_CLI: awsCli,
    POLL: String(POLL),
    ...(opts.env ?? {}),
  };
  const t0 = Date.now();
  const child = spawn('/usr/bin/time', ['-v', '-o', timeFile, cmd, ...args], { cwd: opts.cwd ?? dir, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  const t1 = Date.now();
  const calls = proxy.log.filter((e) => e.label === label);
  const time = readFileSync(timeFile, 'utf8');
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(time)?.[1] ?? Number.NaN);
  const ops = {};
  for (const c of calls) ops[`${c.service}.${c.operation}`] = (ops[`${c.service}.${c.operation}`] ?? 0) + 1;
  const r = {
    tool,
    label,
    code,
    calls: calls.length,
    ops,
    wallS: (t1 - t0) / 1000,
    rssMiB: rssKb / 1024,
    firstCallS: calls.length ? (Math.min(...calls.map((c) => c.startedAt)) - t0) / 1000 : null,
    // When the change reached ECS: the tool's (first) UpdateService.
    updateS: (() => {
      const u = calls.filter((c) => c.operation === 'UpdateService').map((c) => c.startedAt);
      return u.length ? (Math.min(...u) - t0) / 1000 : null;
    })(),
    endedAt: t1,
  };
  if (opts.expect !== undefined && code !== opts.expect) {
    console.error(`${label}: exit ${code} (expected ${opts.expect})\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`);
    throw new Error(`${label} failed`);
  }
  r.stdout = stdout;
  return r;
}
const patchwork = (label, args, opts) =>
  run('patchwork', label, process.execPath, [join(root, 'bin', 'run.js'), ...args, '-e', 'b', '--json'], opts);
const resultOf = (r) => JSON.parse(r.stdout.trim().split('\n').filter(Boolean).at(-1));

// Two pushed images (two commits), and a third whose containers exit.
const direct = { env: { AWS_ENDPOINT_URL: world.endpoint } };
await patchwork('setup-provision', ['provision', '--yes'], { ...direct, expect: 0 });
const sha1 = git(dir, 'rev-parse', 'HEAD');
const d1 = await patchwork('setup-deploy-1', ['deploy'], { ...direct, expect: 0 });
const image1 = resultOf(d1).services[0].image;
writeFileSync(join(dir, 'app', 'Dockerfile'), `FROM ${image1}\nLABEL bench=two\n`);
git(dir, 'commit', '-q', '-am', 'two');
const sha2 = git(dir, 'rev-parse', 'HEAD');
const d2 = await patchwork('setup-deploy-2', ['deploy'], { ...direct, expect: 0 });
const image2 = resultOf(d2).services[0].image;
writeFileSync(join(dir, 'app', 'Dockerfile'), `FROM ${image1}\nLABEL bench=broken\n`);
git(dir, 'commit', '-q', '-am', 'broken');
const built = await patchwork('setup-build-bad', ['build'], { ...direct, expect: 0 });
const imageBad = `${resultOf(built).images[0].image}@${resultOf(built).images[0].digest}`;
const images = { [sha1]: image1, [sha2]: image2 };
let current = sha2;
const other = () => (current === sha1 ? sha2 : sha1);

/** ecs-deploy's arguments for a deploy of `image`, polling as the others do. */
const ecsDeployArgs = (image) => [
  'deploy',
  cluster,
  service,
  '--image',
  'web',
  image,
  '--timeout',
  '180',
  '--sleep-time',
  String(POLL),
  '--region',
  world.region,
];
const tools = {
  patchwork: (label, sha) => patchwork(label, ['deploy', '--sha', sha], { expect: 0 }),
  'ecs-deploy': (label, sha) =>
    run('ecs-deploy', label, join(venv, 'bin', 'ecs'), ecsDeployArgs(images[sha]), { expect: 0 }),
  'AWS CLI script': (label, sha) =>
    run('AWS CLI script', label, 'bash', [join(here, 'awscli-deploy.sh'), cluster, service, images[sha]], {
      expect: 0,
    }),
};
const names = Object.keys(tools);
const {
  ECSClient,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
  ListTaskDefinitionsCommand,
} = await import('@aws-sdk/client-ecs');
const ecs = new ECSClient({
  region: world.region,
  endpoint: world.endpoint,
  credentials: { accessKeyId: world.accessKeyId, secretAccessKey: world.secretAccessKey },
});
const describe = async () =>
  (await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }))).services[0];
/** When ECS's latest "deployment failed" event was (epoch ms), or null. */
const failEvent = async () => {
  const ev = (await describe()).events.find((e) => /deployment failed/.test(e.message));
  return ev ? ev.createdAt.getTime() : null;
};
// The emulator's default ECS read-after-write lag (DEFAULT_CONFIG in test/emulator/pwemu/world.py), and none.
const DEFAULT_LAG = 1.5;
const worlds = [
  { name: `ECS read lag ${DEFAULT_LAG} s (default)`, lag: DEFAULT_LAG },
  { name: 'ECS read lag 0', lag: 0 },
];
/** One deployment, COMPLETED, every task running: the service at rest. */
const settled = (s) =>
  s.deployments.length === 1 && s.deployments[0].rolloutState === 'COMPLETED' && s.runningCount === s.desiredCount;
/** After a run: waits out the lag, then for the service to be steady; when ECS said "deployment completed" (epoch ms) after `since`. */
async function rolloutCompletedAt(since) {
  await new Promise((res) => setTimeout(res, 1600)); // the world's ECS read lag: read a settled service
  for (let i = 0; i < 120; i++) {
    const s = await describe();
    if (settled(s)) {
      const ev = s.events.find((e) => /deployment completed/.test(e.message));
      return ev && ev.createdAt.getTime() >= since ? ev.createdAt.getTime() : null;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  return null;
}
const deploys = [];
for (let round = 0; round < (ONLY.has('deploy') ? ROUNDS : 0); round++) {
  for (let w = 0; w < worlds.length; w++) {
    const lagWorld = worlds[(round + w) % worlds.length];
    await emu('_patchwork/config', { consistencyLagSeconds: lagWorld.lag });
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length];
      const sha = other();
      const t0 = Date.now();
      const r = await tools[name](`deploy-${round}-${lagWorld.lag}-${name}`, sha);
      current = sha;
      r.world = lagWorld.name;
      const done = await rolloutCompletedAt(t0);
      r.afterRolloutS = done === null ? null : (r.endedAt - done) / 1000;
      deploys.push(r);
      console.error(
        `deploy round ${round + 1} [${lagWorld.name}] ${name}: ${r.calls} calls, ${r.wallS.toFixed(2)} s, exit ${r.afterRolloutS?.toFixed(2)} s after the rollout completed, ${r.rssMiB.toFixed(0)} MiB, first call ${r.firstCallS?.toFixed(2)} s`,
      );
    }
  }
}
await emu('_patchwork/config', { consistencyLagSeconds: DEFAULT_LAG });

// A failed deploy: ECS's circuit breaker fails it and rolls back; `--fail-rounds` rounds, the order rotating.
/** patchwork's --json events (NDJSON on stdout) with their times (epoch ms). */
const eventsOf = (r) =>
  r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((e) => e.time)
    .map((e) => ({ ...e, at: Date.parse(e.time) }));
/**
 * When patchwork saw the failure: its `<service>: failed (<cause>): …` event (the watch emits it on the
 * poll that saw it); before that event existed, the closest: the first event of that poll (ECS's
 * "deployment failed" service event or the summary showing FAILED).
 */
const detectedAt = (r) => {
  const evs = eventsOf(r);
  const marker = evs.find((e) => e.type === 'log' && /^[\w-]+: failed \(/.test(e.message ?? ''));
  if (marker) return { at: marker.at, by: 'failed event' };
  const closest = evs.find((e) => e.type === 'log' && /deployment failed|FAILED/.test(e.message ?? ''));
  return closest ? { at: closest.at, by: 'closest: first event of the failing poll' } : null;
};
const failed = [];
if (ONLY.has('failed')) await emu('_patchwork/failing-images', { image: imageBad.split('@')[1] });
for (let round = 0; round < (ONLY.has('failed') ? FAIL_ROUNDS : 0); round++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(round + k) % names.length];
    const before = await failEvent();
    const label = `failed-${round}-${name}`;
    const r =
      name === 'patchwork'
        ? await patchwork(label, ['deploy', '--image', imageBad])
        : name === 'ecs-deploy'
          ? await run(name, label, join(venv, 'bin', 'ecs'), ecsDeployArgs(imageBad))
          : await run(name, label, 'bash', [join(here, 'awscli-deploy.sh'), cluster, service, imageBad]);
    await new Promise((res) => setTimeout(res, 300));
    const at = await failEvent();
    const ecsAt = at && at !== before ? at : null;
    r.afterFailureS = ecsAt ? (r.endedAt - ecsAt) / 1000 : null;
    r.detectedAfterS = null;
    if (name === 'patchwork') {
      const seen = detectedAt(r);
      r.detectedBy = seen?.by ?? null;
      if (seen && ecsAt) {
        r.detectedAfterS = (seen.at - ecsAt) / 1000;
        // Where the time after it went: each call's start and end, and the process's exit, after ECS's event.
        r.afterDetection = proxy.log
          .filter((c) => c.label === label && c.startedAt >= seen.at - 1500)
          .map((c) => ({
            call: `${c.service}.${c.operation}`,
            startS: (c.startedAt - ecsAt) / 1000,
            endS: c.endedAt === null ? null : (c.endedAt - ecsAt) / 1000,
          }));
      }
    }
    failed.push(r);
    console.error(
      `failed deploy round ${round + 1} ${name}: exit ${r.code}, ${r.calls} calls, ${r.wallS.toFixed(2)} s, exit ${r.afterFailureS} s after ECS's failure event${name === 'patchwork' ? `, saw it ${r.detectedAfterS} s after (${r.detectedBy}); ${(r.afterDetection ?? []).map((c) => `${c.call} ${c.startS.toFixed(2)}–${c.endS?.toFixed(2)}`).join(', ')}` : ''}`,
    );
    // Let ECS's own rollback settle before the next run.
    for (let i = 0; i < 60; i++) {
      const s = await describe();
      if (settled(s)) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    await new Promise((res) => setTimeout(res, 1600)); // the world's ECS read lag: the next run reads a settled service
  }
}
await emu('_patchwork/failing-images', undefined, 'DELETE');

// rollback --to with a family of 20, 220 (and 2,000) revisions.
const tdNow = (await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }))).services[0]
  .taskDefinition;
const cur = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: tdNow }))).taskDefinition;
const input = {
  family: service,
  containerDefinitions: cur.containerDefinitions,
  requiresCompatibilities: cur.requiresCompatibilities,
  networkMode: cur.networkMode,
  cpu: cur.cpu,
  memory: cur.memory,
  executionRoleArn: cur.executionRoleArn,
  taskRoleArn: cur.taskRoleArn,
};
async function familySize() {
  let n = 0;
  let nextToken;
  do {
    const page = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: service, status: 'ACTIVE', nextToken }));
    n += page.taskDefinitionArns.length;
    nextToken = page.nextToken;
  } while (nextToken);
  return n;
}
async function growTo(n) {
  const have = await familySize();
  for (let i = have; i < n; i++) await ecs.send(new RegisterTaskDefinitionCommand(input));
  return familySize();
}
const rollbacks = [];
for (const size of !ONLY.has('rollback') ? [] : BIG ? [20, 220, 2000] : [20, 220]) {
  const revisions = await growTo(size);
  for (let k = 0; k < 2; k++) {
    const to = other();
    const r = await patchwork(`rollback-${size}-${k}`, ['rollback', '--to', to.slice(0, 7)], { expect: 0 });
    current = to;
    r.revisions = revisions;
    rollbacks.push(r);
    console.error(`rollback --to with ${revisions} revisions: ${r.calls} calls, ${r.wallS.toFixed(2)} s`);
    await new Promise((res) => setTimeout(res, 1600));
  }
}

// ---- report ---------------------------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stat = (xs, digits) => {
  const v = xs.filter((x) => x !== null && !Number.isNaN(x));
  if (!v.length) return '—';
  const f = (x) => x.toFixed(digits);
  return v.length === 1 ? f(v[0]) : `${f(median(v))} (${f(Math.min(...v))}–${f(Math.max(...v))})`;
};
/** Table cells: `stat` of each [field, digits] over the runs. */
const cells = (rs, ...fields) =>
  fields
    .map(([k, digits]) =>
      stat(
        rs.map((r) => r[k]),
        digits,
      ),
    )
    .join(' | ');
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const lines = [];
const pw = deploys.filter((r) => r.tool === 'patchwork');
const ed = deploys.filter((r) => r.tool === 'ecs-deploy');
lines.push(
  `Run ${new Date().toISOString()}${ONLY.has('deploy') ? `, ${ROUNDS} deploy rounds` : ''}${ONLY.has('failed') ? `, ${FAIL_ROUNDS} failed-deploy rounds` : ''}${ONLY.has('rollback') ? ', rollback' : ''}, poll ${POLL} s, Node ${process.version}, load average after: ${load}. Median (min–max).`,
);
lines.push('');
if (deploys.length) {
  lines.push(
    '| deploy of a pushed image | world | AWS calls | wall s | exit − rollout completed s | peak RSS MiB | start → first AWS call s | start → UpdateService s |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const world of worlds) {
    for (const name of names) {
      const rs = deploys.filter((r) => r.tool === name && r.world === world.name);
      lines.push(
        `| ${name} | ${world.name} | ${cells(rs, ['calls', 0], ['wallS', 2], ['afterRolloutS', 2], ['rssMiB', 0], ['firstCallS', 2], ['updateS', 2])} |`,
      );
    }
  }
  lines.push('');
  for (const world of worlds) {
    const wall = (rs) => median(rs.filter((r) => r.world === world.name).map((r) => r.wallS));
    lines.push(`- patchwork ÷ ecs-deploy wall (medians), ${world.name}: ${(wall(pw) / wall(ed)).toFixed(2)}×`);
  }
  lines.push('');
}
if (failed.length) {
  lines.push(
    "| failed deploy (circuit breaker) | exit code | AWS calls | wall s | detected after ECS's failure event, s | exits after ECS's failure event, s | exit − detection s |",
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const name of names) {
    const rs = failed.filter((r) => r.tool === name);
    if (!rs.length) continue;
    lines.push(
      `| ${name} | ${[...new Set(rs.map((r) => r.code))].join(', ')} | ${stat(
        rs.map((r) => r.calls),
        0,
      )} | ${stat(
        rs.map((r) => r.wallS),
        2,
      )} | ${
        name === 'patchwork'
          ? stat(
              rs.map((r) => r.detectedAfterS),
              2,
            )
          : '—'
      } | ${stat(
        rs.map((r) => r.afterFailureS),
        2,
      )} | ${
        name === 'patchwork'
          ? stat(
              rs.map((r) =>
                r.afterFailureS === null || r.detectedAfterS === null ? null : r.afterFailureS - r.detectedAfterS,
              ),
              2,
            )
          : '—'
      } |`,
    );
  }
  const by = [...new Set(failed.filter((r) => r.tool === 'patchwork').map((r) => r.detectedBy))];
  if (by.length) lines.push('', `patchwork's detection: from its ${by.join(' / ')}.`);
  lines.push('');
}
if (rollbacks.length) {
  lines.push('| patchwork rollback --to \\<sha\\> | AWS calls | wall s | peak RSS MiB |');
  lines.push('|---|---:|---:|---:|');
  for (const size of [...new Set(rollbacks.map((r) => r.revisions))]) {
    const rs = rollbacks.filter((r) => r.revisions === size);
    lines.push(`| ${size} revisions in the family | ${cells(rs, ['calls', 0], ['wallS', 2], ['rssMiB', 0])} |`);
  }
  lines.push('');
}
lines.push('Calls per operation (first run of each):');
for (const r of [
  pw[0],
  pw.find((x) => x.world !== pw[0]?.world),
  ed[0],
  ed.find((x) => x.world !== ed[0]?.world),
  deploys.find((x) => x.tool === 'AWS CLI script'),
  failed.find((x) => x.tool === 'patchwork'),
  rollbacks[0],
  rollbacks.at(-1),
].filter(Boolean))
  lines.push(
    `- ${r.label}: ${Object.entries(r.ops)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
const table = lines.join('\n');
console.log(table);
mkdirSync(join(here, 'results'), { recursive: true });
const strip = (r) => ({ ...r, stdout: undefined });
writeFileSync(
  join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
  JSON.stringify(
    {
      only: [...ONLY],
      rounds: ROUNDS,
      failRounds: FAIL_ROUNDS,
      node: process.version,
      poll: POLL,
      load,
      deploys: deploys.map(strip),
      failed: failed.map(strip),
      rollbacks: rollbacks.map(strip),
      table,
    },
    null,
    2,
  ),
);
await proxy.close();
await patchwork('teardown', ['destroy', '--yes'], direct).catch(() => {});
rmSync(dir, { recursive: true, force: true });
rmSync(proxyDir, { recursive: true, force: true });
process.exit(0);
