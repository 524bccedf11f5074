/**
 * Apply: runs a plan against AWS in dependency order, one event task per resource. Deletes (and
 * the delete half of replacements) run first, in reverse kind order; then creates and updates in
 * kind order. Resources of one kind run in parallel, except security groups, which may refer to
 * each other (the environment's own groups go first).
 */
import { KINDS, type Kind } from '../desired/types.js';
import type { Emitter } from '../events.js';
import type { PlannedChange } from '../plan/index.js';
import type { ApplyContext } from './context.js';
import { assertReplaceable, type DeleteOptions, HANDLERS } from './handlers.js';

export type { ApplyContext } from './context.js';

export interface ApplyResult {
  /** Changes carried out (no-ops excluded). */
  applied: number;
}

const SEQUENTIAL: Kind[] = ['security-group'];

export const taskId = (c: Pick<PlannedChange, 'kind' | 'name'>) => `${c.kind}/${c.name}`;
export const taskTitle = (c: Pick<PlannedChange, 'kind' | 'name' | 'action' | 'reason'>) =>
  `${c.action} ${c.kind} ${c.name}${c.action === 'create' || c.action === 'delete' ? '' : ` (${c.reason})`}`;

/** Declares every change up front (renderers show them as a list). */
export function declareTasks(events: Emitter, changes: PlannedChange[]): void {
  const work = changes.filter((c) => c.action !== 'noop');
  if (work.length) events.emit({ type: 'tasks', tasks: work.map((c) => ({ id: taskId(c), title: taskTitle(c) })) });
}

async function runStage(kind: Kind, items: PlannedChange[], fn: (c: PlannedChange) => Promise<void>): Promise<void> {
  if (!items.length) return;
  if (SEQUENTIAL.includes(kind)) {
    const ordered = [...items].sort((a, b) => Number(!!a.service) - Number(!!b.service));
    for (const c of ordered) await fn(c);
  } else {
    const results = await Promise.allSettled(items.map(fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

export async function apply(
  ctx: ApplyContext,
  changes: PlannedChange[],
  opts: DeleteOptions = {},
): Promise<ApplyResult> {
  const handlers = HANDLERS as unknown as Record<Kind, (typeof HANDLERS)['alarm']>;
  let applied = 0;
  for (const c of changes) if (c.action === 'replace') assertReplaceable(c);

  const removals = changes.filter((c) => (c.action === 'delete' || c.action === 'replace') && c.observed);
  for (const kind of [...KINDS].reverse()) {
    await runStage(
      kind,
      removals.filter((c) => c.kind === kind),
      async (c) => {
        const title = c.action === 'replace' ? `delete ${c.kind} ${c.name} (to replace it: ${c.reason})` : taskTitle(c);
        await ctx.events.task(`${taskId(c)}${c.action === 'replace' ? '#delete' : ''}`, title, () =>
          handlers[kind].delete(ctx, c.observed as never, opts),
        );
        if (c.action === 'delete') applied++;
      },
    );
  }

  const writes = changes.filter(
    (c) => (c.action === 'create' || c.action === 'update' || c.action === 'replace') && c.desired,
  );
  for (const kind of KINDS) {
    await runStage(
      kind,
      writes.filter((c) => c.kind === kind),
      async (c) => {
        await ctx.events.task(taskId(c), taskTitle(c), async () => {
          if (c.action === 'update')
            await handlers[kind].update(ctx, c.desired as never, c.observed as never, c.diff ?? []);
          else await handlers[kind].create(ctx, c.desired as never);
        });
        applied++;
      },
    );
  }
  return { applied };
}
