/**
 * An environment whose config does not set registryLayout keeps its old per-env repositories
 * (`<app>-<env>-<svc>`) when they hold images and no shared `<app>-<svc>` exists, with the warning
 * PW_PER_ENV_REPOSITORY; otherwise it is on the shared default; a written registryLayout is never
 * second-guessed (and costs no call). ECR through mocked clients, a plain registry through a fetch.
 */
import { DescribeImagesCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/lib/config/load.js';
import { resolveEnvironment } from '../../src/lib/config/resolve.js';
import { Emitter, type PatchworkEvent } from '../../src/lib/events.js';
import { keepsPerEnvLayout, settleRepositoryLayout } from '../../src/lib/layout.js';
import type { Session } from '../../src/lib/session.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());

const yaml = (extra = '', registry = '') => `app: shop
region: eu-west-1
${registry ? `registry: "${registry}"\n` : ''}services:
  web: { build: { context: . }, port: 8080 }
  api: { build: { context: . }, port: 8081, route: { paths: ["/api/*"] } }
  proxy: { image: "nginx:1.27", port: 8082, route: { paths: ["/proxy/*"] } }
environments:
  prod: { desiredCount: 1${extra} }
`;

function sessionOf(text: string) {
  const config = parseConfig(text);
  const events: PatchworkEvent[] = [];
  const aws = testClients();
  const session = {
    config,
    target: resolveEnvironment(config, 'prod'),
    aws,
    events: new Emitter((e) => events.push(e)),
  } as unknown as Session;
  return { session, events, aws };
}

const notFound = (name: string) =>
  Object.assign(new Error(`The repository with name '${name}' does not exist`), {
    name: 'RepositoryNotFoundException',
    $metadata: {},
  });

describe('keepsPerEnvLayout (pure)', () => {
  const unset = { registryLayoutConfigured: false, registryLayout: 'shared' as const };
  it.each([
    ['unset, old repository with images, no shared one', unset, false, ['shop-prod-web'], true],
    ['unset, a shared repository exists', unset, true, ['shop-prod-web'], false],
    ['unset, old repository empty or absent', unset, false, [], false],
    ['written shared', { registryLayoutConfigured: true, registryLayout: 'shared' as const }, false, ['x'], false],
    ['written per-env', { registryLayoutConfigured: true, registryLayout: 'per-env' as const }, false, ['x'], false],
  ])('%s → %s', (_n, target, sharedExists, perEnvWithImages, keeps) => {
    expect(keepsPerEnvLayout(target, { sharedExists, perEnvWithImages })).toBe(keeps);
  });
});

describe('settleRepositoryLayout on ECR', () => {
  it('old per-env repositories with images and no shared one: kept, every built service on it, one warning saying how to migrate', async () => {
    const ecr = awsMock(ECRClient);
    ecr.on(DescribeRepositoriesCommand).callsFake((input: { repositoryNames: string[] }) => {
      throw notFound(input.repositoryNames[0]!);
    });
    ecr
      .on(DescribeImagesCommand, { repositoryName: 'shop-prod-web' })
      .resolves({ imageDetails: [{ imageDigest: 'sha256:1' }] });
    ecr.on(DescribeImagesCommand, { repositoryName: 'shop-prod-api' }).rejects(notFound('shop-prod-api'));
    const { session, events } = sessionOf(yaml());
    expect(session.target.services.find((s) => s.name === 'web')!.repository).toBe('shop-web');
    await settleRepositoryLayout(session);
    expect(session.target.registryLayout).toBe('per-env');
    expect(Object.fromEntries(session.target.services.map((s) => [s.name, s.repository]))).toMatchObject({
      web: 'shop-prod-web',
      api: 'shop-prod-api',
    });
    const warnings = events.filter((e) => e.type === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'PW_PER_ENV_REPOSITORY' });
    expect(warnings[0]!.message).toContain('shop-prod-web hold images');
    expect(warnings[0]!.message).toMatch(/set registryLayout .* per-env to stay, or shared/);
    // Asked by name, as deploy.json grants (repository/<app>-*); images only of the old ones.
    expect(ecr.commandCalls(DescribeRepositoriesCommand).map((c) => c.args[0].input.repositoryNames)).toEqual([
      ['shop-web'],
      ['shop-api'],
    ]);
    expect(ecr.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input)).toEqual([
      { repositoryName: 'shop-prod-web', maxResults: 1 },
      { repositoryName: 'shop-prod-api', maxResults: 1 },
    ]);
  });

  it('a shared repository exists: the default stands, no image read, no warning', async () => {
    const ecr = awsMock(ECRClient);
    ecr
      .on(DescribeRepositoriesCommand, { repositoryNames: ['shop-web'] })
      .resolves({ repositories: [{ repositoryName: 'shop-web' }] });
    ecr.on(DescribeRepositoriesCommand, { repositoryNames: ['shop-api'] }).rejects(notFound('shop-api'));
    const { session, events } = sessionOf(yaml());
    await settleRepositoryLayout(session);
    expect(session.target.registryLayout).toBe('shared');
    expect(session.target.services.find((s) => s.name === 'api')!.repository).toBe('shop-api');
    expect(ecr.commandCalls(DescribeImagesCommand)).toHaveLength(0);
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  });

  it('old repositories exist but are empty: the default stands (a fresh project, or one already emptied)', async () => {
    const ecr = awsMock(ECRClient);
    ecr.on(DescribeRepositoriesCommand).rejects(notFound('x'));
    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [] });
    const { session, events } = sessionOf(yaml());
    await settleRepositoryLayout(session);
    expect(session.target.registryLayout).toBe('shared');
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  });

  it.each(['shared', 'per-env'])('registryLayout: %s written in the config: no call at all', async (layout) => {
    const ecr = awsMock(ECRClient);
    const { session, aws } = sessionOf(yaml(`, registryLayout: ${layout}`));
    await settleRepositoryLayout(session);
    expect(session.target.registryLayout).toBe(layout);
    expect(ecr.calls()).toHaveLength(0);
    expect(aws.counter.snapshot().total).toBe(0);
  });
});

describe('settleRepositoryLayout on a plain registry', () => {
  const registry = '127.0.0.1:5999';
  const fetchWith =
    (tags: Record<string, string[]>): typeof fetch =>
    async (input) => {
      const m = /\/v2\/(.+)\/tags\/list$/.exec(String(input));
      const found = m ? tags[m[1]!] : undefined;
      if (!found) return new Response('{"errors":[{"code":"NAME_UNKNOWN"}]}', { status: 404 });
      return Response.json({ name: m![1], tags: found });
    };

  it('tags in shop-prod-web and no shop-web: kept, warned', async () => {
    const { session, events } = sessionOf(yaml('', registry));
    await settleRepositoryLayout(session, fetchWith({ 'shop-prod-web': ['abc'] }));
    expect(session.target.registryLayout).toBe('per-env');
    expect(events.filter((e) => e.type === 'warning').map((e) => (e as { code: string }).code)).toEqual([
      'PW_PER_ENV_REPOSITORY',
    ]);
  });

  it('shop-web has tags: shared, whatever the old ones hold', async () => {
    const { session, events } = sessionOf(yaml('', registry));
    await settleRepositoryLayout(session, fetchWith({ 'shop-prod-web': ['abc'], 'shop-web': ['def'] }));
    expect(session.target.registryLayout).toBe('shared');
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  });
});
