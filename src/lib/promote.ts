/**
 * `patchwork promote --from staging --env prod`: deploys to the target environment exactly the
 * image digests a successful release of the source environment runs (its newest, or the one of
 * `--sha`), under the target's lock, with the target's waits, smoke test and rollback (the deploy
 * rollout). Nothing is built or pushed: the target's release records the source's git sha, the
 * digests and `promotedFrom`. A source with no successful release of that sha is exit 2
 * (PW_UNKNOWN_RELEASE) naming the releases it has.
 *
 * The image must be one the target can pull: in its own registry (the shared `<app>-<svc>`
 * repository of the account and region, or its own former per-env one); copying into another
 * account's or region's registry is not done here (PW_IMAGE_NOT_FOUND says so).
 */
import { DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import type { ResolvedService } from './config/resolve.js';
import { perEnvRepositoryName, repositoryName, stateTableName } from './desired/names.js';
import { inOwnRegistry, lookupImage, repositoryOfImage } from './docker/registry.js';
import { inEnvironment, PatchworkError } from './errors.js';
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
  image: string;
  digest: string;
  /** The source release this service's digest comes from. */
  sourceRelease: string;
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
  return promoteIn(session, opts).catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}

/** The source's history and the digests each target service gets (reads only, before the lock). */
async function resolvePromotion(
  session: Session,
  opts: PromoteOptions,
): Promise<{ sha: string; promoted: PromotedService[]; changes: Change[] }> {
  const { target } = session;
  if (opts.from === target.env)
    throw new PatchworkError('PW_USAGE', `--from ${opts.from} is the target environment itself`, {
      hint: 'promote from another environment, e.g. --from staging --env prod',
    });
  // The source: its own region, clients and state table (same config, same credentials).
  const source = await openSession({
    ...opts,
    env: opts.from,
    service: undefined,
    onEvent: undefined,
    region: undefined,
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
  for (const svc of services) {
    const rec = picks.get(svc.name)!;
    const ran = rec.services.find((s) => s.service === svc.name)!;
    const image = ran.image!;
    const digest = ran.digest!;
    await assertPullable(session, svc, image, digest, opts.from);
    // The user the image runs as is the source's (what its build found in the image).
    let imageUser: string | null = null;
    if (ran.taskDefinitionArn) {
      const td = await sourceEcs
        .send(new DescribeTaskDefinitionCommand({ taskDefinition: ran.taskDefinitionArn }))
        .catch(() => null);
      imageUser = td?.taskDefinition?.containerDefinitions?.find((c) => c.name === svc.name)?.user ?? null;
    }
    promoted.push({ service: svc.name, image, digest, sourceRelease: rec.id });
    changes.push({ svc, image, digest, imageUser });
  }
  return { sha, promoted, changes };
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
        hint: `use the shared layout (registryLayout: shared) for environments of one account and region; copying an image into another account or region is not supported yet: build it there (\`patchwork deploy --env ${target.env} --sha …\`)`,
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
  const { sha, promoted, changes } = await resolvePromotion(session, opts);
  const result = await rollout(session, {
    kind: 'deploy',
    command: `promote ${sha.slice(0, 12)} from ${opts.from}`,
    prepare: async () => {
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
