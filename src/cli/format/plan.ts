/** The human view of a provision plan: one line per change (the --json plan has the details). */
import type { PublicPlan } from '../../lib/plan/index.js';

const SIGN: Record<string, string> = { create: '+', update: '~', replace: '±', delete: '-', noop: ' ' };

export function describePlan(p: PublicPlan, dryRun: boolean): string {
  // In apply order (`step`): what is created before what it replaces is deleted.
  const lines = p.changes
    .filter((c) => c.action !== 'noop')
    .sort((a, b) => (a.step ?? 0) - (b.step ?? 0))
    .map((c) => `  ${SIGN[c.action]} ${c.kind} ${c.name}: ${c.reason}`);
  const s = p.summary;
  const counts = `${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s.noop} unchanged`;
  if (!p.pending) return `${p.env.name}: everything matches the config (${s.noop} resources)`;
  return [`${p.env.name}: ${dryRun ? 'plan' : 'applied'}: ${counts}`, ...lines].join('\n');
}
