/**
 * `patchwork provision`: make AWS match patchwork.yml for one environment and say what changed.
 * desired (pure) → observed (parallel reads) → plan (pure diff) → apply (dependency order).
 * With `dryRun` it stops after the plan and changes nothing.
 */
import { apply, declareTasks } from './apply/index.js';
import { type PlanCost, planCost } from './cost/index.js';
import { desiredState } from './desired/index.js';
import { isNetworkKind } from './desired/network.js';
import { imageFactsOf } from './docker/registry.js';
import { PatchworkError } from './errors.js';
import { settleRepositoryLayout } from './layout.js';
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
  /** Monthly cost estimate of what the plan runs, against what runs now (USD, list prices). */
  cost: PlanCost;
}

export async function provision(opts: ProvisionOptions): Promise<ProvisionResult> {
  const session = await openSession(opts);
  await settleRepositoryLayout(session);
  const { config, target, aws, events, environment } = session;
  let facts = await events.task('observe/facts', 'read account, network and certificate', async () => {
    const [found, images] = await Promise.all([
      observeFacts(aws, target, config),
      imageFactsOf(target),
      checkCertificate(aws, target, config),
    ]);
    // A given network that cannot work (routes, endpoints, zones): exit 2 before any change.
    await preflightNetwork(aws, target, environment, config, found.vpcId);
    return { ...found, images };
  });
  let desired = desiredState(target, facts);
  let observed = await events.task('observe/resources', `read ${target.name} from AWS`, () =>
    observe(aws, desired, facts),
  );
  let planned = plan(desired, observed.resources.values());
  const shown = publicPlan(planned);
  for (const w of shown.warnings) events.warn(w.code, w.message);
  events.emit({ type: 'data', kind: 'plan', data: shown });
  const cost = planCost({ config, target, desired: desired.resources, observed: [...observed.resources.values()] });
  events.emit({ type: 'data', kind: 'cost', data: cost });

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
    const context = (ids: typeof observed.ids) => ({
      aws,
      region: target.region,
      facts,
      ids,
      events,
      pollMs: opts.pollMs ?? 2_000,
      waitMs: opts.waitMs ?? 600_000,
    });
    const networkFirst = planned.changes.filter((c) => isNetworkKind(c.kind));
    if (target.network.create && networkFirst.some((c) => c.action !== 'noop')) {
      // network.create: the VPC and subnets come first; their ids are facts everything else is
      // built from (security groups, target groups, the load balancer, the services), so the rest
      // is planned again once they exist (the first plan is what was shown).
      applied += (await apply(context(observed.ids), networkFirst)).applied;
      const images = facts.images;
      facts = { ...(await observeFacts(aws, target, config)), images };
      desired = desiredState(target, facts);
      observed = await events.task('observe/resources#network', `read ${target.name} from AWS again`, () =>
        observe(aws, desired, facts),
      );
      planned = plan(desired, observed.resources.values());
      const rest = planned.changes.filter((c) => !isNetworkKind(c.kind));
      applied += (await apply(context(observed.ids), rest)).applied;
    } else {
      applied += (await apply(context(observed.ids), planned.changes)).applied;
    }
  }
  return {
    env: target.env,
    name: target.name,
    region: target.region,
    dryRun: !!opts.dryRun,
    plan: shown,
    pending: shown.pending,
    applied,
    cost,
  };
}
