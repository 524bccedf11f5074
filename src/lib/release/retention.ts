/**
 * Task definition retention: after a successful rollout, revisions of a service's family older
 * than every release still kept in history are deregistered (a bounded number per run, so a
 * family with hundreds of old revisions is trimmed over a few deploys without slowing one down).
 */
import { DeregisterTaskDefinitionCommand, type ECSClient, ListTaskDefinitionsCommand } from '@aws-sdk/client-ecs';
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

export async function pruneTaskDefinitions(
  ecs: ECSClient,
  family: string,
  keep: string[],
  events: Emitter,
  max = MAX_DEREGISTER_PER_RUN,
): Promise<number> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(
      new ListTaskDefinitionsCommand({
        familyPrefix: family,
        status: 'ACTIVE',
        sort: 'ASC',
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    arns.push(...(page.taskDefinitionArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const old = revisionsToDeregister(family, arns, keep).slice(0, max);
  for (const arn of old) await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn }));
  if (old.length)
    events.log(`deregistered ${old.length} task definition revision(s) of ${family} older than the kept releases`);
  return old.length;
}
