import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { profileRegion } from '../../src/lib/aws/regions.js';
import { parseConfig } from '../../src/lib/config/load.js';
import { looksSecret, pickEnvironment, resolveEnvironment } from '../../src/lib/config/resolve.js';
import { assignPriorities } from '../../src/lib/config/routes.js';
import { isCidr } from '../../src/lib/config/schema.js';
import { starterConfig } from '../../src/lib/config/starter.js';
import { readEnv } from '../../src/lib/env.js';
import { PatchworkError } from '../../src/lib/errors.js';
import { openSession } from '../../src/lib/session.js';

const base = `app: shop
region: eu-west-1
services:
  web:
    build: { context: webapp }
    port: 8080
environments:
  prod:
    desiredCount: 2
  staging: {}
`;

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

describe('parseConfig', () => {
  it('accepts the starter config', () => {
    const cfg = parseConfig(starterConfig({ app: 'shop', region: 'eu-west-1', context: 'webapp', port: 8080 }));
    expect(Object.keys(cfg.raw.environments)).toEqual(['staging', 'prod']);
  });

  it.each([
    ['unknown top-level key', `${base}extra: 1\n`, 11, 'extra', /unknown key "extra"/],
    ['typo with suggestion', base.replace('port: 8080', 'prot: 8080'), 6, 'services.web.prot', /did you mean "port"/],
    [
      'wrong type',
      base.replace('desiredCount: 2', 'desiredCount: two'),
      9,
      'environments.prod.desiredCount',
      /expected number/,
    ],
    ['port out of range', base.replace('port: 8080', 'port: 70000'), 6, 'services.web.port', /65535/],
    ['missing port', base.replace('    port: 8080\n', ''), 4, 'services.web.port', /required/],
    ['bad app name', base.replace('app: shop', 'app: Shop_1'), 1, 'app', /lowercase/],
    [
      'bad cidr',
      `${base}    allowedCidrs: ["10.0.0.0/33"]\n`.replace('staging: {}\n', 'staging:\n'),
      11,
      'environments.staging.allowedCidrs[0]',
      /CIDR/,
    ],
    ['fargate cpu', base.replace('port: 8080', 'port: 8080\n    cpu: 300'), 7, 'services.web.cpu', /Fargate CPU/],
    [
      'account not 12 digits',
      base.replace('desiredCount: 2', 'desiredCount: 2\n    account: "12345"'),
      10,
      'environments.prod.account',
      /12-digit AWS account id/,
    ],
    [
      'account as a number that lost its leading zero',
      base.replace('desiredCount: 2', 'desiredCount: 2\n    account: 012345678901'),
      10,
      'environments.prod.account',
      /quoted/,
    ],
    [
      'plaintext secret',
      base.replace('port: 8080', 'port: 8080\n    secrets: { DB: hunter2 }'),
      7,
      'services.web.secrets.DB',
      /ARN/,
    ],
  ])('%s → line and path', (_name, text, line, path, message) => {
    const { code, issues } = issuesOf(() => parseConfig(text));
    expect(code).toBe('PW_CONFIG_INVALID');
    const issue = issues.find((i) => i.path === path);
    expect(issue).toMatchObject({ line, path });
    expect(issue?.message).toMatch(message);
  });

  it('account and profile: per environment over defaults; a 12-digit number is accepted as the account', () => {
    const cfg = parseConfig(
      base
        .replace('desiredCount: 2', 'desiredCount: 2\n    account: 222222222222\n    profile: shop-prod')
        .replace('environments:', 'defaults: { account: "111111111111" }\nenvironments:'),
    );
    expect(resolveEnvironment(cfg, 'prod')).toMatchObject({ account: '222222222222', profile: 'shop-prod' });
    expect(resolveEnvironment(cfg, 'staging')).toMatchObject({ account: '111111111111', profile: null });
    expect(resolveEnvironment(cfg, 'staging').registryLayoutConfigured).toBe(false);
  });

  it('reports YAML syntax errors with their line', () => {
    const { code, issues } = issuesOf(() => parseConfig(base.replace('    port: 8080', '    port: [8080')));
    expect(code).toBe('PW_CONFIG_SYNTAX');
    expect(issues[0]?.line).toBeGreaterThanOrEqual(6);
  });

  it('refuses duplicate keys', () => {
    const { code } = issuesOf(() => parseConfig(base.replace('    port: 8080', '    port: 8080\n    port: 9090')));
    expect(code).toBe('PW_CONFIG_SYNTAX');
  });

  it('refuses alias bombs instead of expanding them', () => {
    const bomb = `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`;
    expect(issuesOf(() => parseConfig(bomb)).code).toMatch(/PW_CONFIG_/);
  });
});

describe('resolveEnvironment', () => {
  it('merges environment over defaults and applies defaults', () => {
    const cfg = parseConfig(
      `${base}defaults:\n  desiredCount: 3\n  alarms: { cpuPercent: 80 }\n  logRetentionDays: 7\n`.replace(
        '  prod:\n    desiredCount: 2\n',
        '  prod:\n    desiredCount: 2\n    alarms: { memoryPercent: 70 }\n',
      ),
      'patchwork.yml',
      '/repo',
    );
    const prod = resolveEnvironment(cfg, 'prod');
    expect(prod.name).toBe('shop-prod');
    expect(prod.services[0]).toMatchObject({
      name: 'web',
      fullName: 'shop-prod-web',
      desiredCount: 2,
      cpu: 256,
      memory: 512,
      build: { context: '/repo/webapp', dockerfile: 'Dockerfile', platform: 'linux/amd64', args: {} },
      // The default priority is the route's own (routes.ts), whatever the service order.
      route: {
        paths: ['/*'],
        hosts: null,
        priority: assignPriorities([{ service: 'web', paths: ['/*'], hosts: null }]).get('web'),
      },
      tags: { 'patchwork:app': 'shop', 'patchwork:env': 'prod', 'patchwork:service': 'web', 'managed-by': 'patchwork' },
    });
    expect(prod.alarms).toEqual({
      cpuPercent: 80,
      memoryPercent: 70,
      http5xxPerMinute: null,
      unhealthyHosts: null,
      snsTopicArn: null,
    });
    expect(prod.logRetentionDays).toBe(7);
    const staging = resolveEnvironment(cfg, 'staging');
    expect(staging.services[0]?.desiredCount).toBe(3);
    expect(staging.deploy).toEqual({
      timeoutSeconds: 600,
      pollSeconds: 2,
      keepReleases: 10,
      lockTtlSeconds: 900,
      smoke: null,
      preDeploy: [],
      strategy: 'rolling',
      bakeMinutes: 5,
      canary: null,
      linear: null,
      testListenerPort: 9000,
      preTraffic: [],
    });
  });

  it('deploy.preDeploy: per environment over the top level; the service defaults to the first; an unknown one is exit 2 at its line', () => {
    const cfg = parseConfig(
      `${base}deploy: { preDeploy: [{ command: [/app/migrate, up] }] }\n`.replace(
        'staging: {}',
        'staging: { deploy: { preDeploy: [{ command: [/seed], service: web }] } }',
      ),
    );
    expect(resolveEnvironment(cfg, 'prod').deploy.preDeploy).toEqual([
      { service: 'web', command: ['/app/migrate', 'up'] },
    ]);
    expect(resolveEnvironment(cfg, 'staging').deploy.preDeploy).toEqual([{ service: 'web', command: ['/seed'] }]);
    const bad = parseConfig(`${base}deploy: { preDeploy: [{ command: [/x], service: nope }] }\n`);
    expect(() => resolveEnvironment(bad, 'prod')).toThrow(
      /^patchwork\.yml:11 deploy\.preDeploy\[0\]\.service: unknown service "nope"/m,
    );
  });

  it('null in an environment turns a default off', () => {
    const cfg = parseConfig(
      `${base}defaults:\n  alarms: { cpuPercent: 80 }\n`.replace('staging: {}', 'staging: { alarms: ~ }'),
    );
    expect(resolveEnvironment(cfg, 'staging').alarms).toBeNull();
    expect(resolveEnvironment(cfg, 'prod').alarms?.cpuPercent).toBe(80);
  });

  it.each([
    [
      'fargate memory',
      base.replace('port: 8080', 'port: 8080\n    cpu: 256\n    memory: 4096'),
      'services.web.memory',
      /not a Fargate size/,
    ],
    [
      'override of unknown service',
      base.replace('desiredCount: 2', 'desiredCount: 2\n    services: { api: { desiredCount: 1 } }'),
      'environments.prod.services.api',
      /no service "api"/,
    ],
    [
      'certificate in another region',
      base.replace(
        'desiredCount: 2',
        'desiredCount: 2\n    https: { certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/abc-1" }',
      ),
      'environments.prod.https.certificateArn',
      /us-east-1/,
    ],
    [
      'secret-looking env',
      base.replace('port: 8080', 'port: 8080\n    env: { DB_PASSWORD: hunter2 }'),
      'services.web.env.DB_PASSWORD',
      /secret/,
    ],
    [
      'autoscaling bounds',
      base.replace('desiredCount: 2', 'desiredCount: 2\n    autoscaling: { min: 3, max: 5 }'),
      'environments.prod.desiredCount',
      /outside autoscaling/,
    ],
    ['unknown region', base.replace('region: eu-west-1', 'region: eu-wset-1'), 'region', /unknown AWS region/],
    [
      'name too long',
      base.replace('app: shop', 'app: averyveryverylongapp').replace('  prod:', '  production-eu:'),
      'environments.production-eu',
      /32/,
    ],
  ])('%s', (_name, text, path, message) => {
    const cfg = parseConfig(text);
    const envName = Object.keys(cfg.raw.environments)[0]!;
    const { code, issues } = issuesOf(() => resolveEnvironment(cfg, envName));
    expect(code).toBe('PW_CONFIG_INVALID');
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toMatch(message);
  });

  it('a region from --region is checked too', () => {
    const cfg = parseConfig(base);
    expect(issuesOf(() => resolveEnvironment(cfg, 'prod', { region: 'moon-1' })).code).toBe('PW_UNKNOWN_REGION');
  });
});

describe('pickEnvironment', () => {
  const cfg = parseConfig(base);
  it('lists known environments for an unknown one', () => {
    expect(() => pickEnvironment(cfg, 'nope')).toThrow(/defines: prod, staging/);
  });
  it('suggests the nearest', () => {
    try {
      pickEnvironment(cfg, 'prd');
    } catch (e) {
      expect((e as PatchworkError).hint).toBe('pass --env prod');
      expect((e as PatchworkError).exitCode).toBe(2);
    }
  });
  it('requires one', () => {
    expect(() => pickEnvironment(cfg)).toThrow(PatchworkError);
  });
});

describe('environment variables: read once (env.ts), from the map a verb is given', () => {
  const write = () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-env-'));
    writeFileSync(join(dir, 'other.yml'), base);
    return dir;
  };
  it('PATCHWORK_ENV, PATCHWORK_CONFIG, AWS_REGION, AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE reach the session', async () => {
    const dir = write();
    try {
      const s = await openSession({
        cwd: dir,
        environment: {
          PATCHWORK_ENV: 'staging',
          PATCHWORK_CONFIG: 'other.yml',
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
          AWS_MAX_ATTEMPTS: '2',
          AWS_RETRY_MODE: 'standard',
          AWS_PROFILE: 'ci',
        },
      });
      expect(s.target.env).toBe('staging');
      expect(s.config.file).toMatch(/other\.yml$/);
      expect(s.aws.endpoint).toBe('http://127.0.0.1:9');
      expect(s.aws.clientConfig('ecs')).toMatchObject({ maxAttempts: 2, retryMode: 'standard', profile: 'ci' });
      // Options beat the variables; nothing comes from this process's own environment.
      const o = await openSession({ cwd: dir, config: 'other.yml', env: 'prod', environment: {} });
      expect(o.target.env).toBe('prod');
      expect(o.aws.endpoint).toBeUndefined();
      expect(o.aws.clientConfig('ecs')).toMatchObject({ maxAttempts: 6, retryMode: 'adaptive' });
      await expect(openSession({ cwd: dir, config: 'other.yml', environment: {} })).rejects.toThrow(
        /no environment given/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('the AWS profile region (AWS_CONFIG_FILE, AWS_PROFILE / --profile, else [default]) comes last, read by the SDK loader', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-profile-'));
    try {
      const file = join(dir, 'aws-config');
      writeFileSync(
        file,
        '[default]\nregion = eu-west-3\n\n[profile ci]\nregion = ap-southeast-2\noutput = json\n\n[profile bare]\noutput = json\n',
      );
      const noRegion = {
        app: 'shop',
        services: { web: { image: 'nginx:1.27', port: 8080 } },
        environments: { prod: {} },
      } as never;
      const region = async (
        environment: Record<string, string | undefined>,
        over: { region?: string; profile?: string } = {},
      ) => (await openSession({ config: noRegion, env: 'prod', environment, ...over })).target.region;
      expect(await region({ AWS_CONFIG_FILE: file })).toBe('eu-west-3');
      expect(await region({ AWS_CONFIG_FILE: file, AWS_PROFILE: 'ci' })).toBe('ap-southeast-2');
      expect(await region({ AWS_CONFIG_FILE: file }, { profile: 'ci' })).toBe('ap-southeast-2');
      // Everything before it wins: AWS_DEFAULT_REGION, AWS_REGION, the config, --region.
      expect(await region({ AWS_CONFIG_FILE: file, AWS_DEFAULT_REGION: 'us-east-2' })).toBe('us-east-2');
      expect(await region({ AWS_CONFIG_FILE: file, AWS_REGION: 'us-west-2' })).toBe('us-west-2');
      expect(await region({ AWS_CONFIG_FILE: file, AWS_REGION: 'us-west-2' }, { region: 'eu-north-1' })).toBe(
        'eu-north-1',
      );
      const withRegion = { app: 'shop', region: 'eu-central-1', services: {}, environments: { prod: {} } };
      withRegion.services = { web: { image: 'nginx:1.27', port: 8080 } };
      expect(
        (await openSession({ config: withRegion as never, env: 'prod', environment: { AWS_CONFIG_FILE: file } })).target
          .region,
      ).toBe('eu-central-1');
      // ~/.aws/config from HOME when AWS_CONFIG_FILE is unset.
      mkdirSync(join(dir, '.aws'));
      writeFileSync(join(dir, '.aws', 'config'), '[default]\nregion = sa-east-1\n');
      expect(await region({ HOME: dir })).toBe('sa-east-1');
      // A profile without a region, or no file at all: PW_NO_REGION naming the profile as a way out.
      for (const environment of [
        { AWS_CONFIG_FILE: file, AWS_PROFILE: 'bare' },
        { AWS_CONFIG_FILE: join(dir, 'none') },
      ]) {
        await expect(region(environment)).rejects.toMatchObject({
          code: 'PW_NO_REGION',
          hint: expect.stringContaining('AWS profile'),
        });
      }
      // An unknown region in the profile is refused like any other.
      writeFileSync(file, '[default]\nregion = moon-1\n');
      await expect(region({ AWS_CONFIG_FILE: file })).rejects.toMatchObject({ code: 'PW_UNKNOWN_REGION' });
      expect(await profileRegion({ profile: undefined, awsConfigFile: file, awsCredentialsFile: join(dir, 'c') })).toBe(
        'moon-1',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('readEnv: AWS_CONFIG_FILE, else HOME/.aws/config', () => {
    expect(readEnv({ AWS_CONFIG_FILE: '/x/cfg', HOME: '/h' }).awsConfigFile).toBe('/x/cfg');
    expect(readEnv({ HOME: '/h' }).awsConfigFile).toBe(join('/h', '.aws', 'config'));
    expect(readEnv({ HOME: '/h', AWS_SHARED_CREDENTIALS_FILE: '/x/cred' }).awsCredentialsFile).toBe('/x/cred');
  });
  it('readEnv: AWS_REGION before AWS_DEFAULT_REGION, empty values are unset, the opt-in flag is exact', () => {
    expect(readEnv({ AWS_DEFAULT_REGION: 'eu-west-2' }).region).toBe('eu-west-2');
    expect(readEnv({ AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-2' }).region).toBe('eu-west-1');
    expect(readEnv({ AWS_REGION: '', PATCHWORK_ENV: '' })).toMatchObject({ region: undefined, env: undefined });
    expect(readEnv({ AWS_MAX_ATTEMPTS: 'x' }).maxAttempts).toBeUndefined();
    expect(readEnv({ PATCHWORK_ALLOW_UNKNOWN_REGION: 'yes' }).allowUnknownRegion).toBe(false);
    expect(readEnv({ PATCHWORK_ALLOW_UNKNOWN_REGION: '1' }).allowUnknownRegion).toBe(true);
  });
});

describe('helpers', () => {
  it.each([
    ['0.0.0.0/0', true],
    ['10.0.0.0/8', true],
    ['2001:db8::/32', true],
    ['10.0.0.0/33', false],
    ['10.0.0.256/24', false],
    ['10.0.0.0', false],
    ['10.0.0.0/8/1', false],
  ])('isCidr(%s) = %s', (v, ok) => expect(isCidr(v)).toBe(ok));

  it.each([
    ['DB_PASSWORD', 'x', true],
    ['API_KEY', 'x', true],
    ['GITHUB_TOKEN', 'x', true],
    ['TOKEN_TTL', '60', false],
    ['LOG_LEVEL', 'info', false],
    ['ID', 'AKIAABCDEFGHIJKLMNOP', true],
    ['DB_PASSWORD', '', false],
  ])('looksSecret(%s)', (k, v, yes) => expect(looksSecret(k, v)).toBe(yes));
});
