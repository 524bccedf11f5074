/**
 * build() end to end with a fake engine and the shared ECR mock: skip when ECR has the tag, login
 * and push otherwise, verify the digest, and the order of checks (git → engine → AWS).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import {
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
} from '@aws-sdk/client-ecr';
import { STSClient } from '@aws-sdk/client-sts';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BuildOptions, build } from '../../src/lib/build.js';
import type { RawConfig } from '../../src/lib/config/schema.js';
import type { EngineMessage } from '../../src/lib/docker/progress.js';
import { PatchworkError } from '../../src/lib/errors.js';
import type { PatchworkEvent } from '../../src/lib/events.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());

const HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const DIGEST = `sha256:${'e'.repeat(64)}`;
const dirs: string[] = [];
let savedDockerHost: string | undefined;
beforeEach(() => {
  savedDockerHost = process.env.DOCKER_HOST;
});
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  if (savedDockerHost === undefined) delete process.env.DOCKER_HOST;
  else process.env.DOCKER_HOST = savedDockerHost;
});

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'T',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 'T',
  GIT_COMMITTER_EMAIL: 't@example.com',
  GIT_COMMITTER_DATE: '2024-05-06T07:08:09Z',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

function repo(): { root: string; sha: string } {
  const root = mkdtempSync(join(tmpdir(), 'pw-flow-'));
  dirs.push(root);
  mkdirSync(join(root, 'app'));
  writeFileSync(join(root, 'app', 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
  writeFileSync(join(root, 'app', 'main.go'), 'package main\n');
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'one');
  return { root, sha: git(root, 'rev-parse', 'HEAD') };
}

const config = (extra: Partial<RawConfig> = {}): RawConfig =>
  ({
    app: 'shop',
    region: 'eu-west-1',
    services: {
      web: { build: { context: 'app', args: { MODE: 'prod' } }, port: 8080 },
      cdn: { image: 'nginx:1.27', port: 80, user: 'root', route: { paths: ['/static/*'] } },
    },
    environments: { prod: {} },
    ...extra,
  }) as RawConfig;

function stream(messages: EngineMessage[]): PassThrough {
  const s = new PassThrough();
  setImmediate(() => s.end(messages.map((m) => `${JSON.stringify(m)}\n`).join('')));
  return s;
}

interface EngineCalls {
  build: Record<string, unknown>[];
  push: { name: string; opts: Record<string, unknown> }[];
}
function fakeEngine(calls: EngineCalls, digest = DIGEST): Docker {
  return {
    buildImage: async (tar: Readable, o: Record<string, unknown>) => {
      calls.build.push(o);
      tar.resume();
      return stream([
        { stream: 'Step 1/2 : FROM scratch\n' },
        { stream: 'Step 2/2 : COPY . /\n' },
        { aux: { ID: 'sha256:img' } },
      ]);
    },
    getImage: (name: string) => ({
      push: async (o: Record<string, unknown>) => {
        calls.push.push({ name, opts: o });
        return stream([
          { status: 'Preparing', id: 'aaaaaaaaaaaa' },
          { status: 'Pushed', id: 'aaaaaaaaaaaa' },
          { aux: { Tag: o.tag, Digest: digest, Size: 500 } },
        ]);
      },
      inspect: async () => ({ Id: 'sha256:img', Size: 4242 }),
    }),
  } as unknown as Docker;
}

function ecrMock() {
  const ecr = awsMock(ECRClient);
  awsMock(STSClient);
  // The shared repository exists (layout.ts asks when the config does not set registryLayout).
  ecr.on(DescribeRepositoriesCommand).resolves({ repositories: [{ repositoryName: 'shop-web' }] });
  ecr.on(GetAuthorizationTokenCommand).resolves({
    authorizationData: [
      { authorizationToken: Buffer.from('AWS:tok3n').toString('base64'), proxyEndpoint: `https://${HOST}` },
    ],
  });
  return ecr;
}

async function run(opts: Partial<BuildOptions> & { root: string }) {
  const events: PatchworkEvent[] = [];
  const { root, ...rest } = opts;
  const result = await build({
    config: config(),
    env: 'prod',
    cwd: root,
    onEvent: (e) => events.push(e),
    ...rest,
  });
  return { result, events };
}

describe('build() with ECR', () => {
  it('skips a tag ECR already has: no build, no push, the existing digest reported', async () => {
    const { root, sha } = repo();
    const ecr = ecrMock();
    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST, imageSizeInBytes: 9000 }] });
    const calls: EngineCalls = { build: [], push: [] };
    const { result, events } = await run({ root, docker: fakeEngine(calls) });
    expect(calls).toEqual({ build: [], push: [] });
    expect(result.registry).toBe(HOST);
    expect(result.images).toHaveLength(1);
    expect(result.images[0]).toMatchObject({
      service: 'web',
      image: `${HOST}/shop-web:${sha}`,
      tag: sha,
      digest: DIGEST,
      built: false,
      pushed: false,
      skipped: true,
      sizeBytes: 9000,
    });
    expect(result.images[0]!.seconds).toBeLessThan(1);
    expect(ecr.commandCalls(DescribeImagesCommand)[0]!.args[0].input).toEqual({
      repositoryName: 'shop-web',
      imageIds: [{ imageTag: sha }],
    });
    const task = events.filter((e) => e.type === 'task').map((e) => (e as { status: string }).status);
    expect(task).toEqual(['start', 'skip']);
  });

  it('builds, pushes both tags with the token in memory, verifies the digest', async () => {
    const { root, sha } = repo();
    const ecr = ecrMock();
    ecr
      .on(DescribeImagesCommand)
      .rejectsOnce(Object.assign(new Error('none'), { name: 'ImageNotFoundException', $metadata: {} }))
      .resolves({ imageDetails: [{ imageDigest: DIGEST, imageSizeInBytes: 3_000_000 }] });
    const calls: EngineCalls = { build: [], push: [] };
    const { result, events } = await run({ root, docker: fakeEngine(calls) });
    const short = git(root, 'rev-parse', '--short', 'HEAD');

    expect(calls.build).toHaveLength(1);
    expect(calls.build[0]).toMatchObject({
      t: [`${HOST}/shop-web:${sha}`, `${HOST}/shop-web:${short}`],
      dockerfile: 'Dockerfile',
      buildargs: { MODE: 'prod', GIT_SHA: sha, BUILD_TIME: '2024-05-06T07:08:09.000Z' },
      platform: 'linux/amd64',
      networkmode: 'host',
      labels: {
        'org.opencontainers.image.revision': sha,
        'org.opencontainers.image.created': '2024-05-06T07:08:09.000Z',
      },
    });
    const auth = { username: 'AWS', password: 'tok3n', serveraddress: `https://${HOST}` };
    expect(calls.push).toEqual([
      { name: `${HOST}/shop-web`, opts: { tag: sha, authconfig: auth } },
      { name: `${HOST}/shop-web`, opts: { tag: short, authconfig: auth } },
    ]);
    expect(result.images[0]).toMatchObject({
      digest: DIGEST,
      built: true,
      pushed: true,
      skipped: false,
      sizeBytes: 3_000_000,
      tags: [sha, short],
      revision: sha,
      dirty: false,
    });
    expect(ecr.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(1);
    expect(ecr.commandCalls(DescribeImagesCommand)).toHaveLength(2);
    // Per-layer progress arrives as data events; the token never appears in any event.
    expect(events.some((e) => e.type === 'data' && e.kind === 'push.layer')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('tok3n');
    expect(events.find((e) => e.type === 'data' && e.kind === 'image')).toBeDefined();
  });

  it('a registry digest different from the pushed one is PW_PUSH_FAILED', async () => {
    const { root } = repo();
    const ecr = ecrMock();
    ecr
      .on(DescribeImagesCommand)
      .rejectsOnce(Object.assign(new Error('none'), { name: 'ImageNotFoundException', $metadata: {} }))
      .resolves({ imageDetails: [{ imageDigest: `sha256:${'f'.repeat(64)}` }] });
    const err = (await run({ root, docker: fakeEngine({ build: [], push: [] }) }).catch((e) => e)) as PatchworkError;
    expect(err.code).toBe('PW_PUSH_FAILED');
    expect(err.message).toContain('registry serves');
  });

  it('no engine → PW_NO_DOCKER before any AWS call', async () => {
    const { root } = repo();
    const ecr = ecrMock();
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    const err = (await run({ root }).catch((e) => e)) as PatchworkError;
    expect(err).toBeInstanceOf(PatchworkError);
    expect(err.code).toBe('PW_NO_DOCKER');
    expect(err.exitCode).toBe(1);
    expect(ecr.calls()).toHaveLength(0);
  });

  it('a dirty tree is refused before the engine or AWS is asked', async () => {
    const { root } = repo();
    const ecr = ecrMock();
    writeFileSync(join(root, 'app', 'main.go'), 'package main // wip\n');
    const calls: EngineCalls = { build: [], push: [] };
    const err = (await run({ root, docker: fakeEngine(calls) }).catch((e) => e)) as PatchworkError;
    expect(err.code).toBe('PW_DIRTY_TREE');
    expect(err.exitCode).toBe(2);
    expect(ecr.calls()).toHaveLength(0);
    expect(calls.build).toHaveLength(0);
  });

  it('--allow-dirty builds and pushes <sha>-dirty-<hash>', async () => {
    const { root, sha } = repo();
    const ecr = ecrMock();
    ecr
      .on(DescribeImagesCommand)
      .rejectsOnce(Object.assign(new Error('none'), { name: 'ImageNotFoundException', $metadata: {} }))
      .resolves({ imageDetails: [{ imageDigest: DIGEST }] });
    writeFileSync(join(root, 'app', 'main.go'), 'package main // wip\n');
    const calls: EngineCalls = { build: [], push: [] };
    const { result } = await run({ root, docker: fakeEngine(calls), allowDirty: true });
    expect(result.images[0]!.tag).toMatch(new RegExp(`^${sha}-dirty-[0-9a-f]{12}$`));
    expect(result.images[0]!.dirty).toBe(true);
    expect(calls.push.map((p) => p.opts.tag)).toEqual(result.images[0]!.tags);
  });

  it('--no-push builds a local image with no AWS call at all', async () => {
    const { root, sha } = repo();
    const ecr = ecrMock();
    const calls: EngineCalls = { build: [], push: [] };
    const { result } = await run({ root, docker: fakeEngine(calls), push: false });
    expect(ecr.calls()).toHaveLength(0);
    expect(calls.push).toHaveLength(0);
    expect(result.images[0]).toMatchObject({
      image: `shop-web:${sha}`,
      built: true,
      pushed: false,
      digest: null,
      imageId: 'sha256:img',
      sizeBytes: 4242,
    });
  });

  it('an abort during the build cuts the engine request: PW_INTERRUPTED, nothing pushed', async () => {
    const { root } = repo();
    const ecr = ecrMock();
    const pushed: unknown[] = [];
    // An engine mid-build: its output stream ends only when the request is aborted, as dockerode does.
    const docker = {
      buildImage: async (tar: Readable, o: Record<string, unknown>) => {
        tar.resume();
        const s = new PassThrough();
        s.write(`${JSON.stringify({ stream: 'Step 1/2 : FROM scratch\n' })}\n`);
        (o.abortSignal as AbortSignal).addEventListener('abort', () => s.destroy());
        return s;
      },
      getImage: () => ({ push: async (o: unknown) => pushed.push(o) }),
    } as unknown as Docker;
    const controller = new AbortController();
    const events: PatchworkEvent[] = [];
    const building = build({
      config: config(),
      env: 'prod',
      cwd: root,
      docker,
      push: false,
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'log' && e.message.includes('Step 1/2')) controller.abort('SIGINT');
      },
    });
    await expect(building).rejects.toMatchObject({ code: 'PW_INTERRUPTED', exitCode: 130 });
    expect(pushed).toEqual([]);
    expect(ecr.calls()).toHaveLength(0);
    expect(events.find((e) => e.type === 'task' && e.status === 'fail')).toMatchObject({
      id: 'build:web',
      message: 'interrupted (SIGINT)',
    });
  });

  it('--dry-run reports what it would build and builds nothing', async () => {
    const { root } = repo();
    const ecr = ecrMock();
    ecr
      .on(DescribeImagesCommand)
      .rejects(Object.assign(new Error('none'), { name: 'ImageNotFoundException', $metadata: {} }));
    const calls: EngineCalls = { build: [], push: [] };
    const { result } = await run({ root, docker: fakeEngine(calls), dryRun: true });
    expect(calls).toEqual({ build: [], push: [] });
    expect(result.images[0]).toMatchObject({ wouldBuild: true, built: false, skipped: false });
  });

  it('--tag replaces the git sha and works outside git', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pw-nogit-'));
    dirs.push(root);
    mkdirSync(join(root, 'app'));
    writeFileSync(join(root, 'app', 'Dockerfile'), 'FROM scratch\n');
    const ecr = ecrMock();
    const notRepo = (await run({ root, docker: fakeEngine({ build: [], push: [] }) }).catch(
      (e) => e,
    )) as PatchworkError;
    expect(notRepo.code).toBe('PW_NOT_A_GIT_REPO');
    expect(ecr.calls()).toHaveLength(0);

    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST }] });
    const { result } = await run({ root, docker: fakeEngine({ build: [], push: [] }), tag: 'v1.0.0' });
    expect(result.images[0]).toMatchObject({ tag: 'v1.0.0', tags: ['v1.0.0'], skipped: true, revision: null });
  });

  it('a service selected with --service that uses image: has nothing to build', async () => {
    const { root } = repo();
    const ecr = ecrMock();
    const { result, events } = await run({ root, service: 'cdn', docker: fakeEngine({ build: [], push: [] }) });
    expect(result.images).toEqual([]);
    expect(ecr.calls()).toHaveLength(0);
    expect(events.some((e) => e.type === 'log' && e.message.includes('prebuilt image'))).toBe(true);
  });
});
