/**
 * The human view of a dry run's diff (the --json result and the `diff` event carry the same
 * facts): per service a header line, then one line per changed field (`+` added, `-` removed,
 * `~` changed), then the service settings that only provision sets.
 */
import type { DiffValue, FieldChange, ReleaseDiff, ServiceDiff } from '../../lib/release/diff.js';

const SIGN: Record<FieldChange['change'], string> = { added: '+', removed: '-', changed: '~' };

/** `arn:aws:ecs:…:task-definition/shop-prod-web:12` → `shop-prod-web:12` */
export function shortRevision(arn: string | null): string {
  if (!arn) return '(none)';
  const i = arn.indexOf(':task-definition/');
  return i >= 0 ? arn.slice(i + ':task-definition/'.length) : arn;
}

function image(v: DiffValue): string {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return String(v);
  const tag = typeof v.tag === 'string' ? (/^[0-9a-f]{40}/.test(v.tag) ? v.tag.slice(0, 12) : v.tag) : null;
  const digest = typeof v.digest === 'string' ? `${v.digest.slice(0, 19)}…` : 'digest when built';
  return `${v.repository}${tag ? `:${tag}` : ''} (${digest})`;
}

export function value(v: DiffValue): string {
  if (v === null) return '(none)';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  if (typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}: ${value(x)}`)
      .join(', ')}}`;
  return String(v);
}

export function describeChange(c: FieldChange): string {
  const show = c.field === 'image' ? image : c.field.startsWith('secrets.') ? (v: DiffValue) => String(v) : value;
  const text =
    c.change === 'added'
      ? show(c.after)
      : c.change === 'removed'
        ? show(c.before)
        : `${show(c.before)} → ${show(c.after)}`;
  return `${SIGN[c.change]} ${c.field}: ${text}`;
}

function header(s: ServiceDiff, kind: ReleaseDiff['kind']): string {
  const now = shortRevision(s.taskDefinition.current);
  if (!s.changes.length) return `${s.service}: no change (runs ${now})`;
  const next = s.taskDefinition.next
    ? shortRevision(s.taskDefinition.next)
    : `a new revision${s.taskDefinition.current ? '' : ' (the service does not exist yet)'}`;
  return `${s.service}: ${kind === 'rollback' ? 'would roll back' : 'would deploy'}: ${now} → ${next}`;
}

/** The lines of a dry run's diff, `title` first. */
export function describeDiff(d: ReleaseDiff, title: string): string {
  const lines = [title];
  for (const s of d.services) {
    lines.push(header(s, d.kind));
    for (const c of s.changes) lines.push(`  ${describeChange(c)}`);
    if (s.provision.length) {
      lines.push(`  differs from the config, set by \`patchwork provision\` (not by this ${d.kind}):`);
      for (const c of s.provision) lines.push(`    ${describeChange(c)}`);
    }
  }
  return lines.join('\n');
}
