/**
 * Released images are protected from the repository's lifecycle policy: before a release is
 * recorded, each digest it runs that lives in the environment's own ECR registry gets the tag
 * `release-<hex digest>` (the same manifest put again under one more tag, so the digest does not
 * change). The lifecycle policy's first rule keeps every `release-*` image (ecr-repository.ts),
 * so a lifecycle rule never expires an image a release of any environment ran. A plain registry
 * has no lifecycle policy: nothing to do.
 */
import { isAwsError } from '../aws/errors.js';
import { ecrSdk } from '../aws/sdk.js';
import { RELEASE_TAG_PREFIX } from '../desired/names.js';
import { inOwnRegistry, MANIFEST_TYPES, repositoryOfImage } from '../docker/registry.js';
import type { Session } from '../session.js';

/** `release-<64 hex>`: one tag per digest (ECR tags are at most 128 characters). */
export function releaseTag(digest: string): string {
  return `${RELEASE_TAG_PREFIX}${digest.replace(/^sha256:/, '')}`;
}

export async function protectReleasedImages(
  session: Session,
  changes: { image: string | null; digest: string | null }[],
): Promise<void> {
  const { target, aws, events } = session;
  if (target.registry !== null) return;
  const wanted = new Map<string, { repo: string; digest: string }>();
  for (const c of changes) {
    if (!c.image || !c.digest || !inOwnRegistry(c.image, target)) continue;
    const repo = repositoryOfImage(c.image, target);
    if (repo) wanted.set(`${repo}@${c.digest}`, { repo, digest: c.digest });
  }
  if (!wanted.size) return;
  const { BatchGetImageCommand, PutImageCommand } = ecrSdk();
  const ecr = await aws.get('ecr');
  for (const { repo, digest } of wanted.values()) {
    try {
      const got = await ecr.send(
        new BatchGetImageCommand({
          repositoryName: repo,
          imageIds: [{ imageDigest: digest }],
          acceptedMediaTypes: MANIFEST_TYPES,
        }),
      );
      const image = got.images?.[0];
      if (!image?.imageManifest) continue; // not there: the rollout's pull will say so
      await ecr.send(
        new PutImageCommand({
          repositoryName: repo,
          imageManifest: image.imageManifest,
          ...(image.imageManifestMediaType ? { imageManifestMediaType: image.imageManifestMediaType } : {}),
          imageDigest: digest,
          imageTag: releaseTag(digest),
        }),
      );
    } catch (err) {
      // Tagged already (an earlier release of this digest, in any environment sharing the repository).
      if (isAwsError(err, 'ImageAlreadyExistsException')) continue;
      events.warn(
        'PW_RELEASE_TAG_FAILED',
        `could not tag ${repo}@${digest} ${releaseTag(digest)} (the lifecycle policy may expire it): ${(err as Error).message}`,
      );
    }
  }
}
