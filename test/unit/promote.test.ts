/**
 * Promotion: which source release (and digest per service) a promote picks, pure; the release tag
 * that protects a released digest from the lifecycle policy (the ECR requests, mocked).
 */
import { BatchGetImageCommand, ECRClient, PutImageCommand } from '@aws-sdk/client-ecr';
import { afterAll, describe, expect, it } from 'vitest';
import { isPatchworkError } from '../../src/lib/errors.js';
import { choosePromotion } from '../../src/lib/promote.js';
import { newRelease, type ReleaseRecord } from '../../src/lib/release/history.js';
import { protectReleasedImages, releaseTag } from '../../src/lib/release/protect.js';
import type { Session } from '../../src/lib/session.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';
import { ONE_SERVICE, target } from './provision-fixtures.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;
const HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';

function rel(
  sha: string,
  services: [string, string][],
  outcome: ReleaseRecord['outcome'] = 'succeeded',
  kind: ReleaseRecord['kind'] = 'deploy',
): ReleaseRecord {
  return newRelease({
    kind,
    sha,
    outcome,
    deployer: 'me',
    services: services.map(([service, digest]) => ({
      service,
      image: `${HOST}/shop-${service}@${digest}`,
      digest,
      taskDefinitionArn: null,
    })),
  });
}

function code(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isPatchworkError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('did not throw');
}

// newest first: a failed deploy of ffff, then a web-only deploy of bbbb after a full one of bbbb, then aaaa.
const H = [
  rel('ffff0000ffff', [['web', D3]], 'rolled-back'),
  newRelease({ kind: 'unlock', sha: null, outcome: 'unlocked', deployer: 'me', services: [] }),
  rel('bbbb2222bbbb', [['web', D2]]),
  rel('bbbb2222bbbb', [
    ['web', D1],
    ['api', D1],
  ]),
  rel('aaaa1111aaaa', [
    ['web', D1],
    ['api', D1],
  ]),
];

describe('choosePromotion', () => {
  it('default: the newest successful release; per service the newest successful release of that sha running it', () => {
    const { sha, picks } = choosePromotion(H, ['web', 'api'], 'staging');
    expect(sha).toBe('bbbb2222bbbb');
    expect(picks.get('web')).toBe(H[2]);
    expect(picks.get('api')).toBe(H[3]);
  });

  it('--sha: a unique prefix of a successful release', () => {
    const { sha, picks } = choosePromotion(H, ['web'], 'staging', 'aaaa11');
    expect(sha).toBe('aaaa1111aaaa');
    expect(picks.get('web')).toBe(H[4]);
  });

  it('a sha the source never released successfully is exit 2 naming the successful ones', () => {
    for (const s of ['ffff0000', 'cccc']) {
      const e = code(() => choosePromotion(H, ['web'], 'staging', s));
      expect(e.code).toBe('PW_UNKNOWN_RELEASE');
      expect(e.message).toContain(`staging never released ${s}`);
      expect(e.message).toContain('staging has successful releases of: bbbb2222bbbb, aaaa1111aaaa');
    }
    expect(code(() => choosePromotion([], ['web'], 'staging')).message).toMatch(/no successful release.*: none/);
    expect(code(() => choosePromotion(H, ['web'], 'staging', 'ab')).code).toBe('PW_USAGE');
  });

  it('a service no successful release of the sha ran is exit 2', () => {
    const e = code(() => choosePromotion(H, ['web', 'worker'], 'staging'));
    expect(e).toMatchObject({ code: 'PW_UNKNOWN_RELEASE' });
    expect(e.message).toContain('no successful release of bbbb2222bbbb in staging ran worker');
  });
});

describe('release tags (lifecycle protection)', () => {
  afterAll(() => restoreAwsMocks());
  const session = (registry: string | null = null) =>
    ({
      target: {
        ...target(ONE_SERVICE),
        registry,
      },
      aws: testClients(),
      events: { warn: () => {} },
    }) as unknown as Session;

  it('puts the released manifest again under release-<digest hex>, once per repository and digest', async () => {
    const ecr = awsMock(ECRClient);
    ecr.on(BatchGetImageCommand).resolves({
      images: [{ imageManifest: '{"m":1}', imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json' }],
    });
    ecr
      .on(PutImageCommand)
      .resolvesOnce({})
      .rejects(Object.assign(new Error('exists'), { name: 'ImageAlreadyExistsException', $metadata: {} }));
    await protectReleasedImages(session(), [
      { image: `${HOST}/shop-web@${D1}`, digest: D1 },
      { image: `${HOST}/shop-web@${D1}`, digest: D1 },
      { image: `${HOST}/shop-api@${D2}`, digest: D2 },
      { image: `docker.io/library/nginx@${D3}`, digest: D3 }, // not ours: no lifecycle of ours applies
    ]);
    expect(releaseTag(D1)).toBe(`release-${'1'.repeat(64)}`);
    expect(ecr.commandCalls(PutImageCommand).map((c) => c.args[0].input)).toEqual([
      {
        repositoryName: 'shop-web',
        imageManifest: '{"m":1}',
        imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
        imageDigest: D1,
        imageTag: releaseTag(D1),
      },
      {
        repositoryName: 'shop-api',
        imageManifest: '{"m":1}',
        imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
        imageDigest: D2,
        imageTag: releaseTag(D2),
      },
    ]);
    expect(ecr.commandCalls(BatchGetImageCommand)[0]!.args[0].input).toMatchObject({
      repositoryName: 'shop-web',
      imageIds: [{ imageDigest: D1 }],
    });
  });

  it('a plain registry has no lifecycle policy: no call', async () => {
    const ecr = awsMock(ECRClient);
    await protectReleasedImages(session('127.0.0.1:5000'), [{ image: `127.0.0.1:5000/shop-web@${D1}`, digest: D1 }]);
    expect(ecr.calls()).toHaveLength(0);
  });
});
