/**
 * Promotion across accounts and regions (issue 17): staging in account 123456789012 / eu-west-1 with
 * the world's registry, prod in account 222222222222 / us-east-1 (a profile whose access key id
 * is that account: test/emulator/README.md "Several accounts") with the world's second registry
 * (another account's registry). `promote --from staging --env prod` copies the digest from one
 * registry to the other (nothing built), checks that prod's registry serves the very digest, and
 * deploys it there: the AWS CLI in account B shows the task definition pinning it, the load
 * balancer in B answers with the release's sha, and `releases` in B records promotedFrom.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, runCli } from '../helpers/cli.js';
import { commitAll } from '../helpers/git.js';
import { awsCli, localWorld } from '../helpers/localworld.js';
import { copyWebapp, deployWorld, destroyEach, provisionEach, webappConfig } from '../helpers/webapp.js';

const app = `pa${Date.now().toString(36)}`;
const ACCOUNT_B = '222222222222';
const REGION_B = 'us-east-1';
const asB = { credentials: { accessKeyId: ACCOUNT_B, secretAccessKey: 'testing' }, region: REGION_B };
let root = '';
let env: NodeJS.ProcessEnv;
let registry = '';
let registryB = '';
let sha = '';

const cli = (args: string[], timeoutMs = 300_000) => runCli([...args, '--json'], { cwd: root, env, timeoutMs });
const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');
const manifestDigest = async (host: string, repo: string, ref: string) => {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_ACCEPT },
  });
  return res.status === 200 ? res.headers.get('docker-content-digest') : null;
};

describe('promote across accounts and regions: the digest copied registry to registry (local world)', () => {
  beforeAll(async () => {
    await deployWorld();
    const world = localWorld();
    registry = world.registry;
    if (!world.registryB)
      throw new Error('the local world has no second registry: rerun `bash scripts/localworld.sh up`');
    registryB = world.registryB;
    root = mkdtempSync(join(tmpdir(), 'pw-promote-acct-it-'));
    // Two accounts through profiles; no static keys in the environment (a profile wins over them anyway).
    writeFileSync(
      join(root, 'credentials'),
      [
        '[default]',
        `aws_access_key_id = ${world.accessKeyId}`,
        `aws_secret_access_key = ${world.secretAccessKey}`,
        '[prod-account]',
        `aws_access_key_id = ${ACCOUNT_B}`,
        'aws_secret_access_key = testing',
        '',
      ].join('\n'),
    );
    env = isolatedEnv({ AWS_ENDPOINT_URL: world.endpoint, AWS_SHARED_CREDENTIALS_FILE: join(root, 'credentials') });
    copyWebapp(root);
    const config = (prodAccount: string) =>
      webappConfig({
        app,
        environments: [
          '  staging: { desiredCount: 1, account: "123456789012" }',
          '  prod:',
          '    desiredCount: 1',
          `    region: ${REGION_B}`,
          `    account: "${prodAccount}"`,
          '    profile: prod-account',
          `    registry: "${registryB}"`,
        ],
        deploy: '{ pollSeconds: 1, timeoutSeconds: 120, smoke: { path: /healthz } }',
      });
    writeFileSync(join(root, 'patchwork.yml'), config(ACCOUNT_B));
    writeFileSync(join(root, 'wrong-account.yml'), config('333333333333'));
    writeFileSync(join(root, '.gitignore'), 'credentials\nwrong-account.yml\n');
    sha = commitAll(root, 'webapp');
    await provisionEach(root, env, ['staging', 'prod']);
  }, 1_200_000);

  afterAll(async () => {
    await destroyEach(root, env, ['prod', 'staging']);
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('prod lives in account B and region B: its cluster is there, not in staging’s account', () => {
    const inB = awsCli(['ecs', 'describe-clusters', '--clusters', `${app}-prod`], asB).clusters;
    expect(inB.map((c: { status: string }) => c.status)).toEqual(['ACTIVE']);
    expect(inB[0].clusterArn).toContain(`:${REGION_B}:${ACCOUNT_B}:`);
    const inA = awsCli(['ecs', 'describe-clusters', '--clusters', `${app}-prod`]).clusters;
    expect(inA.filter((c: { status: string }) => c.status === 'ACTIVE')).toEqual([]);
  });

  it('deploy staging, promote to prod: copied by digest into B’s registry, pinned there, answering with the sha', async () => {
    const staged = await cli(['deploy', '-e', 'staging']);
    expect(staged.code, staged.stderr).toBe(0);
    const stagingTd = awsCli([
      'ecs',
      'describe-services',
      '--cluster',
      `${app}-staging`,
      '--services',
      `${app}-staging-web`,
    ]).services[0].taskDefinition as string;
    const stagingImage = awsCli(['ecs', 'describe-task-definition', '--task-definition', stagingTd]).taskDefinition
      .containerDefinitions[0].image as string;
    expect(stagingImage.startsWith(`${registry}/${app}-web@sha256:`)).toBe(true);
    const digest = stagingImage.split('@')[1]!;
    expect(await manifestDigest(registryB, `${app}-web`, digest)).toBeNull();

    const dry = await cli(['promote', '--from', 'staging', '-e', 'prod', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.result).toMatchObject({
      sha,
      services: [
        {
          service: 'web',
          change: true,
          image: `${registryB}/${app}-web@${digest}`,
          copy: { from: stagingImage, to: `${registryB}/${app}-web@${digest}`, present: false },
        },
      ],
    });
    expect(dry.result.apiCalls?.mutating).toBe(0);
    expect(await manifestDigest(registryB, `${app}-web`, digest)).toBeNull(); // a dry run copies nothing

    const promoted = await cli(['promote', '--from', 'staging', '-e', 'prod']);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stderr).toMatch(/copying .* to /);
    expect(promoted.result).toMatchObject({ from: 'staging', sha, release: { outcome: 'succeeded' } });
    expect(promoted.result.smoke).toMatchObject({ ok: true });

    // B's registry serves the very digest (and the sha tag); staging's registry is unchanged.
    expect(await manifestDigest(registryB, `${app}-web`, digest)).toBe(digest);
    expect(await manifestDigest(registryB, `${app}-web`, sha)).toBe(digest);
    expect(await manifestDigest(registry, `${app}-web`, digest)).toBe(digest);

    // The AWS CLI in account B, region B: prod's task definition pins B's copy of the digest.
    const prodTd = awsCli(
      ['ecs', 'describe-services', '--cluster', `${app}-prod`, '--services', `${app}-prod-web`],
      asB,
    ).services[0].taskDefinition as string;
    expect(prodTd).toContain(`:${REGION_B}:${ACCOUNT_B}:task-definition/`);
    const prodImage = awsCli(['ecs', 'describe-task-definition', '--task-definition', prodTd], asB).taskDefinition
      .containerDefinitions[0].image as string;
    expect(prodImage).toBe(`${registryB}/${app}-web@${digest}`);

    // B's load balancer answers with the release's sha (the binary was built with it, in staging).
    const lb = awsCli(['elbv2', 'describe-load-balancers', '--names', `${app}-prod`], asB).LoadBalancers[0];
    const res = await fetch(`http://${lb.DNSName}/`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { sha: string }).sha).toBe(sha);

    const releases = await cli(['releases', '-e', 'prod']);
    expect(releases.code, releases.stderr).toBe(0);
    expect((releases.result.releases as Record<string, unknown>[])[0]).toMatchObject({
      sha,
      promotedFrom: 'staging',
      outcome: 'succeeded',
      services: [{ service: 'web', image: prodImage, digest }],
    });

    // Again: B's registry has it, nothing to copy, prod already runs it.
    const again = await cli(['promote', '--from', 'staging', '-e', 'prod', '--dry-run', '--exit-code']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.result.services).toMatchObject([{ service: 'web', change: false, copy: { present: true } }]);
  }, 900_000);

  it('an account: that is not the credentials’ account is exit 2 before anything is copied or written', async () => {
    const run = await cli(['promote', '--from', 'staging', '-e', 'prod', '-c', 'wrong-account.yml']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'PW_WRONG_ACCOUNT: environment prod is in account 333333333333 (account: in wrong-account.yml) but its credentials are account 222222222222',
    );
    expect(run.result.apiCalls?.mutating).toBe(0);
  }, 300_000);
});
