/**
 * `patchwork rollback`: to the previous successful release, or `--to <sha prefix>`. Re-uses the
 * recorded task definition when it is still ACTIVE, else registers a new revision from the
 * current one with the recorded digest (after checking the registry still has it). Same lock,
 * same wait, same exit codes as deploy; recorded in history.
 */
import { DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { isAwsError } from './aws/errors.js';
import { isProgressive, type ResolvedService } from './config/resolve.js';
import { clusterName, ecsServiceName, repositoryName, stateTableName } from './desired/names.js';
import { inEnvironment, PatchworkError } from './errors.js';
import type { ReleaseDiff } from './release/diff.js';
import type { DryRunChange } from './release/dryrun.js';
import { readHistory } from './release/history.js';
import { type Change, type RolloutResult, rollout } from './release/rollout.js';
import { selectRelease } from './release/select.js';
import { type CommonOptions, openSession, type Session } from './session.js';
import type { WatchResult } from './watch/index.js';

export interface RollbackOptions extends CommonOptions {
  /** Full sha or a unique prefix; default the previous successful release. */
  to?: string;
  wait?: boolean;
  timeoutSeconds?: number;
  lockWaitSeconds?: number;
}

export interface RollbackResult {
  env: string;
  sha: string;
  rolledBackTo: string;
  release: RolloutResult['release'];
  services: RolloutResult['services'];
  watch: WatchResult | null;
}

export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  const session = await openSession(opts);
  return rollbackIn(session, opts).catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}

async function rollbackIn(session: Session, opts: RollbackOptions): Promise<RollbackResult> {
  const { target, aws, events } = session;
  const ddb = await aws.get('dynamodb');
  const ecs = await aws.get('ecs');
  // The whole history (retention keeps it at about 2 × keepReleases): a rollback target is found
  // however many interrupted, failed or unlock entries came after it.
  const history = await readHistory(ddb, stateTableName(target));
  // A progressive deployment in flight (a bake, a canary): stopping it puts back the release that
  // was serving, so that is what the rollback goes to by default (not the one before it).
  const inFlight: { svc: ResolvedService; arn: string }[] = [];
  if (isProgressive(target.deploy.strategy)) {
    const progressive = await import('./release/progressive.js');
    for (const svc of target.services) {
      const arn = await progressive.inFlight(ecs, clusterName(target), ecsServiceName(svc));
      if (arn) inFlight.push({ svc, arn });
    }
  }
  const chosen = selectRelease(history, opts.to, inFlight.length > 0);
  const changes: Change[] = [];
  for (const svc of target.services) {
    const rec = chosen.services.find((s) => s.service === svc.name);
    if (!rec) continue;
    let reusable: string | null = null;
    if (rec.taskDefinitionArn) {
      try {
        const td = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: rec.taskDefinitionArn }));
        if (td.taskDefinition?.status === 'ACTIVE') reusable = rec.taskDefinitionArn;
      } catch (err) {
        if (!isAwsError(err, 'ClientException', 'InvalidParameterException')) throw err;
      }
    }
    // The image must still be in the registry (a lifecycle policy may have expired it), whether the
    // recorded revision is reused or a new one is registered.
    if (rec.digest) await assertImageExists(session, svc, rec.digest, chosen.sha, rec.image);
    if (reusable) {
      changes.push({ svc, image: rec.image, digest: rec.digest, taskDefinitionArn: reusable });
      continue;
    }
    if (!rec.image || !rec.digest) {
      throw new PatchworkError(
        'PW_UNKNOWN_RELEASE',
        `release ${chosen.sha} of ${svc.name} has no recorded image digest`,
        {
          hint: 'pick another release from `patchwork releases`',
        },
      );
    }
    changes.push({ svc, image: rec.image, digest: rec.digest });
  }
  if (!changes.length) {
    throw new PatchworkError('PW_UNKNOWN_RELEASE', `release ${chosen.sha} has none of the selected services`, {
      hint: 'see `patchwork releases`',
    });
  }
  events.log(
    `rolling back ${target.name} to ${chosen.sha!.slice(0, 12)} (release ${chosen.id} of ${chosen.startedAt})`,
  );
  // ECS returns the in-flight deployments' traffic at once, lock or not.
  if (inFlight.length) {
    const { stopInFlight } = await import('./release/progressive.js');
    for (const { svc, arn } of inFlight) {
      await stopInFlight(ecs, arn, ecsServiceName(svc), events);
      events.log(`${svc.name}: stopped deployment ${arn}; ECS puts production traffic back on the old revision`);
    }
  }
  const result = await rollout(session, {
    kind: 'rollback',
    command: `rollback ${chosen.sha!.slice(0, 12)}`,
    prepare: { sha: chosen.sha!, changes },
    wait: opts.wait ?? true,
    rollbackOf: chosen.id,
    ...(opts.lockWaitSeconds !== undefined ? { lockWaitSeconds: opts.lockWaitSeconds } : {}),
    ...(opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : {}),
  });
  return {
    env: target.env,
    sha: chosen.sha!,
    rolledBackTo: chosen.id,
    release: result.release,
    services: result.services,
    watch: result.watch,
  };
}

async function assertImageExists(
  session: Session,
  svc: ResolvedService,
  digest: string,
  sha: string | null,
  image: string | null,
): Promise<void> {
  const { inOwnRegistry, lookupImage, repositoryOfImage } = await import('./docker/registry.js');
  // Only the environment's own registry can be asked; an image from elsewhere is taken on trust.
  if (image && !inOwnRegistry(image, session.target)) return;
  // The repository the release's image is in (a release from before a layout change names the old one).
  const repo = (image && repositoryOfImage(image, session.target)) || repositoryName(svc);
  const found = await lookupImage(session.aws, session.target, repo, digest);
  if (!found) {
    throw new PatchworkError(
      'PW_UNKNOWN_RELEASE',
      `the image of release ${sha?.slice(0, 12)} (${image ?? digest}) is no longer in the registry`,
      { hint: 'rebuild that commit and deploy it, or pick another release from `patchwork releases`' },
    );
  }
}

export interface RollbackPlan {
  env: string;
  dryRun: true;
  sha: string;
  releaseId: string;
  startedAt: string;
  /** Some service would change (a rollback to what already runs changes nothing): `--exit-code` exits 6. */
  pending: boolean;
  services: { service: string; image: string | null; taskDefinitionArn: string | null }[];
  /** Field by field, what the rollback would change (the same as the `diff` data event). */
  diff: ReleaseDiff;
}

/** --dry-run: which release a rollback would go to, and the diff against what runs (reads only). */
export async function planRollback(opts: CommonOptions & { to?: string }): Promise<RollbackPlan> {
  const session = await openSession(opts);
  const { target } = session;
  return (async () => {
    const ddb = await session.aws.get('dynamodb');
    const history = await readHistory(ddb, stateTableName(target));
    // As the rollback itself: with a progressive deployment in flight, the release it would put back.
    let inFlight = false;
    if (isProgressive(target.deploy.strategy) && opts.to === undefined) {
      const [ecs, progressive] = await Promise.all([session.aws.get('ecs'), import('./release/progressive.js')]);
      for (const svc of target.services)
        if (!inFlight) inFlight = !!(await progressive.inFlight(ecs, clusterName(target), ecsServiceName(svc)));
    }
    const chosen = selectRelease(history, opts.to, inFlight);
    const changes: DryRunChange[] = [];
    for (const svc of target.services) {
      const rec = chosen.services.find((s) => s.service === svc.name);
      if (!rec) continue;
      changes.push({
        svc,
        image: rec.image,
        digest: rec.digest,
        tag: chosen.sha!,
        taskDefinitionArn: rec.taskDefinitionArn,
      });
    }
    if (!changes.length) {
      throw new PatchworkError('PW_UNKNOWN_RELEASE', `release ${chosen.sha} has none of the selected services`, {
        hint: 'see `patchwork releases`',
      });
    }
    const { diffRelease } = await import('./release/dryrun.js');
    const { diff } = await diffRelease(session, 'rollback', changes);
    return {
      env: target.env,
      dryRun: true as const,
      sha: chosen.sha!,
      releaseId: chosen.id,
      startedAt: chosen.startedAt,
      pending: diff.pending,
      services: chosen.services.map((s) => ({
        service: s.service,
        image: s.image,
        taskDefinitionArn: s.taskDefinitionArn,
      })),
      diff,
    };
  })().catch((err: unknown) => {
    throw inEnvironment(err, target);
  });
}
