/** What a registry holds: the Registry HTTP API v2 (fake fetch) and ECR (the shared SDK mock). */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeImagesCommand, ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EcrRegistry,
  ecrHost,
  httpFetch,
  isLoopback,
  MANIFEST_TYPES,
  manifestSize,
  PlainRegistry,
} from '../../src/lib/docker/registry.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());

const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 1000, digest: 'sha256:c' },
  layers: [
    { size: 2000, digest: 'sha256:l1' },
    { size: 3000, digest: 'sha256:l2' },
  ],
});
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

interface Call {
  url: string;
  method: string;
  accept: string;
}
function fakeFetch(respond: (call: Call) => Response | Error): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const f = (async (url: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    const call = { url: String(url), method: init.method ?? 'GET', accept: headers.get('accept') ?? '' };
    calls.push(call);
    const r = respond(call);
    if (r instanceof Error) throw r;
    return r;
  }) as typeof fetch;
  return { fetch: f, calls };
}

describe('PlainRegistry', () => {
  it('HEADs the manifest with every manifest type accepted and returns Docker-Content-Digest', async () => {
    const { fetch, calls } = fakeFetch(
      () => new Response(null, { status: 200, headers: { 'Docker-Content-Digest': manifestDigest } }),
    );
    const reg = new PlainRegistry('127.0.0.1:5000', fetch);
    expect(await reg.find('shop-prod-web', 'abc')).toEqual({ digest: manifestDigest, sizeBytes: null });
    expect(calls).toEqual([
      {
        url: 'http://127.0.0.1:5000/v2/shop-prod-web/manifests/abc',
        method: 'HEAD',
        accept: MANIFEST_TYPES.join(', '),
      },
    ]);
    for (const t of [
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
    ]) {
      expect(calls[0]!.accept).toContain(t);
    }
  });

  it('a missing tag (404) is null', async () => {
    const { fetch } = fakeFetch(() => new Response('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', { status: 404 }));
    expect(await new PlainRegistry('localhost:5000', fetch).find('r', 't')).toBeNull();
  });

  it('with size: GETs the manifest, checks its digest and sums config + layers', async () => {
    const { fetch, calls } = fakeFetch(
      () => new Response(manifest, { status: 200, headers: { 'Docker-Content-Digest': manifestDigest } }),
    );
    const found = await new PlainRegistry('127.0.0.1:5000', fetch).find('r', 't', { size: true });
    expect(found).toEqual({ digest: manifestDigest, sizeBytes: 6000 });
    expect(calls[0]!.method).toBe('GET');
  });

  it('a manifest whose content does not match its digest header is an error', async () => {
    const { fetch } = fakeFetch(
      () => new Response(manifest, { status: 200, headers: { 'Docker-Content-Digest': `sha256:${'0'.repeat(64)}` } }),
    );
    const err = await new PlainRegistry('127.0.0.1:5000', fetch).find('r', 't', { size: true }).catch((e) => e);
    expect((err as PatchworkError).code).toBe('PW_REGISTRY_UNREACHABLE');
  });

  it('an unreachable registry is PW_REGISTRY_UNREACHABLE', async () => {
    const { fetch } = fakeFetch(() =>
      Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }),
    );
    const err = (await new PlainRegistry('127.0.0.1:1', fetch).find('r', 't').catch((e) => e)) as PatchworkError;
    expect(err.code).toBe('PW_REGISTRY_UNREACHABLE');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('a registry that wants credentials says so', async () => {
    const { fetch } = fakeFetch(() => new Response(null, { status: 401 }));
    const err = (await new PlainRegistry('127.0.0.1:5000', fetch).find('r', 't').catch((e) => e)) as PatchworkError;
    expect(err.code).toBe('PW_REGISTRY_UNREACHABLE');
    expect(err.message).toContain('credentials');
  });

  it('uses https away from loopback, falling back to http', async () => {
    const https = fakeFetch(() => new Response(null, { status: 404 }));
    await new PlainRegistry('registry.internal:5000', https.fetch).find('r', 't');
    expect(https.calls.map((c) => c.url)).toEqual([
      'https://registry.internal:5000/v2/',
      'https://registry.internal:5000/v2/r/manifests/t',
    ]);
    const http = fakeFetch((c) =>
      c.url.startsWith('https:') ? new TypeError('tls') : new Response(null, { status: 404 }),
    );
    await new PlainRegistry('registry.internal:5000', http.fetch).find('r', 't');
    expect(http.calls.at(-1)!.url).toBe('http://registry.internal:5000/v2/r/manifests/t');
  });

  it('knows loopback addresses', () => {
    expect(isLoopback('127.0.0.1:5000')).toBe(true);
    expect(isLoopback('localhost:5000')).toBe(true);
    expect(isLoopback('[::1]:5000')).toBe(true);
    expect(isLoopback('10.0.0.1:5000')).toBe(false);
    expect(isLoopback('registry.example.com')).toBe(false);
  });

  it('manifestSize is null for an index or junk', () => {
    expect(manifestSize(manifest)).toBe(6000);
    expect(manifestSize('{"manifests":[]}')).toBeNull();
    expect(manifestSize('nope')).toBeNull();
  });
});

describe('PlainRegistry over node:http (its default, not fetch)', () => {
  it('HEADs and GETs a real loopback registry: status, digest header, body; 404 is null', async () => {
    const seen: { method: string; url: string; accept: string }[] = [];
    const server = createServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, accept: String(req.headers.accept) });
      if (!req.url!.endsWith('/t')) {
        res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
        return;
      }
      res.writeHead(200, { 'Docker-Content-Digest': manifestDigest, 'Content-Type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const reg = new PlainRegistry(`127.0.0.1:${(server.address() as AddressInfo).port}`);
      expect(await reg.find('r', 't')).toEqual({ digest: manifestDigest, sizeBytes: null });
      expect(await reg.find('r', 't', { size: true })).toEqual({ digest: manifestDigest, sizeBytes: 6000 });
      expect(await reg.find('r', 'missing')).toBeNull();
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
        'HEAD /v2/r/manifests/t',
        'GET /v2/r/manifests/t',
        'HEAD /v2/r/manifests/missing',
      ]);
      expect(seen[0]!.accept).toBe(MANIFEST_TYPES.join(', '));
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it("a refused connection fails with the socket's error: PW_REGISTRY_UNREACHABLE naming its code", async () => {
    const err = await httpFetch('http://127.0.0.1:1/v2/').catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('ECONNREFUSED');
    const wrapped = (await new PlainRegistry('127.0.0.1:1').find('r', 't').catch((e) => e)) as PatchworkError;
    expect(wrapped.code).toBe('PW_REGISTRY_UNREACHABLE');
    expect(wrapped.message).toContain('ECONNREFUSED');
  });

  it('a registry that does not answer in time is given up on', async () => {
    const server = createServer(() => {});
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const port = (server.address() as AddressInfo).port;
      const err = await httpFetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(50) }).catch(
        (e: unknown) => e,
      );
      expect((err as Error).name).toBe('AbortError');
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  });
});

describe('EcrRegistry', () => {
  const token = Buffer.from('AWS:s3cr3t-password').toString('base64');

  it('logs in with GetAuthorizationToken: host and account from proxyEndpoint, credentials in memory', async () => {
    const ecr = awsMock(ECRClient);
    const sts = awsMock(STSClient);
    ecr.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        {
          authorizationToken: token,
          proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
          expiresAt: new Date(Date.now() + 3600_000),
        },
      ],
    });
    const reg = await EcrRegistry.login(testClients(), 'prod');
    expect(reg.kind).toBe('ecr');
    expect(reg.host).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    expect(reg.account).toBe('123456789012');
    expect(await reg.auth()).toEqual({
      username: 'AWS',
      password: 's3cr3t-password',
      serveraddress: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    });
    expect(sts.calls()).toHaveLength(0);
  });

  it('falls back to STS for the account when the proxyEndpoint is missing', async () => {
    awsMock(ECRClient)
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: token }] });
    awsMock(STSClient).on(GetCallerIdentityCommand).resolves({ Account: '210987654321' });
    const reg = await EcrRegistry.login(testClients('eu-central-1'), 'prod');
    expect(reg.host).toBe('210987654321.dkr.ecr.eu-central-1.amazonaws.com');
    expect(ecrHost('1', 'cn-north-1')).toBe('1.dkr.ecr.cn-north-1.amazonaws.com.cn');
  });

  async function loggedIn() {
    const ecr = awsMock(ECRClient);
    ecr.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        { authorizationToken: token, proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com' },
      ],
    });
    return { ecr, reg: await EcrRegistry.login(testClients(), 'prod') };
  }

  it('finds a tag with DescribeImages: digest and size', async () => {
    const { ecr, reg } = await loggedIn();
    ecr.on(DescribeImagesCommand).resolves({
      imageDetails: [{ imageDigest: 'sha256:abc', imageSizeInBytes: 3_100_000, imageTags: ['t'] }],
    });
    expect(await reg.find('shop-prod-web', 't')).toEqual({ digest: 'sha256:abc', sizeBytes: 3_100_000 });
    expect(ecr.commandCalls(DescribeImagesCommand)[0]!.args[0].input).toEqual({
      repositoryName: 'shop-prod-web',
      imageIds: [{ imageTag: 't' }],
    });
  });

  it('ImageNotFoundException means "not there yet"', async () => {
    const { ecr, reg } = await loggedIn();
    ecr
      .on(DescribeImagesCommand)
      .rejects(Object.assign(new Error('not found'), { name: 'ImageNotFoundException', $metadata: {} }));
    expect(await reg.find('shop-prod-web', 't')).toBeNull();
  });

  it('a missing repository points at provision', async () => {
    const { ecr, reg } = await loggedIn();
    ecr
      .on(DescribeImagesCommand)
      .rejects(Object.assign(new Error('no repo'), { name: 'RepositoryNotFoundException', $metadata: {} }));
    const err = (await reg.find('shop-prod-web', 't').catch((e) => e)) as PatchworkError;
    expect(err).toBeInstanceOf(PatchworkError);
    expect(err.code).toBe('PW_REPOSITORY_NOT_FOUND');
    expect(err.hint).toContain('patchwork provision --env prod');
  });
});
