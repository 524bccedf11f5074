/**
 * Where a deploy's image comes from (--image references, the environment's own registry) and the
 * smoke test through the load balancer (URL, retries, status check) against a loopback server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseImageRef } from '../../src/lib/deploy.js';
import { inOwnRegistry } from '../../src/lib/docker/registry.js';
import { parseDuration } from '../../src/lib/release/duration.js';
import { runSmoke, smokeUrl } from '../../src/lib/release/smoke.js';
import { openSession } from '../../src/lib/session.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('--image references', () => {
  it.each([
    ['127.0.0.1:5000/shop-it-web:v1', { repository: '127.0.0.1:5000/shop-it-web', tag: 'v1', digest: null }],
    [`127.0.0.1:5000/shop-it-web@${D}`, { repository: '127.0.0.1:5000/shop-it-web', tag: null, digest: D }],
    [`nginx:1.27@${D}`, { repository: 'nginx', tag: '1.27', digest: D }],
    [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-prod-web:3f2a',
      { repository: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-prod-web', tag: '3f2a', digest: null },
    ],
    ['ghcr.io/org/team/app:1.0.0-rc.1', { repository: 'ghcr.io/org/team/app', tag: '1.0.0-rc.1', digest: null }],
  ])('%s', (ref, want) => {
    expect(parseImageRef(ref)).toEqual(want);
  });

  it.each(['nginx', 'UPPER/case:1', 'repo:', `repo@sha256:${'a'.repeat(10)}`, 'a b:c', ''])(
    'rejects %j (no tag or digest, or malformed)',
    (ref) => {
      expect(parseImageRef(ref)).toBeNull();
    },
  );

  it("knows the environment's own registry: the plain one, or ECR in the same region", () => {
    expect(inOwnRegistry('127.0.0.1:5000/x:1', { registry: '127.0.0.1:5000', region: 'eu-west-1' })).toBe(true);
    expect(inOwnRegistry('127.0.0.1:5001/x:1', { registry: '127.0.0.1:5000', region: 'eu-west-1' })).toBe(false);
    const ecr = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1';
    expect(inOwnRegistry(ecr, { registry: null, region: 'eu-west-1' })).toBe(true);
    expect(inOwnRegistry(ecr, { registry: null, region: 'us-east-1' })).toBe(false);
    expect(inOwnRegistry('nginx:1.27', { registry: null, region: 'eu-west-1' })).toBe(false);
  });
});

describe('smoke test', () => {
  let server: Server | null = null;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });
  afterAll(() => restoreAwsMocks());

  /** A loopback "load balancer" answering `statuses` in turn (the last one repeats). */
  async function lb(statuses: number[]): Promise<{ host: string; paths: string[] }> {
    const paths: string[] = [];
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.statusCode = statuses[Math.min(paths.length - 1, statuses.length - 1)]!;
      res.end('ok');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
  }

  async function session(dns: string) {
    awsMock(ElasticLoadBalancingV2Client)
      .on(DescribeLoadBalancersCommand, { Names: ['shop-prod'] })
      .resolves({ LoadBalancers: [{ DNSName: dns }] });
    const s = await openSession({
      config: {
        app: 'shop',
        region: 'eu-west-1',
        services: { web: { image: 'nginx:1.27', port: 8080 } },
        environments: { prod: {} },
      } as never,
      env: 'prod',
    });
    return { ...s, aws: testClients() };
  }

  it('builds the URL from the DNS name, https when the environment has a certificate', () => {
    expect(smokeUrl('shop-prod-1.eu-west-1.elb.amazonaws.com', false, '/healthz')).toBe(
      'http://shop-prod-1.eu-west-1.elb.amazonaws.com/healthz',
    );
    expect(smokeUrl('a.example', true, '/')).toBe('https://a.example/');
  });

  it('retries until the expected status answers (a 503 while targets warm up)', async () => {
    const { host, paths } = await lb([503, 503, 200]);
    const r = await runSmoke(
      await session(host),
      { path: '/healthz', host: null, url: null, expectStatus: 200, timeoutSeconds: 10 },
      async () => {},
    );
    expect(r).toMatchObject({ ok: true, status: 200, attempts: 3, reason: null, url: `http://${host}/healthz` });
    expect(paths).toEqual(['/healthz', '/healthz', '/healthz']);
  });

  it('fails with the last status after the timeout', async () => {
    const { host } = await lb([500]);
    const r = await runSmoke(await session(host), {
      path: '/',
      host: null,
      url: null,
      expectStatus: 200,
      timeoutSeconds: 2,
    });
    expect(r.ok).toBe(false);
    expect(r.status).toBe(500);
    expect(r.reason).toBe('answered 500, expected 200');
    expect(r.attempts).toBeGreaterThanOrEqual(1);
  });

  it('a redirect is an answer, not followed', async () => {
    const { host } = await lb([301]);
    const r = await runSmoke(await session(host), {
      path: '/',
      host: null,
      url: null,
      expectStatus: 301,
      timeoutSeconds: 2,
    });
    expect(r).toMatchObject({ ok: true, status: 301, attempts: 1 });
  });

  it('nothing listening: the network error is the reason', async () => {
    const { host } = await lb([200]);
    await new Promise<void>((r) => server!.close(() => r()));
    server = null;
    const r = await runSmoke(await session(host), {
      path: '/',
      host: null,
      url: null,
      expectStatus: 200,
      timeoutSeconds: 1,
    });
    expect(r.ok).toBe(false);
    expect(r.status).toBeNull();
    expect(r.reason).toBe('ECONNREFUSED');
  });
});

describe('durations of --timeout and --lock-wait', () => {
  it.each([
    ['90', 90],
    ['90s', 90],
    ['10m', 600],
    ['1h', 3600],
    ['1m30s', 90],
    ['24h', 86_400],
  ])('%s → %i s', (text, seconds) => {
    expect(parseDuration(text, '--timeout', { min: 1 })).toBe(seconds);
  });
  it.each(['0', '24h1s', '99999999h', '-1s', '1d', '', 'ten'])('--timeout %j is a usage error', (text) => {
    expect(() => parseDuration(text, '--timeout', { min: 1 })).toThrow(
      expect.objectContaining({ code: 'PW_USAGE', exitCode: 2 }),
    );
  });
  it('--lock-wait 0 means do not wait', () => {
    expect(parseDuration('0', '--lock-wait')).toBe(0);
  });
});
