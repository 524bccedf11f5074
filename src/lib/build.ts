/**
 * `patchwork build`: for every service with `build:`, an image tagged by the git commit, built
 * through the Docker Engine API and pushed to ECR or the configured registry — or skipped when
 * the registry already has that tag. The first step of `deploy`, which pins `digest`.
 *
 * Order of checks: config, build contexts and git (exit 2, no engine or AWS call), then the
 * engine (PW_NO_DOCKER before any AWS call), then the registry.
 */
import type Docker from 'dockerode';
import { interrupted, isInterrupted, throwIfAborted } from './abort.js';
import type { ResolvedService } from './config/resolve.js';
import { repositoryName } from './desired/names.js';
import type { ContextPlan } from './docker/context.js';
import { type Engine, reachEngine } from './docker/engine.js';
import type { ImageRegistry, RemoteImage } from './docker/registry.js';
import { PatchworkError } from './errors.js';
import type { Emitter } from './events.js';
import type { GitState, TagChoice } from './git/repo.js';
import { settleRepositoryLayout } from './layout.js';
import { type CommonOptions, openSession, type Session } from './session.js';

export interface BuildOptions extends CommonOptions {
  /** Push to the registry (default true). false = build a local image only: no registry, no AWS. */
  push?: boolean;
  /** Push a dirty work tree under `<sha>-dirty-<hash>`. */
  allowDirty?: boolean;
  /** Use this tag instead of the git sha (git is then optional). */
  tag?: string;
  /** Report what would be built or skipped; build and push nothing. */
  dryRun?: boolean;
  /**
   * Only look the images up in the registry (deploy --sha / --no-build): nothing is built, and a
   * missing tag is reported as missing (not as what a dry run would build).
   */
  lookupOnly?: boolean;
  /** An engine connection to use instead of connecting to DOCKER_HOST (or the default socket). */
  docker?: Docker;
}

export interface ImageResult {
  service: string;
  /** `<registry>/<repository>:<tag>` (with --no-push and ECR: `<repository>:<tag>`); the repository is `<app>-<service>` (shared) or `<app>-<env>-<service>`. */
  image: string;
  /** The image name without the tag. */
  repository: string;
  /** Full git sha (or `<sha>-dirty-<hash>`, or --tag). */
  tag: string;
  /** Every tag the image got (the short sha too). */
  tags: string[];
  /** Manifest digest in the registry — what deploy pins; null for a local-only build or a dry run. */
  digest: string | null;
  /** Local image ID (config digest) when built. */
  imageId: string | null;
  built: boolean;
  pushed: boolean;
  /** The registry already had the tag: nothing built or pushed. */
  skipped: boolean;
  /** Dry run: the tag is missing, a real run would build and push it. */
  wouldBuild: boolean;
  /** Compressed size in the registry (config + layers); local image size with --no-push. */
  sizeBytes: number | null;
  /** The image's USER when it was built here ('' = root); null when not known (found in the registry). */
  user: string | null;
  seconds: number;
  /** Git commit the image was built from (null with --tag outside git). */
  revision: string | null;
  dirty: boolean;
  /** Build steps answered from the engine's cache / all steps (when built). */
  cachedSteps?: number;
  steps?: number;
}

export interface BuildResult {
  env: string;
  /** Registry host (`host:port`, or the ECR registry host); null for local-only builds to ECR. */
  registry: string | null;
  registryKind: 'plain' | 'ecr' | null;
  push: boolean;
  dryRun: boolean;
  images: ImageResult[];
}

interface Prepared {
  svc: ResolvedService & { build: NonNullable<ResolvedService['build']> };
  /** null when only a given tag is looked up (nothing is built). */
  plan: ContextPlan | null;
  tags: TagChoice;
  git: GitState | null;
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  return runBuild(await prepareBuild(opts));
}

/** A build failure caused by the abort is the abort (PW_INTERRUPTED), not a broken build. */
function asInterrupted(err: unknown, signal: AbortSignal | undefined): unknown {
  return signal?.aborted && !isInterrupted(err) ? interrupted(signal) : err;
}

/**
 * The local half of a build: config, contexts, git and the engine — everything that can fail
 * without an AWS or registry call. Deploy runs it before taking the lock, and `runBuild` under it.
 */
export interface PreparedBuild {
  opts: BuildOptions;
  /** The session the build runs in (deploy passes its own: the config is parsed once). */
  session: Session;
  empty: BuildResult;
  prepared: Prepared[];
  engine: Engine | null;
}

export async function prepareBuild(opts: BuildOptions, given?: Session): Promise<PreparedBuild> {
  const session = given ?? (await openSession(opts));
  const { target, events } = session;
  const push = opts.push !== false;
  const dryRun = !!opts.dryRun;
  const services = target.services.filter((s): s is Prepared['svc'] => s.build !== null);
  for (const s of target.services) {
    if (!s.build) events.log(`${s.name}: uses the prebuilt image ${s.image}; nothing to build`, 'info', s.name);
  }
  const empty: BuildResult = {
    env: target.env,
    registry: target.registry,
    registryKind: target.registry ? 'plain' : null,
    push,
    dryRun,
    images: [],
  };
  if (services.length === 0) return { opts, session, empty, prepared: [], engine: null };

  // 1. Local facts: context, Dockerfile, git. Failures here are usage errors (exit 2).
  const { chooseTags } = await import('./git/repo.js');
  const prepared: Prepared[] = [];
  if (opts.lookupOnly && opts.tag !== undefined) {
    // Only the registry is asked for a given tag (deploy --sha): nothing is built, so no build
    // context is planned and git is not run (its sha, dirtiness and remote label only a build uses).
    for (const svc of services) {
      const tags = chooseTags(null, { tag: opts.tag, allowDirty: !!opts.allowDirty, push });
      prepared.push({ svc, plan: null, tags, git: null });
    }
  } else {
    const { planContext } = await import('./docker/context.js');
    const { gitState } = await import('./git/repo.js');
    const states = new Map<string, Promise<GitState | PatchworkError>>();
    for (const svc of services) {
      const plan = await planContext(svc.build.context, svc.build.dockerfile);
      const key = `${plan.dir}\0${plan.dockerfile}`;
      let state = states.get(key);
      if (!state) {
        // Only changes to files the context sends make the tree dirty.
        state = gitState(plan.dir, { relevant: plan.includes, env: session.environment.vars }).catch((err: unknown) => {
          if (err instanceof PatchworkError) return err;
          throw err;
        });
        states.set(key, state);
      }
      const git = await state;
      const tags = chooseTags(
        git,
        { ...(opts.tag !== undefined ? { tag: opts.tag } : {}), allowDirty: !!opts.allowDirty, push },
        `${svc.name}'s build context ${plan.dir}`,
      );
      prepared.push({ svc, plan, tags, git: git instanceof PatchworkError ? null : git });
    }
  }

  // 2. The engine, before any AWS call. Its client (dockerode) loads only when something is built.
  const injected = opts.docker;
  const engine: Engine | null =
    dryRun || opts.lookupOnly
      ? null
      : injected
        ? { target: 'injected', docker: async () => injected }
        : await reachEngine(5_000, session.environment);
  if (engine && !push) engine.docker().catch(() => {}); // a build is certain: start loading now
  return { opts, session, empty, prepared, engine };
}

/** The registry half: skip when pushed, else build and push. */
export async function runBuild(pb: PreparedBuild): Promise<BuildResult> {
  const { opts, empty, prepared, engine, session } = pb;
  if (prepared.length === 0) return empty;
  const { target, aws, events, signal } = session;
  const push = opts.push !== false;
  const dryRun = !!opts.dryRun;
  const lookupOnly = !!opts.lookupOnly;

  // 3. The registry: first which repositories (the layout a config that does not say it keeps).
  if (push || dryRun || lookupOnly) await settleRepositoryLayout(session);
  let registry: ImageRegistry | null = null;
  if (target.registry) {
    const { PlainRegistry } = await import('./docker/registry.js');
    registry = new PlainRegistry(target.registry);
  } else if (push || dryRun || lookupOnly) {
    const { EcrRegistry } = await import('./docker/registry.js');
    registry = await EcrRegistry.login(aws, target.env);
  }

  events.emit({
    type: 'tasks',
    tasks: prepared.map((p) => ({ id: `build:${p.svc.name}`, title: `build ${p.svc.name}` })),
  });
  const images: ImageResult[] = [];
  for (const p of prepared) {
    throwIfAborted(signal, `before building ${p.svc.name}`);
    images.push(await buildOne(p, { engine, registry, push, dryRun, lookupOnly, events, signal }));
  }
  return { ...empty, registry: registry?.host ?? target.registry, registryKind: registry?.kind ?? null, images };
}

interface Ctx {
  engine: Engine | null;
  registry: ImageRegistry | null;
  push: boolean;
  dryRun: boolean;
  lookupOnly: boolean;
  events: Emitter;
  signal: AbortSignal | undefined;
}

async function buildOne(p: Prepared, ctx: Ctx): Promise<ImageResult> {
  const { svc, plan, tags } = p;
  const { events, registry } = ctx;
  const started = performance.now();
  const repository =
    registry && (ctx.push || ctx.dryRun || ctx.lookupOnly)
      ? `${registry.host}/${repositoryName(svc)}`
      : localRepo(svc, registry);
  const allTags = [tags.tag, ...tags.also];
  const image = `${repository}:${tags.tag}`;
  const id = `build:${svc.name}`;
  const title = `build ${svc.name} → ${image}`;
  const base: ImageResult = {
    service: svc.name,
    image,
    repository,
    tag: tags.tag,
    tags: allTags,
    digest: null,
    imageId: null,
    built: false,
    pushed: false,
    skipped: false,
    wouldBuild: false,
    sizeBytes: null,
    user: null,
    seconds: 0,
    revision: tags.sha,
    dirty: tags.dirty,
  };
  const seconds = () => Math.round((performance.now() - started) / 10) / 100;
  const finish = (r: ImageResult, status: 'done' | 'skip' | 'fail', message: string): ImageResult => {
    r.seconds = seconds();
    events.emit({ type: 'task', id, title, status, message, resource: svc.name });
    events.emit({ type: 'data', kind: 'image', data: r });
    return r;
  };

  events.emit({ type: 'task', id, title, status: 'start', resource: svc.name });
  try {
    // Skip when the registry already has this tag.
    if (registry && (ctx.push || ctx.dryRun || ctx.lookupOnly)) {
      const found = await registry.find(repositoryName(svc), tags.tag);
      if (found) {
        const sized: RemoteImage =
          found.sizeBytes === null && registry.kind === 'plain'
            ? ((await registry.find(repositoryName(svc), tags.tag, { size: true })) ?? found)
            : found;
        return finish(
          { ...base, digest: sized.digest, sizeBytes: sized.sizeBytes, skipped: true },
          'skip',
          `already in the registry: ${sized.digest}`,
        );
      }
    }
    if (ctx.lookupOnly) return finish({ ...base }, 'fail', `not in the registry: ${image}`);
    if (ctx.dryRun) {
      return finish({ ...base, wouldBuild: true }, 'skip', `dry run: would build and push ${image}`);
    }
    const context = plan!; // planned whenever something can be built (not a lookup of a given tag)
    const docker = await ctx.engine!.docker();
    const { buildImage } = await import('./docker/image.js');
    // A clean tree is dated by its commit (like SOURCE_DATE_EPOCH): rebuilding the same commit from
    // the cache then gives the very same image, so a retried push is a no-op.
    const labels: Record<string, string> = {
      'org.opencontainers.image.created': tags.createdAt ?? new Date().toISOString(),
    };
    if (tags.sha) labels['org.opencontainers.image.revision'] = tags.sha;
    if (p.git?.remote) labels['org.opencontainers.image.source'] = p.git.remote;

    events.log(
      `${svc.name}: building ${context.dir} (${context.fileCount} files, ${context.dockerfile}, ${svc.build.platform})`,
      'info',
      svc.name,
    );
    let built: Awaited<ReturnType<typeof buildImage>>;
    try {
      built = await buildImage(
        docker,
        {
          plan: context,
          tags: allTags.map((t) => `${repository}:${t}`),
          // GIT_SHA and BUILD_TIME are offered to every Dockerfile (ours bakes them into the binary);
          // config args win. BUILD_TIME is the created label, so a clean commit rebuilds identically.
          buildArgs: {
            ...(tags.sha ? { GIT_SHA: tags.sha } : {}),
            BUILD_TIME: labels['org.opencontainers.image.created']!,
            ...svc.build.args,
          },
          ...(svc.build.target ? { target: svc.build.target } : {}),
          platform: svc.build.platform,
          labels,
          service: svc.name,
        },
        {
          line: (line, isStep) => events.log(`${svc.name}: ${line}`, isStep ? 'info' : 'debug', svc.name),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        },
      );
    } catch (err) {
      if (ctx.signal?.aborted) throw asInterrupted(err, ctx.signal);
      if (err instanceof PatchworkError && err.code === 'PW_BUILD_FAILED') {
        const output = (err.data.output as string[] | undefined) ?? [];
        if (err.data.step) events.log(`${svc.name}: failed at ${String(err.data.step)}`, 'error', svc.name);
        for (const line of output) events.log(`${svc.name}: ${line}`, 'error', svc.name);
      }
      throw err;
    }
    const result: ImageResult = {
      ...base,
      imageId: built.imageId,
      built: true,
      steps: built.steps,
      cachedSteps: built.cachedSteps,
    };

    const info = await docker.getImage(built.imageId).inspect();
    result.user = info.Config?.User ?? '';
    if (!ctx.push || !registry) {
      result.sizeBytes = info.Size ?? null;
      return finish(result, 'done', `built ${built.imageId.slice(0, 19)} in ${seconds()}s (not pushed)`);
    }

    throwIfAborted(ctx.signal, `before pushing ${image}`);
    const pushedDigest = await pushAll(docker, registry, repository, allTags, svc.name, events, ctx.signal);
    // Verify: the registry must serve that digest for the tag.
    const remote = await registry.find(repositoryName(svc), tags.tag, { size: true });
    if (!remote || remote.digest !== pushedDigest) {
      throw new PatchworkError(
        'PW_PUSH_FAILED',
        `${svc.name}: the engine pushed ${pushedDigest} but the registry serves ${remote?.digest ?? 'nothing'} for ${image}`,
        {
          hint: 'another push may have raced this one; rerun',
          data: { service: svc.name, pushed: pushedDigest, registry: remote?.digest ?? null },
        },
      );
    }
    result.digest = remote.digest;
    result.sizeBytes = remote.sizeBytes;
    result.pushed = true;
    return finish(
      result,
      'done',
      `built and pushed in ${seconds()}s: ${remote.digest}${remote.sizeBytes !== null ? ` (${mb(remote.sizeBytes)})` : ''}`,
    );
  } catch (caught) {
    const err = asInterrupted(caught, ctx.signal);
    events.emit({
      type: 'task',
      id,
      title,
      status: 'fail',
      message: err instanceof Error ? err.message : String(err),
      resource: svc.name,
    });
    throw err;
  }
}

/** Without a push the image keeps the registry prefix when the registry is plain (no lookup needed). */
function localRepo(svc: ResolvedService, registry: ImageRegistry | null): string {
  return registry?.kind === 'plain' ? `${registry.host}/${repositoryName(svc)}` : repositoryName(svc);
}

async function pushAll(
  docker: Docker,
  registry: ImageRegistry,
  repository: string,
  tags: string[],
  service: string,
  events: Emitter,
  signal: AbortSignal | undefined,
): Promise<string> {
  const { pushImage } = await import('./docker/image.js');
  const auth = await registry.auth();
  const lastProgress = new Map<string, number>();
  let digest: string | undefined;
  for (const tag of tags) {
    throwIfAborted(signal, `before pushing ${repository}:${tag}`);
    const pushed = await pushImage(
      docker,
      repository,
      tag,
      auth,
      {
        layer: (l) => {
          events.log(`${service}: layer ${l.layer}: ${l.status}`, 'debug', service);
          events.emit({ type: 'data', kind: 'push.layer', data: { service, tag, ...l } });
        },
        progress: (l) => {
          const now = Date.now();
          if (now - (lastProgress.get(l.layer) ?? 0) < 1_000) return;
          lastProgress.set(l.layer, now);
          events.emit({ type: 'data', kind: 'push.layer', data: { service, tag, ...l } });
        },
        ...(signal ? { signal } : {}),
      },
      service,
    );
    if (digest === undefined) {
      digest = pushed.digest;
      events.log(
        `${service}: pushed ${repository}:${tag} (${pushed.layersPushed} layer(s) sent, ${pushed.layersExisting} already there): ${pushed.digest}`,
        'info',
        service,
      );
    } else if (pushed.digest !== digest) {
      throw new PatchworkError(
        'PW_PUSH_FAILED',
        `${service}: tags of one image were pushed with different digests (${digest} vs ${pushed.digest})`,
        { hint: 'rerun the build', data: { service } },
      );
    }
  }
  return digest!;
}

function mb(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
