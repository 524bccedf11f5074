/**
 * `patchwork provision`: make AWS match patchwork.yml for one environment and say what changed.
 * desired (pure) → observed (parallel reads) → plan (pure diff) → apply (dependency order).
 * With `dryRun` it stops after the plan and changes nothing.
 */
import { apply, declareTasks } from './apply/index.js';
import { desiredState } from './desired/index.js';
import { imageFactsOf } from './docker/registry.js';
import { PatchworkError } from './errors.js';
import { checkCertificate, observeFacts } from './observe/facts.js';
import { observe } from './observe/index.js';
import { preflightNetwork } from './observe/network-preflight.js';
import { type PublicPlan, plan, publicPlan } from './plan/index.js';
import { ensureServiceLinkedRoles, serviceLinkedRolesFor } from './service-linked-roles.js';
import { type CommonOptions, openSession } from './session.js';

export interface ProvisionOptions extends CommonOptions {
  /** Plan only; change nothing. */
  dryRun?: boolean;
  /** Poll interval and longest wait while AWS settles (defaults 2 s / 10 min). */
  pollMs?: number;
  waitMs?: number;
  /**
   * Asked before applying a plan that replaces or deletes something (not on a dry run): the host
   * answers (the CLI asks in a terminal). false changes nothing and ends with PW_ABORTED_BY_USER.
   */
  confirm?: (plan: PublicPlan) => Promise<boolean>;
}

export interface ProvisionResult {
  env: string;
  name: string;
  region: string;
  dryRun: boolean;
  /** The plan that was (or, with dryRun, would be) applied: the stable --json shape. */
  plan: PublicPlan;
  /** Changes pending before this run (with dryRun: still pending). */
  pending: boolean;
  /** Changes carried out by this run. */
  applied: number;
}

export async function provision(opts: ProvisionOptions): Promise<ProvisionResult> {
  const { config, target, aws, events, environment } = await openSession(opts);
  const facts = await events.task('observe/facts', 'read account, network and certificate', async () => {
    const [found, images] = await Promise.all([
      observeFacts(aws, target, config),
      imageFactsOf(target),
      checkCertificate(aws, target, config),
    ]);
    // A given network that cannot work (routes, endpoints, zones): exit 2 before any change.
    await preflightNetwork(aws, target, environment, config, found.vpcId);
    return { ...found, images };
  });
  const desired = desiredState(target, facts);
  const observed = await events.task('observe/resources', `read ${target.name} from AWS`, () =>
    observe(aws, desired, facts),
  );
  const planned = plan(desired, observed.resources.values());
  const shown = publicPlan(planned);
  for (const w of shown.warnings) events.warn(w.code, w.message);
  events.emit({ type: 'data', kind: 'plan', data: shown });

  const destructive = shown.summary.replace > 0 || shown.summary.delete > 0;
  if (!opts.dryRun && destructive && opts.confirm && !(await opts.confirm(shown))) {
    throw new PatchworkError('PW_ABORTED_BY_USER', `provision of ${target.name} not confirmed: nothing was changed`, {
      hint: 'answer y to apply the plan, or pass --yes; --dry-run shows the plan',
    });
  }
  let applied = 0;
  if (!opts.dryRun && shown.pending) {
    const roles = serviceLinkedRolesFor(planned.changes);
    if (roles.length)
      await events.task('iam/service-linked-roles', 'ensure the service-linked roles', () =>
        ensureServiceLinkedRoles(aws, roles),
      );
    declareTasks(events, planned.changes);
    const result = await apply(
      {
        aws,
        region: target.region,
        facts,
        ids: observed.ids,
        events,
        pollMs: opts.pollMs ?? 2_000,
        waitMs: opts.waitMs ?? 600_000,
      },
      planned.changes,
    );
    applied = result.applied;
  }
  return {
    env: target.env,
    name: target.name,
    region: target.region,
    dryRun: !!opts.dryRun,
    plan: shown,
    pending: shown.pending,
    applied,
  };
}
