/** The human view of a finished deploy or rollback: the same facts as its --json result. */
import type { DeployResult } from '../../lib/deploy.js';

/**
 * `deployed 1a2b3c4d5e6f to prod: rolled out in 31s; http://…/healthz answered 200`, one line per
 * service (digest → task definition) and the time per phase.
 */
export function describeDeploy(r: DeployResult, phases: string, verb = 'deployed'): string {
  const how = r.watch ? `rolled out in ${r.watch.seconds}s` : 'started (not waited for)';
  const url = r.smoke?.ok ? `; ${r.smoke.url} answered ${r.smoke.status}` : '';
  const services = r.services.map(
    (s) => `  ${s.service}: ${s.digest ?? s.image ?? '?'} → ${s.taskDefinitionArn ?? '(not registered)'}`,
  );
  return [
    `${verb} ${r.sha.slice(0, 12)} to ${r.env}: ${how}${url}`,
    ...services,
    ...(phases ? [`  time: ${phases}`] : []),
  ].join('\n');
}
