/**
 * `patchwork deploy`: build (skip when the registry has the sha) → register a digest-pinned task
 * definition per service → UpdateService → one combined wait, all under the environment's lock.
 * Exit codes: 3 circuit breaker / alarm rolled back, 4 timeout, 5 lock held.
 */
import { build } from './build.js';
import { PatchworkError } from './errors.js';
import { type RolloutResult, rollout } from './release/rollout.js';
import { pinImage } from './release/taskdef.js';
import { type CommonOptions, openSession } from './session.js';
import type { WatchResult } from './watch/index.js';

export interface DeployOptions extends CommonOptions {
  /** Wait for the rollout (default true). */
  wait?: boolean;
  /** Seconds (default deploy.timeoutSeconds). */
  timeoutSeconds?: number;
  /** Wait this long for a held lock (default 0: exit 5 at once). */
  lockWaitSeconds?: number;
  rollbackOnTimeout?: boolean;
  /** Push a dirty work tree (build's --allow-dirty). */
  allowDirty?: boolean;
  /** Break-glass: wait only for ECS's own acceptance (no target health, no alarms); marked `fast` in history. */
  fast?: boolean;
}

export interface DeployResult {
  env: string;
  sha: string;
  release: RolloutResult['release'];
  services: RolloutResult['services'];
  watch: WatchResult | null;
}

export async function deploy(opts: DeployOptions): Promise<DeployResult> {
  const session = openSession(opts);
  const { target, events } = session;
  const buildable = target.services.filter((s) => s.build);
  if (!buildable.length) {
    throw new PatchworkError('PW_USAGE', 'no service to deploy has build: (image-only services are set by provision)', {
      hint: 'give a service a build: section, or change its image: and run `patchwork provision`',
    });
  }
  const built = await build({ ...opts, push: true, ...(opts.allowDirty ? { allowDirty: true } : {}) });
  const changes = buildable.map((svc) => {
    const img = built.images.find((i) => i.service === svc.name);
    if (!img?.digest) {
      throw new PatchworkError('PW_PUSH_FAILED', `no pushed digest for ${svc.name}`, {
        hint: 'run `patchwork build` and check that the image reaches the registry',
      });
    }
    return { svc, image: pinImage(img.image, img.digest), digest: img.digest };
  });
  const shas = [...new Set(built.images.map((i) => i.tag))];
  const sha = shas.length === 1 ? shas[0]! : shas.join(',');
  events.log(`deploying ${sha.slice(0, 12)} to ${target.name}: ${changes.map((c) => c.image).join(', ')}`);
  const result = await rollout(session, {
    kind: 'deploy',
    sha,
    changes,
    wait: opts.wait ?? true,
    ...(opts.lockWaitSeconds !== undefined ? { lockWaitSeconds: opts.lockWaitSeconds } : {}),
    ...(opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : {}),
    ...(opts.rollbackOnTimeout ? { rollbackOnTimeout: true } : {}),
    ...(opts.fast ? { fast: true } : {}),
  });
  return { env: target.env, sha, release: result.release, services: result.services, watch: result.watch };
}

export interface DeployPlan {
  env: string;
  dryRun: true;
  services: { service: string; image: string | null; current: string | null; change: boolean; wouldBuild: boolean }[];
}

/** --dry-run: what deploy would build and roll out; reads only (no lock, no build, no push). */
export async function planDeploy(opts: CommonOptions & { allowDirty?: boolean }): Promise<DeployPlan> {
  const session = openSession(opts);
  const { target, aws } = session;
  const buildable = target.services.filter((s) => s.build);
  const built = await build({ ...opts, dryRun: true, ...(opts.allowDirty ? { allowDirty: true } : {}) });
  const ecs = await aws.get('ecs');
  const { DescribeServicesCommand, DescribeTaskDefinitionCommand } = await import('@aws-sdk/client-ecs');
  const { clusterName, ecsServiceName } = await import('./desired/names.js');
  const { digestOf } = await import('./release/taskdef.js');
  const described = buildable.length
    ? await ecs.send(
        new DescribeServicesCommand({
          cluster: clusterName(target),
          services: buildable.map((s) => ecsServiceName(s)),
        }),
      )
    : { services: [] };
  const services: DeployPlan['services'] = [];
  for (const svc of buildable) {
    const img = built.images.find((i) => i.service === svc.name);
    const image = img?.digest ? pinImage(img.image, img.digest) : (img?.image ?? null);
    const tdArn = described.services?.find((s) => s.serviceName === ecsServiceName(svc))?.taskDefinition;
    let current: string | null = null;
    if (tdArn) {
      const td = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: tdArn }));
      const d = td.taskDefinition ? digestOf(td.taskDefinition, svc) : null;
      current = d ? `${tdArn} (${d})` : tdArn;
    }
    const change = !img?.digest || !current?.includes(img.digest);
    services.push({ service: svc.name, image, current, change, wouldBuild: !!img?.wouldBuild });
  }
  return { env: target.env, dryRun: true, services };
}
