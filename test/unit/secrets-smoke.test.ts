/**
 * Issue 15, patchwork's side: the execution role names the secret's own ARN (not the JSON-key /
 * version selector ECS reads) and may decrypt with `secretsKmsKeys` only through SSM / Secrets
 * Manager; the smoke test's request (URL, Host/SNI, certificate name check) from `deploy.smoke`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/lib/config/load.js';
import { executionPolicy } from '../../src/lib/desired/index.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { runSmoke, smokeTarget } from '../../src/lib/release/smoke.js';
import { secretResourceArn } from '../../src/lib/resources/iam-role.js';
import { openSession } from '../../src/lib/session.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { FACTS, ONE_SERVICE, target } from './provision-fixtures.js';

const SM = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret';

function issuesOf(fn: () => unknown): { code: string; issues: { line: number; path: string; message: string }[] } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PatchworkError);
    const e = err as PatchworkError;
    return { code: e.code, issues: (e.data.issues as never) ?? [] };
  }
  throw new Error('expected an error');
}

describe('execution role: secrets', () => {
  it.each([
    [`${SM}:shop/db-AbCdEf`, `${SM}:shop/db-AbCdEf`],
    [`${SM}:shop/db-AbCdEf:password::`, `${SM}:shop/db-AbCdEf`],
    [`${SM}:shop/db-AbCdEf::AWSPREVIOUS:`, `${SM}:shop/db-AbCdEf`],
    [`${SM}:shop/db-AbCdEf:password::0f5e2c1a-7d4b-4c3e-9a8f-1b2c3d4e5f60`, `${SM}:shop/db-AbCdEf`],
    [`${SM}:shop/db`, `${SM}:shop/db-??????`],
    [`${SM}:shop/db:password:AWSCURRENT:`, `${SM}:shop/db-??????`],
    [`${SM}:db-pass:password::`, `${SM}:db-pass-??????`],
  ])('%s → %s', (valueFrom, resource) => {
    expect(secretResourceArn(valueFrom)).toBe(resource);
  });

  const withSecrets = (secrets: string, env = '') =>
    ONE_SERVICE.replace('    port: 8080', `    port: 8080\n    secrets: ${secrets}`).replace(
      '    desiredCount: 2',
      `    desiredCount: 2${env}`,
    );
  const statements = (yaml: string) => {
    const t = target(yaml);
    return JSON.parse(executionPolicy(t, t.services[0]!, FACTS)).Statement.filter(
      (st: { Sid: string }) => !['EcrToken', 'PullOwnRepository', 'WriteOwnLogs'].includes(st.Sid),
    );
  };

  it('JSON-key and version forms read the secret by its ARN; kms:Decrypt on the listed keys via those services', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/0f5e2c1a-7d4b-4c3e-9a8f-1b2c3d4e5f60';
    const yaml = withSecrets(
      `{ A: "${SM}:shop/db-AbCdEf:password::", B: "${SM}:shop/db-AbCdEf:user:AWSCURRENT:", C: "${SM}:api", D: "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/key" }`,
      `\n    secretsKmsKeys: ["${key}"]`,
    );
    expect(statements(yaml)).toEqual([
      {
        Action: ['ssm:GetParameters'],
        Effect: 'Allow',
        Resource: ['arn:aws:ssm:eu-west-1:123456789012:parameter/shop/key'],
        Sid: 'ReadOwnParameters',
      },
      {
        Action: ['secretsmanager:GetSecretValue'],
        Effect: 'Allow',
        Resource: [`${SM}:api-??????`, `${SM}:shop/db-AbCdEf`],
        Sid: 'ReadOwnSecrets',
      },
      {
        Action: ['kms:Decrypt'],
        Condition: {
          StringEquals: { 'kms:ViaService': ['secretsmanager.eu-west-1.amazonaws.com', 'ssm.eu-west-1.amazonaws.com'] },
        },
        Effect: 'Allow',
        Resource: [key],
        Sid: 'DecryptOwnSecrets',
      },
    ]);
  });

  it('secretsKmsKeys from defaults; no kms statement for a service without secrets', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd';
    const yaml = `${ONE_SERVICE}defaults:\n  secretsKmsKeys: ["${key}"]\n`;
    expect(target(yaml).secretsKmsKeys).toEqual([key]);
    expect(statements(yaml)).toEqual([]);
    expect(statements(yaml.replace('    port: 8080', `    port: 8080\n    secrets: { A: "${SM}:x-AbCdEf" }`))).toEqual([
      {
        Action: ['secretsmanager:GetSecretValue'],
        Effect: 'Allow',
        Resource: [`${SM}:x-AbCdEf`],
        Sid: 'ReadOwnSecrets',
      },
      {
        Action: ['kms:Decrypt'],
        Condition: { StringEquals: { 'kms:ViaService': ['secretsmanager.eu-west-1.amazonaws.com'] } },
        Effect: 'Allow',
        Resource: [key],
        Sid: 'DecryptOwnSecrets',
      },
    ]);
  });

  it('a KMS alias is refused (kms:Decrypt is authorised on the key ARN), with its line', () => {
    const yaml = `${ONE_SERVICE}    secretsKmsKeys: ["arn:aws:kms:eu-west-1:123456789012:alias/shop"]\n`;
    const { code, issues } = issuesOf(() => parseConfig(yaml, 'patchwork.yml', '/tmp'));
    expect(code).toBe('PW_CONFIG_INVALID');
    expect(issues).toEqual([
      expect.objectContaining({
        line: 11,
        path: 'environments.prod.secretsKmsKeys[0]',
        message: expect.stringMatching(/not an alias/),
      }),
    ]);
  });
});

describe('smoke test: URL, Host and SNI', () => {
  const smoke = (extra: string) => `${ONE_SERVICE}deploy:\n  smoke: { ${extra} }\n`;
  const routed = (yaml: string, hosts: string) =>
    yaml.replace('    port: 8080', `    port: 8080\n    route: { hosts: ${hosts} }`);
  const https = (yaml: string) =>
    yaml.replace(
      '    desiredCount: 2',
      '    desiredCount: 2\n    https: { certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123" }',
    );
  const of = (yaml: string) => {
    const t = target(yaml);
    return smokeTarget(t, t.deploy.smoke!, '127.19.136.1');
  };

  it.each([
    [
      'no host anywhere: the DNS name, chain only',
      smoke('path: /healthz'),
      { url: 'http://127.19.136.1/healthz', host: null, checkHost: false },
    ],
    [
      'the first route.hosts entry without wildcards',
      routed(smoke('path: /healthz'), '["*.shop.example.test", "shop.example.test"]'),
      { url: 'http://127.19.136.1/healthz', host: 'shop.example.test', checkHost: true },
    ],
    [
      'deploy.smoke.host beats route.hosts; https with a certificate',
      https(routed(smoke('path: /, host: www.example.test'), '["shop.example.test"]')),
      { url: 'https://127.19.136.1/', host: 'www.example.test', checkHost: true },
    ],
    [
      'deploy.smoke.url replaces everything',
      https(routed(smoke('url: "https://shop.example.test:8443/ready"'), '["shop.example.test"]')),
      { url: 'https://shop.example.test:8443/ready', host: null, checkHost: true },
    ],
  ])('%s', (_name, yaml, want) => {
    expect(of(yaml)).toEqual(want);
  });

  it.each([
    ['url with path', smoke('url: "http://127.0.0.1:1/", path: /x'), 'deploy.smoke.url', /not both/],
    ['neither path nor url', smoke('expectStatus: 200'), 'deploy.smoke', /path: .* or url:/],
    ['not http(s)', smoke('url: "ftp://x.test/"'), 'deploy.smoke.url', /http/],
    ['host with a port', smoke('path: /, host: "a.test:80"'), 'deploy.smoke.host', /host name/],
  ])('%s is a config error with its path', (_name, yaml, path, message) => {
    const { code, issues } = issuesOf(() => target(yaml));
    expect(code).toBe('PW_CONFIG_INVALID');
    expect(issues.find((i) => i.path === path)?.message).toMatch(message);
  });

  let server: Server | null = null;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });
  afterAll(() => restoreAwsMocks());

  async function lb(): Promise<{ address: string; hosts: string[] }> {
    const hosts: string[] = [];
    server = createServer((req, res) => {
      hosts.push(req.headers.host ?? '');
      res.statusCode = req.headers.host === 'shop.example.test' ? 200 : 404;
      res.end();
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, hosts };
  }

  async function session(config: Record<string, unknown>, dns: string | null) {
    const elb = awsMock(ElasticLoadBalancingV2Client);
    if (dns)
      elb.on(DescribeLoadBalancersCommand, { Names: ['shop-prod'] }).resolves({ LoadBalancers: [{ DNSName: dns }] });
    else elb.on(DescribeLoadBalancersCommand).rejects(new Error('no DescribeLoadBalancers expected'));
    const s = await openSession({ config: config as never, env: 'prod' });
    return { ...s, aws: testClients() };
  }

  it('sends the route host as Host: a host-routed service answers instead of the default 404', async () => {
    const { address, hosts } = await lb();
    const config = {
      app: 'shop',
      region: 'eu-west-1',
      services: { web: { image: 'nginx:1.27', port: 8080, route: { hosts: ['shop.example.test'] } } },
      environments: { prod: {} },
    };
    const s = await session(config, address);
    const r = await runSmoke(
      s,
      s.target.deploy.smoke ?? { path: '/', host: null, url: null, expectStatus: 200, timeoutSeconds: 2 },
    );
    expect(r).toMatchObject({ ok: true, status: 200, host: 'shop.example.test', url: `http://${address}/` });
    expect(hosts).toEqual(['shop.example.test']);
  });

  it('deploy.smoke.url: no load balancer look-up, the URL as given', async () => {
    const { address, hosts } = await lb();
    const config = {
      app: 'shop',
      region: 'eu-west-1',
      services: { web: { image: 'nginx:1.27', port: 8080 } },
      environments: { prod: {} },
      deploy: { smoke: { url: `http://${address}/x`, timeoutSeconds: 1 } },
    };
    const s = await session(config, null);
    const r = await runSmoke(s, s.target.deploy.smoke!);
    expect(r).toMatchObject({
      ok: false,
      status: 404,
      host: null,
      url: `http://${address}/x`,
      reason: 'answered 404, expected 200',
    });
    expect(hosts[0]).toBe(address);
  });
});
