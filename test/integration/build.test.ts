/**
 * `patchwork build` against the real engine and the real local registry: the repo's webapp/ is
 * built from a temporary git clone (so the state of the working tree does not matter), pushed,
 * and its digest read back over the Registry HTTP API; a second build is skipped; a failing RUN
 * exits 1 with its output; no engine → PW_NO_DOCKER before any AWS call; the context sent matches
 * what `docker build` sends for the same .dockerignore. The `docker` CLI is only a reference here.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { localWorld } from '../helpers/localworld.js';

const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

interface ImageResult {
  service: string;
  image: string;
  repository: string;
  tag: string;
  tags: string[];
  digest: string | null;
  built: boolean;
  pushed: boolean;
  skipped: boolean;
  sizeBytes: number | null;
  seconds: number;
  imageId: string | null;
}

const temps: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** A git repository holding `webapp/` (or a fixture) and a patchwork.yml for it. */
function makeRepo(opts: { app: string; source: string; registry?: string | null }): { root: string; sha: string } {
  const root = tempDir('pw-build-it-');
  cpSync(opts.source, join(root, 'app'), {
    recursive: true,
    filter: (src) => !/\.test$/.test(src) && basename(src) !== 'bin',
  });
  writeFileSync(
    join(root, 'patchwork.yml'),
    [
      `app: ${opts.app}`,
      'region: eu-west-1',
      ...(opts.registry ? [`registry: "${opts.registry}"`] : []),
      'services:',
      '  web:',
      '    build: { context: app }',
      '    port: 8080',
      'environments:',
      '  it: {}',
      '',
    ].join('\n'),
  );
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'fixture');
  return { root, sha: git(root, 'rev-parse', 'HEAD') };
}

async function manifest(registry: string, repo: string, ref: string, method: 'HEAD' | 'GET' = 'HEAD') {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${ref}`, {
    method,
    headers: { Accept: MANIFEST_ACCEPT },
  });
  const body = method === 'GET' ? Buffer.from(await res.arrayBuffer()) : null;
  return { status: res.status, digest: res.headers.get('docker-content-digest'), body };
}

const image = (run: { result: Record<string, unknown> }) => (run.result.images as ImageResult[])[0]!;

describe('patchwork build (real engine, real registry)', () => {
  let registry = '';
  let endpoint = '';
  const app = `it${Date.now().toString(36)}`;
  /** The image repository: shared by the app's environments (`<app>-<svc>`). */
  const fullName = `${app}-web`;
  let repo: { root: string; sha: string };
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    // Idempotent: builds the local golang:<version> image only when it is missing.
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    const world = localWorld();
    registry = world.registry;
    endpoint = world.endpoint;
    repo = makeRepo({ app, source: join(ROOT, 'webapp'), registry });
    env = isolatedEnv();
  });

  afterAll(async () => {
    for (const d of temps) rmSync(d, { recursive: true, force: true });
    // Local tags this run made (the registry is a scratch registry and keeps its blobs).
    const docker = new Docker();
    for (const img of await docker.listImages()) {
      for (const ref of img.RepoTags ?? []) {
        if (ref.includes(`/${app}`))
          await docker
            .getImage(ref)
            .remove()
            .catch(() => {});
      }
    }
  });

  it('builds webapp/, pushes it, and the registry serves the reported digest', async () => {
    const run = await runCli(['build', '-e', 'it', '--json'], { cwd: repo.root, env, timeoutMs: 600_000 });
    expect(run.code, run.stderr).toBe(0);
    const img = image(run);
    const short = git(repo.root, 'rev-parse', '--short', 'HEAD');
    expect(img).toMatchObject({
      service: 'web',
      image: `${registry}/${fullName}:${repo.sha}`,
      tag: repo.sha,
      tags: [repo.sha, short],
      built: true,
      pushed: true,
      skipped: false,
    });
    expect(img.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.sizeBytes).toBeGreaterThan(1_000_000);
    expect(img.sizeBytes).toBeLessThan(8_000_000);

    // The registry's own answer, by tag (full and short), and the manifest's content hash.
    const byTag = await manifest(registry, fullName, repo.sha);
    expect(byTag.status).toBe(200);
    expect(byTag.digest).toBe(img.digest);
    expect((await manifest(registry, fullName, short)).digest).toBe(img.digest);
    const got = await manifest(registry, fullName, repo.sha, 'GET');
    expect(`sha256:${createHash('sha256').update(got.body!).digest('hex')}`).toBe(img.digest);

    // Labels on the image the engine built.
    const info = await new Docker().getImage(img.image).inspect();
    const labels = info.Config.Labels ?? {};
    expect(labels['org.opencontainers.image.revision']).toBe(repo.sha);
    expect(Date.parse(labels['org.opencontainers.image.created'] ?? '')).not.toBeNaN();

    // Per-layer push progress was reported as events.
    expect(run.events.some((e) => e.type === 'data' && e.kind === 'push.layer')).toBe(true);
  });

  it('a second build of the same commit is skipped: nothing built or pushed, same digest, fast', async () => {
    const first = await manifest(registry, fullName, repo.sha);
    const started = Date.now();
    const run = await runCli(['build', '-e', 'it', '--json'], { cwd: repo.root, env });
    const wall = Date.now() - started;
    expect(run.code, run.stderr).toBe(0);
    const img = image(run);
    expect(img).toMatchObject({ skipped: true, built: false, pushed: false, digest: first.digest });
    expect(img.seconds).toBeLessThan(1);
    expect(wall).toBeLessThan(10_000); // CLI start-up included; the skip itself is img.seconds
    expect(run.result.apiCalls?.total).toBe(0);
  });

  it('refuses a dirty tree for push (exit 2); --allow-dirty pushes <sha>-dirty-<hash>', async () => {
    const file = join(repo.root, 'app', 'version_note.go');
    writeFileSync(file, 'package main\n\n// a local change\n');
    try {
      const refused = await runCli(['build', '-e', 'it', '--json'], { cwd: repo.root, env });
      expect(refused.code).toBe(2);
      expect(refused.result.error?.code).toBe('PW_DIRTY_TREE');

      const run = await runCli(['build', '-e', 'it', '--allow-dirty', '--json'], {
        cwd: repo.root,
        env,
        timeoutMs: 600_000,
      });
      expect(run.code, run.stderr).toBe(0);
      const img = image(run);
      expect(img.tag).toMatch(new RegExp(`^${repo.sha}-dirty-[0-9a-f]{12}$`));
      expect(img.pushed).toBe(true);
      expect((await manifest(registry, fullName, img.tag)).digest).toBe(img.digest);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('a failing RUN step exits 1 and shows the step and its output', async () => {
    const fx = makeRepo({ app: `${app}f`, source: join(ROOT, 'test/fixtures/build/failing'), registry });
    const run = await runCli(['build', '-e', 'it', '--json'], { cwd: fx.root, env, timeoutMs: 300_000 });
    expect(run.code).toBe(1);
    const error = run.result.error as { code: string; message: string; step: string; output: string[] };
    expect(error.code).toBe('PW_BUILD_FAILED');
    expect(error.message).toMatch(/at step 3\/\d+ \(RUN .*\): exit code 3/);
    expect(error.output).toEqual(
      expect.arrayContaining([
        'patchwork-fixture: starting the failing step',
        'hello from the build context',
        'patchwork-fixture: about to fail',
      ]),
    );
    // People see the output too (human lines go to stderr beside --json).
    expect(run.stderr).toContain('patchwork-fixture: about to fail');
    expect(run.stderr).toContain('PW_BUILD_FAILED');
    // Nothing was pushed.
    expect((await manifest(registry, `${app}f-web`, fx.sha)).status).toBe(404);
  });

  it('no engine: PW_NO_DOCKER (exit 1) before any AWS call', async () => {
    const ecr = makeRepo({ app: `${app}e`, source: join(ROOT, 'test/fixtures/build/failing'), registry: null });
    const world = localWorld();
    const run = await runCli(['build', '-e', 'it', '--json'], {
      cwd: ecr.root,
      env: isolatedEnv({
        DOCKER_HOST: 'unix:///nonexistent.sock',
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: world.accessKeyId,
        AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
        AWS_REGION: world.region,
      }),
    });
    expect(run.code).toBe(1);
    expect(run.result.error?.code).toBe('PW_NO_DOCKER');
    expect(run.result.apiCalls?.total).toBe(0);
    expect(run.stderr).toContain('unix:///nonexistent.sock');
  });

  it('sends the same files as `docker build` for a tricky .dockerignore', async () => {
    const ctx = tempDir('pw-ctx-it-');
    const files: Record<string, string> = {
      Dockerfile: 'FROM golang:1.26\nCOPY . /ctx\nRUN cd /ctx && find . -type f | sort | sed "s/^/FILE /"\n',
      '.dockerignore': [
        '# comments are ignored',
        '**/*.log',
        'docs',
        '!docs/keep.md',
        '*.md',
        '!README.md',
        'config/*',
        '!config/prod',
        'node_modules',
        'Dockerfile',
      ].join('\n'),
      'README.md': 'r',
      'CHANGES.md': 'c',
      'main.go': 'package main',
      'a/b/trace.log': 'l',
      'a/b/data.json': '{}',
      'docs/keep.md': 'k',
      'docs/drop.md': 'd',
      'docs/sub/x.txt': 'x',
      'config/dev/a.yml': 'a',
      'config/prod/a.yml': 'a',
      'config/top.yml': 't',
      'node_modules/m/index.js': 'm',
      'nested/dir/deep/file.txt': 'f',
      'nested/notes.md': 'n',
    };
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(join(ctx, rel, '..'), { recursive: true });
      writeFileSync(join(ctx, rel), content);
    }
    const listed = (output: string) =>
      output
        .split('\n')
        .map((l) => /FILE \.\/(.*)$/.exec(l)?.[1])
        .filter((f): f is string => !!f)
        .sort();

    const reference = execFileSync('docker', ['build', '--no-cache', '--network', 'host', ctx], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });

    writeFileSync(
      join(ctx, 'patchwork.yml'),
      'app: ctxit\nregion: eu-west-1\nservices:\n  web:\n    build: { context: . }\n    port: 8080\nenvironments:\n  it: {}\n',
    );
    // patchwork.yml is part of this context for patchwork only: leave it out of the comparison.
    const run = await runCli(['build', '-e', 'it', '--no-push', '--tag', 'ctx', '--debug', '--json'], {
      cwd: ctx,
      env,
      timeoutMs: 300_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const ours = listed(
      run.events
        .filter((e) => e.type === 'log')
        .map((e) => String(e.message).replace(/^web: /, ''))
        .join('\n'),
    ).filter((f) => f !== 'patchwork.yml');
    expect(ours).toEqual(listed(reference));
    expect(ours).toContain('docs/keep.md');
    expect(ours).toContain('config/prod/a.yml');
    expect(ours).not.toContain('docs/drop.md');
    await new Docker().getImage('ctxit-web:ctx').remove({ force: true });
  });
});
