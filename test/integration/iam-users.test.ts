/**
 * The least-privilege policies of examples/iam/ proven under the world's IAM evaluation: an IAM user
 * per policy file (made with the AWS CLI), patchwork run with that user's access key. provision
 * under provision.json, deploy under deploy.json (long enough for the lock heartbeat to renew),
 * status and releases under read-only.json all exit 0; a deploy under read-only.json is refused
 * with PW_ACCESS_DENIED (exit 1) naming the denied action and the policy file it needs; unlock under
 * deploy.json, rollback under deploy.json and destroy under provision.json exit 0; deploy.json with
 * ecs:UpdateService removed is refused naming exactly that action.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { createIamUser, fillPolicy, type IamUser } from '../helpers/iam-users.js';
import { awsCli, emu, localWorld, resetWorld, runAwsCli, settleEcsReads, worldAwsEnv } from '../helpers/localworld.js';
import { copyWebapp, webappConfig } from '../helpers/webapp.js';

const app = 'iamu';
const envName = 'it';
let root = '';
const users: Record<'provision' | 'deploy' | 'readOnly', IamUser> = {} as never;

const policy = (file: string) =>
  fillPolicy(JSON.parse(readFileSync(join(ROOT, 'examples', 'iam', file), 'utf8')), {
    account: '123456789012',
    region: localWorld().region,
    app,
    env: envName,
  });

const as = (user: IamUser, args: string[], timeoutMs = 300_000) =>
  runCli([...args, '-e', envName, '--json'], {
    cwd: root,
    env: isolatedEnv({
      ...worldAwsEnv(),
      AWS_ACCESS_KEY_ID: user.accessKeyId,
      AWS_SECRET_ACCESS_KEY: user.secretAccessKey,
    }),
    timeoutMs,
  });

const warnings = (events: Record<string, unknown>[]) =>
  events.filter((e) => e.type === 'warning').map((e) => String(e.code));

describe('the policy files of examples/iam under IAM evaluation', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await resetWorld();
    users.provision = createIamUser('pw-provision', { inline: [policy('provision.json')] });
    users.deploy = createIamUser('pw-deploy', { managed: [policy('deploy.json')] });
    users.readOnly = createIamUser('pw-read-only', { inline: [policy('read-only.json')] });
    root = mkdtempSync(join(tmpdir(), 'pw-iam-users-'));
    copyWebapp(root);
    writeFileSync(
      join(root, 'patchwork.yml'),
      webappConfig({ app, env: envName, deploy: '{ pollSeconds: 1, timeoutSeconds: 180, lockTtlSeconds: 60 }' }),
    );
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
  }, 1_200_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('the world evaluates these users (the harness key is not one of them)', async () => {
    expect((await emu('config')).evaluateIam).toBe(true);
    const who = awsCli(['sts', 'get-caller-identity']).Arn as string;
    expect(who).not.toContain(':user/pw-');
  });

  it('provision with provision.json exits 0', async () => {
    const run = await as(users.provision, ['provision', '--yes'], 400_000);
    expect(run.code, run.stderr).toBe(0);
    expect(run.result.ok).toBe(true);
    await settleEcsReads();
  }, 420_000);

  it('deploy with deploy.json exits 0, and the lock heartbeat renews under it', async () => {
    // A rollout longer than a third of the lock TTL (60 s), so the heartbeat beats (every 20 s):
    // simulated tasks that start after 25 s.
    await emu('config', { runContainers: false, rolloutSeconds: 50 });
    const run = await as(users.deploy, ['deploy'], 400_000);
    await emu('config', { runContainers: true, rolloutSeconds: 3 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.result.ok).toBe(true);
    const calls = run.result.apiCalls?.byOperation ?? {};
    expect(calls['DynamoDB.UpdateItem'] ?? 0, JSON.stringify(calls)).toBeGreaterThanOrEqual(1);
    expect(warnings(run.events)).not.toContain('PW_LOCK_RENEW_FAILED');
    expect(warnings(run.events)).not.toContain('PW_LOCK_LOST');
    await settleEcsReads();
  }, 420_000);

  it('status and releases with read-only.json exit 0', async () => {
    const status = await as(users.readOnly, ['status']);
    expect(status.code, status.stderr).toBe(0);
    const releases = await as(users.readOnly, ['releases']);
    expect(releases.code, releases.stderr).toBe(0);
    expect(JSON.stringify(releases.events)).toContain('succeeded');
  }, 200_000);

  it('unlock with deploy.json breaks a lock left behind, exit 0', async () => {
    const table = `${app}-${envName}-patchwork`;
    awsCli([
      'dynamodb',
      'put-item',
      '--table-name',
      table,
      '--item',
      JSON.stringify({
        pk: { S: 'lock' },
        sk: { S: 'lock' },
        holder: { S: 'ci@dead-runner' },
        command: { S: 'deploy abc' },
        token: { S: 'dead' },
        startedAt: { N: String(Date.now() - 60_000) },
        expiresAt: { N: String(Date.now() + 600_000) },
      }),
    ]);
    const run = await as(users.deploy, ['unlock']);
    expect(run.code, run.stderr).toBe(0);
    expect(warnings(run.events)).toContain('PW_LOCK_BROKEN');
    expect(
      awsCli(['dynamodb', 'get-item', '--table-name', table, '--key', '{"pk":{"S":"lock"},"sk":{"S":"lock"}}']).Item,
    ).toBeUndefined();
  }, 200_000);

  it('rollback with deploy.json goes back to the previous release, exit 0', async () => {
    // A second release (a new commit: its image is built and pushed under deploy.json too).
    writeFileSync(join(root, 'app', 'RELEASE.md'), 'second release\n');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'second');
    const second = await as(users.deploy, ['deploy'], 400_000);
    expect(second.code, second.stderr).toBe(0);
    await settleEcsReads();
    const back = await as(users.deploy, ['rollback', '--yes'], 400_000);
    expect(back.code, back.stderr).toBe(0);
    expect(back.result.ok).toBe(true);
    await settleEcsReads();
  }, 900_000);

  it('deploy.json with one action removed (ecs:UpdateService): PW_ACCESS_DENIED naming exactly it', async () => {
    const doc = policy('deploy.json') as { Statement: { Action: string | string[] }[] };
    const minus = {
      ...doc,
      Statement: doc.Statement.map((st) => ({
        ...st,
        Action: (Array.isArray(st.Action) ? st.Action : [st.Action]).filter((a) => a !== 'ecs:UpdateService'),
      })).filter((st) => st.Action.length > 0),
    };
    const user = createIamUser('pw-deploy-minus', { inline: [minus] });
    // HEAD's image is pushed, but the service runs the rolled-back one: the deploy must update it.
    const run = await as(user, ['deploy'], 300_000);
    expect(run.code, run.stderr).toBe(1);
    const error = run.result.error as { code: string; action?: string };
    expect(error.code).toBe('PW_ACCESS_DENIED');
    expect(error.action).toBe('ecs:UpdateService');
    await settleEcsReads();
  }, 320_000);

  it('deploy with read-only.json: PW_ACCESS_DENIED naming the denied action and deploy.json, exit 1', async () => {
    const run = await as(users.readOnly, ['deploy'], 300_000);
    expect(run.code, run.stderr).toBe(1);
    const error = run.result.error as { code: string; message: string; hint: string; action?: string; policy?: string };
    expect(error.code).toBe('PW_ACCESS_DENIED');
    expect(error.message).toMatch(/is not authorized to perform: [\w-]+:\w+ on resource: /);
    expect(error.action).toMatch(/^[\w-]+:\w+$/);
    expect(error.message).toContain(error.action!);
    expect(error.hint).toContain(`grant ${error.action}`);
    expect(error.policy).toBe('examples/iam/deploy.json');
    expect(error.hint).toContain('examples/iam/deploy.json');
    expect(run.stderr).toContain('PW_ACCESS_DENIED');
  }, 320_000);

  it('destroy with provision.json exits 0: the state table and the cluster are gone', async () => {
    await settleEcsReads();
    const run = await as(users.provision, ['destroy', '--yes'], 600_000);
    expect(run.code, run.stderr).toBe(0);
    expect(runAwsCli(['dynamodb', 'describe-table', '--table-name', `${app}-${envName}-patchwork`]).status).not.toBe(0);
    expect(
      awsCli(['ecs', 'describe-clusters', '--clusters', `${app}-${envName}`]).clusters[0]?.status ?? 'gone',
    ).not.toBe('ACTIVE');
  }, 620_000);
});
