/**
 * The world's side of issue 15 (secrets, HTTPS listeners), with the AWS CLI as the client and
 * docker inspect / openssl s_client / curl as observers:
 * - a task's `secrets` resolved as ECS's agent does: an SSM SecureString decrypted, a Secrets Manager
 *   JSON key, version stage; a missing key stops the task with ResourceInitializationError;
 * - an HTTPS listener answers with the certificate ACM holds for it, chosen by SNI (a requested
 *   certificate issued by the world's CA, an imported one as given).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createFargateService,
  defaultNetwork,
  type Net,
  registerFargateTaskDefinition,
  serviceTaskArns,
} from '../helpers/emulator.js';
import { awsCli, emu, localWorld, resetWorld, waitFor } from '../helpers/localworld.js';
import { dockerOk, findGo, pushGoImage } from '../helpers/task-image.js';

const CLUSTER = 'emu-sec';

const GO = findGo();
const DOCKER_OK = dockerOk();
const OPENSSL_OK = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

/** A task that only listens on $PORT (its health) and keeps running: what matters is its environment. */
const APP_GO = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		os.Exit(1)
	}
}
`;

function taskDefinition(family: string, image: string, secrets: { name: string; valueFrom: string }[]): string {
  const container = { name: 'web', image, essential: true, portMappings: [{ containerPort: 8080 }], secrets };
  return registerFargateTaskDefinition(
    family,
    [container],
    ['--execution-role-arn', 'arn:aws:iam::123456789012:role/emu-sec-execution'],
  );
}

function createService(net: Net, name: string, td: string): void {
  createFargateService({ cluster: CLUSTER, name, taskDefinition: td, network: net });
}

let net: Net;

beforeEach(async () => {
  // Not a new account (first use has its own tests); reads are current (the lag has its own tests).
  await resetWorld({ rolloutSeconds: 2, consistencyLagSeconds: 0, requireServiceLinkedRoles: false });
  awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
  net = defaultNetwork();
});

describe('task secrets, resolved as ECS does', () => {
  function secrets() {
    awsCli(['ssm', 'put-parameter', '--name', '/emu/db-password', '--type', 'SecureString', '--value', 'hunter2']);
    awsCli(['ssm', 'put-parameter', '--name', 'emu-plain', '--type', 'String', '--value', 'plain value']);
    const sm = awsCli([
      'secretsmanager',
      'create-secret',
      '--name',
      'emu/db',
      '--secret-string',
      JSON.stringify({ username: 'shop', password: 'from-json', port: 5432 }),
    ]);
    return { smArn: sm.ARN as string, versionId: sm.VersionId as string };
  }

  it.skipIf(!GO || !DOCKER_OK)(
    'SecureString decrypted, Secrets Manager whole / JSON key / stage / version id in the container env',
    async () => {
      const image = pushGoImage(GO!, 'emu-sec', APP_GO);

      const { smArn, versionId } = secrets();
      const region = localWorld().region;
      const td = taskDefinition('emu-sec', image, [
        { name: 'DB_PASSWORD', valueFrom: `arn:aws:ssm:${region}:123456789012:parameter/emu/db-password` },
        { name: 'BY_NAME', valueFrom: '/emu/db-password' },
        { name: 'PLAIN', valueFrom: `arn:aws:ssm:${region}:123456789012:parameter/emu-plain` },
        { name: 'WHOLE', valueFrom: smArn },
        { name: 'JSON_KEY', valueFrom: `${smArn}:password::` },
        { name: 'JSON_NUMBER', valueFrom: `${smArn}:port:AWSCURRENT:` },
        { name: 'BY_VERSION', valueFrom: `${smArn}:username::${versionId}` },
        { name: 'PARTIAL_ARN', valueFrom: `${smArn.slice(0, -7)}:username::` },
      ]);
      createService(net, 'sec', td);
      const task = await waitFor(
        async () => (await emu('tasks?service=sec')).tasks.find((t: { containerId?: string }) => t.containerId),
        { timeoutMs: 60_000, intervalMs: 300, what: 'a real task container' },
      );
      const env: string[] = JSON.parse(
        execFileSync('docker', ['inspect', '--format', '{{json .Config.Env}}', task.containerId], { encoding: 'utf8' }),
      );
      expect(env).toEqual(
        expect.arrayContaining([
          'DB_PASSWORD=hunter2',
          'BY_NAME=hunter2',
          'PLAIN=plain value',
          `WHOLE=${JSON.stringify({ username: 'shop', password: 'from-json', port: 5432 })}`,
          'JSON_KEY=from-json',
          'JSON_NUMBER=5432',
          'BY_VERSION=shop',
          'PARTIAL_ARN=shop',
        ]),
      );
      expect(env.join('\n')).not.toContain('kms:');
    },
    120_000,
  );

  async function stopped(service: string) {
    const arn = await waitFor(() => serviceTaskArns(CLUSTER, service, 'STOPPED')[0], {
      timeoutMs: 30_000,
      intervalMs: 300,
      what: `a stopped task of ${service}`,
    });
    return awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', arn]).tasks[0];
  }

  const failing: [string, (arn: string) => string, RegExp][] = [
    [
      'a JSON key the secret does not have',
      (arn: string) => `${arn}:nokey::`,
      /^ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time\(s\): retrieved secret from Secrets Manager did not contain json key nokey$/,
    ],
    [
      'a secret that does not exist',
      (arn: string) => `${arn.slice(0, -7)}-gone-AbCdEf`,
      /^ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time\(s\): failed to fetch secret arn:aws:secretsmanager:.*:secret:emu\/db-gone-AbCdEf from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret\. status code: 400, request id: [0-9a-f-]{36}$/,
    ],
    [
      'a version stage the secret does not have',
      (arn: string) => `${arn}:password:AWSPENDING:`,
      /unable to retrieve secret from asm: .*failed to fetch secret .* ResourceNotFoundException/,
    ],
    [
      'an SSM parameter that does not exist',
      () => '/emu/missing',
      /^ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time\(s\): invalid ssm parameters: \/emu\/missing$/,
    ],
  ];

  it("a secret the task cannot get stops it before it starts (TaskFailedToStart), with the agent's reason", async () => {
    await emu('config', { runContainers: false });
    const { smArn } = secrets();
    for (const [i, [, valueFrom]] of failing.entries()) {
      createService(
        net,
        `bad${i}`,
        taskDefinition(`emu-bad${i}`, 'emu/none:1', [{ name: 'X', valueFrom: valueFrom(smArn) }]),
      );
    }
    for (const [i, [name, , reason]] of failing.entries()) {
      const task = await stopped(`bad${i}`);
      expect(task.stoppedReason, name).toMatch(reason);
      expect(task.stopCode, name).toBe('TaskFailedToStart');
    }
  });

  it('checkSecrets: false lets a task with a missing secret start (without that variable)', async () => {
    await emu('config', { runContainers: false, checkSecrets: false });
    createService(net, 'lax', taskDefinition('emu-lax', 'emu/none:1', [{ name: 'X', valueFrom: '/emu/missing' }]));
    await waitFor(
      () =>
        awsCli(['ecs', 'describe-services', '--cluster', CLUSTER, '--services', 'lax']).services[0].runningCount === 1,
      { timeoutMs: 30_000, intervalMs: 300, what: 'lax running' },
    );
  });
});

describe.skipIf(!OPENSSL_OK)('HTTPS listeners: the ACM certificate, chosen by SNI', () => {
  let dir = '';
  let caFile = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-emu-tls-'));
    caFile = localWorld().caFile ?? join(localWorld().stateDir, 'ca', 'ca.pem');
  });

  /** openssl s_client's view of the handshake: the leaf's subject and the verification result. */
  function handshake(address: string, port: number, sni: string | null): { subject: string; verify: string } {
    const args = ['s_client', '-connect', `${address}:${port}`, '-CAfile', caFile];
    if (sni) args.push('-servername', sni);
    else args.push('-noservername');
    const res = spawnSync('openssl', args, { input: '', encoding: 'utf8', timeout: 15_000 });
    const out = `${res.stdout}\n${res.stderr}`;
    return {
      subject: (/subject=(.*)/.exec(out)?.[1] ?? '').replace(/\s+/g, ''),
      verify: /Verify return code: (\d+ \([^)]*\))/.exec(out)?.[1] ?? out,
    };
  }

  it('serves the requested certificate (world CA) by default and the imported one for its SNI name', async () => {
    expect(existsSync(caFile)).toBe(true);
    expect(readFileSync(caFile, 'utf8')).toContain('BEGIN CERTIFICATE');
    await emu('config', { acmValidationSeconds: 0 });
    const requested = awsCli([
      'acm',
      'request-certificate',
      '--domain-name',
      'shop.example.test',
      '--subject-alternative-names',
      'shop.example.test',
      'www.shop.example.test',
      '--validation-method',
      'DNS',
    ]).CertificateArn;
    await waitFor(
      () => awsCli(['acm', 'describe-certificate', '--certificate-arn', requested]).Certificate.Status === 'ISSUED',
      { timeoutMs: 10_000, intervalMs: 200, what: 'certificate ISSUED' },
    );
    // An imported certificate, self-signed by the test: served as given (its own chain, its own key).
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=other.example.test',
        '-addext',
        'subjectAltName=DNS:other.example.test,DNS:*.other.example.test',
        '-days',
        '2',
        '-keyout',
        join(dir, 'other.key'),
        '-out',
        join(dir, 'other.pem'),
      ],
      { stdio: 'pipe' },
    );
    const imported = awsCli([
      'acm',
      'import-certificate',
      '--certificate',
      `fileb://${join(dir, 'other.pem')}`,
      '--private-key',
      `fileb://${join(dir, 'other.key')}`,
    ]).CertificateArn;

    const lb = awsCli(['elbv2', 'create-load-balancer', '--name', 'emu-tls', '--subnets', net.subnet]).LoadBalancers[0];
    const listener = awsCli([
      'elbv2',
      'create-listener',
      '--load-balancer-arn',
      lb.LoadBalancerArn,
      '--protocol',
      'HTTPS',
      '--port',
      '8443',
      '--certificates',
      `CertificateArn=${requested}`,
      '--default-actions',
      JSON.stringify([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', MessageBody: 'default' } }]),
    ]).Listeners[0];
    awsCli([
      'elbv2',
      'add-listener-certificates',
      '--listener-arn',
      listener.ListenerArn,
      '--certificates',
      `CertificateArn=${imported}`,
    ]);
    awsCli([
      'elbv2',
      'create-rule',
      '--listener-arn',
      listener.ListenerArn,
      '--priority',
      '10',
      '--conditions',
      JSON.stringify([{ Field: 'host-header', HostHeaderConfig: { Values: ['shop.example.test'] } }]),
      '--actions',
      JSON.stringify([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200', MessageBody: 'shop' } }]),
    ]);
    const dns: string = lb.DNSName;
    const plane = (await emu('load-balancers')).loadBalancers.find((l: { name: string }) => l.name === 'emu-tls');
    expect(plane.listeners[0]).toMatchObject({
      protocol: 'HTTPS',
      serving: true,
      url: `https://${dns}:8443/`,
      certificates: [requested, imported],
    });

    // The default certificate, issued by the world's CA for the requested names, verifies against ca.pem.
    expect(handshake(dns, 8443, 'shop.example.test')).toEqual({ subject: 'CN=shop.example.test', verify: '0 (ok)' });
    expect(handshake(dns, 8443, 'www.shop.example.test')).toEqual({
      subject: 'CN=shop.example.test',
      verify: '0 (ok)',
    });
    // No SNI, or a name no certificate holds: the default certificate.
    expect(handshake(dns, 8443, null).subject).toBe('CN=shop.example.test');
    expect(handshake(dns, 8443, 'unknown.example.test').subject).toBe('CN=shop.example.test');
    // The imported certificate for its names (wildcard included); not signed by the world's CA.
    const other = handshake(dns, 8443, 'other.example.test');
    expect(other.subject).toBe('CN=other.example.test');
    expect(other.verify).not.toBe('0 (ok)');
    expect(handshake(dns, 8443, 'api.other.example.test').subject).toBe('CN=other.example.test');

    // Through the listener as a client that trusts the world's CA: TLS, then the host-header rule.
    const curl = (host: string) =>
      spawnSync(
        'curl',
        ['-sS', '--cacert', caFile, '--resolve', `${host}:8443:${dns}`, '-w', ' %{http_code}', `https://${host}:8443/`],
        { encoding: 'utf8', timeout: 15_000 },
      );
    expect(curl('shop.example.test').stdout).toBe('shop 200');
    expect(curl('www.shop.example.test').stdout).toBe('default 404');
    // The imported certificate is not trusted by the world's CA: the client refuses it.
    expect(curl('other.example.test').status).not.toBe(0);
  });
});
