/**
 * `patchwork deploy`: build (skip when the registry has the sha) → register a digest-pinned task
 * definition per service → UpdateService → one combined wait, all under the environment's lock.
 * Exit codes: 3 circuit breaker / alarm rolled back, 4 timeout, 5 lock held.
 */
import { prepareBuild, runBuild } from './build.js';
import { preflightApplies, type ResolvedService } from './config/resolve.js';
import { inOwnRegistry } from './docker/registry.js';
import { inEnvironment, PatchworkError } from './errors.js';
import type { ReleaseDiff } from './release/diff.js';
import type { DryRunChange } from './release/dryrun.js';
import { type Change, type RolloutResult, rollout } from './release/rollout.js';
import { pinImage } from './release/taskdef.js';
import { type CommonOptions, openSession, type Session } from './session.js';
import type { WatchResult } from './watch/index.js';

export interface DeployOptions extends CommonOptions {
  /** Wait for the rollout (default true). */
  wait?: boolean;
  /** Seconds (default deploy.timeoutSeconds). */
  timeoutSeconds?: number;
  /** Wait this long for a held lock (default 0: exit 5 at once). */
  lockWaitSeconds?: number;
  rollbackOnTimeout?: boolean;
  /** Push a dirty work tree (build's --allow-dirty). */
  allowDirty?: boolean;
  /** Break-glass: no smoke test, wait only for ECS's own acceptance; marked `fast` in history. */
  fast?: boolean;
  /** false (--no-build): deploy the image already pushed for HEAD; never build. */
  build?: boolean;
  /** Deploy the image already pushed under this tag (a git sha, full or as tagged); never build. */
  sha?: string;
  /** Deploy this image (`repo:tag` in the environment's registry, or any `repo@sha256:…`) to one service. */
  image?: string;
}

export interface DeployResult {
  env: string;
  sha: string;
  /** Where the images came from: built (or found pushed) for HEAD, a pushed --sha, or an --image. */
  source: 'build' | 'registry' | 'image';
  release: RolloutResult['release'];
  services: RolloutResult['services'];
  watch: WatchResult | null;
  /** The smoke test through the load balancer (deploy.smoke; skipped with --fast). */
  smoke: RolloutResult['smoke'];
}

/**
 * Local checks first (config, git, build contexts, the engine: exit 2 / PW_NO_DOCKER with no AWS
 * call); when nothing is to be built (--sha, --image, --no-build) the registry look-up (reads
 * only: a missing image is exit 2 with no write); then everything else under the environment's
 * lock: the build and push (skipped when the registry has the sha), the task definitions, the
 * update, the wait.
 */
export async function deploy(opts: DeployOptions): Promise<DeployResult> {
  const session = await openSession(opts);
  return deployIn(session, opts).catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}

async function deployIn(session: Session, opts: DeployOptions): Promise<DeployResult> {
  const { target, events } = session;
  if (opts.sha && opts.image) throw new PatchworkError('PW_USAGE', '--sha and --image are exclusive', {});
  // A given network that cannot work (routes, endpoints, zones): exit 2 before any change.
  // (Loaded only then: it brings the EC2 client, which a deploy in the default VPC never needs.)
  if (preflightApplies(target)) {
    const { preflightNetwork } = await import('./observe/network-preflight.js');
    await preflightNetwork(session.aws, target, session.environment, session.config);
  }
  let source: DeployResult['source'] = 'build';
  let command = 'deploy HEAD';
  let prepare: () => Promise<{ sha: string | null; changes: Change[] }>;
  // Known before the lock (nothing to build): recorded in the lock's own transaction.
  let ready: { sha: string | null; changes: Change[] } | null = null;
  // Built under the lock: the sha is known before, so an interrupted build is still recorded.
  let building: { sha: string | null } | undefined;
  if (opts.image) {
    source = 'image';
    const svc = single(target.services, opts.image);
    command = `deploy ${opts.image}`.slice(0, 200);
    const ref = checkImageRef(opts.image, target); // a malformed or unpinned ref: exit 2 before any call
    // Nothing to build: the registry is asked before the lock, so a missing image costs that read
    // and no write (exit 2, PW_IMAGE_NOT_FOUND).
    const resolved = await resolveImage(session, svc, ref);
    prepare = async () => resolved;
    ready = resolved;
  } else {
    const buildable = target.services.filter((s) => s.build);
    if (!buildable.length) {
      throw new PatchworkError(
        'PW_USAGE',
        'no service to deploy has build: (image-only services are set by provision)',
        {
          hint: 'give a service a build: section, deploy an image with --image REF --service NAME, or change its image: and run `patchwork provision`',
        },
      );
    }
    const fromRegistry = opts.build === false || !!opts.sha;
    if (fromRegistry) source = 'registry';
    if (opts.sha) opts = { ...opts, sha: await fullSha(session, opts.sha, buildable) };
    const prepared = await prepareBuild(
      {
        ...opts,
        push: true,
        ...(fromRegistry ? { lookupOnly: true } : {}),
        ...(opts.sha ? { tag: opts.sha } : {}),
        ...(opts.allowDirty ? { allowDirty: true } : {}),
      },
      session,
    );
    const tags = [...new Set(prepared.prepared.map((p) => p.tags.tag))];
    if (tags.length) command = `deploy ${tags.map((t) => t.slice(0, 12)).join(',')}`;
    const toChanges = (built: Awaited<ReturnType<typeof runBuild>>) => {
      const changes = buildable.map((svc) => {
        const img = built.images.find((i) => i.service === svc.name);
        if (!img?.digest) {
          throw fromRegistry
            ? new PatchworkError(
                'PW_IMAGE_NOT_FOUND',
                `${svc.name}: the registry has no image tagged ${img?.tag ?? '?'}`,
                {
                  hint: opts.sha
                    ? 'build and push that commit first (`patchwork build` on it), or pick a sha from `patchwork releases`'
                    : 'run `patchwork build` (or deploy without --no-build)',
                  data: { service: svc.name, image: img?.image ?? null },
                },
              )
            : new PatchworkError('PW_PUSH_FAILED', `no pushed digest for ${svc.name}`, {
                hint: 'run `patchwork build` and check that the image reaches the registry',
              });
        }
        return { svc, image: pinImage(img.image, img.digest), digest: img.digest, imageUser: img.user };
      });
      const shas = [...new Set(built.images.map((i) => i.tag))];
      return { sha: shas.length === 1 ? shas[0]! : shas.join(','), changes };
    };
    if (fromRegistry) {
      // Nothing to build: look the images up before the lock, so a missing one costs only the
      // registry reads and no write (exit 2, PW_IMAGE_NOT_FOUND).
      const found = toChanges(await runBuild(prepared));
      prepare = async () => found;
      ready = found;
    } else {
      prepare = async () => toChanges(await runBuild(prepared));
      const tags = [...new Set(prepared.prepared.map((p) => p.tags.tag))];
      building = { sha: tags.length === 1 ? tags[0]! : tags.join(',') };
    }
  }
  const announce = (p: { sha: string | null; changes: Change[] }) => {
    events.log(
      `deploying ${p.sha ? p.sha.slice(0, 12) : 'an image (no git sha)'} to ${target.name}: ${p.changes.map((c) => c.image).join(', ')}`,
    );
    return p;
  };
  const result = await rollout(session, {
    kind: 'deploy',
    command,
    prepare: ready ? announce(ready) : async () => announce(await prepare()),
    ...(building ? { building } : {}),
    wait: opts.wait ?? true,
    ...(opts.lockWaitSeconds !== undefined ? { lockWaitSeconds: opts.lockWaitSeconds } : {}),
    ...(opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : {}),
    ...(opts.rollbackOnTimeout ? { rollbackOnTimeout: true } : {}),
    ...(opts.fast ? { fast: true } : {}),
  });
  return {
    env: target.env,
    sha: result.release.sha ?? '',
    source,
    release: result.release,
    services: result.services,
    watch: result.watch,
    smoke: result.smoke,
  };
}

/** --image goes to exactly one service: the one --service names, or the only one there is. */
function single(services: ResolvedService[], image: string): ResolvedService {
  if (services.length !== 1) {
    throw new PatchworkError(
      'PW_USAGE',
      `--image ${image} needs --service: this environment has ${services.length} services`,
      {
        hint: `add --service ${services.map((s) => s.name).join('|')}`,
      },
    );
  }
  return services[0]!;
}

/**
 * An --image reference pinned by digest. `repo@sha256:…` is used as given (checked when it is in
 * the environment's registry); `repo:tag` is resolved to its digest, which only the environment's
 * own registry can answer.
 */
interface CheckedRef {
  ref: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  /** In the environment's own registry: its digest can (and must) be looked up. */
  own: boolean;
}

/** The local half of --image: a well-formed reference, pinned by digest unless the own registry can resolve it. */
function checkImageRef(ref: string, target: { registry: string | null; region: string }): CheckedRef {
  const parsed = parseImageRef(ref);
  if (!parsed) {
    throw new PatchworkError('PW_USAGE', `--image ${ref} is not an image reference`, {
      hint: 'use host/repository:tag or host/repository@sha256:<64 hex>',
    });
  }
  const own = inOwnRegistry(ref, target);
  if (!own && !parsed.digest) {
    throw new PatchworkError(
      'PW_USAGE',
      `--image ${ref} is outside this environment's registry and not pinned by digest`,
      { hint: 'pass it as repository@sha256:<digest> so the release is exact' },
    );
  }
  return { ref, ...parsed, own };
}

/**
 * `--sha`: a full sha as is; a prefix (7+ hex) from the local git repository, else from the pushed
 * tags of the services' repositories (PW_SHA_AMBIGUOUS when several match). Non-hex: exit 2 before
 * any AWS call.
 */
async function fullSha(session: Session, raw: string, services: ResolvedService[]): Promise<string> {
  const { resolveShaFlag } = await import('./sha.js');
  return resolveShaFlag(raw, {
    git: async (prefix) => {
      const { resolveCommit } = await import('./git/repo.js');
      for (const dir of new Set(services.map((s) => s.build!.context))) {
        const full = await resolveCommit(dir, prefix, session.environment.vars);
        if (full) return full;
      }
      return null;
    },
    tags: async () => {
      const { settleRepositoryLayout } = await import('./layout.js');
      const { repositoryName } = await import('./desired/names.js');
      const { EcrRegistry, PlainRegistry } = await import('./docker/registry.js');
      await settleRepositoryLayout(session);
      const registry = session.target.registry
        ? new PlainRegistry(session.target.registry)
        : await EcrRegistry.login(session.aws, session.target.env);
      const all: string[] = [];
      for (const svc of services) all.push(...(await registry.tags(repositoryName(svc))));
      return all;
    },
  });
}

async function resolveImage(
  session: Session,
  svc: ResolvedService,
  checked: CheckedRef,
): Promise<{ sha: string | null; changes: Change[] }> {
  let digest = checked.digest;
  if (checked.own) {
    const { lookupImage } = await import('./docker/registry.js');
    const repoName = checked.repository.slice(checked.repository.indexOf('/') + 1);
    const found = await lookupImage(session.aws, session.target, repoName, digest ?? checked.tag!);
    if (!found) {
      throw new PatchworkError('PW_IMAGE_NOT_FOUND', `the registry has no image ${checked.ref}`, {
        hint: 'push it first (`patchwork build`), or check the repository and tag',
        data: { image: checked.ref },
      });
    }
    digest = found.digest;
  }
  const image = pinImage(checked.repository, digest!);
  // The git sha is the image's revision label (patchwork's builds set it), never a tag or a digest prefix.
  const { imageRevision, repositoryOfImage } = await import('./docker/registry.js');
  const repo = repositoryOfImage(checked.ref, session.target);
  const sha = repo ? await imageRevision(session.aws, session.target, repo, digest!) : null;
  if (!sha)
    session.events.warn(
      'PW_NO_REVISION',
      `${checked.ref} has no readable org.opencontainers.image.revision label: the release records no git sha`,
    );
  return { sha, changes: [{ svc, image, digest: digest! }] };
}

export function parseImageRef(ref: string): { repository: string; tag: string | null; digest: string | null } | null {
  const m =
    /^([a-z0-9][a-z0-9._:-]*(?:\/[a-z0-9._-]+)+|[a-z0-9][a-z0-9._-]*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(
      ref,
    );
  if (!m) return null;
  if (!m[2] && !m[3]) return null;
  return { repository: m[1]!, tag: m[2] ?? null, digest: m[3] ?? null };
}

export interface DeployPlan {
  env: string;
  dryRun: true;
  /** Some service would change: `--exit-code` exits 6. */
  pending: boolean;
  services: { service: string; image: string | null; current: string | null; change: boolean; wouldBuild: boolean }[];
  /** Field by field, what the deploy would change (the same as the `diff` data event). */
  diff: ReleaseDiff;
}

/** --dry-run: what deploy would build and roll out, and the diff; reads only (no lock, no build, no push). */
export async function planDeploy(
  opts: CommonOptions & { allowDirty?: boolean; sha?: string; image?: string; build?: boolean },
): Promise<DeployPlan> {
  const session = await openSession(opts);
  const { target } = session;
  const { diffRelease } = await import('./release/dryrun.js');
  let changes: (DryRunChange & { wouldBuild: boolean })[];
  if (opts.image) {
    const svc = single(target.services, opts.image);
    const resolved = await resolveImage(session, svc, checkImageRef(opts.image, target));
    const c = resolved.changes[0]!;
    changes = [{ svc, image: c.image, digest: c.digest, tag: resolved.sha, wouldBuild: false }];
  } else {
    const buildable = target.services.filter((s) => s.build);
    // --sha / --no-build: the real run only looks images up, and so does its dry run.
    const fromRegistry = opts.build === false || !!opts.sha;
    if (opts.sha) opts = { ...opts, sha: await fullSha(session, opts.sha, buildable) };
    const built = await runBuild(
      await prepareBuild(
        {
          ...opts,
          ...(fromRegistry ? { lookupOnly: true } : { dryRun: true }),
          ...(opts.allowDirty ? { allowDirty: true } : {}),
          ...(opts.sha ? { tag: opts.sha } : {}),
        },
        session,
      ),
    );
    changes = [];
    for (const svc of buildable) {
      const img = built.images.find((i) => i.service === svc.name);
      if (!img) continue;
      if (fromRegistry && !img.digest) {
        throw new PatchworkError('PW_IMAGE_NOT_FOUND', `${svc.name}: the registry has no image tagged ${img.tag}`, {
          hint: opts.sha
            ? 'build and push that commit first (`patchwork build` on it), or pick a sha from `patchwork releases`'
            : 'run `patchwork build` (or deploy without --no-build)',
          data: { service: svc.name, image: img.image },
        });
      }
      changes.push({
        svc,
        image: img.digest ? pinImage(img.image, img.digest) : img.image,
        digest: img.digest,
        tag: img.tag,
        imageUser: img.user,
        wouldBuild: img.wouldBuild,
      });
    }
  }
  const { diff, current } = await diffRelease(session, 'deploy', changes).catch((err: unknown) => {
    throw inEnvironment(err, target);
  });
  const services = changes.map((c) => {
    const now = current.get(c.svc.name);
    return {
      service: c.svc.name,
      image: c.image,
      current: now?.arn ? (now.digest ? `${now.arn} (${now.digest})` : now.arn) : null,
      change: !!diff.services.find((d) => d.service === c.svc.name)?.changes.length,
      wouldBuild: c.wouldBuild,
    };
  });
  return { env: target.env, dryRun: true, pending: diff.pending, services, diff };
}
