/**
 * The CI recipe runs: examples/github-actions/deploy.yml is parsed (the `yaml` package) and each
 * job, in `needs` order, runs every step against the local world as a GitHub-hosted runner would —
 * a fresh clone of the app, a fresh HOME and RUNNER_TEMP per job, `run:` steps through
 * `bash -eo pipefail` with the workflow's, job's and step's env, GITHUB_OUTPUT / GITHUB_PATH /
 * GITHUB_STEP_SUMMARY honoured, `if:` evaluated. Action steps are replaced by their effect:
 * actions/checkout (the app clone; patchwork's own repository: this work tree's files),
 * actions/setup-node (this node), actions/cache (a store shared by the jobs, saved at job end),
 * aws-actions/configure-aws-credentials (the world's credentials and endpoint in the env: there is
 * no OIDC provider here), actions/upload-artifact (the files must exist).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const app = `ci${Date.now().toString(36)}`;
let base = '';
let origin = '';
let sha = '';
const world = () => localWorld();

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  environment?: string;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

/** `${{ … }}` of the forms the recipe uses. */
function evaluate(text: string, ctx: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_m, expr: string) => {
    if (!(expr in ctx)) throw new Error(`the test runner does not know the expression ${expr}`);
    return ctx[expr]!;
  });
}

function condition(expr: string | undefined, ctx: Record<string, string>, failed: boolean): boolean {
  if (!expr) return !failed;
  const e = expr.replace(/^\$\{\{\s*|\s*\}\}$/g, '').trim();
  if (e === 'always()') return true;
  const ne = /^([\w.-]+)\s*!=\s*'([^']*)'$/.exec(e);
  if (ne) return !failed && (ctx[ne[1]!] ?? '') !== ne[2];
  throw new Error(`the test runner does not know the condition ${expr}`);
}

const readKv = (file: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

/** The files of this repository as a checkout of it holds them (tracked and new, not ignored). */
function checkoutPatchwork(to: string): void {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  for (const f of files) {
    if (!existsSync(join(ROOT, f))) continue;
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(ROOT, f), join(to, f));
  }
}

interface StepResult {
  job: string;
  step: string;
  ran: boolean;
  code: number;
  output: string;
}

function runJob(
  workflow: Workflow,
  name: string,
  cache: string,
): { steps: StepResult[]; summary: string; failed: boolean } {
  const job = workflow.jobs[name]!;
  const home = mkdtempSync(join(base, `${name}-home-`));
  const temp = mkdtempSync(join(base, `${name}-temp-`));
  const workspace = join(base, `${name}-work`);
  const files = { output: join(temp, '_output'), path: join(temp, '_path'), summary: join(temp, '_summary') };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const paths: string[] = [dirname(process.execPath)];
  const ctx: Record<string, string> = {
    'github.sha': sha,
    'github.run_id': '4242',
    'runner.temp': temp,
    'runner.os': 'Linux',
    // The repository variables a user sets (the roles' ARNs; the world has no OIDC provider to check them).
    'vars.PATCHWORK_STAGING_ROLE_ARN': 'arn:aws:iam::123456789012:role/patchwork-deploy-staging',
    'vars.PATCHWORK_PROD_ROLE_ARN': 'arn:aws:iam::123456789012:role/patchwork-deploy-prod',
  };
  let env: Record<string, string> = {};
  for (const [k, v] of Object.entries(workflow.env ?? {})) {
    env[k] = evaluate(String(v), ctx);
    ctx[`env.${k}`] = env[k]!;
  }
  const saves: { path: string; key: string }[] = [];
  const results: StepResult[] = [];
  let failed = false;
  const expandHome = (p: string) => p.replace(/^~(?=\/|$)/, home);

  for (const [i, step] of job.steps.entries()) {
    const label = step.name ?? step.uses ?? `step ${i + 1}`;
    if (!condition(step.if, ctx, failed)) {
      results.push({ job: name, step: label, ran: false, code: 0, output: '' });
      continue;
    }
    const w = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, evaluate(String(v), ctx)]));
    const action = step.uses?.split('@')[0];
    let code = 0;
    let output = '';
    if (action === 'actions/checkout') {
      if (w.repository) {
        // patchwork's repository at PATCHWORK_REF: this work tree.
        checkoutPatchwork(join(workspace, w.path ?? '.'));
      } else {
        execFileSync('git', ['clone', '-q', origin, workspace]);
      }
    } else if (action === 'actions/setup-node') {
      // This node (the recipe asks for 20 or later).
    } else if (action === 'actions/cache') {
      const store = join(cache, w.key!);
      const path = expandHome(w.path!);
      const hit = existsSync(store);
      if (hit) cpSync(store, path, { recursive: true });
      else saves.push({ path, key: w.key! });
      if (step.id) ctx[`steps.${step.id}.outputs.cache-hit`] = hit ? 'true' : 'false';
    } else if (action === 'aws-actions/configure-aws-credentials') {
      expect(job.permissions?.['id-token']).toBe('write');
      expect(w['role-to-assume']).toBeTruthy();
      env = {
        ...env,
        AWS_ACCESS_KEY_ID: world().accessKeyId,
        AWS_SECRET_ACCESS_KEY: world().secretAccessKey,
        AWS_SESSION_TOKEN: 'oidc-session',
        AWS_REGION: w['aws-region'] ?? '',
        AWS_DEFAULT_REGION: w['aws-region'] ?? '',
        AWS_ENDPOINT_URL: world().endpoint,
      };
    } else if (action === 'actions/upload-artifact') {
      const pattern = w.path!;
      const dir = dirname(pattern);
      const listed = existsSync(dir) ? execFileSync('ls', [dir], { encoding: 'utf8' }) : '';
      if (!/\.ndjson/.test(listed) && w['if-no-files-found'] !== 'ignore') code = 1;
    } else if (step.run !== undefined) {
      const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, evaluate(String(v), ctx)]));
      const script = evaluate(step.run, ctx);
      const full = {
        ...isolatedEnv(),
        ...env,
        ...stepEnv,
        HOME: home,
        RUNNER_TEMP: temp,
        GITHUB_WORKSPACE: workspace,
        GITHUB_SHA: sha,
        GITHUB_ACTIONS: 'true',
        GITHUB_OUTPUT: files.output,
        GITHUB_PATH: files.path,
        GITHUB_STEP_SUMMARY: files.summary,
        PATH: [
          ...readFileSync(files.path, 'utf8').split('\n').filter(Boolean).reverse(),
          ...paths,
          process.env.PATH,
        ].join(':'),
      };
      writeFileSync(files.output, '');
      const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {
        cwd: existsSync(workspace) ? workspace : base,
        env: full,
        encoding: 'utf8',
        timeout: 900_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      code = r.status ?? 1;
      output = `${r.stdout}${r.stderr}`;
      if (step.id) for (const [k, v] of Object.entries(readKv(files.output))) ctx[`steps.${step.id}.outputs.${k}`] = v;
    } else {
      throw new Error(`the test runner has no effect for ${step.uses}`);
    }
    results.push({ job: name, step: label, ran: true, code, output });
    if (code !== 0) failed = true;
  }
  // actions/cache's post step: save what a miss built.
  if (!failed) for (const s of saves) if (existsSync(s.path)) cpSync(s.path, join(cache, s.key), { recursive: true });
  return { steps: results, summary: readFileSync(files.summary, 'utf8'), failed };
}

/** Jobs in `needs` order. */
function jobOrder(workflow: Workflow): string[] {
  const out: string[] = [];
  const visit = (j: string) => {
    if (out.includes(j)) return;
    const needs = workflow.jobs[j]!.needs;
    for (const n of needs === undefined ? [] : Array.isArray(needs) ? needs : [needs]) visit(n);
    out.push(j);
  };
  for (const j of Object.keys(workflow.jobs)) visit(j);
  return out;
}

describe('the CI recipe (examples/github-actions/deploy.yml) runs', () => {
  const workflow = parse(readFileSync(join(ROOT, 'examples/github-actions/deploy.yml'), 'utf8')) as Workflow;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE');
    base = mkdtempSync(join(tmpdir(), 'pw-ci-recipe-'));
    origin = join(base, 'origin');
    mkdirSync(origin);
    copyWebapp(origin);
    writeFileSync(
      join(origin, 'patchwork.yml'),
      [
        `app: ${app}`,
        `region: ${world().region}`,
        `registry: "${world().registry}"`,
        'services:',
        '  web:',
        '    build: { context: app }',
        '    port: 8080',
        '    healthCheck: { path: /healthz }',
        'environments:',
        '  staging: { desiredCount: 1, alarms: ~ }',
        '  prod: { desiredCount: 1, alarms: ~ }',
        'deploy: { pollSeconds: 1, timeoutSeconds: 180, smoke: { path: /healthz } }',
        '',
      ].join('\n'),
    );
    git(origin, 'init', '-q', '-b', 'main');
    git(origin, 'add', '-A');
    git(origin, 'commit', '-q', '-m', 'app');
    sha = git(origin, 'rev-parse', 'HEAD');
    env = isolatedEnv({
      AWS_ENDPOINT_URL: world().endpoint,
      AWS_ACCESS_KEY_ID: world().accessKeyId,
      AWS_SECRET_ACCESS_KEY: world().secretAccessKey,
    });
    // The infrastructure, made with the broader provision role (by hand or its own workflow).
    for (const e of ['staging', 'prod']) {
      const p = await runCli(['provision', '-e', e, '--yes'], { cwd: origin, env, timeoutMs: 240_000 });
      expect(p.code, p.stderr).toBe(0);
    }
  }, 1_200_000);

  afterAll(async () => {
    for (const e of ['staging', 'prod'])
      await runCli(['destroy', '-e', e, '--yes'], { cwd: origin, env, timeoutMs: 180_000 }).catch(() => {});
    if (base) rmSync(base, { recursive: true, force: true });
  }, 400_000);

  it('its shape: one build job, staging, a gated prod job; OIDC and concurrency groups', () => {
    expect(jobOrder(workflow)).toEqual(['build', 'staging', 'prod']);
    const { build, staging, prod } = workflow.jobs;
    expect(staging!.needs).toBe('build');
    expect(prod!.needs).toBe('staging');
    expect(prod!.environment).toBe('prod');
    expect(staging!.concurrency).toEqual({ group: 'patchwork-staging', 'cancel-in-progress': false });
    expect(prod!.concurrency).toEqual({ group: 'patchwork-prod', 'cancel-in-progress': false });
    for (const job of [build!, staging!, prod!]) {
      expect(job.permissions?.['id-token']).toBe('write');
      expect(job.steps.some((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'))).toBe(true);
    }
    const runs = Object.values(workflow.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
    expect(runs.filter((r) => /patchwork build/.test(r))).toHaveLength(1);
    expect(runs.some((r) => r.includes('patchwork promote --from staging --env prod'))).toBe(true);
    expect(runs.join('\n')).not.toMatch(/npm install -g "?patchwork@/);
  });

  it('every run: step, in order, against the local world: staging and prod end on the commit, exit 0', () => {
    const cache = mkdtempSync(join(base, 'cache-'));
    const all: StepResult[] = [];
    const summaries: Record<string, string> = {};
    for (const name of jobOrder(workflow)) {
      const r = runJob(workflow, name, cache);
      all.push(...r.steps);
      summaries[name] = r.summary;
      const bad = r.steps.find((s) => s.code !== 0);
      expect(bad, bad && `${bad.job} / ${bad.step} exited ${bad.code}:\n${bad.output.slice(-4000)}`).toBeUndefined();
    }
    const ran = (job: string, step: string) => all.find((s) => s.job === job && s.step === step)?.ran;
    // Installed once (build job), restored from the cache by the later jobs.
    expect([
      ran('build', 'Install patchwork'),
      ran('staging', 'Install patchwork'),
      ran('prod', 'Install patchwork'),
    ]).toEqual([true, false, false]);
    for (const job of ['build', 'staging', 'prod'])
      expect(summaries[job]).toMatch(/### patchwork .*exit 0 \(success\)/);
    expect(summaries.staging).toContain(`\`${sha}\``);

    const shaOf = (e: string) => {
      const svc = awsCli(['ecs', 'describe-services', '--cluster', `${app}-${e}`, '--services', `${app}-${e}-web`])
        .services[0];
      const tags = awsCli(['ecs', 'list-tags-for-resource', '--resource-arn', svc.taskDefinition]).tags as {
        key: string;
        value: string;
      }[];
      return { sha: tags.find((t) => t.key === 'patchwork:sha')?.value, running: svc.runningCount };
    };
    expect(shaOf('staging')).toEqual({ sha, running: 1 });
    expect(shaOf('prod')).toEqual({ sha, running: 1 });
  }, 1_800_000);
});
