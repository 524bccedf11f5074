/**
 * One ECR repository per built service: immutable tags, scan on push, a lifecycle policy. With the
 * default `registryLayout: shared` it is `<app>-<svc>`, shared by the app's environments of one
 * account and region: tagged `patchwork:shared=true` instead of one `patchwork:env` (whichever
 * environment provisions first creates it; destroy of one environment leaves it alone).
 */
import {
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  ListTagsForResourceCommand as EcrListTags,
  TagResourceCommand as EcrTagResource,
  GetLifecyclePolicyCommand,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  PutLifecyclePolicyCommand,
  paginateDescribeRepositories,
  type Repository,
} from '@aws-sdk/client-ecr';
import { tagList } from '../apply/context.js';
import { RELEASE_TAG_PREFIX, repositoryName, sharedRepositoryTags } from '../desired/names.js';
import { canonicalJson } from '../desired/types.js';
import { allPages, changed, hasTagDiff, ignore, ofKind, orNull, type ResourceKind, tagsFrom } from './kind.js';

/**
 * Deploy tags every digest it releases `release-<hex digest>` (see release/protect.ts); the lifecycle
 * policy's first rule selects those images with a count they never reach, so no later rule can
 * expire an image a release of any environment ran (ECR: an image matched by a rule is not
 * considered by rules of lower priority).
 */
export { RELEASE_TAG_PREFIX };
/** The count the protecting rule allows: released images kept per repository. */
export const RELEASED_IMAGES_KEPT = 9999;

export function lifecyclePolicy(keep: number): string {
  return canonicalJson({
    rules: [
      {
        rulePriority: 1,
        description: 'never expire an image a release ran (tagged release-*)',
        selection: {
          tagStatus: 'tagged',
          tagPrefixList: [RELEASE_TAG_PREFIX],
          countType: 'imageCountMoreThan',
          countNumber: RELEASED_IMAGES_KEPT,
        },
        action: { type: 'expire' },
      },
      {
        rulePriority: 2,
        description: `keep the last ${keep} images`,
        selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: keep },
        action: { type: 'expire' },
      },
    ],
  });
}

export const ecrRepository: ResourceKind<'ecr-repository'> = {
  kind: 'ecr-repository',
  desired: {
    service: ({ target }, svc) =>
      target.registry !== null
        ? []
        : [
            {
              kind: 'ecr-repository',
              name: repositoryName(svc),
              service: svc.name,
              tags: target.registryLayout === 'shared' ? sharedRepositoryTags(target, svc) : { ...svc.tags },
              tagMutability: 'IMMUTABLE',
              scanOnPush: true,
              encryption: 'AES256',
              lifecyclePolicy: lifecyclePolicy(target.keepImages),
            },
          ],
  },
  observe: {
    async read({ aws, desired, add }) {
      const wantedList = ofKind(desired, 'ecr-repository');
      const wanted = new Set(wantedList.map((r) => r.name));
      if (!wanted.size) return;
      const ecr = await aws.get('ecr');
      // By name fails as a whole when one is missing, so list (one page for most accounts).
      const pages = await allPages(paginateDescribeRepositories({ client: ecr, pageSize: 1000 }, {}));
      const repos: Repository[] = pages.flatMap((p) =>
        (p.repositories ?? []).filter((r) => wanted.has(r.repositoryName ?? '')),
      );
      await Promise.all(
        repos.map(async (repo) => {
          const [policy, tags] = await Promise.all([
            orNull(
              ecr.send(new GetLifecyclePolicyCommand({ repositoryName: repo.repositoryName })),
              'LifecyclePolicyNotFoundException',
            ),
            ecr.send(new EcrListTags({ resourceArn: repo.repositoryArn })),
          ]);
          const svc = wantedList.find((r) => r.name === repo.repositoryName)?.service;
          add({
            kind: 'ecr-repository',
            name: repo.repositoryName!,
            ...(svc ? { service: svc } : {}),
            id: repo.repositoryArn!,
            tags: tagsFrom(tags.tags),
            tagMutability: (repo.imageTagMutability ?? 'MUTABLE') as 'IMMUTABLE',
            scanOnPush: repo.imageScanningConfiguration?.scanOnPush ?? false,
            encryption: repo.encryptionConfiguration?.encryptionType ?? 'AES256',
            lifecyclePolicy: policy?.lifecyclePolicyText ? canonicalJson(JSON.parse(policy.lifecyclePolicyText)) : null,
            meta: { uri: repo.repositoryUri },
          });
        }),
      );
    },
  },
  fields: { update: ['tagMutability', 'scanOnPush', 'lifecyclePolicy'], replace: ['encryption'] },
  irreplaceable: { what: 'repository', why: 'its encryption cannot change without deleting its images' },
  async create(ctx, want) {
    const ecr = await ctx.aws.get('ecr');
    await ecr
      .send(
        new CreateRepositoryCommand({
          repositoryName: want.name,
          imageTagMutability: want.tagMutability,
          imageScanningConfiguration: { scanOnPush: want.scanOnPush },
          encryptionConfiguration: { encryptionType: want.encryption as 'AES256' },
          tags: tagList(want.tags),
        }),
      )
      .catch(ignore('RepositoryAlreadyExistsException'));
    if (want.lifecyclePolicy)
      await ecr.send(
        new PutLifecyclePolicyCommand({ repositoryName: want.name, lifecyclePolicyText: want.lifecyclePolicy }),
      );
  },
  async update(ctx, want, have, diff) {
    const ecr = await ctx.aws.get('ecr');
    if (changed(diff, 'tagMutability'))
      await ecr.send(
        new PutImageTagMutabilityCommand({ repositoryName: want.name, imageTagMutability: want.tagMutability }),
      );
    if (changed(diff, 'scanOnPush')) {
      await ecr.send(
        new PutImageScanningConfigurationCommand({
          repositoryName: want.name,
          imageScanningConfiguration: { scanOnPush: want.scanOnPush },
        }),
      );
    }
    if (changed(diff, 'lifecyclePolicy') && want.lifecyclePolicy)
      await ecr.send(
        new PutLifecyclePolicyCommand({ repositoryName: want.name, lifecyclePolicyText: want.lifecyclePolicy }),
      );
    if (hasTagDiff(diff)) await ecr.send(new EcrTagResource({ resourceArn: have.id, tags: tagList(want.tags) }));
  },
  async delete(ctx, have, opts) {
    const ecr = await ctx.aws.get('ecr');
    await ecr
      .send(new DeleteRepositoryCommand({ repositoryName: have.name, force: !!opts.deleteImages }))
      .catch(ignore('RepositoryNotFoundException'));
  },
};
