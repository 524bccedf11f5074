/** The engine's JSON message streams: parsing, build failures (errorDetail), push progress and digest. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { planContext } from '../../src/lib/docker/context.js';
import { buildImage, failedAt, pushImage, shortReason } from '../../src/lib/docker/image.js';
import { BuildLog, type EngineMessage, readMessages, stripAnsi } from '../../src/lib/docker/progress.js';
import { PatchworkError } from '../../src/lib/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A stream that emits the messages as NDJSON, split at awkward places. */
function engineStream(messages: EngineMessage[], chunk = 7): PassThrough {
  const s = new PassThrough();
  const text = messages.map((m) => `${JSON.stringify(m)}\r\n`).join('');
  setImmediate(() => {
    for (let i = 0; i < text.length; i += chunk) s.write(text.slice(i, i + chunk));
    s.end();
  });
  return s;
}

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length;
  return n;
}

/** Just enough of dockerode for buildImage/pushImage. */
function fakeDocker(opts: {
  build?: EngineMessage[];
  push?: EngineMessage[] | ((tag: string) => EngineMessage[]);
  calls?: {
    build: Record<string, unknown>[];
    push: { name: string; opts: Record<string, unknown> }[];
    tarBytes: number[];
  };
}): Docker {
  const calls = opts.calls ?? { build: [], push: [], tarBytes: [] };
  return {
    buildImage: async (tar: Readable, o: Record<string, unknown>) => {
      calls.build.push(o);
      calls.tarBytes.push(await drain(tar));
      return engineStream(opts.build ?? []);
    },
    getImage: (name: string) => ({
      push: async (o: Record<string, unknown>) => {
        calls.push.push({ name, opts: o });
        const msgs = typeof opts.push === 'function' ? opts.push(String(o.tag)) : (opts.push ?? []);
        return engineStream(msgs);
      },
      inspect: async () => ({ Id: 'sha256:fromInspect', Size: 123 }),
    }),
  } as unknown as Docker;
}

async function context(): Promise<Awaited<ReturnType<typeof planContext>>> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-eng-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY src /src\n');
  writeFileSync(join(dir, 'src', 'a.txt'), 'a'.repeat(1000));
  return planContext(dir);
}

describe('readMessages', () => {
  it('reassembles JSON messages split across chunks', async () => {
    const msgs: EngineMessage[] = [
      { stream: 'Step 1/2 : FROM scratch\n' },
      { aux: { ID: 'sha256:abc' } },
      { status: 'x' },
    ];
    const seen: EngineMessage[] = [];
    await readMessages(engineStream(msgs, 3), (m) => seen.push(m));
    expect(seen).toEqual(msgs);
  });

  it('keeps non-JSON lines as output', async () => {
    const s = new PassThrough();
    s.end('not json\n{"stream":"ok\\n"}\n');
    const seen: EngineMessage[] = [];
    await readMessages(s, (m) => seen.push(m));
    expect(seen).toEqual([{ stream: 'not json\n' }, { stream: 'ok\n' }]);
  });
});

describe('BuildLog', () => {
  it('splits output into lines, tracks the step and drops engine chatter and colours', () => {
    const lines: [string, boolean][] = [];
    const log = new BuildLog((l, s) => lines.push([l, s]));
    log.write('Step 1/3 : FROM golang:1.26\n ---> 058fb3edf788\nStep 2/3 : RUN make\n ---> Running in 1a2b\n');
    log.write('compiling');
    log.write(' main.go\n\u001b[91merror: boom\n\u001b[0mRemoving intermediate container 1a2b\n');
    log.flush();
    expect(log.step).toBe('Step 2/3 : RUN make');
    expect(log.stepLines).toEqual(['compiling main.go', 'error: boom']);
    expect(lines.filter(([, s]) => s).map(([l]) => l)).toEqual(['Step 1/3 : FROM golang:1.26', 'Step 2/3 : RUN make']);
    expect(stripAnsi('\u001b[91mred\u001b[0m')).toBe('red');
  });

  it('keeps only the last lines', () => {
    const log = new BuildLog(undefined, 3);
    log.write('Step 1/1 : RUN x\n1\n2\n3\n4\n5\n');
    expect(log.stepLines).toEqual(['3', '4', '5']);
  });
});

describe('failure wording', () => {
  it('names the step and shortens the engine message', () => {
    expect(failedAt('Step 3/9 : RUN   go build  ./...')).toBe(' at step 3/9 (RUN go build ./...)');
    expect(failedAt(`Step 1/2 : RUN ${'x'.repeat(200)}`)).toMatch(/^ at step 1\/2 \(RUN x+…\)$/);
    expect(failedAt(null)).toBe('');
    expect(shortReason("The command '/bin/sh -c make' returned a non-zero code: 2")).toBe('exit code 2');
    expect(shortReason('COPY failed: file not found\nmore')).toBe('COPY failed: file not found');
  });
});

describe('buildImage', () => {
  const spec = async () => ({
    plan: await context(),
    tags: ['127.0.0.1:5000/shop-prod-web:abc', '127.0.0.1:5000/shop-prod-web:ab'],
    buildArgs: { GO_VERSION: '1.26' },
    target: 'runtime',
    platform: 'linux/amd64',
    labels: { 'org.opencontainers.image.revision': 'abc' },
    service: 'web',
  });

  it('sends the context and the options the engine needs; returns the image ID from aux', async () => {
    const calls = { build: [], push: [], tarBytes: [] } as never as {
      build: Record<string, unknown>[];
      push: never[];
      tarBytes: number[];
    };
    const docker = fakeDocker({
      calls: calls as never,
      build: [
        { stream: 'Step 1/2 : FROM scratch\n' },
        { stream: ' ---> Using cache\n' },
        { stream: 'Step 2/2 : COPY src /src\n' },
        { stream: ' ---> Using cache\n' },
        { aux: { ID: 'sha256:1234' } },
        { stream: 'Successfully built 1234\n' },
      ],
    });
    const out = await buildImage(docker, await spec());
    expect(out).toEqual({ imageId: 'sha256:1234', steps: 2, cachedSteps: 2 });
    expect(calls.build[0]).toMatchObject({
      t: ['127.0.0.1:5000/shop-prod-web:abc', '127.0.0.1:5000/shop-prod-web:ab'],
      dockerfile: 'Dockerfile',
      buildargs: { GO_VERSION: '1.26' },
      target: 'runtime',
      platform: 'linux/amd64',
      labels: { 'org.opencontainers.image.revision': 'abc' },
      networkmode: 'host',
      rm: true,
      forcerm: true,
    });
    expect(calls.tarBytes[0]).toBeGreaterThan(1000);
  });

  it('a message with errorDetail fails the build with the step and its output (exit 1)', async () => {
    const docker = fakeDocker({
      build: [
        { stream: 'Step 1/2 : FROM golang:1.26\n' },
        { stream: 'Step 2/2 : RUN go build ./...\n' },
        { stream: ' ---> Running in 99\n' },
        { stream: './main.go:3:1: syntax error\n' },
        {
          errorDetail: { code: 1, message: "The command '/bin/sh -c go build ./...' returned a non-zero code: 1" },
          error: "The command '/bin/sh -c go build ./...' returned a non-zero code: 1",
        },
      ],
    });
    const err = (await buildImage(docker, await spec()).catch((e: unknown) => e)) as PatchworkError;
    expect(err).toBeInstanceOf(PatchworkError);
    expect(err.code).toBe('PW_BUILD_FAILED');
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe('web: build failed at step 2/2 (RUN go build ./...): exit code 1');
    expect(err.data.step).toBe('Step 2/2 : RUN go build ./...');
    expect(err.data.output).toEqual(['./main.go:3:1: syntax error']);
  });

  it('an error without errorDetail (only `error`) also fails', async () => {
    const docker = fakeDocker({
      build: [{ stream: 'Step 1/1 : FROM nope\n' }, { error: 'pull access denied for nope' }],
    });
    const err = (await buildImage(docker, await spec()).catch((e: unknown) => e)) as PatchworkError;
    expect(err.code).toBe('PW_BUILD_FAILED');
    expect(err.message).toContain('pull access denied for nope');
  });

  it('an engine that refuses the request (HTTP 500) is PW_BUILD_FAILED', async () => {
    const docker = {
      buildImage: async () => {
        throw Object.assign(new Error('(HTTP code 500) server error'), {
          statusCode: 500,
          json: { message: 'dockerfile parse error line 2: unknown instruction: CP' },
        });
      },
    } as unknown as Docker;
    const err = (await buildImage(docker, await spec()).catch((e: unknown) => e)) as PatchworkError;
    expect(err.code).toBe('PW_BUILD_FAILED');
    expect(err.message).toContain('unknown instruction: CP');
  });

  it('falls back to inspecting the tag when no aux ID arrives', async () => {
    const docker = fakeDocker({ build: [{ stream: 'Step 1/1 : FROM scratch\n' }] });
    expect((await buildImage(docker, await spec())).imageId).toBe('sha256:fromInspect');
  });
});

describe('cancellation', () => {
  it('the signal goes with the build and push requests to the engine (dockerode aborts them)', async () => {
    const calls = { build: [], push: [], tarBytes: [] } as never as {
      build: Record<string, unknown>[];
      push: { name: string; opts: Record<string, unknown> }[];
      tarBytes: number[];
    };
    const docker = fakeDocker({
      calls: calls as never,
      build: [{ stream: 'Step 1/1 : FROM scratch\n' }, { aux: { ID: 'sha256:1' } }],
      push: [{ progressDetail: {}, aux: { Tag: 't', Digest: `sha256:${'e'.repeat(64)}`, Size: 1 } }],
    });
    const signal = new AbortController().signal;
    const plan = await context();
    await buildImage(
      docker,
      { plan, tags: ['r:t'], buildArgs: {}, platform: 'linux/amd64', labels: {}, service: 'web' },
      { signal },
    );
    await pushImage(docker, 'r', 't', {}, { signal });
    expect(calls.build[0]?.abortSignal).toBe(signal);
    expect(calls.push[0]?.opts.abortSignal).toBe(signal);
  });
});

describe('pushImage', () => {
  const pushMessages = (tag: string): EngineMessage[] => [
    { status: 'The push refers to repository [127.0.0.1:5000/shop-prod-web]' },
    { status: 'Preparing', progressDetail: {}, id: 'aaaaaaaaaaaa' },
    { status: 'Preparing', progressDetail: {}, id: 'bbbbbbbbbbbb' },
    { status: 'Pushing', progressDetail: { current: 512, total: 2048 }, id: 'aaaaaaaaaaaa' },
    { status: 'Pushing', progressDetail: { current: 2048, total: 2048 }, id: 'aaaaaaaaaaaa' },
    { status: 'Layer already exists', progressDetail: {}, id: 'bbbbbbbbbbbb' },
    { status: 'Pushed', progressDetail: {}, id: 'aaaaaaaaaaaa' },
    { status: `${tag}: digest: sha256:${'d'.repeat(64)} size: 739` },
    { progressDetail: {}, aux: { Tag: tag, Digest: `sha256:${'d'.repeat(64)}`, Size: 739 } },
  ];

  it('reports per-layer progress and returns the digest from aux; auth goes in the request', async () => {
    const calls = { build: [], push: [], tarBytes: [] } as never as {
      push: { name: string; opts: Record<string, unknown> }[];
    };
    const docker = fakeDocker({ push: pushMessages, calls: calls as never });
    const layers: string[] = [];
    const progress: number[] = [];
    const out = await pushImage(
      docker,
      '127.0.0.1:5000/shop-prod-web',
      'abc',
      { username: 'AWS', password: 'pw' },
      { layer: (l) => layers.push(`${l.layer.slice(0, 1)}:${l.status}`), progress: (l) => progress.push(l.current!) },
    );
    expect(out).toEqual({ digest: `sha256:${'d'.repeat(64)}`, manifestSize: 739, layersExisting: 1, layersPushed: 1 });
    expect(layers).toEqual(['a:Preparing', 'b:Preparing', 'a:Pushing', 'b:Layer already exists', 'a:Pushed']);
    expect(progress).toEqual([2048]);
    expect(calls.push[0]).toEqual({
      name: '127.0.0.1:5000/shop-prod-web',
      opts: { tag: 'abc', authconfig: { username: 'AWS', password: 'pw' } },
    });
  });

  it('an errorDetail in the push stream is PW_PUSH_FAILED', async () => {
    const docker = fakeDocker({
      push: [
        { status: 'Preparing', id: 'aaaaaaaaaaaa' },
        { errorDetail: { message: 'denied: not authorized' }, error: 'denied: not authorized' },
      ],
    });
    const err = (await pushImage(docker, 'r', 't', {}).catch((e: unknown) => e)) as PatchworkError;
    expect(err.code).toBe('PW_PUSH_FAILED');
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain('denied: not authorized');
    expect(err.hint).toContain('credentials');
  });

  it('a push without a digest is PW_PUSH_FAILED', async () => {
    const docker = fakeDocker({ push: [{ status: 'Preparing', id: 'aaaaaaaaaaaa' }] });
    const err = (await pushImage(docker, 'r', 't', {}).catch((e: unknown) => e)) as PatchworkError;
    expect(err.code).toBe('PW_PUSH_FAILED');
    expect(err.message).toContain('no manifest digest');
  });
});
