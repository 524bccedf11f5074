/**
 * deploy.preDeploy: one-off tasks (migrations) on the NEW task definition of a service, in its own
 * network, after registration and before UpdateService. A task that does not exit 0 aborts the
 * rollout before anything is rolled out: PW_PREDEPLOY_FAILED (exit 3), with the output's tail.
 */
import type { NetworkConfiguration } from '@aws-sdk/client-ecs';
import type { ResolvedService } from '../config/resolve.js';
import { PatchworkError } from '../errors.js';
import type { Session } from '../session.js';

export interface PreDeployTarget {
  svc: ResolvedService;
  /** The task definition just registered (not yet rolled out). */
  taskDefinition: string;
  network: NetworkConfiguration | undefined;
}

/** Runs every preDeploy command of the services being deployed, in config order; throws on the first failure. */
export async function runPreDeploy(
  session: Session,
  targets: PreDeployTarget[],
  fail: (reason: string) => Promise<void>,
): Promise<void> {
  const { target, events } = session;
  if (!target.deploy.preDeploy.length) return;
  // Loaded only when there is a task to run (run.js brings the logs reader and its SDK client).
  const { runTask } = await import('../run.js');
  for (const step of target.deploy.preDeploy) {
    const t = targets.find((x) => x.svc.name === step.service);
    if (!t) continue; // that service is not part of this deploy
    const title = `preDeploy ${step.service}: ${step.command.join(' ')}`;
    const r = await events.task(`predeploy:${step.service}`, title, async () => {
      const res = await runTask(session, t.svc, {
        taskDefinition: t.taskDefinition,
        network: t.network,
        command: step.command,
        oneOff: false,
        timeoutSeconds: target.deploy.timeoutSeconds,
        pollSeconds: target.deploy.pollSeconds,
      });
      if (res.exitCode === 0) return res;
      const how =
        res.exitCode === null
          ? `did not run: ${res.stoppedReason ?? res.stopCode ?? 'stopped'}`
          : `exited ${res.exitCode}`;
      const tail = res.tail.slice(-10).join('\n').slice(-2000);
      const reason = `preDeploy ${step.command.join(' ')} on ${step.service} ${how}${tail ? `; output:\n${tail}` : ''}`;
      await fail(reason);
      throw new PatchworkError('PW_PREDEPLOY_FAILED', reason.split('\n')[0]!, {
        hint: `nothing was rolled out; \`patchwork logs --task ${res.taskId}\` shows its whole output`,
        data: { service: step.service, taskArn: res.taskArn, taskExitCode: res.exitCode, tail: res.tail },
      });
    });
    events.log(`preDeploy ${step.service}: task ${r.taskId} exited 0`);
  }
}
