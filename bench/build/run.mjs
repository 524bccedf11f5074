#!/usr/bin/env node
// `patchwork build` of webapp/ beside `docker build` + `docker push` of the same context, against
// the same engine and registry, in the same run, interleaved so machine load affects both alike.
//
//   full build      a new commit that changes the Go code: COPY *.go, go build and the final stage
//                   run again, then the image is pushed (new layers). Each side gets its own change,
//                   so neither reuses the other's layers.
//   cached rebuild  the same content again, every step from the cache. patchwork: `build --no-push`;
//                   docker: `docker build`. (+ push: a new tag of the same image, layers already there.)
//   skip-if-pushed  the commit's tag is already in the registry. patchwork asks the registry and
//                   stops; the docker way to get the same guarantee is build (cached) + push (layers exist).
//
// Times are wall clock of the whole command (Node or docker CLI start-up included); median of the
// runs. Needs: the engine, golang:<go version> (bash scripts/golang-image.sh), and a registry on
// 127.0.0.1 (bash scripts/localworld.sh up, or REGISTRY=127.0.0.1:5000). Run `npm run build` first.
//
// Usage: node bench/build/run.mjs [--runs 5] [--full-runs 3] [--json] [--verbose]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/run.js');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('--runs', 5);
const FULL_RUNS = arg('--full-runs', 3);

function registryHost() {
  if (process.env.REGISTRY) return process.env.REGISTRY;
  const envFile = join(ROOT, '.localworld/env.json');
  if (existsSync(envFile)) return JSON.parse(readFileSync(envFile, 'utf8')).registry;
  throw new Error('no registry: run `bash scripts/localworld.sh up` or set REGISTRY=127.0.0.1:<port>');
}
const REGISTRY = registryHost();
const ok = spawnSync('curl', ['-fsS', '-o', '/dev/null', `http://${REGISTRY}/v2/`]);
if (ok.status !== 0) throw new Error(`the registry at ${REGISTRY} does not answer`);
if (!existsSync(BIN) || !existsSync(join(ROOT, 'dist/commands/build.js'))) throw new Error('run `npm run build` first');
execFileSync('bash', [join(ROOT, 'scripts/golang-image.sh'), '--quiet'], { stdio: 'inherit' });

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
};
const git = (cwd, ...args) => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

// One temporary repository for patchwork, one plain copy for docker: the same webapp/ files.
const id = `bench${Date.now().toString(36)}`;
const work = mkdtempSync(join(tmpdir(), 'pw-bench-build-'));
const pwRepo = join(work, 'pw');
const dockerCtx = join(work, 'docker');
const copy = (to) =>
  cpSync(join(ROOT, 'webapp'), to, { recursive: true, filter: (s) => !/\.test$/.test(s) && basename(s) !== 'bin' });
copy(join(pwRepo, 'webapp'));
copy(dockerCtx);
writeFileSync(
  join(pwRepo, 'patchwork.yml'),
  `app: ${id}\nregion: eu-west-1\nregistry: "${REGISTRY}"\nservices:\n  web:\n    build: { context: webapp }\n    port: 8080\nenvironments:\n  bench: {}\n`,
);
git(pwRepo, 'init', '-q', '-b', 'main');
git(pwRepo, 'add', '-A');
git(pwRepo, 'commit', '-q', '-m', 'bench');

const dockerRepo = `${REGISTRY}/${id}-docker`;
const env = { ...process.env, DOCKER_BUILDKIT: '0', CI: 'true' };
delete env.AWS_ENDPOINT_URL;

function timed(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return { ms, stdout: r.stdout };
}
const patchwork = (...args) => {
  const r = timed(process.execPath, [BIN, 'build', '-e', 'bench', '--json', ...args], { cwd: pwRepo });
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1));
  return { ms: r.ms, image: result.images[0] };
};
const dockerBuild = (tag) =>
  timed('docker', ['build', '-q', '--network', 'host', '-t', `${dockerRepo}:${tag}`, dockerCtx]);
const dockerPush = (tag) => timed('docker', ['push', '-q', `${dockerRepo}:${tag}`]);
const nonce = (dir, n) => writeFileSync(join(dir, 'bench_nonce.go'), `package main\n\nconst benchNonce = "${n}"\n`);

const samples = {};
const add = (k, ms) => {
  samples[k] ??= [];
  samples[k].push(ms);
  if (process.argv.includes('--verbose')) process.stderr.write(`${k} ${Math.round(ms)} ms\n`);
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Full build: a code change, built and pushed.
for (let i = 0; i < FULL_RUNS; i++) {
  nonce(join(pwRepo, 'webapp'), `pw-${i}-${id}`);
  git(pwRepo, 'add', '-A');
  git(pwRepo, 'commit', '-q', '-m', `change ${i}`);
  const pw = patchwork();
  if (!pw.image.built || !pw.image.pushed) throw new Error('patchwork did not build and push');
  add('full:patchwork', pw.ms);
  nonce(dockerCtx, `docker-${i}-${id}`);
  const b = dockerBuild(`full${i}`);
  const p = dockerPush(`full${i}`);
  add('full:docker', b.ms + p.ms);
}

// Cached rebuild of the last commit: build only, then build + push under a new tag.
for (let i = 0; i < RUNS; i++) {
  const pw = patchwork('--no-push');
  if (!pw.image.built || pw.image.cachedSteps < pw.image.steps - 4)
    throw new Error('patchwork rebuild missed the cache');
  add('cached:patchwork', pw.ms);
  add('cached:docker', dockerBuild(`full${FULL_RUNS - 1}`).ms);

  const pwPush = patchwork('--tag', `re${i}`);
  if (!pwPush.image.pushed) throw new Error('patchwork did not push the new tag');
  add('cachedpush:patchwork', pwPush.ms);
  const b = dockerBuild(`re${i}`);
  add('cachedpush:docker', b.ms + dockerPush(`re${i}`).ms);
}

// Skip-if-pushed: the commit's tag is in the registry already.
for (let i = 0; i < RUNS; i++) {
  const pw = patchwork();
  if (!pw.image.skipped) throw new Error('patchwork did not skip');
  add('skip:patchwork', pw.ms);
  const b = dockerBuild(`full${FULL_RUNS - 1}`);
  add('skip:docker', b.ms + dockerPush(`full${FULL_RUNS - 1}`).ms);
}

const rows = [
  ['full build (code change) + push', 'full', 'docker build + docker push'],
  ['cached rebuild, no push', 'cached', 'docker build'],
  ['cached rebuild + push (new tag)', 'cachedpush', 'docker build + docker push'],
  ['skip-if-pushed', 'skip', 'docker build + docker push'],
].map(([label, key, docker]) => {
  const pw = median(samples[`${key}:patchwork`]);
  const dk = median(samples[`${key}:docker`]);
  return { case: label, docker, patchworkMs: Math.round(pw), dockerMs: Math.round(dk), ratio: +(pw / dk).toFixed(2) };
});

console.log('| case | patchwork median ms | docker CLI median ms | docker CLI commands | patchwork ÷ docker |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.patchworkMs} | ${r.dockerMs} | ${r.docker} | ${r.ratio} |`);
const dv = execFileSync('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], {
  encoding: 'utf8',
}).trim();
console.log(
  `\nruns: full ${FULL_RUNS}, others ${RUNS}; engine ${dv}, classic builder both sides; node ${process.version}; ${cpus().length} CPUs; registry ${REGISTRY}`,
);
if (process.argv.includes('--json')) console.log(JSON.stringify({ rows, samples }));

// Clean up local images and the temp dirs (the registry keeps its blobs: it is a scratch registry).
for (const line of execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' })
  .split('\n')
  .filter((l) => l.includes(`/${id}-`))) {
  spawnSync('docker', ['image', 'rm', line], { stdio: 'ignore' });
}
rmSync(work, { recursive: true, force: true });
