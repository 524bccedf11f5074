/**
 * `patchwork destroy`: delete what patchwork manages for one environment, in reverse dependency
 * order. Resources are found the way provision finds them (deterministic names, checked against
 * the environment's tags), plus the task definitions of the services' families. ECR repositories
 * that still hold images are kept unless `deleteImages`. Idempotent: a second run finds nothing.
 */

import { ListImagesCommand } from '@aws-sdk/client-ecr';
import {
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  type ECSClient,
  paginateListTaskDefinitions,
  type TaskDefinitionStatus,
} from '@aws-sdk/client-ecs';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { apply, declareTasks, taskId } from './apply/index.js';
import { isAwsError } from './aws/errors.js';
import { bootstrapFamily, desiredState, taskFamily } from './desired/index.js';
import type { Facts } from './desired/types.js';
import { isPatchworkError, PatchworkError } from './errors.js';
import { observeFacts } from './observe/facts.js';
import { type ObservedResource, observe } from './observe/index.js';
import type { Plan, PlannedChange, PublicPlan } from './plan/index.js';
import { publicPlan } from './plan/index.js';
import { type CommonOptions, openSession, type Session } from './session.js';

export interface DestroyOptions extends CommonOptions {
  dryRun?: boolean;
  /** Also delete ECR repositories that still hold images (and the images). */
  deleteImages?: boolean;
  pollMs?: number;
  waitMs?: number;
  /**
   * Asked once the plan is known and before anything is deleted (not on a dry run): the host
   * answers (the CLI asks in a terminal). false deletes nothing and ends with PW_ABORTED_BY_USER.
   */
  confirm?: (plan: DestroyConfirmation) => Promise<boolean>;
}

/** What destroy is about to delete, for its confirm callback. */
export interface DestroyConfirmation {
  env: string;
  name: string;
  region: string;
  /** Every resource it deletes, in the plan's order. */
  deletes: { kind: string; name: string }[];
  taskDefinitions: string[];
  keptRepositories: string[];
}

export interface DestroyResult {
  env: string;
  name: string;
  region: string;
  dryRun: boolean;
  plan: PublicPlan;
  /** Task definition revisions deregistered (or that would be). */
  taskDefinitions: string[];
  /** ECR repositories kept because they hold images. */
  keptRepositories: string[];
  deleted: number;
}

async function destroyFacts(session: Session): Promise<Facts> {
  const { aws, target, config } = session;
  try {
    return await observeFacts(aws, target, config);
  } catch (err) {
    // The network may be gone already: security groups are then found by name and tag alone.
    if (!isPatchworkError(err) || err.code !== 'PW_UNKNOWN_NETWORK') throw err;
    const who = await (await aws.get('sts')).send(new GetCallerIdentityCommand({}));
    return {
      accountId: who.Account ?? '000000000000',
      partition: who.Arn?.split(':')[1] ?? 'aws',
      vpcId: '',
      publicSubnets: [],
      taskSubnets: [],
      tasksArePrivate: false,
    };
  }
}

/** True when a resource carries this environment's tags (patchwork never deletes what it did not tag). */
function ours(r: ObservedResource, env: { app: string; env: string }): boolean {
  // Scaling targets, policies and alarms are found by names only patchwork gives; their tags are not read.
  if (r.kind === 'scalable-target' || r.kind === 'scaling-policy' || r.kind === 'alarm') return true;
  return r.tags['patchwork:app'] === env.app && r.tags['patchwork:env'] === env.env;
}

export async function destroy(opts: DestroyOptions): Promise<DestroyResult> {
  const session = await openSession(opts);
  const { target, aws, events } = session;
  const facts = await events.task('observe/facts', 'read account and network', () => destroyFacts(session));
  const desired = desiredState(target, facts);
  const observed = await events.task('observe/resources', `find ${target.name} in AWS`, () =>
    observe(aws, desired, facts),
  );
  const ecs = await aws.get('ecs');
  const ecr = await aws.get('ecr');
  const families = new Set(target.services.flatMap((s) => [taskFamily(s), bootstrapFamily(s)]));
  const [taskDefinitions, imageCounts] = await Promise.all([
    listTaskDefinitions(ecs, families),
    Promise.all(
      [...observed.resources.values()]
        .filter((r) => r.kind === 'ecr-repository')
        .map(async (r) => {
          const out = await ecr
            .send(new ListImagesCommand({ repositoryName: r.name, maxResults: 1 }))
            .catch((err) => (isAwsError(err, 'RepositoryNotFoundException') ? { imageIds: [] } : Promise.reject(err)));
          return [r.name, out.imageIds?.length ?? 0] as const;
        }),
    ),
  ]);
  const hasImages = new Set(imageCounts.filter(([, n]) => n > 0).map(([name]) => name));

  const changes: PlannedChange[] = [];
  const kept: string[] = [];
  for (const r of observed.resources.values()) {
    const base = { kind: r.kind, name: r.name, ...(r.service ? { service: r.service } : {}), observed: r };
    if (r.kind === 'ecr-repository' && r.tags['patchwork:shared'] === 'true') {
      // No one environment owns a shared repository: other environments may pull from it.
      changes.push({ ...base, action: 'noop', reason: "shared by the app's environments: left alone" });
    } else if (!ours(r, target)) {
      changes.push({ ...base, action: 'noop', reason: 'not tagged for this environment: left alone' });
    } else if (r.kind === 'ecr-repository' && hasImages.has(r.name) && !opts.deleteImages) {
      kept.push(r.name);
      changes.push({ ...base, action: 'noop', reason: 'holds images: kept (pass --delete-images to delete them)' });
    } else {
      changes.push({ ...base, action: 'delete', reason: 'destroy' });
    }
  }
  const planned: Plan = { env: desired.env, changes, warnings: [] };
  const shown = publicPlan(planned);
  for (const name of kept)
    events.warn('PW_IMAGES_KEPT', `ECR repository ${name} holds images and is kept; --delete-images deletes it`);
  events.emit({ type: 'data', kind: 'plan', data: { ...shown, taskDefinitions } });

  if (!opts.dryRun && opts.confirm) {
    const deletes = changes.filter((c) => c.action === 'delete').map((c) => ({ kind: c.kind, name: c.name }));
    const yes = await opts.confirm({
      env: target.env,
      name: target.name,
      region: target.region,
      deletes,
      taskDefinitions,
      keptRepositories: kept,
    });
    if (!yes) {
      throw new PatchworkError('PW_ABORTED_BY_USER', `destroy of ${target.name} not confirmed: nothing was deleted`, {
        hint: `type the environment's name (${target.env}) to confirm, or pass --yes`,
      });
    }
  }
  let deleted = 0;
  if (!opts.dryRun) {
    declareTasks(events, changes);
    const ctx = {
      aws,
      region: target.region,
      facts,
      ids: observed.ids,
      events,
      pollMs: opts.pollMs ?? 2_000,
      waitMs: opts.waitMs ?? 600_000,
    };
    // Services go before their task definitions; everything else after them.
    const services = changes.filter(
      (c) =>
        c.kind === 'ecs-service' || c.kind === 'scalable-target' || c.kind === 'scaling-policy' || c.kind === 'alarm',
    );
    const rest = changes.filter((c) => !services.includes(c));
    deleted += (await apply(ctx, services, { deleteImages: !!opts.deleteImages })).applied;
    if (taskDefinitions.length) {
      await events.task(
        taskId({ kind: 'ecs-service', name: `${target.name} task definitions` }),
        `deregister ${taskDefinitions.length} task definition revision(s)`,
        () => deregister(ecs, taskDefinitions),
      );
    }
    deleted += (await apply(ctx, rest, { deleteImages: !!opts.deleteImages })).applied;
  }
  return {
    env: target.env,
    name: target.name,
    region: target.region,
    dryRun: !!opts.dryRun,
    plan: shown,
    taskDefinitions,
    keptRepositories: kept,
    deleted,
  };
}

async function listTaskDefinitions(client: ECSClient, families: Set<string>): Promise<string[]> {
  const lists = await Promise.all(
    [...families].flatMap((family) =>
      (['ACTIVE', 'INACTIVE'] as TaskDefinitionStatus[]).map((status) => listFamily(client, family, status, families)),
    ),
  );
  return lists.flat();
}

async function listFamily(
  client: ECSClient,
  prefix: string,
  status: TaskDefinitionStatus,
  families: Set<string>,
): Promise<string[]> {
  const arns: string[] = [];
  for await (const out of paginateListTaskDefinitions({ client }, { familyPrefix: prefix, status })) {
    for (const arn of out.taskDefinitionArns ?? []) {
      const family = arn.split('/').pop()?.replace(/:\d+$/, '') ?? '';
      if (families.has(family)) arns.push(arn);
    }
  }
  return arns;
}

async function deregister(client: ECSClient, arns: string[]): Promise<void> {
  for (const arn of arns) {
    await client.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn })).catch((err: unknown) => {
      if (!isAwsError(err, 'ClientException', 'InvalidParameterException')) throw err;
    });
  }
  // Deregistered revisions are INACTIVE; deleting them removes them (where the API exists).
  for (let i = 0; i < arns.length; i += 10) {
    await client
      .send(new DeleteTaskDefinitionsCommand({ taskDefinitions: arns.slice(i, i + 10) }))
      .catch((err: unknown) => {
        if (
          !isAwsError(
            err,
            'ClientException',
            'InvalidParameterException',
            'UnknownOperationException',
            'NotImplemented',
          )
        )
          throw err;
      });
  }
}
