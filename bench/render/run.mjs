#!/usr/bin/env node
/**
 * Benchmark of the terminal renderer (issue: "a terminal renderer that costs nearly nothing").
 *
 * 1. The same deploy on the local world with a terminal (util-linux `script`: a real pty, so the
 *    live renderer runs) and without (stdout a file: plain lines), interleaved, --runs each: wall
 *    time, CPU (user+sys of the patchwork process, /usr/bin/time) and bytes written. Targets: wall
 *    ≤ 1.1× and CPU ≤ 1.5× of the plain run.
 *    With `--other-dist DIR` (a checkout of an older commit, built), the same deploy through that
 *    build's terminal renderer too (e.g. the listr2 one), in the same run.
 * 2. Output growth: the live renderer fed 100, 1,000 and 10,000 synthetic events (task starts,
 *    log lines, outcomes) through a counting terminal: bytes per finished line must not grow with
 *    the number of events (no redraw of past lines).
 *
 * Uses the built CLI (`npm run build`) and the local world (`bash scripts/localworld.sh up`).
 *   node bench/render/run.mjs [--runs 3] [--other-dist /path/to/old/checkout]
 * Writes bench/render/results/<time>.json and prints markdown tables.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localWorld, root } from '../world.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const RUNS = Number(arg('--runs', '3'));
const OTHER = arg('--other-dist', '');

const world = localWorld('bench/render');
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && k !== 'CI')),
  AWS_ENDPOINT_URL: world.endpoint,
  AWS_REGION: world.region,
  AWS_ACCESS_KEY_ID: world.accessKeyId,
  AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  TERM: 'xterm-256color',
  COLUMNS: '100',
  LINES: '40',
};
for (const tool of ['script', '/usr/bin/time']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench/render: needs ${tool} (util-linux script, GNU time)`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------ 1. a real deploy
const app = `br${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'pw-bench-render-'));
cpSync(join(root, 'webapp'), join(dir, 'webapp'), { recursive: true, filter: (s) => basename(s) !== 'bin' });
writeFileSync(
  join(dir, 'patchwork.yml'),
  `app: ${app}
region: ${world.region}
registry: "${world.registry}"
services:
  web:
    build: { context: webapp }
    port: 8080
    healthCheck: { path: /healthz }
environments:
  bench: { desiredCount: 1 }
deploy: { pollSeconds: 1, timeoutSeconds: 300 }
`,
);
const git = (...a) =>
  execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@x', '-c', 'commit.gpgsign=false', ...a], {
    cwd: dir,
    encoding: 'utf8',
  }).trim();
const cli = (...a) => {
  const r = spawnSync('node', [join(root, 'bin/run.js'), ...a, '--env', 'bench', '--yes'], {
    cwd: dir,
    env: { ...env, CI: 'true' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`patchwork ${a.join(' ')} exited ${r.status}: ${r.stderr.slice(-800)}`);
};
git('init', '-q', '-b', 'main');
git('add', '-A');
git('commit', '-q', '-m', 'one');
const sha1 = git('rev-parse', 'HEAD');
console.error('bench/render: provision and two builds (setup, not measured)');
cli('provision');
cli('deploy');
const appGo = join(dir, 'webapp', 'app.go');
writeFileSync(appGo, readFileSync(appGo, 'utf8').replace('hello from patchwork webapp', 'hello from the bench'));
git('commit', '-q', '-am', 'two');
const sha2 = git('rev-parse', 'HEAD');
cli('deploy');

const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
/** One measured deploy: mode `tty` (through script's pty) or `plain` (stdout and stderr files). */
function measure(mode, bin, sha) {
  const out = join(dir, `out-${mode}`);
  const timing = join(dir, `time-${mode}`);
  const cmd = [
    '/usr/bin/time',
    '-f',
    '%e %U %S',
    '-o',
    timing,
    'node',
    bin,
    'deploy',
    '--env',
    'bench',
    '--sha',
    sha,
    '--yes',
  ];
  const t0 = Date.now();
  const r =
    mode === 'plain'
      ? spawnSync('sh', ['-c', `${cmd.map(q).join(' ')} >${q(out)} 2>&1`], { cwd: dir, env })
      : spawnSync('script', ['-q', '-e', '-c', `stty cols 100 rows 40; ${cmd.map(q).join(' ')}`, out], {
          cwd: dir,
          env,
          stdio: ['pipe', 'ignore', 'ignore'],
        });
  const wallMs = Date.now() - t0;
  if (r.status !== 0) throw new Error(`deploy (${mode}) exited ${r.status}: ${readFileSync(out, 'utf8').slice(-800)}`);
  const [, user, sys] = readFileSync(timing, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
  return { wallMs, cpuMs: Math.round((user + sys) * 1000), bytes: statSync(out).size };
}

const modes = [
  { name: 'plain (no terminal)', mode: 'plain', bin: join(root, 'bin/run.js') },
  { name: 'terminal (live renderer)', mode: 'tty', bin: join(root, 'bin/run.js') },
  ...(OTHER ? [{ name: `terminal (${basename(OTHER)})`, mode: 'tty', bin: join(OTHER, 'bin/run.js') }] : []),
];
if (OTHER && !existsSync(join(OTHER, 'dist/index.js'))) throw new Error(`--other-dist ${OTHER}: not built`);
const samples = new Map(modes.map((m) => [m.name, []]));
let flip = 0;
for (let i = 0; i < RUNS; i++) {
  for (const m of modes) {
    const sha = flip++ % 2 ? sha2 : sha1;
    console.error(`bench/render: run ${i + 1}/${RUNS} ${m.name}`);
    samples.get(m.name).push(measure(m.mode, m.bin, sha));
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};
const plain = samples.get(modes[0].name);
const rows = modes.map((m) => {
  const xs = samples.get(m.name);
  const pick = (k) => xs.map((x) => x[k]);
  return {
    mode: m.name,
    wallMs: median(pick('wallMs')),
    wallRange: [Math.min(...pick('wallMs')), Math.max(...pick('wallMs'))],
    cpuMs: median(pick('cpuMs')),
    cpuRange: [Math.min(...pick('cpuMs')), Math.max(...pick('cpuMs'))],
    bytes: median(pick('bytes')),
    wallRatio: +(median(pick('wallMs')) / median(plain.map((x) => x.wallMs))).toFixed(2),
    cpuRatio: +(median(pick('cpuMs')) / median(plain.map((x) => x.cpuMs))).toFixed(2),
  };
});

// ------------------------------------------------------------------ 2. output growth
const { LiveRenderer } = await import(join(root, 'dist/cli/render.js'));
async function feed(n) {
  let bytes = 0;
  let finished = 0;
  const out = {
    columns: 100,
    write(s) {
      bytes += Buffer.byteLength(s);
    },
  };
  const r = new LiveRenderer('patchwork deploy', false, out);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i += 4) {
    const id = `t${i}`;
    r.event({ type: 'task', id, title: `step ${i}`, status: 'start', time: new Date().toISOString() });
    r.event({
      type: 'log',
      level: 'info',
      message: `(service x) has started 1 tasks: (task ${i}).`,
      time: new Date().toISOString(),
    });
    r.event({
      type: 'log',
      level: 'info',
      message: `waiting: 0/1 running, target ${i} initial`,
      time: new Date().toISOString(),
    });
    r.event({ type: 'task', id, title: `step ${i}`, status: 'done', time: new Date().toISOString() });
    finished += 3;
    // Let the throttled redraw run now and then, as events spread over a real deploy would.
    if (i % 40 === 0) await new Promise((res) => setTimeout(res, 101));
  }
  await r.close(true);
  const cpu = process.cpuUsage(cpu0);
  return {
    events: n,
    finishedLines: finished,
    bytes,
    bytesPerLine: +(bytes / finished).toFixed(1),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  };
}
const growth = [];
for (const n of [100, 1000, 10000]) growth.push(await feed(n));

rmSync(dir, { recursive: true, force: true });
const result = { at: new Date().toISOString(), runs: RUNS, deploy: rows, growth };
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', `${result.at.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(result, null, 2)}\n`);

const r = (a) => `${a[0]}–${a[1]}`;
console.log(
  `| deploy (${RUNS} runs each, interleaved) | wall ms (range) | × plain | CPU ms (range) | × plain | bytes out |`,
);
console.log('|---|---|---|---|---|---|');
for (const x of rows) {
  console.log(
    `| ${x.mode} | ${x.wallMs} (${r(x.wallRange)}) | ${x.wallRatio} | ${x.cpuMs} (${r(x.cpuRange)}) | ${x.cpuRatio} | ${x.bytes} |`,
  );
}
console.log('');
console.log('| live renderer fed | finished lines | bytes | bytes/line | CPU ms |');
console.log('|---|---|---|---|---|');
for (const g of growth)
  console.log(`| ${g.events} events | ${g.finishedLines} | ${g.bytes} | ${g.bytesPerLine} | ${g.cpuMs} |`);
