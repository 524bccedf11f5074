/**
 * An environment that was never provisioned: deploy, releases, rollback and unlock each end with
 * the one "not provisioned" error (PW_NOT_PROVISIONED, exit 2, `patchwork provision --env X`),
 * not an AWS failure, and write nothing. Against the local world, on an app nothing was created for.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, runCli } from '../helpers/cli.js';
import { awsCli, localWorld, worldAwsEnv } from '../helpers/localworld.js';

const app = `np${Date.now().toString(36)}`;
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pw-not-provisioned-'));
  writeFileSync(
    join(dir, 'patchwork.yml'),
    [
      `app: ${app}`,
      `region: ${localWorld().region}`,
      'services:',
      '  web:',
      '    image: public.ecr.aws/docker/library/nginx:1.27',
      '    port: 8080',
      'environments:',
      '  qa: { desiredCount: 1 }',
      '',
    ].join('\n'),
  );
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const image = `public.ecr.aws/docker/library/nginx@sha256:${'cd'.repeat(32)}`;

describe('a never-provisioned environment', () => {
  it.each([
    ['deploy', ['deploy', '--image', image]],
    ['releases', ['releases']],
    ['rollback', ['rollback']],
    ['unlock', ['unlock', '--yes']],
  ])(
    '%s → exit 2, PW_NOT_PROVISIONED with `patchwork provision --env qa`',
    async (_verb, args) => {
      const run = await runCli([...args, '--env', 'qa', '--json'], {
        cwd: dir,
        env: isolatedEnv(worldAwsEnv()),
        timeoutMs: 60_000,
      });
      expect(run.code, run.stderr).toBe(2);
      expect(run.result.exitCode).toBe(2);
      expect(run.result.error).toMatchObject({
        code: 'PW_NOT_PROVISIONED',
        hint: 'patchwork provision --env qa',
        env: 'qa',
        app,
      });
      expect(run.result.error?.message).toContain(`${app}-qa-patchwork`);
      expect(run.stderr).toContain('PW_NOT_PROVISIONED: environment qa is not provisioned');
      expect(run.stderr).toContain('try: patchwork provision --env qa');
    },
    90_000,
  );

  it('and nothing of it exists afterwards (AWS CLI)', () => {
    const tables = awsCli(['dynamodb', 'list-tables']).TableNames as string[];
    expect(tables.filter((t) => t.startsWith(`${app}-`))).toEqual([]);
  });
});
