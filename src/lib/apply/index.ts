/**
 * Apply: runs a plan against AWS in dependency order, one event task per resource, in the plan's
 * stages (src/lib/plan: deletes and the delete half of replacements first, in reverse kind order;
 * then creates and updates in kind order; create before delete where a window would open). Resources of one kind run in parallel, except kinds marked `sequential` (security
 * groups, which may refer to each other: the environment's own are created first and deleted last). Each change goes to its
 * kind's handler (src/lib/resources/<kind>.ts), typed by the kind.
 */
import type { Kind } from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import type { Emitter } from '../events.js';
import { type PlannedChange, stages } from '../plan/index.js';
import { kindOf } from '../resources/index.js';
import { type DeleteOptions, isKind } from '../resources/kind.js';
import type { ApplyContext } from './context.js';

export type { DeleteOptions } from '../resources/kind.js';
export type { ApplyContext } from './context.js';

export interface ApplyResult {
  /** Changes carried out (no-ops excluded). */
  applied: number;
}

export const taskId = (c: Pick<PlannedChange, 'kind' | 'name'>) => `${c.kind}/${c.name}`;
export const taskTitle = (c: Pick<PlannedChange, 'kind' | 'name' | 'action' | 'reason'>) =>
  `${c.action} ${c.kind} ${c.name}${c.action === 'create' || c.action === 'delete' ? '' : ` (${c.reason})`}`;

/** Declares every change up front (renderers show them as a list). */
export function declareTasks(events: Emitter, changes: PlannedChange[]): void {
  const work = changes.filter((c) => c.action !== 'noop');
  if (work.length) events.emit({ type: 'tasks', tasks: work.map((c) => ({ id: taskId(c), title: taskTitle(c) })) });
}

/** Kinds whose replacement would destroy data: apply refuses and says what to do. */
export function assertReplaceable(change: Pick<PlannedChange, 'kind' | 'name'>): void {
  const no = kindOf(change.kind).irreplaceable;
  if (!no) return;
  throw new PatchworkError('PW_CONFLICT', `${no.what} ${change.name}: ${no.why}`, {
    hint: 'patchwork will not delete data it holds; move or delete it yourself, then run provision again',
  });
}

async function runStage(
  kind: Kind,
  items: PlannedChange[],
  fn: (c: PlannedChange) => Promise<void>,
  removing = false,
): Promise<void> {
  if (!items.length) return;
  if (kindOf(kind).sequential) {
    // The environment's own first when writing (services' resources refer to them), last when
    // removing (a tasks group's rule names the load balancer's group: DependencyViolation).
    const spec = kindOf(kind);
    const envFirst = (c: PlannedChange) => {
      const r = c.desired ?? c.observed;
      return spec.sequence && r && isKind(kind)(r) ? spec.sequence(r) : Number(!!c.service);
    };
    const ordered = [...items].sort((a, b) => (removing ? envFirst(b) - envFirst(a) : envFirst(a) - envFirst(b)));
    for (const c of ordered) await fn(c);
  } else {
    const results = await Promise.allSettled(items.map(fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** Deletes the observed resource of `c` (a delete, or the first half of a replace). */
async function remove<K extends Kind>(
  kind: K,
  ctx: ApplyContext,
  c: PlannedChange,
  opts: DeleteOptions,
): Promise<void> {
  const have = c.observed;
  if (!have || !isKind(kind)(have))
    throw new PatchworkError('PW_UNEXPECTED', `${taskId(c)}: nothing observed to delete`);
  await kindOf(kind).delete(ctx, have, opts);
}

/** Creates or updates the desired resource of `c`. */
async function write<K extends Kind>(kind: K, ctx: ApplyContext, c: PlannedChange): Promise<void> {
  const handler = kindOf(kind);
  const want = c.desired;
  if (!want || !isKind(kind)(want)) throw new PatchworkError('PW_UNEXPECTED', `${taskId(c)}: nothing desired to write`);
  if (c.action !== 'update') return handler.create(ctx, want);
  const have = c.observed;
  if (!have || !isKind(kind)(have))
    throw new PatchworkError('PW_UNEXPECTED', `${taskId(c)}: nothing observed to update`);
  await handler.update(ctx, want, have, c.diff ?? []);
}

export async function apply(
  ctx: ApplyContext,
  changes: PlannedChange[],
  opts: DeleteOptions = {},
): Promise<ApplyResult> {
  let applied = 0;
  for (const c of changes) if (c.action === 'replace') assertReplaceable(c);

  // The plan's order (stages: removals, writes, and create-before-delete where a window would open).
  for (const stage of stages(changes)) {
    const { kind } = stage;
    if (stage.removing) {
      await runStage(
        kind,
        stage.changes,
        async (c) => {
          const title =
            c.action === 'replace' ? `delete ${c.kind} ${c.name} (to replace it: ${c.reason})` : taskTitle(c);
          await ctx.events.task(`${taskId(c)}${c.action === 'replace' ? '#delete' : ''}`, title, () =>
            remove(kind, ctx, c, opts),
          );
          if (c.action === 'delete') applied++;
        },
        true,
      );
    } else {
      await runStage(kind, stage.changes, async (c) => {
        await ctx.events.task(taskId(c), taskTitle(c), () => write(kind, ctx, c));
        applied++;
      });
    }
  }
  return { applied };
}
