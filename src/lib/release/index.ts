/**
 * `patchwork releases` and `patchwork unlock`: reading history, breaking the lock (recorded).
 */
import { stateTableName } from '../desired/names.js';
import { inEnvironment } from '../errors.js';
import { type CommonOptions, openSession, type Session } from '../session.js';
import { listReleases, newRelease, putRelease, type ReleaseRecord } from './history.js';
import { breakLock, type LockRecord, readLock } from './lock.js';
import { deployerIdentity } from './rollout.js';

export interface ReleasesResult {
  env: string;
  releases: ReleaseRecord[];
  lock: LockRecord | null;
}

export async function releases(opts: CommonOptions & { limit?: number }): Promise<ReleasesResult> {
  const session = await openSession(opts);
  return releasesIn(session, opts).catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}

async function releasesIn(session: Session, opts: { limit?: number }): Promise<ReleasesResult> {
  const ddb = await session.aws.get('dynamodb');
  const table = stateTableName(session.target);
  const [list, lock] = await Promise.all([
    listReleases(ddb, table, opts.limit ?? session.target.deploy.keepReleases),
    readLock(ddb, table),
  ]);
  return { env: session.target.env, releases: list, lock };
}

export interface UnlockResult {
  env: string;
  /** The lock that was broken; null when there was none. */
  broken: LockRecord | null;
  dryRun: boolean;
}

export async function unlock(opts: CommonOptions & { dryRun?: boolean }): Promise<UnlockResult> {
  const session = await openSession(opts);
  return unlockIn(session, opts).catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}

async function unlockIn(session: Session, opts: { dryRun?: boolean }): Promise<UnlockResult> {
  const ddb = await session.aws.get('dynamodb');
  const table = stateTableName(session.target);
  if (opts.dryRun) return { env: session.target.env, broken: await readLock(ddb, table), dryRun: true };
  const broken = await breakLock(ddb, table, session.events);
  if (broken) {
    const who = deployerIdentity();
    const now = new Date().toISOString();
    await putRelease(
      ddb,
      table,
      newRelease({
        kind: 'unlock',
        sha: null,
        services: [],
        deployer: who,
        outcome: 'unlocked',
        finishedAt: now,
        durationMs: 0,
        reason: `broke the lock of ${broken.holder} (${broken.command}, since ${new Date(broken.startedAt).toISOString()})`,
      }),
    );
    session.events.warn('PW_LOCK_BROKEN', `broke the deploy lock of ${broken.holder} (${broken.command})`, 'lock');
  }
  return { env: session.target.env, broken, dryRun: false };
}
