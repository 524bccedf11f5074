/**
 * Helpers for progressive-delivery tests on the local world: NDJSON lines, a load generator on the
 * production listener that records the sha answering each request (and when), release commits of
 * the webapp project, and the service deployment in flight (AWS CLI).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git } from './git.js';
import { awsCli } from './localworld.js';
import { webappConfig } from './webapp.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON event lines
export function lines(stdout: string): any[] {
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** One answered request: when it was sent (ms since epoch) and the sha (12 chars) that answered it. */
export interface Sample {
  t: number;
  sha: string;
}

/** The sha (12 chars) answering GET /version on the production listener now. */
export async function currentSha(dns: string): Promise<string> {
  return ((await (await fetch(`http://${dns}:80/version`)).json()) as { sha: string }).sha.slice(0, 12);
}

/**
 * A request counts as failed when it is refused, cut, answered non-200, or unanswered after this
 * long. An ALB waits up to its idle timeout (60 s) for a target; 15 s keeps a hang a failure while
 * a slow answer on a loaded 2-core machine (the world is one Python process) is not one. Answers
 * slower than SLOW_MS are logged with their time, to see stalls without failing on them.
 */
const REQUEST_TIMEOUT_MS = 15_000;
const SLOW_MS = 3_000;

/** Requests to the production listener (`dns`:80) until stopped: the sha of each answer, and the failures. */
export function loadGenerator(dns: string, pauseMs = 50) {
  const seen: Record<string, number> = {};
  const samples: Sample[] = [];
  let failed = 0;
  const errors: string[] = [];
  const slow: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      try {
        const res = await fetch(`http://${dns}:80/version`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        if (Date.now() - t > SLOW_MS) slow.push(`${new Date(t).toISOString()} +${Date.now() - t} ms`);
        if (res.status !== 200) {
          failed++;
          errors.push(`${new Date().toISOString()} ${res.status} ${(await res.text()).slice(0, 100).trim()}`);
        } else {
          const sha = ((await res.json()) as { sha: string }).sha.slice(0, 12);
          seen[sha] = (seen[sha] ?? 0) + 1;
          samples.push({ t, sha });
        }
      } catch (err) {
        failed++;
        errors.push(`${new Date().toISOString()} ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
      if (errors.length) console.error(`load generator failures: ${errors.join('; ')}`);
      if (slow.length) console.error(`load generator: answers slower than ${SLOW_MS} ms: ${slow.join('; ')}`);
      return { seen, failed, samples };
    },
  };
}

/** Writes patchwork.yml with `deploy`, changes the app's VARIANT to `label`, commits: the new sha (12). */
export function commitRelease(root: string, app: string, label: string, deploy: string): string {
  writeFileSync(join(root, 'patchwork.yml'), webappConfig({ app, deploy }));
  writeFileSync(join(root, 'app', 'VARIANT'), `${label}\n`);
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', label);
  return git(root, 'rev-parse', 'HEAD').slice(0, 12);
}

export interface InFlight {
  serviceDeploymentArn: string;
  status: string;
  lifecycleStage?: string;
  lifecycleHookDetails?: { hookId: string; status: string }[];
}

/** The service's IN_PROGRESS service deployment as DescribeServiceDeployments shows it, if any. */
export function inFlightDeployment(cluster: string, service: string): InFlight | undefined {
  const list = awsCli(['ecs', 'list-service-deployments', '--cluster', cluster, '--service', service])
    .serviceDeployments as { serviceDeploymentArn: string; status: string }[];
  const arn = list.find((d) => d.status === 'IN_PROGRESS')?.serviceDeploymentArn;
  if (!arn) return undefined;
  return awsCli(['ecs', 'describe-service-deployments', '--service-deployment-arns', arn]).serviceDeployments[0];
}
