/**
 * `patchwork promote --from staging --env prod`: deploys to the target environment exactly the
 * image digests a successful release of the source environment runs (its newest, or the one of
 * `--sha`), under the target's lock, with the target's waits, smoke test and rollback (the deploy
 * rollout). Nothing is built or pushed: the target's release records the source's git sha, the
 * digests and `promotedFrom`. A source with no successful release of that sha is exit 2
 * (PW_UNKNOWN_RELEASE) naming the releases it has.
 *
 * The image must be one the target can pull: in its own registry (the shared `<app>-<svc>`
 * repository of the account and region, or its own former per-env one). A target in another
 * account or region (another registry: on ECR `<account>.dkr.ecr.<region>`, or another
 * `registry:`) gets the image copied by digest into its own repository first, under its lock
 * (docker/copy.ts: the Registry HTTP API with each side's ECR token), and the copy is checked to
 * serve the same digest before anything is deployed. An environment's `account:` is checked
 * against its credentials (STS GetCallerIdentity) before any copy (PW_WRONG_ACCOUNT, exit 2).
 */
import { DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import type { ResolvedService } from './config/resolve.js';
import { perEnvRepositoryName, repositoryName, stateTableName } from './desired/names.js';
import { basicAuth, copyImage, hasManifest, type RegistryEndpoint } from './docker/copy.js';
import { EcrRegistry, inOwnRegistry, lookupImage, repositoryOfImage, splitImageRef } from './docker/registry.js';
import { inEnvironment, PatchworkError } from './errors.js';
import { settleRepositoryLayout } from './layout.js';
import { listReleases, type ReleaseRecord } from './release/history.js';
import { type Change, type RolloutResult, rollout } from './release/rollout.js';
import { type CommonOptions, openSession, type Session } from './session.js';
import type { WatchResult } from './watch/index.js';

export interface PromoteOptions extends CommonOptions {
  /** The source environment. */
  from: string;
  /** A git sha (full or a unique prefix of 4+) the source released; default its newest successful release. */
  sha?: string;
  wait?: boolean;
  timeoutSeconds?: number;
  lockWaitSeconds?: number;
  rollbackOnTimeout?: boolean;
}

export interface PromotedService {
  service: string;
  /** The image the target runs (in its own registry). */
  image: string;
  digest: string;
  /** The source release this service's digest comes from. */
  sourceRelease: string;
  /**
   * The target is in another account or region (another registry): the source's image is copied
   * by digest into the target's repository (`present`: the target already has that digest).
   */
  copy: { from: string; to: string; present: boolean } | null;
}

export interface PromoteResult {
  env: string;
  from: string;
  sha: string;
  promoted: PromotedService[];
  release: RolloutResult['release'];
  services: RolloutResult['services'];
  watch: WatchResult | null;
  smoke: RolloutResult['smoke'];
}

export interface PromotePlan {
  env: string;
  from: string;
  sha: string;
  dryRun: true;
  services: (PromotedService & { current: string | null; change: boolean })[];
}

const ok = (r: ReleaseRecord) => r.kind !== 'unlock' && r.outcome === 'succeeded' && !!r.sha;

/**
 * Pure: per service, the newest successful source release of the chosen sha that ran it (the sha:
 * `--sha`'s unique match, else the newest successful release's). Throws PW_UNKNOWN_RELEASE (exit 2)
 * naming the successful releases the source has.
 */
export function choosePromotion(
  history: ReleaseRecord[],
  services: string[],
  from: string,
  sha?: string,
): { sha: string; picks: Map<string, ReleaseRecord & { sha: string }> } {
  const good = history.filter(ok) as (ReleaseRecord & { sha: string })[];
  const known = [...new Set(good.map((r) => r.sha))].slice(0, 10);
  const knownText = known.length ? known.map((s) => s.slice(0, 12)).join(', ') : 'none';
  const fail = (message: string) =>
    new PatchworkError('PW_UNKNOWN_RELEASE', `${message}; ${from} has successful releases of: ${knownText}`, {
      hint: `deploy it to ${from} first (\`patchwork deploy --env ${from}\`), or pick a sha from \`patchwork releases --env ${from}\``,
      data: { from, known },
    });
  let chosen: string;
  if (sha === undefined) {
    if (!good[0]) throw fail(`${from} has no successful release to promote`);
    chosen = good[0].sha;
  } else {
    const want = sha.trim().toLowerCase();
    if (want.length < 4 || !/^[0-9a-z._-]+$/.test(want))
      throw new PatchworkError('PW_USAGE', `--sha "${sha}" is not a sha prefix (4 or more characters)`, {
        hint: `pass at least 4 characters of a sha from \`patchwork releases --env ${from}\``,
      });
    const shas = [...new Set(good.map((r) => r.sha).filter((s) => s.toLowerCase().startsWith(want)))];
    if (shas.length !== 1)
      throw fail(shas.length ? `${sha} is ambiguous in ${from} (${shas.join(', ')})` : `${from} never released ${sha}`);
    chosen = shas[0]!;
  }
  const picks = new Map<string, ReleaseRecord & { sha: string }>();
  const missing: string[] = [];
  for (const svc of services) {
    const rec = good.find((r) => r.sha === chosen && r.services.some((s) => s.service === svc && s.digest && s.image));
    if (rec) picks.set(svc, rec);
    else missing.push(svc);
  }
  if (missing.length)
    throw fail(`no successful release of ${chosen.slice(0, 12)} in ${from} ran ${missing.join(', ')}`);
  return { sha: chosen, picks };
}

export async function promote(opts: PromoteOptions): Promise<PromoteResult> {
  const session = await openSession(opts);
  return settleRepositoryLayout(session)
    .then(() => promoteIn(session, opts))
    .catch((err: unknown) => {
      throw inEnvironment(err, session.target);
    });
}

/** The source's history and the digests each target service gets (reads only, before the lock). */
async function resolvePromotion(
  session: Session,
  opts: PromoteOptions,
): Promise<{ sha: string; promoted: PromotedService[]; changes: Change[]; copies: CopyJob[] }> {
  const { target } = session;
  if (opts.from === target.env)
    throw new PatchworkError('PW_USAGE', `--from ${opts.from} is the target environment itself`, {
      hint: 'promote from another environment, e.g. --from staging --env prod',
    });
  // The source: its own region, clients and state table, and its own credentials when it names a
  // profile (its account); else the same as the target's.
  const sourceRaw = session.config.raw.environments[opts.from];
  const source = await openSession({
    ...opts,
    env: opts.from,
    service: undefined,
    onEvent: undefined,
    region: undefined,
    profile: sourceRaw?.profile ?? session.config.raw.defaults?.profile ?? opts.profile,
  });
  const ddb = await source.aws.get('dynamodb');
  const history = await listReleases(ddb, stateTableName(source.target), 100).catch((err: unknown) => {
    throw inEnvironment(err, source.target);
  });
  const services = target.services;
  const { sha, picks } = choosePromotion(
    history,
    services.map((s) => s.name),
    opts.from,
    opts.sha,
  );
  const sourceEcs = await source.aws.get('ecs');
  const promoted: PromotedService[] = [];
  const changes: Change[] = [];
  const copies: CopyJob[] = [];
  const registries = new Registries(session, source);
  for (const svc of services) {
    const rec = picks.get(svc.name)!;
    const ran = rec.services.find((s) => s.service === svc.name)!;
    const sourceImage = ran.image!;
    const digest = ran.digest!;
    let image = sourceImage;
    let copy: PromotedService['copy'] = null;
    if (inOwnRegistry(sourceImage, target) && !registries.otherAccount()) {
      await assertPullable(session, svc, sourceImage, digest, opts.from);
    } else {
      const job = await registries.plan(svc, sourceImage, digest, rec.sha);
      image = `${job.to.host}/${job.to.repo}@${digest}`;
      copy = { from: sourceImage, to: image, present: job.present };
      copies.push(job);
    }
    // The user the image runs as is the source's (what its build found in the image).
    let imageUser: string | null = null;
    if (ran.taskDefinitionArn) {
      const td = await sourceEcs
        .send(new DescribeTaskDefinitionCommand({ taskDefinition: ran.taskDefinitionArn }))
        .catch(() => null);
      imageUser = td?.taskDefinition?.containerDefinitions?.find((c) => c.name === svc.name)?.user ?? null;
    }
    promoted.push({ service: svc.name, image, digest, sourceRelease: rec.id, copy });
    changes.push({ svc, image, digest, imageUser });
  }
  return { sha, promoted, changes, copies };
}

/** One image to copy into the target's registry (see docker/copy.ts). */
interface CopyJob {
  service: string;
  from: RegistryEndpoint;
  to: RegistryEndpoint;
  digest: string;
  tag: string;
  present: boolean;
}

/**
 * The two sides of a promotion across accounts or regions: each side's registry and credentials
 * (a plain `registry:`, or ECR through one GetAuthorizationToken per side), and each side's
 * `account:` checked against its credentials first (reads only).
 */
class Registries {
  private ecr = new Map<'source' | 'target', Promise<EcrRegistry>>();
  private checked: Promise<void> | undefined;

  constructor(
    private readonly session: Session,
    private readonly source: Session,
  ) {}

  /** Both sides name their accounts and they differ: the target never pulls from the source's registry. */
  otherAccount(): boolean {
    const a = this.source.target.account;
    const b = this.session.target.account;
    return !!a && !!b && a !== b;
  }

  private login(which: 'source' | 'target'): Promise<EcrRegistry> {
    const s = which === 'source' ? this.source : this.session;
    let got = this.ecr.get(which);
    if (!got) {
      got = EcrRegistry.login(s.aws, s.target.env);
      this.ecr.set(which, got);
    }
    return got;
  }

  private async endpoint(which: 'source' | 'target', repo: string): Promise<RegistryEndpoint> {
    const s = which === 'source' ? this.source : this.session;
    if (s.target.registry) return { host: s.target.registry, repo };
    const reg = await this.login(which);
    const auth = await reg.auth();
    return {
      host: reg.host,
      repo,
      ...(auth.username && auth.password ? { authorization: basicAuth(auth.username, auth.password) } : {}),
    };
  }

  async plan(svc: ResolvedService, sourceImage: string, digest: string, sha: string): Promise<CopyJob> {
    this.checked ??= Promise.all([verifyAccount(this.source), verifyAccount(this.session)]).then(() => undefined);
    await this.checked;
    const { target } = this.session;
    const parts = splitImageRef(sourceImage);
    const from = parts ? await this.endpoint('source', parts.repo) : null;
    if (!parts || !from || from.host !== parts.host) {
      throw new PatchworkError(
        'PW_IMAGE_NOT_FOUND',
        `${svc.name}: ${this.source.target.env}'s image ${sourceImage} is not in ${this.source.target.env}'s own registry (${from?.host ?? '?'}): patchwork copies only from there`,
        {
          hint: `deploy it to ${this.source.target.env} first (\`patchwork deploy --env ${this.source.target.env}\`), then promote`,
          data: { service: svc.name, image: sourceImage },
        },
      );
    }
    const repo = repositoryName(svc);
    if (!target.registry) {
      // On ECR the repository must exist (provision creates it); a plain registry makes it on push.
      await lookupImage(this.session.aws, target, repo, digest);
    }
    const to = await this.endpoint('target', repo);
    const signal = this.session.signal;
    if (!(await hasManifest(from, digest, fetch, signal))) {
      throw new PatchworkError('PW_IMAGE_NOT_FOUND', `${svc.name}: the registry no longer has ${sourceImage}`, {
        hint: `deploy a newer release to ${this.source.target.env} and promote that`,
        data: { service: svc.name, image: sourceImage },
      });
    }
    const present = await hasManifest(to, digest, fetch, signal);
    return { service: svc.name, from, to, digest, tag: sha, present };
  }
}

/** `account:` of the environment against its credentials' account (STS GetCallerIdentity needs no permission). */
async function verifyAccount(s: Session): Promise<void> {
  const want = s.target.account;
  if (!want) return;
  const { GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const sts = await s.aws.get('sts');
  const who = await sts.send(new GetCallerIdentityCommand({}));
  if (who.Account !== want) {
    throw new PatchworkError(
      'PW_WRONG_ACCOUNT',
      `environment ${s.target.env} is in account ${want} (account: in ${s.target.configFile}) but its credentials are account ${who.Account ?? '?'}`,
      {
        hint: `use credentials of ${want} for ${s.target.env}: set environments.${s.target.env}.profile, or AWS_PROFILE / --profile`,
        data: { env: s.target.env, account: want, credentials: who.Account ?? null },
      },
    );
  }
}

/**
 * The target pulls the very digest: it must be in the target's own registry (on ECR, in a
 * repository its execution role may pull: the shared one or its former per-env one), and be there.
 */
async function assertPullable(
  session: Session,
  svc: ResolvedService,
  image: string,
  digest: string,
  from: string,
): Promise<void> {
  const { target } = session;
  const repo = repositoryOfImage(image, target);
  const pullable = target.registry ? repo !== null : repo === repositoryName(svc) || repo === perEnvRepositoryName(svc);
  if (!repo || !pullable || !inOwnRegistry(image, target)) {
    throw new PatchworkError(
      'PW_IMAGE_NOT_FOUND',
      `${svc.name}: ${from}'s image ${image} is not in a repository ${target.env} pulls from (${target.registry ?? `ECR ${target.region}`}: ${repositoryName(svc)})`,
      {
        hint: `use the shared layout (registryLayout: shared) for environments of one account and region (another account or region gets the image copied into its own registry)`,
        data: { service: svc.name, image },
      },
    );
  }
  const found = await lookupImage(session.aws, target, repo, digest);
  if (!found) {
    throw new PatchworkError('PW_IMAGE_NOT_FOUND', `${svc.name}: the registry no longer has ${image}`, {
      hint: `deploy a newer release to ${from} and promote that`,
      data: { service: svc.name, image },
    });
  }
}

async function promoteIn(session: Session, opts: PromoteOptions): Promise<PromoteResult> {
  const { target, events } = session;
  // Reads only, before the lock: an unknown sha or a missing image is exit 2 with nothing written.
  const { sha, promoted, changes, copies } = await resolvePromotion(session, opts);
  const result = await rollout(session, {
    kind: 'deploy',
    command: `promote ${sha.slice(0, 12)} from ${opts.from}`,
    prepare: async () => {
      // Another account or region: the digest is copied into the target's registry, under the lock.
      for (const job of copies) {
        const where = `${job.to.host}/${job.to.repo}@${job.digest}`;
        if (job.present) {
          events.log(`${job.service}: ${where} is already in ${target.name}'s registry`);
          continue;
        }
        events.log(
          `${job.service}: copying ${job.from.host}/${job.from.repo}@${job.digest} to ${job.to.host}/${job.to.repo}`,
        );
        const copied = await copyImage({
          from: job.from,
          to: job.to,
          digest: job.digest,
          tag: job.tag,
          ...(session.signal ? { signal: session.signal } : {}),
        });
        events.log(
          `${job.service}: copied ${copied.blobsCopied} blobs (${copied.bytesCopied} bytes; ${copied.blobsPresent} already there), ${where} serves the same digest`,
        );
      }
      events.log(
        `promoting ${sha.slice(0, 12)} from ${opts.from} to ${target.name}: ${changes.map((c) => c.image).join(', ')}`,
      );
      return { sha, changes };
    },
    promotedFrom: opts.from,
    wait: opts.wait ?? true,
    ...(opts.lockWaitSeconds !== undefined ? { lockWaitSeconds: opts.lockWaitSeconds } : {}),
    ...(opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : {}),
    ...(opts.rollbackOnTimeout ? { rollbackOnTimeout: true } : {}),
  });
  return {
    env: target.env,
    from: opts.from,
    sha,
    promoted,
    release: result.release,
    services: result.services,
    watch: result.watch,
    smoke: result.smoke,
  };
}

/** --dry-run: which digests would go where (reads the source's history and the target's services; no lock). */
export async function planPromote(opts: PromoteOptions): Promise<PromotePlan> {
  const session = await openSession(opts);
  return (async () => {
    await settleRepositoryLayout(session);
    const { sha, promoted } = await resolvePromotion(session, opts);
    const { describeServices } = await import('./aws/ecs.js');
    const { clusterName, ecsServiceName } = await import('./desired/names.js');
    const { digestOf } = await import('./release/taskdef.js');
    const ecs = await session.aws.get('ecs');
    const described = await describeServices(
      ecs,
      clusterName(session.target),
      session.target.services.map((s) => ecsServiceName(s)),
    );
    const services: PromotePlan['services'] = [];
    for (const p of promoted) {
      const svc = session.target.services.find((s) => s.name === p.service)!;
      const tdArn = described.services?.find((s) => s.serviceName === ecsServiceName(svc))?.taskDefinition;
      let current: string | null = null;
      let runs: string | null = null;
      if (tdArn) {
        const td = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: tdArn }));
        runs = td.taskDefinition ? digestOf(td.taskDefinition, svc) : null;
        current = runs ? `${tdArn} (${runs})` : tdArn;
      }
      services.push({ ...p, current, change: runs !== p.digest });
    }
    return { env: session.target.env, from: opts.from, sha, dryRun: true as const, services };
  })().catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}
