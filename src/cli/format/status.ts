/**
 * The human view of a StatusReport: one screen, services first. Pure (returns a string); the CLI
 * decides where it goes. Sparklines in a terminal, plain numbers elsewhere.
 */
import { METRIC_KEYS, type MetricKey, type MetricSeries, type StatusReport, shortAge } from '../../lib/status/model.js';
import { sparkline, toBuckets } from './sparkline.js';

export interface TextOptions {
  /** Draw sparklines (a terminal); else latest/max numbers. */
  sparklines?: boolean;
  /** Sparkline width in characters (default 30: two minutes a character). */
  width?: number;
}

const LABEL: Record<MetricKey, string> = {
  cpu: 'cpu %',
  memory: 'memory %',
  requests: 'requests/min',
  target5xx: 'target 5xx/min',
  p95: 'p95 latency',
};

export function formatNumber(key: MetricKey, v: number | null): string {
  if (v === null) return '–';
  if (key === 'p95') return v < 1 ? `${Math.round(v * 1000)}ms` : `${v.toFixed(2)}s`;
  if (key === 'cpu' || key === 'memory') return `${v.toFixed(1)}%`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function metricLine(key: MetricKey, m: MetricSeries, report: StatusReport, opts: TextOptions): string {
  const max = m.values.length ? Math.max(...m.values) : null;
  const nums = `now ${formatNumber(key, m.latest)}  max ${formatNumber(key, max)}`;
  if (!opts.sparklines) return `    ${LABEL[key].padEnd(15)} ${nums}`;
  const count = Math.round(
    (new Date(report.metrics.end).getTime() - new Date(report.metrics.start).getTime()) /
      (report.metrics.periodSeconds * 1000),
  );
  const buckets = toBuckets(m.timestamps, m.values, new Date(report.metrics.end), report.metrics.periodSeconds, count);
  return `    ${LABEL[key].padEnd(15)} ${sparkline(buckets, opts.width ?? 30)}  ${nums}`;
}

export function statusText(report: StatusReport, opts: TextOptions = {}): string {
  const lines: string[] = [];
  const verdict = report.state === 'not-deployed' ? '✗ not deployed' : report.healthy ? '✓ healthy' : '✗ unhealthy';
  lines.push(`${report.app} ${report.env} (${report.region}) — ${verdict}`);
  if (report.url) lines.push(`url: ${report.url}`);
  if (report.metrics.error) lines.push(`! metrics unavailable: ${report.metrics.error}`);
  const { current, previous, lock } = report.releases;
  if (current) {
    lines.push(
      `release: ${current.sha ?? '?'} by ${current.deployer} at ${current.finishedAt ?? current.startedAt} (${current.kind})`,
    );
  }
  if (previous.length) {
    lines.push(
      `previous: ${previous.map((r) => `${r.sha ?? '?'} ${r.outcome}${r.kind === 'rollback' ? ' (rollback)' : ''}`).join(', ')}`,
    );
  }
  if (lock) {
    lines.push(
      `lock: held by ${lock.holder} (${lock.command}) since ${lock.startedAt}${lock.expired ? ', expired' : `, until ${lock.expiresAt}`}`,
    );
  }
  for (const s of report.services) {
    lines.push('');
    const c = s.counts;
    lines.push(
      `${s.healthy ? '✓' : '✗'} ${s.name}  ${c.running}/${c.desired} running${c.pending ? `, ${c.pending} pending` : ''}  [${s.serviceStatus}]`,
    );
    for (const d of s.deployments) {
      const state = d.rolloutState ? ` ${d.rolloutState}` : '';
      lines.push(
        `    ${d.status.padEnd(7)} ${d.sha ?? `${shortTd(d.taskDefinition)}${d.shaNote ? ` ${d.shaNote}` : ''}`}${state}  ${d.running}/${d.desired} running${d.pending ? `, ${d.pending} pending` : ''}${d.failed ? `, ${d.failed} failed` : ''}  ${shortAge(d.ageSeconds)} old`,
      );
      if (d.rolloutStateReason && d.rolloutState !== 'COMPLETED') lines.push(`            ${d.rolloutStateReason}`);
    }
    if (s.targetGroupArn) {
      if (s.targets.length === 0) lines.push('    targets: none registered');
      for (const t of s.targets) {
        lines.push(`    target ${t.id}${t.port ? `:${t.port}` : ''} ${t.state}${t.reason ? ` (${t.reason})` : ''}`);
      }
    }
    for (const a of s.alarms) lines.push(`    alarm ${a.name}: ${a.state}`);
    for (const key of METRIC_KEYS) {
      const m = s.metrics[key];
      if (key !== 'cpu' && key !== 'memory' && !s.targetGroupArn) continue;
      lines.push(metricLine(key, m, report, opts));
    }
    if (s.events.length) {
      lines.push('    events:');
      for (const e of s.events) {
        lines.push(`      ${e.ago.padEnd(8)} ${e.message}${e.count > 1 ? ` (×${e.count})` : ''}`);
      }
    }
  }
  if (report.alarms.length) {
    lines.push('');
    for (const a of report.alarms) lines.push(`alarm ${a.name}: ${a.state}`);
  }
  if (report.problems.length) {
    lines.push('');
    lines.push('problems:');
    for (const p of report.problems) lines.push(`  - ${p}`);
  }
  if (report.hint) lines.push(`try: ${report.hint}`);
  return lines.join('\n');
}

function shortTd(arn: string): string {
  return arn.split('/').pop() ?? arn;
}
