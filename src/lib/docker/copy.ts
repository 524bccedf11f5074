/**
 * Copying an image by digest from one registry to another through the Registry HTTP API v2 (the
 * OCI distribution API), so that the target holds the very same manifest bytes and so the very same
 * `sha256:` digest: what promote does when the target environment is in another account or region
 * (on ECR, another registry: `<account>.dkr.ecr.<region>.amazonaws.com`), with each side's own
 * credentials (an ECR authorization token per side, GetAuthorizationToken in each account and region).
 *
 * For a single image: each blob (config and layers) the target lacks (HEAD) is streamed from the
 * source (a redirect, e.g. ECR's to S3, followed without the registry's credentials) into an upload
 * (POST, PATCH, PUT ?digest=, which the target verifies against the bytes); then the manifest is PUT
 * by its digest with the source's exact bytes and media type. An index (a multi-platform image) is
 * copied image by image, then itself. The source manifest is checked against its digest before
 * anything is written, and the target's answer (Docker-Content-Digest, then a HEAD) must name the
 * same digest. Nothing is built and the engine is not involved.
 */
import { createHash } from 'node:crypto';
import { PatchworkError } from '../errors.js';
import { isLoopback, MANIFEST_TYPES } from './registry.js';

type Fetch = typeof fetch;

/** One side of a copy: a registry (`host[:port]`, as in image names), its credentials, a repository. */
export interface RegistryEndpoint {
  host: string;
  /** The Authorization header (`Basic …` for ECR's token); none for an open registry. */
  authorization?: string;
  repo: string;
}

export interface CopyImageOptions {
  from: RegistryEndpoint;
  to: RegistryEndpoint;
  /** The manifest digest (`sha256:<64 hex>`) to copy. */
  digest: string;
  /** Also put the manifest under this tag on the target (best effort: an immutable tag taken elsewhere is kept). */
  tag?: string;
  fetchImpl?: Fetch;
  signal?: AbortSignal;
  /** Per blob: copied (its size) or already there. */
  onBlob?: (blob: { digest: string; size: number | null; copied: boolean }) => void;
}

export interface CopyImageResult {
  digest: string;
  /** Manifests put (an index and its images count each). */
  manifests: number;
  blobsCopied: number;
  blobsPresent: number;
  bytesCopied: number;
  /** The tag asked for, when the target took it. */
  tagged: boolean;
}

interface ManifestDoc {
  mediaType?: string;
  config?: { digest?: string; size?: number };
  layers?: { digest?: string; size?: number; mediaType?: string; urls?: string[] }[];
  manifests?: { digest?: string }[];
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export const basicAuth = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

export async function copyImage(opts: CopyImageOptions): Promise<CopyImageResult> {
  const fetchImpl = opts.fetchImpl ?? fetch;
  if (!DIGEST_RE.test(opts.digest)) {
    throw new PatchworkError('PW_USAGE', `not an image digest: ${opts.digest}`, { hint: 'pass sha256:<64 hex>' });
  }
  const result: CopyImageResult = {
    digest: opts.digest,
    manifests: 0,
    blobsCopied: 0,
    blobsPresent: 0,
    bytesCopied: 0,
    tagged: false,
  };
  const src = side(opts.from, fetchImpl, opts.signal);
  const dst = side(opts.to, fetchImpl, opts.signal);
  const sameRegistry = opts.from.host === opts.to.host;

  const copyBlob = async (digest: string, size: number | null) => {
    if (!DIGEST_RE.test(digest)) throw bad(opts.from, `a blob digest that is not sha256: ${digest}`);
    const head = await dst.call('HEAD', `blobs/${digest}`);
    await head.body?.cancel();
    if (head.status === 200) {
      result.blobsPresent++;
      opts.onBlob?.({ digest, size, copied: false });
      return;
    }
    if (sameRegistry) {
      // One registry, two repositories: a cross-repository mount copies nothing.
      const mount = await dst.call(
        'POST',
        `blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(opts.from.repo)}`,
      );
      await mount.body?.cancel();
      if (mount.status === 201) {
        result.blobsPresent++;
        opts.onBlob?.({ digest, size, copied: false });
        return;
      }
    }
    const body = await src.download(`blobs/${digest}`);
    const start = await dst.call('POST', 'blobs/uploads/');
    await start.body?.cancel();
    if (start.status !== 202) throw refused(opts.to, `starting an upload of ${digest}`, start.status);
    let location = dst.resolve(start.headers.get('location'));
    const patch = await dst.call('PATCH', location, {
      body: body.stream,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await patch.body?.cancel();
    if (patch.status !== 202 && patch.status !== 204) throw refused(opts.to, `uploading ${digest}`, patch.status);
    location = dst.resolve(patch.headers.get('location') ?? location);
    const put = await dst.call(
      'PUT',
      `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`,
    );
    await put.body?.cancel();
    if (put.status !== 201)
      throw refused(opts.to, `completing the upload of ${digest} (its bytes must match it)`, put.status);
    result.blobsCopied++;
    result.bytesCopied += body.size ?? size ?? 0;
    opts.onBlob?.({ digest, size: body.size ?? size, copied: true });
  };

  const copyManifest = async (digest: string): Promise<void> => {
    const { bytes, mediaType } = await src.manifest(digest);
    if (sha256(bytes) !== digest) {
      throw bad(opts.from, `the manifest of ${digest} does not hash to its digest (it would not keep its digest)`);
    }
    const doc = JSON.parse(bytes.toString('utf8')) as ManifestDoc;
    if (Array.isArray(doc.manifests)) {
      for (const m of doc.manifests) if (m.digest) await copyManifest(m.digest);
    } else {
      if (doc.config?.digest) await copyBlob(doc.config.digest, doc.config.size ?? null);
      for (const l of doc.layers ?? []) {
        // Foreign layers (urls: Windows base layers) are not in the registry: they stay where they are.
        if (l.digest && !l.urls?.length) await copyBlob(l.digest, l.size ?? null);
      }
    }
    const put = await dst.call('PUT', `manifests/${digest}`, {
      body: new Uint8Array(bytes),
      headers: { 'Content-Type': mediaType },
    });
    await put.body?.cancel();
    if (put.status !== 201) throw refused(opts.to, `putting the manifest ${digest}`, put.status);
    const echoed = put.headers.get('docker-content-digest');
    if (echoed && echoed !== digest) throw bad(opts.to, `the manifest put as ${digest} was stored as ${echoed}`);
    result.manifests++;
  };

  await copyManifest(opts.digest);
  // The target is asked again: it must serve the manifest under the very digest.
  const check = await dst.call('HEAD', `manifests/${opts.digest}`, { headers: { Accept: MANIFEST_TYPES.join(', ') } });
  await check.body?.cancel();
  const served = check.headers.get('docker-content-digest');
  if (check.status !== 200 || (served && served !== opts.digest)) {
    throw bad(opts.to, `after the copy the registry answers ${check.status} ${served ?? ''} for ${opts.digest}`);
  }
  if (opts.tag) {
    const { bytes, mediaType } = await src.manifest(opts.digest);
    const tagged = await dst.call('PUT', `manifests/${encodeURIComponent(opts.tag)}`, {
      body: new Uint8Array(bytes),
      headers: { 'Content-Type': mediaType },
    });
    await tagged.body?.cancel();
    result.tagged =
      tagged.status === 201 && (tagged.headers.get('docker-content-digest') ?? opts.digest) === opts.digest;
  }
  return result;
}

/** Is the manifest `digest` in the repository (HEAD)? */
export async function hasManifest(
  at: RegistryEndpoint,
  digest: string,
  fetchImpl: Fetch = fetch,
  signal?: AbortSignal,
): Promise<boolean> {
  const res = await side(at, fetchImpl, signal).call('HEAD', `manifests/${digest}`, {
    headers: { Accept: MANIFEST_TYPES.join(', ') },
  });
  await res.body?.cancel();
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw refused(at, `looking up ${digest}`, res.status);
}

function side(at: RegistryEndpoint, fetchImpl: Fetch, signal: AbortSignal | undefined) {
  const origin = `${isLoopback(at.host) ? 'http' : 'https'}://${at.host}`;
  const base = `${origin}/v2/${at.repo}/`;
  const resolve = (location: string | null): string => {
    if (!location) throw bad(at, 'an upload answered without a Location');
    return new URL(location, origin).toString();
  };
  const call = async (
    method: string,
    pathOrUrl: string,
    init: { body?: RequestInit['body']; headers?: Record<string, string> } = {},
  ): Promise<Response> => {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${base}${pathOrUrl}`;
    const sameOrigin = new URL(url).origin === origin;
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (at.authorization && sameOrigin) headers.Authorization = at.authorization;
    try {
      const res = await fetchImpl(url, {
        method,
        headers,
        redirect: 'manual',
        ...(init.body !== undefined ? { body: init.body, duplex: 'half' } : {}),
        ...(signal ? { signal } : {}),
      } as RequestInit);
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new PatchworkError(
          'PW_ACCESS_DENIED',
          `the registry ${at.host} refused ${method} ${at.repo} (HTTP ${res.status})`,
          {
            hint: 'the credentials of that account and region need ecr:GetAuthorizationToken and the pull (source) or push (target) actions on the repository',
            data: { registry: at.host, repository: at.repo },
          },
        );
      }
      return res;
    } catch (err) {
      if (err instanceof PatchworkError) throw err;
      if ((err as Error).name === 'AbortError') throw err;
      throw new PatchworkError('PW_REGISTRY_UNREACHABLE', `cannot reach the registry ${at.host} (${causeOf(err)})`, {
        hint: 'check the network path to the registry, then rerun',
        data: { registry: at.host },
        cause: err,
      });
    }
  };
  return {
    resolve,
    call,
    async manifest(digest: string): Promise<{ bytes: Buffer; mediaType: string }> {
      const res = await call('GET', `manifests/${digest}`, { headers: { Accept: MANIFEST_TYPES.join(', ') } });
      if (res.status === 404) {
        await res.body?.cancel();
        throw new PatchworkError('PW_IMAGE_NOT_FOUND', `${at.host}/${at.repo} has no manifest ${digest}`, {
          hint: 'promote a release whose image is still in the source registry',
          data: { registry: at.host, repository: at.repo, digest },
        });
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        throw refused(at, `reading the manifest ${digest}`, res.status);
      }
      const bytes = Buffer.from(await res.arrayBuffer());
      const mediaType =
        res.headers.get('content-type')?.split(';')[0]?.trim() ||
        (JSON.parse(bytes.toString('utf8')) as ManifestDoc).mediaType ||
        MANIFEST_TYPES[0]!;
      return { bytes, mediaType };
    },
    /** A blob's body as a stream, following redirects (to storage) without the registry's credentials. */
    async download(path: string): Promise<{ stream: ReadableStream<Uint8Array>; size: number | null }> {
      let res = await call('GET', path);
      for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 5; hops++) {
        const next = res.headers.get('location');
        await res.body?.cancel();
        if (!next) break;
        res = await call('GET', new URL(next, res.url || origin).toString());
      }
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        throw refused(at, `downloading ${path}`, res.status);
      }
      const length = Number(res.headers.get('content-length'));
      return { stream: res.body, size: Number.isFinite(length) && length > 0 ? length : null };
    },
  };
}

function causeOf(err: unknown): string {
  return (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message ?? String(err);
}

function refused(at: RegistryEndpoint, what: string, status: number): PatchworkError {
  return new PatchworkError('PW_PUSH_FAILED', `the registry ${at.host} answered HTTP ${status} ${what} in ${at.repo}`, {
    hint: 'rerun; if it persists check the repository exists (provision the target environment) and the permissions',
    data: { registry: at.host, repository: at.repo, status },
  });
}

function bad(at: RegistryEndpoint, what: string): PatchworkError {
  return new PatchworkError('PW_PUSH_FAILED', `copying into or out of ${at.host}/${at.repo}: ${what}`, {
    hint: 'a proxy may be rewriting responses; check the registries, then rerun',
    data: { registry: at.host, repository: at.repo },
  });
}
