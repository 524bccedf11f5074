/**
 * docker/copy.ts against two in-memory registries that speak the Registry HTTP API v2 the way the
 * distribution registry does (blob HEAD/GET, POST/PATCH/PUT uploads that check the digest of the
 * bytes, cross-repository mounts, manifests PUT by digest or tag, 401 without the right
 * credentials) and one whose blobs are served through a redirect to storage (as ECR's are, to S3):
 * the target ends up serving the very same manifest bytes under the very same digest.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { basicAuth, copyImage, hasManifest } from '../../src/lib/docker/copy.js';
import { PatchworkError } from '../../src/lib/errors.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Repo {
  blobs: Map<string, Buffer>;
  manifests: Map<string, { bytes: Buffer; type: string }>;
}

/** A registry at `host`: repositories, uploads, the log of requests it got. */
class FakeRegistry {
  repos = new Map<string, Repo>();
  uploads = new Map<string, Buffer[]>();
  log: { method: string; path: string; auth: string | null }[] = [];
  constructor(
    readonly host: string,
    readonly auth: string | null = null,
    /** Serve blob GETs as a 307 to this storage host (ECR → S3). */
    readonly storage: string | null = null,
  ) {}
  repo(name: string): Repo {
    let r = this.repos.get(name);
    if (!r) {
      r = { blobs: new Map(), manifests: new Map() };
      this.repos.set(name, r);
    }
    return r;
  }
  async handle(url: URL, init: RequestInit): Promise<Response> {
    const method = init.method ?? 'GET';
    const headers = new Headers(init.headers);
    this.log.push({ method, path: url.pathname + url.search, auth: headers.get('authorization') });
    if (this.auth && headers.get('authorization') !== this.auth) return new Response('denied', { status: 401 });
    const m = /^\/v2\/(.+?)\/(blobs|manifests)\/(.*)$/.exec(url.pathname);
    if (!m) return new Response('no', { status: 404 });
    const [, name, kind, rest] = m as unknown as [string, string, string, string];
    const repo = this.repo(name);
    const body = async () =>
      init.body ? Buffer.from(await new Response(init.body as ReadableStream).arrayBuffer()) : Buffer.alloc(0);
    if (kind === 'manifests') {
      if (method === 'PUT') {
        const bytes = await body();
        const digest = sha(bytes);
        if (rest.startsWith('sha256:') && rest !== digest) return new Response('DIGEST_INVALID', { status: 400 });
        const entry = { bytes, type: headers.get('content-type') ?? '' };
        repo.manifests.set(digest, entry);
        if (!rest.startsWith('sha256:')) repo.manifests.set(rest, entry);
        return new Response(null, { status: 201, headers: { 'Docker-Content-Digest': digest } });
      }
      const got = repo.manifests.get(decodeURIComponent(rest));
      if (!got) return new Response('MANIFEST_UNKNOWN', { status: 404 });
      return new Response(method === 'HEAD' ? null : new Uint8Array(got.bytes), {
        status: 200,
        headers: { 'Content-Type': got.type, 'Docker-Content-Digest': sha(got.bytes) },
      });
    }
    if (rest.startsWith('uploads/')) {
      const id = rest.slice('uploads/'.length);
      if (method === 'POST' && !id) {
        const mount = url.searchParams.get('mount');
        const from = url.searchParams.get('from');
        if (mount && from && this.repos.get(from)?.blobs.has(mount)) {
          repo.blobs.set(mount, this.repos.get(from)!.blobs.get(mount)!);
          return new Response(null, { status: 201 });
        }
        const uid = `u${this.uploads.size + 1}`;
        this.uploads.set(uid, []);
        return new Response(null, { status: 202, headers: { Location: `/v2/${name}/blobs/uploads/${uid}?_state=x` } });
      }
      const parts = this.uploads.get(id);
      if (!parts) return new Response('BLOB_UPLOAD_UNKNOWN', { status: 404 });
      if (method === 'PATCH') {
        parts.push(await body());
        return new Response(null, { status: 202, headers: { Location: `/v2/${name}/blobs/uploads/${id}?_state=y` } });
      }
      if (method === 'PUT') {
        parts.push(await body());
        const bytes = Buffer.concat(parts);
        if (sha(bytes) !== url.searchParams.get('digest')) return new Response('DIGEST_INVALID', { status: 400 });
        repo.blobs.set(sha(bytes), bytes);
        return new Response(null, { status: 201 });
      }
    }
    const blob = repo.blobs.get(rest);
    if (!blob) return new Response('BLOB_UNKNOWN', { status: 404 });
    if (method === 'GET' && this.storage) {
      return new Response(null, { status: 307, headers: { Location: `https://${this.storage}/layer/${rest}?sig=1` } });
    }
    return new Response(method === 'HEAD' ? null : new Uint8Array(blob), {
      status: 200,
      headers: { 'Content-Length': String(blob.length) },
    });
  }
}

/** One fetch for a set of registries (by host) and storage hosts that serve a registry's blobs. */
function network(...registries: FakeRegistry[]) {
  const storageLog: { auth: string | null }[] = [];
  const impl = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const reg = registries.find((r) => r.host === url.host);
    if (reg) return reg.handle(url, init);
    const owner = registries.find((r) => r.storage === url.host);
    if (owner) {
      storageLog.push({ auth: new Headers(init.headers).get('authorization') });
      const digest = url.pathname.replace('/layer/', '');
      for (const repo of owner.repos.values()) {
        const b = repo.blobs.get(digest);
        if (b) return new Response(new Uint8Array(b), { status: 200 });
      }
      return new Response('nope', { status: 404 });
    }
    throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  }) as typeof fetch;
  return { impl, storageLog };
}

/** An image in `reg`/`repo`: a config blob, two layers, its manifest; returns the manifest digest. */
function seedImage(reg: FakeRegistry, repo: string, seed = 'a'): { digest: string; bytes: Buffer } {
  const r = reg.repo(repo);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', config: { Labels: { seed } } }));
  const layers = [Buffer.from(`layer-1-${seed}`.repeat(1000)), Buffer.from(`layer-2-${seed}`)];
  for (const b of [config, ...layers]) r.blobs.set(sha(b), b);
  // Deliberately unusual formatting: a copy that re-serialised the JSON would change the digest.
  const bytes = Buffer.from(
    `{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",\n   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": ${config.length}, "digest": "${sha(config)}"},\n   "layers": [${layers.map((l) => `{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": ${l.length}, "digest": "${sha(l)}"}`).join(', ')}]\n}`,
  );
  const digest = sha(bytes);
  r.manifests.set(digest, { bytes, type: 'application/vnd.docker.distribution.manifest.v2+json' });
  return { digest, bytes };
}

describe('copyImage: registry to registry by digest', () => {
  it('copies blobs and the exact manifest bytes; the target serves the same digest; a second copy moves nothing', async () => {
    const a = new FakeRegistry('127.0.0.1:5001');
    const b = new FakeRegistry('127.0.0.1:5002');
    const { digest, bytes } = seedImage(a, 'shop-web');
    const net = network(a, b);
    const blobs: boolean[] = [];
    const out = await copyImage({
      from: { host: a.host, repo: 'shop-web' },
      to: { host: b.host, repo: 'shop-web' },
      digest,
      tag: 'abc123',
      fetchImpl: net.impl,
      onBlob: (x) => blobs.push(x.copied),
    });
    expect(out).toMatchObject({ digest, manifests: 1, blobsCopied: 3, blobsPresent: 0, tagged: true });
    expect(blobs).toEqual([true, true, true]);
    const stored = b.repo('shop-web').manifests.get(digest)!;
    expect(stored.bytes.equals(bytes)).toBe(true);
    expect(stored.type).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(sha(b.repo('shop-web').manifests.get('abc123')!.bytes)).toBe(digest);
    expect(await hasManifest({ host: b.host, repo: 'shop-web' }, digest, net.impl)).toBe(true);

    const again = await copyImage({
      from: { host: a.host, repo: 'shop-web' },
      to: { host: b.host, repo: 'shop-web' },
      digest,
      fetchImpl: net.impl,
    });
    expect(again).toMatchObject({ blobsCopied: 0, blobsPresent: 3, bytesCopied: 0 });
    expect(b.log.filter((l) => l.method === 'PATCH')).toHaveLength(3); // only the first copy uploaded
  });

  it("each side gets its own credentials; storage redirects get none; ECR's token is Basic AWS:<token>", async () => {
    const tokenA = basicAuth('AWS', 'token-of-account-a');
    const tokenB = basicAuth('AWS', 'token-of-account-b');
    expect(tokenA).toBe(`Basic ${Buffer.from('AWS:token-of-account-a').toString('base64')}`);
    const a = new FakeRegistry('111111111111.registry.test', tokenA, 'storage-a.test');
    const b = new FakeRegistry('222222222222.registry.test', tokenB);
    const { digest } = seedImage(a, 'shop-web');
    const net = network(a, b);
    await copyImage({
      from: { host: a.host, repo: 'shop-web', authorization: tokenA },
      to: { host: b.host, repo: 'shop-web', authorization: tokenB },
      digest,
      fetchImpl: net.impl,
    });
    expect(a.log.every((l) => l.auth === tokenA)).toBe(true);
    expect(b.log.every((l) => l.auth === tokenB)).toBe(true);
    expect(net.storageLog).toHaveLength(3);
    expect(net.storageLog.every((l) => l.auth === null)).toBe(true);
    expect(sha(b.repo('shop-web').manifests.get(digest)!.bytes)).toBe(digest);

    // The wrong token for the target: refused, named.
    const c = new FakeRegistry('333333333333.registry.test', basicAuth('AWS', 'other'));
    const err = await copyImage({
      from: { host: a.host, repo: 'shop-web', authorization: tokenA },
      to: { host: c.host, repo: 'shop-web', authorization: tokenB },
      digest,
      fetchImpl: network(a, c).impl,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PatchworkError);
    expect((err as PatchworkError).code).toBe('PW_ACCESS_DENIED');
    expect((err as PatchworkError).message).toContain('333333333333.registry.test');
  });

  it('an index is copied image by image, then itself', async () => {
    const a = new FakeRegistry('127.0.0.1:5001');
    const b = new FakeRegistry('127.0.0.1:5002');
    const amd = seedImage(a, 'shop-web', 'amd64');
    const arm = seedImage(a, 'shop-web', 'arm64');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { digest: amd.digest, platform: { os: 'linux', architecture: 'amd64' } },
          { digest: arm.digest, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    a.repo('shop-web').manifests.set(sha(index), { bytes: index, type: 'application/vnd.oci.image.index.v1+json' });
    const out = await copyImage({
      from: { host: a.host, repo: 'shop-web' },
      to: { host: b.host, repo: 'shop-web' },
      digest: sha(index),
      fetchImpl: network(a, b).impl,
    });
    expect(out).toMatchObject({ manifests: 3, blobsCopied: 6 });
    for (const d of [amd.digest, arm.digest, sha(index)]) expect(b.repo('shop-web').manifests.has(d)).toBe(true);
  });

  it('one registry, two repositories: blobs are mounted, not downloaded', async () => {
    const a = new FakeRegistry('127.0.0.1:5001');
    const { digest } = seedImage(a, 'shop-staging-web');
    const out = await copyImage({
      from: { host: a.host, repo: 'shop-staging-web' },
      to: { host: a.host, repo: 'shop-web' },
      digest,
      fetchImpl: network(a).impl,
    });
    expect(out).toMatchObject({ blobsCopied: 0, blobsPresent: 3 });
    expect(a.log.some((l) => l.method === 'GET' && l.path.includes('/blobs/'))).toBe(false);
    expect(a.repo('shop-web').manifests.has(digest)).toBe(true);
  });

  it('a source manifest that does not hash to its digest is refused before anything is written', async () => {
    const a = new FakeRegistry('127.0.0.1:5001');
    const b = new FakeRegistry('127.0.0.1:5002');
    const { digest } = seedImage(a, 'shop-web');
    const bogus = `sha256:${'0'.repeat(64)}`;
    a.repo('shop-web').manifests.set(bogus, a.repo('shop-web').manifests.get(digest)!);
    const err = await copyImage({
      from: { host: a.host, repo: 'shop-web' },
      to: { host: b.host, repo: 'shop-web' },
      digest: bogus,
      fetchImpl: network(a, b).impl,
    }).catch((e: unknown) => e);
    expect((err as PatchworkError).code).toBe('PW_PUSH_FAILED');
    expect((err as PatchworkError).message).toContain('does not hash to its digest');
    expect(b.log.filter((l) => l.method !== 'GET' && l.method !== 'HEAD')).toEqual([]);
  });

  it('a digest the source does not have is PW_IMAGE_NOT_FOUND; an unreachable target is PW_REGISTRY_UNREACHABLE', async () => {
    const a = new FakeRegistry('127.0.0.1:5001');
    const { digest } = seedImage(a, 'shop-web');
    const missing = await copyImage({
      from: { host: a.host, repo: 'shop-web' },
      to: { host: '127.0.0.1:5999', repo: 'shop-web' },
      digest: `sha256:${'1'.repeat(64)}`,
      fetchImpl: network(a).impl,
    }).catch((e: unknown) => e);
    expect((missing as PatchworkError).code).toBe('PW_IMAGE_NOT_FOUND');
    const unreachable = await copyImage({
      from: { host: a.host, repo: 'shop-web' },
      to: { host: '127.0.0.1:5999', repo: 'shop-web' },
      digest,
      fetchImpl: network(a).impl,
    }).catch((e: unknown) => e);
    expect((unreachable as PatchworkError).code).toBe('PW_REGISTRY_UNREACHABLE');
    expect((unreachable as PatchworkError).message).toContain('127.0.0.1:5999 (ECONNREFUSED)');
    const gone = await copyImage({
      from: { host: a.host, repo: 'other' },
      to: { host: a.host, repo: 'shop-web' },
      digest,
      fetchImpl: network(a).impl,
    }).catch((e: unknown) => e);
    expect((gone as PatchworkError).code).toBe('PW_IMAGE_NOT_FOUND');
  });
});
