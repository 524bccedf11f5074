/**
 * Task definition retention: the revisions that only pruned history records name are
 * deregistered (history.ts `planRetention` decides which; a bounded number per run). Retention
 * knows them from history, so it never lists the family: a deploy's calls do not grow with the
 * number of revisions. Revisions patchwork's history never named (registered out of band, or by
 * a run killed between registering and recording) are left alone.
 */
import type { ECSClient } from '@aws-sdk/client-ecs';
import { isAwsError } from '../aws/errors.js';
import { ecsSdk } from '../aws/sdk.js';
import type { Emitter } from '../events.js';

/** `arn:…:task-definition/<family>:<revision>` → {family, revision}. */
export function parseTaskDefinitionArn(arn: string): { family: string; revision: number } | null {
  const m = arn.match(/:task-definition\/([^:]+):(\d+)$/);
  return m ? { family: m[1]!, revision: Number(m[2]) } : null;
}

/** Deregisters `arns` (already inactive or gone ones are skipped); returns how many went. */
export async function deregisterRevisions(ecs: ECSClient, arns: string[], events: Emitter): Promise<number> {
  let gone = 0;
  for (const arn of arns) {
    try {
      await ecs.send(new (ecsSdk().DeregisterTaskDefinitionCommand)({ taskDefinition: arn }));
      gone++;
    } catch (err) {
      // Deregistered already (by hand, or an earlier run whose answer was lost): nothing to do.
      if (!isAwsError(err, 'ClientException', 'InvalidParameterException')) throw err;
    }
  }
  if (gone) events.log(`deregistered ${gone} task definition revision(s) of releases no longer kept`);
  return gone;
}
