/**
 * What a registry already holds, asked over the Registry HTTP API v2 (any plain registry) or the
 * ECR API. Used to skip builds whose tag is already pushed and to check the digest of a push.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AwsClients } from '../aws/clients.js';
import { isAwsError } from '../aws/errors.js';
import { PatchworkError } from '../errors.js';
import type { RegistryAuth } from './image.js';

/** Every manifest type a tag may point at: Docker v2 and OCI, single images and indexes. */
export const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
];

export interface RemoteImage {
  /** Manifest digest (`sha256:…`) — what task definitions pin. */
  digest: string;
  /** Compressed size (config + layers) when the registry tells; null for indexes or unknown. */
  sizeBytes: number | null;
}

/** Where images go: a plain registry at host:port, or ECR in the session's account and region. */
export interface ImageRegistry {
  readonly kind: 'plain' | 'ecr';
  /** `host[:port]`: the prefix of image names. */
  readonly host: string;
  /** Credentials for the engine's push (empty for an open registry). */
  auth(): Promise<RegistryAuth>;
  /** The image at repo:tag, or null when the registry does not have that tag. */
  find(repo: string, tag: string, opts?: { size?: boolean }): Promise<RemoteImage | null>;
  /** Every tag in the repository (empty when it has none or does not exist): resolves `deploy --sha <prefix>`. */
  tags(repo: string): Promise<string[]>;
}

/** The part of a fetch Response the registry client reads. */
interface RegistryResponse {
  status: number;
  headers: { get(name: string): string | null };
  body?: { cancel(): Promise<void> } | null;
  arrayBuffer(): Promise<ArrayBuffer>;
  json(): Promise<unknown>;
}
export type RegistryFetch = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<RegistryResponse>;
type Fetch = RegistryFetch;

/**
 * The registry's few HEADs and GETs over node:http(s), shaped like fetch (the default of
 * PlainRegistry): the global fetch loads undici and compiles its HTTP parser (WebAssembly), which
 * costs a CLI that asks one manifest ~10–40 MiB of memory and start-up time. Fails with the
 * socket's own error (its `code`: ECONNREFUSED, …; an AbortError on timeout). Follows no redirects: manifests are served
 * by the registry itself (blob reads, which a registry may redirect to its storage, keep fetch).
 */
export const httpFetch: Fetch = (url, init = {}) =>
  new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(u, { method: init.method ?? 'GET', headers: init.headers ?? {}, signal: init.signal });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      const done = new Promise<Buffer>((ok, fail) => {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok(Buffer.concat(chunks)));
        res.on('error', fail);
      });
      done.catch(() => {});
      resolve({
        status: res.statusCode ?? 0,
        headers: {
          get: (name) => {
            const v = res.headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          },
        },
        body: {
          cancel: async () => {
            res.destroy();
          },
        },
        arrayBuffer: async () => {
          const b = await done;
          return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
        },
        json: async () => JSON.parse((await done).toString('utf8')) as unknown,
      });
    });
    req.end();
  });

export function isLoopback(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** A registry that speaks the Registry HTTP API v2 without authentication (e.g. the local one). */
export class PlainRegistry implements ImageRegistry {
  readonly kind = 'plain';
  private scheme: Promise<string> | undefined;

  constructor(
    readonly host: string,
    private readonly fetchImpl: Fetch = httpFetch,
    private readonly timeoutMs = 10_000,
  ) {}

  async auth(): Promise<RegistryAuth> {
    return {};
  }

  /** http on loopback (as the engine does); elsewhere https, falling back to http. */
  private base(): Promise<string> {
    this.scheme ??= (async () => {
      if (isLoopback(this.host)) return 'http';
      try {
        await this.fetchImpl(`https://${this.host}/v2/`, { signal: AbortSignal.timeout(this.timeoutMs) });
        return 'https';
      } catch {
        return 'http';
      }
    })();
    return this.scheme.then((s) => `${s}://${this.host}`);
  }

  private async request(method: 'HEAD' | 'GET', path: string): Promise<RegistryResponse> {
    const url = `${await this.base()}${path}`;
    let res: RegistryResponse;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: { Accept: MANIFEST_TYPES.join(', ') },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      // fetch's failure carries the socket's code as its cause; httpFetch's is the socket's error.
      const e = err as { cause?: { code?: string }; code?: string; name?: string };
      const cause = e.cause?.code ?? e.code ?? e.name;
      throw new PatchworkError('PW_REGISTRY_UNREACHABLE', `cannot reach the registry at ${url} (${cause})`, {
        hint: 'start the registry or fix registry: in the config',
        data: { registry: this.host },
        cause: err,
      });
    }
    if (res.status === 401 || res.status === 403) {
      throw new PatchworkError(
        'PW_REGISTRY_UNREACHABLE',
        `the registry at ${this.host} wants credentials (HTTP ${res.status}); patchwork authenticates only to ECR`,
        { hint: 'use an open registry on a private network, or ECR (remove registry: from the config)' },
      );
    }
    return res;
  }

  async tags(repo: string): Promise<string[]> {
    const res = await this.request('GET', `/v2/${repo}/tags/list?n=10000`);
    if (res.status === 404) {
      await res.body?.cancel();
      return [];
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new PatchworkError(
        'PW_REGISTRY_UNREACHABLE',
        `the registry at ${this.host} answered HTTP ${res.status} for the tags of ${repo}`,
        {
          hint: 'check that registry: points at a Docker registry (Registry HTTP API v2)',
        },
      );
    }
    const body = (await res.json()) as { tags?: unknown };
    return Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
  }

  async find(repo: string, tag: string, opts: { size?: boolean } = {}): Promise<RemoteImage | null> {
    const path = `/v2/${repo}/manifests/${encodeURIComponent(tag)}`;
    const res = await this.request(opts.size ? 'GET' : 'HEAD', path);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new PatchworkError(
        'PW_REGISTRY_UNREACHABLE',
        `the registry at ${this.host} answered HTTP ${res.status} for ${path}`,
        { hint: 'check that registry: points at a Docker registry (Registry HTTP API v2)' },
      );
    }
    const header = res.headers.get('docker-content-digest');
    if (!opts.size) {
      if (!header) throw noDigest(this.host, path);
      return { digest: header, sizeBytes: null };
    }
    const body = Buffer.from(await res.arrayBuffer());
    const computed = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (header && header !== computed && header.startsWith('sha256:')) {
      throw new PatchworkError(
        'PW_REGISTRY_UNREACHABLE',
        `the registry at ${this.host} sent a manifest for ${repo}:${tag} whose content does not match its digest header`,
        { hint: 'a proxy may be rewriting responses; check registry: in the config', data: { header, computed } },
      );
    }
    return { digest: header ?? computed, sizeBytes: manifestSize(body) };
  }
}

function noDigest(host: string, path: string): PatchworkError {
  return new PatchworkError(
    'PW_REGISTRY_UNREACHABLE',
    `the registry at ${host} sent no Docker-Content-Digest for ${path}`,
    {
      hint: 'use a registry that implements the Registry HTTP API v2',
    },
  );
}

/** config + layer sizes of a single-image manifest; null for an index or anything unexpected. */
export function manifestSize(body: Buffer | string): number | null {
  try {
    const m = JSON.parse(body.toString()) as { config?: { size?: number }; layers?: { size?: number }[] };
    if (!m.config || !Array.isArray(m.layers)) return null;
    return (m.config.size ?? 0) + m.layers.reduce((n, l) => n + (l.size ?? 0), 0);
  } catch {
    return null;
  }
}

/** ECR: login through GetAuthorizationToken (kept in memory only), lookups through DescribeImages. */
export class EcrRegistry implements ImageRegistry {
  readonly kind = 'ecr';
  private constructor(
    private readonly aws: AwsClients,
    readonly host: string,
    readonly account: string,
    private readonly credentials: RegistryAuth,
    readonly env: string,
  ) {}

  /** Logs in (one GetAuthorizationToken call) and learns the registry host and account from it. */
  static async login(aws: AwsClients, env: string): Promise<EcrRegistry> {
    const { GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
    const ecr = await aws.get('ecr');
    const out = await ecr.send(new GetAuthorizationTokenCommand({}));
    const data = out.authorizationData?.[0];
    if (!data?.authorizationToken) {
      throw new PatchworkError('PW_AWS_ERROR', 'ECR.GetAuthorizationToken returned no token', {
        hint: 'rerun; if it persists check the ecr:GetAuthorizationToken permission',
      });
    }
    const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const credentials: RegistryAuth = {
      username: colon > 0 ? decoded.slice(0, colon) : 'AWS',
      password: colon > 0 ? decoded.slice(colon + 1) : decoded,
    };
    let host = data.proxyEndpoint ? data.proxyEndpoint.replace(/^https?:\/\//, '').replace(/\/+$/, '') : '';
    let account = /^(\d{12})\.dkr\.ecr\./.exec(host)?.[1] ?? '';
    if (!account) {
      account = await callerAccount(aws);
      host ||= ecrHost(account, aws.region);
    }
    credentials.serveraddress = `https://${host}`;
    return new EcrRegistry(aws, host, account, credentials, env);
  }

  async auth(): Promise<RegistryAuth> {
    return this.credentials;
  }

  async find(repo: string, tag: string): Promise<RemoteImage | null> {
    return describeEcrImage(this.aws, repo, tag, this.env);
  }

  /** DescribeImages (paginated, tagged images only): the ecr:DescribeImages the deploy policy already grants. */
  async tags(repo: string): Promise<string[]> {
    const { paginateDescribeImages } = await import('@aws-sdk/client-ecr');
    const ecr = await this.aws.get('ecr');
    const out: string[] = [];
    try {
      for await (const page of paginateDescribeImages(
        { client: ecr, pageSize: 1000 },
        { repositoryName: repo, filter: { tagStatus: 'TAGGED' } },
      )) {
        for (const d of page.imageDetails ?? []) out.push(...(d.imageTags ?? []));
      }
    } catch (err) {
      if (isAwsError(err, 'RepositoryNotFoundException')) return [];
      throw err;
    }
    return out;
  }
}

/** One ECR DescribeImages for a tag or a digest (`sha256:…`); null when the repository lacks it. */
async function describeEcrImage(aws: AwsClients, repo: string, ref: string, env: string): Promise<RemoteImage | null> {
  const { DescribeImagesCommand } = await import('@aws-sdk/client-ecr');
  const ecr = await aws.get('ecr');
  const imageId = ref.startsWith('sha256:') ? { imageDigest: ref } : { imageTag: ref };
  try {
    const out = await ecr.send(new DescribeImagesCommand({ repositoryName: repo, imageIds: [imageId] }));
    const detail = out.imageDetails?.[0];
    if (!detail?.imageDigest) return null;
    return { digest: detail.imageDigest, sizeBytes: detail.imageSizeInBytes ?? null };
  } catch (err) {
    if (isAwsError(err, 'ImageNotFoundException')) return null;
    if (isAwsError(err, 'RepositoryNotFoundException')) {
      throw new PatchworkError('PW_REPOSITORY_NOT_FOUND', `ECR repository ${repo} does not exist in ${aws.region}`, {
        hint: `run \`patchwork provision --env ${env}\` first (it creates the repositories), or build with --no-push`,
        data: { repository: repo, region: aws.region },
        cause: err,
      });
    }
    throw err;
  }
}

const ECR_HOST_RE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//;

/**
 * Is `image` in the environment's own registry: the configured plain one, or ECR in its region (and
 * its account, when the config names one)?
 */
export function inOwnRegistry(
  image: string,
  target: { registry: string | null; region: string; account?: string | null },
): boolean {
  if (target.registry) return image.startsWith(`${target.registry}/`);
  const m = ECR_HOST_RE.exec(image);
  return !!m && m[2] === target.region && (!target.account || m[1] === target.account);
}

/** The repository of an image in the environment's own registry (`host/repo[:tag][@digest]` → `repo`), else null. */
export function repositoryOfImage(image: string, target: { registry: string | null; region: string }): string | null {
  if (!inOwnRegistry(image, target)) return null;
  const path = image.slice(image.indexOf('/') + 1).replace(/@sha256:[0-9a-f]{64}$/, '');
  const colon = path.lastIndexOf(':');
  return colon > path.lastIndexOf('/') ? path.slice(0, colon) : path;
}

/**
 * The environment's registry asked for `repo` at a tag or digest, without logging in: the Registry
 * HTTP API for a plain registry, one ECR DescribeImages otherwise.
 */
export async function lookupImage(
  aws: AwsClients,
  target: { registry: string | null; env: string },
  repo: string,
  ref: string,
): Promise<RemoteImage | null> {
  if (target.registry) return new PlainRegistry(target.registry).find(repo, ref);
  return describeEcrImage(aws, repo, ref, target.env);
}

/** The label patchwork's builds set to the git commit (OCI image annotations). */
export const REVISION_LABEL = 'org.opencontainers.image.revision';

interface ManifestDoc {
  config?: { digest?: string };
  manifests?: { digest?: string; platform?: { os?: string; architecture?: string } }[];
}

/**
 * The `org.opencontainers.image.revision` label of the image `repo@digest` in the environment's own
 * registry (its config blob, read through the Registry HTTP API of a plain registry, or ECR's
 * BatchGetImage and GetDownloadUrlForLayer), or null when it has none or it cannot be read. An
 * index is followed to its linux/amd64 (else first) image.
 */
export async function imageRevision(
  aws: AwsClients,
  target: { registry: string | null },
  repo: string,
  digest: string,
  fetchImpl: Fetch = fetch,
): Promise<string | null> {
  const timeout = () => AbortSignal.timeout(10_000);
  let manifest: (ref: string) => Promise<ManifestDoc>;
  let blob: (ref: string) => Promise<unknown>;
  if (target.registry) {
    const base = `${isLoopback(target.registry) ? 'http' : 'https'}://${target.registry}/v2/${repo}`;
    const get = async (url: string, accept?: string) => {
      const res = await fetchImpl(url, { headers: accept ? { Accept: accept } : {}, signal: timeout() });
      if (res.status !== 200) {
        await res.body?.cancel();
        return {};
      }
      return res.json() as Promise<unknown>;
    };
    manifest = async (ref) => (await get(`${base}/manifests/${ref}`, MANIFEST_TYPES.join(', '))) as ManifestDoc;
    blob = (ref) => get(`${base}/blobs/${ref}`);
  } else {
    const { BatchGetImageCommand, GetDownloadUrlForLayerCommand } = await import('@aws-sdk/client-ecr');
    const ecr = await aws.get('ecr');
    manifest = async (ref) => {
      const out = await ecr.send(
        new BatchGetImageCommand({
          repositoryName: repo,
          imageIds: [{ imageDigest: ref }],
          acceptedMediaTypes: MANIFEST_TYPES,
        }),
      );
      return JSON.parse(out.images?.[0]?.imageManifest ?? '{}') as ManifestDoc;
    };
    blob = async (ref) => {
      const out = await ecr.send(new GetDownloadUrlForLayerCommand({ repositoryName: repo, layerDigest: ref }));
      if (!out.downloadUrl) return {};
      const res = await fetchImpl(out.downloadUrl, { signal: timeout() });
      if (res.status !== 200) {
        await res.body?.cancel();
        return {};
      }
      return res.json() as Promise<unknown>;
    };
  }
  try {
    let doc = await manifest(digest);
    if (!doc.config && doc.manifests?.length) {
      const pick =
        doc.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ??
        doc.manifests[0]!;
      if (!pick.digest) return null;
      doc = await manifest(pick.digest);
    }
    if (!doc.config?.digest) return null;
    const config = (await blob(doc.config.digest)) as { config?: { Labels?: Record<string, string> | null } };
    const value = config.config?.Labels?.[REVISION_LABEL];
    return typeof value === 'string' && value.trim() ? value.trim() : null;
  } catch {
    return null;
  }
}

export function ecrHost(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

async function callerAccount(aws: AwsClients): Promise<string> {
  const { GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const sts = await aws.get('sts');
  const who = await sts.send(new GetCallerIdentityCommand({}));
  if (!who.Account) throw new PatchworkError('PW_AWS_ERROR', 'STS.GetCallerIdentity returned no account', {});
  return who.Account;
}

/** `host[:port]/repo[:tag|@digest]` split for the Registry HTTP API; null for a bare Docker Hub name. */
export function splitImageRef(ref: string): { host: string; repo: string; reference: string } | null {
  const at = ref.indexOf('@');
  let name = at >= 0 ? ref.slice(0, at) : ref;
  let reference = at >= 0 ? ref.slice(at + 1) : '';
  const slash = name.indexOf('/');
  if (slash < 0) return null;
  const host = name.slice(0, slash);
  // A first component without '.', ':' or 'localhost' is a Docker Hub namespace, not a host.
  if (!/[.:]/.test(host) && host !== 'localhost') return null;
  if (!reference) {
    const colon = name.lastIndexOf(':');
    if (colon > slash) {
      reference = name.slice(colon + 1);
      name = name.slice(0, colon);
    } else reference = 'latest';
  }
  return { host, repo: name.slice(slash + 1), reference };
}

interface ManifestJson {
  mediaType?: string;
  manifests?: { digest?: string; platform?: { architecture?: string; os?: string } }[];
  config?: { digest?: string };
}

/**
 * An image's own configuration (USER, architectures) through the Registry HTTP API v2: the manifest
 * (an index lists its platforms; a single image's config blob names its architecture) and the config
 * blob. Only for a registry patchwork talks to without credentials — a loopback one or the
 * configured `registry:` — else null (unknown: the caller keeps its defaults). Never throws.
 */
export async function readImageFacts(
  ref: string,
  target: { registry: string | null },
  fetchImpl: Fetch = fetch,
  timeoutMs = 10_000,
): Promise<{ user: string; architectures: string[] } | null> {
  const parts = splitImageRef(ref);
  if (!parts || !(isLoopback(parts.host) || parts.host === target.registry)) return null;
  const scheme = isLoopback(parts.host) ? 'http' : 'https';
  const get = async (path: string, accept: string): Promise<unknown | null> => {
    const res = await fetchImpl(`${scheme}://${parts.host}/v2/${parts.repo}/${path}`, {
      headers: { Accept: accept },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status === 200) return res.json();
    await res.body?.cancel();
    return null;
  };
  try {
    const top = (await get(`manifests/${parts.reference}`, MANIFEST_TYPES.join(', '))) as ManifestJson | null;
    if (!top) return null;
    let manifest: ManifestJson | null = top;
    let architectures: string[] | null = null;
    if (Array.isArray(top.manifests)) {
      const linux = top.manifests.filter((m) => (m.platform?.os ?? 'linux') === 'linux' && m.platform?.architecture);
      // Attestation entries (architecture "unknown") are not platforms.
      architectures = [...new Set(linux.map((m) => m.platform!.architecture!).filter((a) => a !== 'unknown'))];
      const pick = linux.find((m) => m.platform?.architecture === 'amd64') ?? linux[0];
      if (!pick?.digest) return { user: '', architectures };
      manifest = (await get(`manifests/${pick.digest}`, MANIFEST_TYPES.join(', '))) as ManifestJson;
    }
    if (!manifest?.config?.digest) return null;
    const config = (await get(`blobs/${manifest.config.digest}`, '*/*')) as {
      architecture?: string;
      config?: { User?: string };
    } | null;
    if (!config) return null;
    return {
      user: config.config?.User ?? '',
      architectures: architectures ?? (config.architecture ? [config.architecture] : []),
    };
  } catch {
    return null;
  }
}

/** The image facts of every `image:` service whose registry can tell (see readImageFacts), by service name. */
export async function imageFactsOf(
  target: { registry: string | null; services: { name: string; image: string | null }[] },
  fetchImpl: Fetch = fetch,
): Promise<Record<string, { user: string; architectures: string[] }>> {
  const found = await Promise.all(
    target.services.map(
      async (s) => [s.name, s.image ? await readImageFacts(s.image, target, fetchImpl) : null] as const,
    ),
  );
  return Object.fromEntries(found.filter((e): e is [string, { user: string; architectures: string[] }] => !!e[1]));
}
