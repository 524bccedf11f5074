/**
 * What patchwork's task definitions do so that Fargate can run them: a writable /tmp (and
 * `writablePaths`) under the read-only root, no non-root user on a port below 1024, the image's own
 * USER and platform for `image:` services (read from the registry), drift in the platform planned.
 */
import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { imageFactsOf, readImageFacts, splitImageRef } from '../../src/lib/docker/registry.js';
import type { PatchworkError } from '../../src/lib/errors.js';
import { type Change, plan, publicPlan } from '../../src/lib/plan/index.js';
import { deriveTaskDefinition, volumeName, writablePathsOf } from '../../src/lib/release/taskdef.js';
import { asObserved, desired, FACTS, find, target } from './provision-fixtures.js';

const D = `sha256:${'a'.repeat(64)}`;
const config = (svc: string) => `app: shop
region: eu-west-1
services:
  web:
${svc
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
environments:
  prod: {}
`;
const BUILD = config('build: { context: . }\nport: 8080');
const IMAGE = config(`image: 127.0.0.1:5000/vendor/app@${D}\nport: 8080`);

const facts = { image: `127.0.0.1:5000/shop-prod-web@${D}`, sha: 'f'.repeat(40), deployer: 'ci', time: 't' };
const BASE: TaskDefinition = { family: 'shop-prod-web', containerDefinitions: [{ name: 'web', image: 'x' }] };

describe('writable paths under a read-only root', () => {
  it('/tmp gets a fresh task volume by default; writablePaths add more, once each', () => {
    const t = target(config('build: { context: . }\nport: 8080\nwritablePaths: [/var/cache/app, /tmp]'));
    const svc = t.services[0]!;
    expect(writablePathsOf(svc)).toEqual(['/tmp', '/var/cache/app']);
    const td = deriveTaskDefinition(t, svc, BASE, facts);
    expect(td.volumes).toEqual([{ name: 'writable-tmp' }, { name: 'writable-var-cache-app' }]);
    expect(td.containerDefinitions![0]!.mountPoints).toEqual([
      { sourceVolume: 'writable-tmp', containerPath: '/tmp', readOnly: false },
      { sourceVolume: 'writable-var-cache-app', containerPath: '/var/cache/app', readOnly: false },
    ]);
    expect(td.containerDefinitions![0]!.readonlyRootFilesystem).toBe(true);
  });

  it('a writable root needs no /tmp volume; mounts and volumes set out of band are kept', () => {
    const t = target(config('build: { context: . }\nport: 8080\nreadonlyRootFilesystem: false'));
    const base: TaskDefinition = {
      family: 'shop-prod-web',
      volumes: [{ name: 'data', host: {} }, { name: 'writable-tmp' }],
      containerDefinitions: [
        {
          name: 'web',
          mountPoints: [
            { sourceVolume: 'data', containerPath: '/data' },
            { sourceVolume: 'writable-tmp', containerPath: '/tmp' },
          ],
        },
      ],
    };
    const td = deriveTaskDefinition(t, t.services[0]!, base, facts);
    expect(td.volumes).toEqual([{ name: 'data', host: {} }]);
    expect(td.containerDefinitions![0]!.mountPoints).toEqual([{ sourceVolume: 'data', containerPath: '/data' }]);
  });

  it('volume names are ECS-safe', () => {
    expect(volumeName('/var/lib/my.app@2')).toBe('writable-var-lib-my-app-2');
  });

  it('writablePaths must be absolute, without ..', () => {
    for (const bad of ['tmp', '/a/../b', '/']) {
      expect(() => target(config(`build: { context: . }\nport: 8080\nwritablePaths: ["${bad}"]`))).toThrow(
        /writablePaths/,
      );
    }
  });
});

describe('ports below 1024 need root', () => {
  const refused = (svc: string): PatchworkError => {
    try {
      target(config(svc));
    } catch (err) {
      return err as PatchworkError;
    }
    throw new Error('not refused');
  };

  it('a non-root user (the default, or a configured one) on port 80 is a config error with file:line and the way out', () => {
    for (const svc of ['build: { context: . }\nport: 80', 'build: { context: . }\nport: 80\nuser: "1000:1000"']) {
      const err = refused(svc);
      expect(err.code).toBe('PW_CONFIG_INVALID');
      expect(err.exitCode).toBe(2);
      expect(err.message).toMatch(/^patchwork\.yml:\d+ services\.web\.port: port 80 is below 1024/);
      expect(err.message).toMatch(/a port of 1024 or more \(e\.g\. 8080\), or user: root/);
    }
  });

  it('user: root (or uid 0) may listen on 80; any user may on 1024 and up', () => {
    expect(target(config('build: { context: . }\nport: 80\nuser: root')).services[0]!.port).toBe(80);
    expect(target(config('build: { context: . }\nport: 80\nuser: "0:0"')).services[0]!.port).toBe(80);
    expect(target(config('build: { context: . }\nport: 1024\nuser: "1000"')).services[0]!.port).toBe(1024);
  });
});

describe('image: services take their image’s user and platform', () => {
  const ecs = (d: ReturnType<typeof desired>) => find(asObserved(d), 'ecs-service');
  const want = (d: ReturnType<typeof desired>) => d.resources.find((r) => r.kind === 'ecs-service')!;

  it('an arm64-only image gets ARM64 and its own non-root USER', () => {
    const d = desired(IMAGE, { ...FACTS, images: { web: { user: '101:101', architectures: ['arm64'] } } });
    const svc = want(d);
    expect(svc.kind === 'ecs-service' && svc.runtimePlatform).toEqual({
      cpuArchitecture: 'ARM64',
      operatingSystemFamily: 'LINUX',
    });
    expect(svc.kind === 'ecs-service' && svc.bootstrap?.user).toBe('101:101');
    expect(d.warnings.map((w) => w.code)).not.toContain('PW_IMAGE_RUNS_AS_ROOT');
  });

  it('a multi-arch image with amd64 stays X86_64; unknown facts keep the defaults', () => {
    const multi = desired(IMAGE, { ...FACTS, images: { web: { user: '', architectures: ['amd64', 'arm64'] } } });
    expect(ecs(multi).runtimePlatform.cpuArchitecture).toBe('X86_64');
    const unknown = desired(IMAGE, FACTS);
    expect(ecs(unknown).runtimePlatform.cpuArchitecture).toBe('X86_64');
    expect(unknown.warnings.map((w) => w.code)).not.toContain('PW_IMAGE_RUNS_AS_ROOT');
  });

  it('an image that runs as root is warned about (registered code) and runs as 65532 unless user: says', () => {
    const d = desired(IMAGE, { ...FACTS, images: { web: { user: '', architectures: ['amd64'] } } });
    const w = d.warnings.find((x) => x.code === 'PW_IMAGE_RUNS_AS_ROOT');
    expect(w?.message).toMatch(/service web: image 127\.0\.0\.1:5000\/vendor\/app@sha256:a+ runs as root/);
    const svc = want(d);
    expect(svc.kind === 'ecs-service' && svc.bootstrap?.user).toBe('65532');
    const asRoot = desired(config(`image: 127.0.0.1:5000/vendor/app@${D}\nport: 80\nuser: root`), {
      ...FACTS,
      images: { web: { user: '', architectures: ['amd64'] } },
    });
    expect(asRoot.warnings.map((x) => x.code)).not.toContain('PW_IMAGE_RUNS_AS_ROOT');
  });

  it('build: services keep build.platform whatever an image fact says', () => {
    const d = desired(BUILD, { ...FACTS, images: { web: { user: '', architectures: ['arm64'] } } });
    expect(ecs(d).runtimePlatform.cpuArchitecture).toBe('X86_64');
  });

  it('the image moving to arm64 is planned as drift of the service platform', () => {
    const before = desired(IMAGE, { ...FACTS, images: { web: { user: '1000', architectures: ['amd64'] } } });
    const after = desired(IMAGE, { ...FACTS, images: { web: { user: '1000', architectures: ['arm64'] } } });
    const changes = publicPlan(plan(after, asObserved(before))).changes.filter((c: Change) => c.action !== 'noop');
    expect(changes).toEqual([
      {
        kind: 'ecs-service',
        name: 'shop-prod-web',
        service: 'web',
        action: 'update',
        reason: 'runtimePlatform.cpuArchitecture differs',
        diff: [{ field: 'runtimePlatform.cpuArchitecture', from: 'X86_64', to: 'ARM64' }],
        step: 1,
      },
    ]);
  });

  it('deploy keeps an image: service on the platform provision gave its task definition', () => {
    const t = target(IMAGE);
    const base: TaskDefinition = { ...BASE, runtimePlatform: { cpuArchitecture: 'ARM64' } };
    expect(deriveTaskDefinition(t, t.services[0]!, base, facts).runtimePlatform?.cpuArchitecture).toBe('ARM64');
  });
});

describe('reading an image config through the Registry HTTP API', () => {
  const CFG = `sha256:${'c'.repeat(64)}`;
  const ARM = `sha256:${'e'.repeat(64)}`;
  const serve =
    (routes: Record<string, unknown>, seen: string[] = []): typeof fetch =>
    async (url) => {
      seen.push(String(url));
      const path = new URL(String(url)).pathname;
      const body = routes[path];
      return body === undefined ? new Response('{}', { status: 404 }) : new Response(JSON.stringify(body));
    };

  it('an index: its linux platforms, the config of the amd64 (else first) entry', async () => {
    const seen: string[] = [];
    const f = serve(
      {
        '/v2/vendor/app/manifests/v1': {
          manifests: [
            { digest: ARM, platform: { os: 'linux', architecture: 'arm64' } },
            { digest: D, platform: { os: 'unknown', architecture: 'unknown' } },
          ],
        },
        [`/v2/vendor/app/manifests/${ARM}`]: { config: { digest: CFG } },
        [`/v2/vendor/app/blobs/${CFG}`]: { architecture: 'arm64', config: { User: 'nobody' } },
      },
      seen,
    );
    expect(await readImageFacts('127.0.0.1:5000/vendor/app:v1', { registry: null }, f)).toEqual({
      user: 'nobody',
      architectures: ['arm64'],
    });
    expect(seen.every((u) => u.startsWith('http://127.0.0.1:5000/v2/'))).toBe(true);
  });

  it('a single image: the config blob names the architecture; no USER is root ("")', async () => {
    const f = serve({
      [`/v2/app/manifests/${D}`]: { config: { digest: CFG } },
      [`/v2/app/blobs/${CFG}`]: { architecture: 'amd64', config: {} },
    });
    expect(await readImageFacts(`localhost:5000/app@${D}`, { registry: null }, f)).toEqual({
      user: '',
      architectures: ['amd64'],
    });
  });

  it('registries patchwork has no open access to are not asked; failures are unknown (null)', async () => {
    const seen: string[] = [];
    const f = serve({}, seen);
    expect(await readImageFacts('nginx:1.27', { registry: null }, f)).toBeNull();
    expect(await readImageFacts('public.example.com/x/y:1', { registry: null }, f)).toBeNull();
    expect(seen).toEqual([]);
    expect(await readImageFacts('127.0.0.1:5000/missing:1', { registry: null }, f)).toBeNull();
    expect(
      await imageFactsOf(
        {
          registry: null,
          services: [
            { name: 'web', image: null },
            { name: 'x', image: '127.0.0.1:5000/missing:1' },
          ],
        },
        f,
      ),
    ).toEqual({});
  });

  it('splits references', () => {
    expect(splitImageRef('127.0.0.1:5000/a/b:t')).toEqual({ host: '127.0.0.1:5000', repo: 'a/b', reference: 't' });
    expect(splitImageRef(`r.example/a@${D}`)).toEqual({ host: 'r.example', repo: 'a', reference: D });
    expect(splitImageRef('localhost/a')).toEqual({ host: 'localhost', repo: 'a', reference: 'latest' });
    expect(splitImageRef('library/nginx:1')).toBeNull();
  });
});
