/**
 * Task definition retention: after a successful rollout, revisions of a service's family older
 * than every release still kept in history are deregistered (a bounded number per run, so a
 * family with hundreds of old revisions is trimmed over a few deploys without slowing one down).
 *
 * The family is listed newest first (ListTaskDefinitions `sort: DESC`, 100 a page, the SDK's
 * paginator) and paging stops as soon as it is past the oldest kept revision with this run's share
 * of old revisions in hand: a deploy reads one page (rarely two) however long the family's history,
 * never the whole family. Of the old revisions read, the oldest `max` go.
 */
import { DeregisterTaskDefinitionCommand, type ECSClient, paginateListTaskDefinitions } from '@aws-sdk/client-ecs';
import type { Emitter } from '../events.js';

export const MAX_DEREGISTER_PER_RUN = 50;

/** `arn:…:task-definition/<family>:<revision>` → {family, revision}. */
export function parseTaskDefinitionArn(arn: string): { family: string; revision: number } | null {
  const m = arn.match(/:task-definition\/([^:]+):(\d+)$/);
  return m ? { family: m[1]!, revision: Number(m[2]) } : null;
}

/** Pure: revisions of `family` older than the oldest kept one (and not kept), oldest first. */
export function revisionsToDeregister(family: string, arns: string[], keep: string[]): string[] {
  const kept = keep.map(parseTaskDefinitionArn).filter((k) => k?.family === family);
  if (!kept.length) return [];
  const floor = Math.min(...kept.map((k) => k!.revision));
  const keepSet = new Set(keep);
  return arns
    .map((arn) => ({ arn, p: parseTaskDefinitionArn(arn) }))
    .filter((x) => x.p?.family === family && x.p.revision < floor && !keepSet.has(x.arn))
    .sort((a, b) => a.p!.revision - b.p!.revision)
    .map((x) => x.arn);
}

/** Page size of the family listing (ECS's maximum). */
export const LIST_PAGE_SIZE = 100;

export async function pruneTaskDefinitions(
  ecs: ECSClient,
  family: string,
  keep: string[],
  events: Emitter,
  max = MAX_DEREGISTER_PER_RUN,
): Promise<number> {
  const kept = keep.map(parseTaskDefinitionArn).filter((k) => k?.family === family);
  if (!kept.length || max <= 0) return 0;
  const floor = Math.min(...kept.map((k) => k!.revision));
  const keepSet = new Set(keep);
  const arns: string[] = [];
  let old = 0;
  const pages = paginateListTaskDefinitions(
    { client: ecs, pageSize: LIST_PAGE_SIZE },
    { familyPrefix: family, status: 'ACTIVE', sort: 'DESC' },
  );
  for await (const page of pages) {
    for (const arn of page.taskDefinitionArns ?? []) {
      const p = parseTaskDefinitionArn(arn);
      if (p?.family !== family) continue;
      arns.push(arn);
      if (p.revision < floor && !keepSet.has(arn)) old++;
    }
    // Newest first, so the pages left hold only older revisions still: once past the oldest kept
    // one with this run's share in hand, stop. (Short of it, the rest of the family is shorter
    // than `max`: at most one more page.)
    if (old >= max) break;
  }
  const doomed = revisionsToDeregister(family, arns, keep).slice(0, max);
  for (const arn of doomed) await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn }));
  if (doomed.length)
    events.log(`deregistered ${doomed.length} task definition revision(s) of ${family} older than the kept releases`);
  return doomed.length;
}
