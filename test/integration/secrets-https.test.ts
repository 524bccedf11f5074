/**
 * Issue 15 end to end, through the built CLI against the local world: an HTTPS environment (a
 * certificate requested in the emulated ACM, issued by the world's CA) whose service is routed by
 * `route.hosts` and reads a Secrets Manager JSON key deploys, and its smoke test passes through the
 * world's HTTPS listener with the app's Host and SNI; the secret reaches the container (docker
 * inspect) and the execution role's policy names the secret's own ARN (AWS CLI get-role-policy).
 * Then a smoke test for a host the certificate does not name fails, shown as ✗ in a terminal.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld, resetWorld, waitFor, worldAwsEnv } from '../helpers/localworld.js';
import { runInPty } from '../helpers/pty.js';
import { copyWebapp } from '../helpers/webapp.js';

const app = `sh${Date.now().toString(36)}`;
const HOST = 'shop.example.test';
const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/0f5e2c1a-7d4b-4c3e-9a8f-1b2c3d4e5f60';
let root = '';
let env: NodeJS.ProcessEnv;
let secretArn = '';

function config(smoke: string, cert: string): string {
  const world = localWorld();
  return [
    `app: ${app}`,
    `region: ${world.region}`,
    `registry: "${world.registry}"`,
    'services:',
    '  web:',
    '    build: { context: app }',
    '    port: 8080',
    '    healthCheck: { path: /healthz }',
    `    route: { hosts: ["${HOST}"] }`,
    `    secrets: { DB_PASSWORD: "${secretArn}:password::" }`,
    'environments:',
    '  it:',
    '    desiredCount: 1',
    `    https: { certificateArn: "${cert}" }`,
    `    secretsKmsKeys: ["${KMS_KEY}"]`,
    `deploy: { pollSeconds: 1, timeoutSeconds: 180, keepReleases: 5, smoke: ${smoke} }`,
    '',
  ].join('\n');
}

describe('secrets and HTTPS end to end', () => {
  let cert = '';
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await resetWorld({ acmValidationSeconds: 1 });
    env = isolatedEnv(worldAwsEnv());
    expect(env.NODE_EXTRA_CA_CERTS).toBe(localWorld().caFile);
    cert = awsCli(['acm', 'request-certificate', '--domain-name', HOST, '--validation-method', 'DNS']).CertificateArn;
    await waitFor(
      () => awsCli(['acm', 'describe-certificate', '--certificate-arn', cert]).Certificate.Status === 'ISSUED',
      { timeoutMs: 15_000, intervalMs: 300, what: 'certificate ISSUED' },
    );
    secretArn = awsCli([
      'secretsmanager',
      'create-secret',
      '--name',
      `${app}/db`,
      '--secret-string',
      JSON.stringify({ username: 'shop', password: 'from-the-json-key' }),
    ]).ARN;
    root = mkdtempSync(join(tmpdir(), 'pw-sec-it-'));
    copyWebapp(root);
    writeFileSync(join(root, 'patchwork.yml'), config('{ path: /healthz, timeoutSeconds: 20 }', cert));
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
  }, 1_200_000);

  afterAll(async () => {
    if (root) {
      await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
      rmSync(root, { recursive: true, force: true });
    }
  }, 200_000);

  it('deploys: the JSON key in the container, the secret ARN in the role, the smoke test over HTTPS with the Host', async () => {
    const prov = await runCli(['provision', '-e', 'it', '--json'], { cwd: root, env, timeoutMs: 300_000 });
    expect(prov.code, prov.stderr).toBe(0);
    const policy = awsCli([
      'iam',
      'get-role-policy',
      '--role-name',
      `${app}-it-web-execution`,
      '--policy-name',
      'patchwork-execution',
    ]).PolicyDocument;
    const doc = typeof policy === 'string' ? JSON.parse(decodeURIComponent(policy)) : policy;
    const statements = doc.Statement as { Sid: string; Resource: string[]; Action: string[]; Condition?: unknown }[];
    expect(statements.find((s) => s.Sid === 'ReadOwnSecrets')).toMatchObject({
      Action: ['secretsmanager:GetSecretValue'],
      Resource: [secretArn],
    });
    expect(statements.find((s) => s.Sid === 'DecryptOwnSecrets')).toEqual({
      Sid: 'DecryptOwnSecrets',
      Effect: 'Allow',
      Action: ['kms:Decrypt'],
      Resource: [KMS_KEY],
      Condition: { StringEquals: { 'kms:ViaService': ['secretsmanager.eu-west-1.amazonaws.com'] } },
    });

    const dep = await runCli(['deploy', '-e', 'it', '--json'], { cwd: root, env, timeoutMs: 900_000 });
    expect(dep.code, dep.stderr).toBe(0);
    const dns = awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-it`]).LoadBalancers[0].DNSName;
    expect(dep.result.smoke).toMatchObject({ ok: true, status: 200, host: HOST, url: `https://${dns}/healthz` });

    const task = (await emu('tasks')).tasks.find((t: { containerId?: string }) => t.containerId);
    const containerEnv: string[] = JSON.parse(
      execFileSync('docker', ['inspect', '--format', '{{json .Config.Env}}', task.containerId], { encoding: 'utf8' }),
    );
    expect(containerEnv).toContain('DB_PASSWORD=from-the-json-key');
    // The smoke test went through the world's HTTPS listener (443), not around it.
    const plane = (await emu('load-balancers')).loadBalancers.find((l: { name: string }) => l.name === `${app}-it`);
    const https = plane.listeners.find((l: { port: number }) => l.port === 443);
    expect(https).toMatchObject({ protocol: 'HTTPS', serving: true, certificates: [cert] });
    expect(https.requests).toBeGreaterThan(0);
  }, 1_200_000);

  it('a smoke test whose host the certificate does not name fails: ✗ in a terminal, exit 3', async () => {
    const file = join(root, 'patchwork.yml');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, config('{ path: /healthz, host: other.example.test, timeoutSeconds: 3 }', cert));
    const svc = awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', `${app}-it-web`])
      .services[0];
    const image = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition
      .containerDefinitions[0].image as string;
    writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${image}\nLABEL patchwork.test.variant="smoke-host"\n`);
    git(root, 'commit', '-q', '-am', 'smoke for another host');
    try {
      const bad = await runInPty(['deploy', '-e', 'it'], { cwd: root, env, timeoutMs: 600_000 });
      expect(bad.code, bad.plain).toBe(3);
      expect(bad.plain).toMatch(
        /✗ smoke test GET \/healthz through the load balancer \(Host: other\.example\.test\): .*ERR_TLS_CERT_ALTNAME_INVALID/,
      );
      expect(bad.plain).not.toMatch(/✓ smoke test/);
      expect(bad.plain).toContain('PW_DEPLOY_ROLLED_BACK');
    } finally {
      writeFileSync(file, original);
    }
  }, 900_000);
});
