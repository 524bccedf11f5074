/**
 * A verb opens its session once: deploy reads and parses patchwork.yml one time, whatever it goes
 * through (the build's local checks, the lock, the build against the registry); it used to be
 * three (deploy, prepareBuild and runBuild each opened their own).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

const loads = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../src/lib/config/load.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lib/config/load.js')>();
  return {
    ...real,
    loadConfigFile: (...args: Parameters<typeof real.loadConfigFile>) => {
      loads.count++;
      return real.loadConfigFile(...args);
    },
  };
});

const { deploy } = await import('../../src/lib/deploy.js');

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pw-deploy-session-'));
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app', 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(
    join(dir, 'patchwork.yml'),
    [
      'app: shop',
      'region: eu-west-1',
      // Nothing listens there: the registry lookup under the lock fails, which ends the deploy.
      'registry: "127.0.0.1:9"',
      'services:',
      '  web:',
      '    build: { context: app }',
      '    port: 8080',
      'environments:',
      '  it: { desiredCount: 1 }',
      '',
    ].join('\n'),
  );
});
afterAll(() => {
  restoreAwsMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('deploy opens one session', () => {
  it('parses the config once, through the registry lookup (before the lock)', async () => {
    awsMock(STSClient).on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::123456789012:user/ci' });
    const ddb = awsMock(DynamoDBClient);
    ddb.on(PutItemCommand).resolves({});
    ddb.on(DeleteItemCommand).resolves({});
    loads.count = 0;
    const err = await deploy({
      cwd: dir,
      config: 'patchwork.yml',
      env: 'it',
      build: false,
      sha: 'abc1234',
      environment: {},
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PW_REGISTRY_UNREACHABLE' });
    // It got as far as the registry, which nothing-to-build deploys ask BEFORE the lock: no write.
    expect(ddb.commandCalls(PutItemCommand)).toHaveLength(0);
    expect(ddb.commandCalls(DeleteItemCommand)).toHaveLength(0);
    expect(loads.count).toBe(1);
  });
});
