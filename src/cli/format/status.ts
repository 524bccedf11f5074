/**
 * The human view of a StatusReport: one screen, services first. Pure (returns a string); the CLI
 * decides where it goes. Sparklines in a terminal, plain numbers elsewhere.
 */
import {
  METRIC_KEYS,
  type MetricKey,
  type MetricSeries,
  type ServiceStatus,
  type StatusReport,
  shortAge,
  stoppedTaskLines,
} from '../../lib/status/model.js';
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

function verdictOf(report: StatusReport): string {
  return report.state === 'not-deployed' ? '✗ not deployed' : report.healthy ? '✓ healthy' : '✗ unhealthy';
}

function releaseLines(report: StatusReport): string[] {
  const lines: string[] = [];
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
  return lines;
}

function serviceHead(s: ServiceStatus): string {
  const c = s.counts;
  return `${s.healthy ? '✓' : '✗'} ${s.name}  ${c.running}/${c.desired} running${c.pending ? `, ${c.pending} pending` : ''}  [${s.serviceStatus}]`;
}

function deploymentLines(s: ServiceStatus): string[] {
  const lines: string[] = [];
  const d = s.delivery;
  if (d) {
    const split =
      d.productionWeight !== null
        ? `, production ${d.productionWeight}% / test ${d.testWeight ?? 0}% to the newest revision`
        : '';
    lines.push(
      `    strategy ${d.strategy}: ${d.status ?? 'no deployment yet'}${d.stage ? ` at ${d.stage}` : ''}${split}`,
    );
  }
  for (const d of s.deployments) {
    const state = d.rolloutState ? ` ${d.rolloutState}` : '';
    lines.push(
      `    ${d.status.padEnd(7)} ${d.sha ?? `${shortTd(d.taskDefinition)}${d.shaNote ? ` ${d.shaNote}` : ''}`}${state}  ${d.running}/${d.desired} running${d.pending ? `, ${d.pending} pending` : ''}${d.failed ? `, ${d.failed} failed` : ''}  ${shortAge(d.ageSeconds)} old`,
    );
    if (d.rolloutStateReason && d.rolloutState !== 'COMPLETED') lines.push(`            ${d.rolloutStateReason}`);
  }
  return lines;
}

function targetLines(s: ServiceStatus): string[] {
  if (!s.targetGroupArn) return [];
  if (s.targets.length === 0) return ['    targets: none registered'];
  return s.targets.map(
    (t) => `    target ${t.id}${t.port ? `:${t.port}` : ''} ${t.state}${t.reason ? ` (${t.reason})` : ''}`,
  );
}

/** One line for all targets: `targets: 2 healthy, 1 draining`. */
function targetSummary(s: ServiceStatus): string[] {
  if (!s.targetGroupArn) return [];
  if (s.targets.length === 0) return ['    targets: none registered'];
  const counts = new Map<string, number>();
  for (const t of s.targets) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  return [`    targets: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}`];
}

function metricLines(s: ServiceStatus, report: StatusReport, opts: TextOptions): string[] {
  return METRIC_KEYS.filter((key) => key === 'cpu' || key === 'memory' || s.targetGroupArn).map((key) =>
    metricLine(key, s.metrics[key], report, opts),
  );
}

function eventLines(s: ServiceStatus, limit = Number.POSITIVE_INFINITY): string[] {
  if (!s.events.length) return [];
  return [
    '    events:',
    ...s.events
      .slice(0, limit)
      .map((e) => `      ${e.ago.padEnd(8)} ${shortenArns(e.message)}${e.count > 1 ? ` (×${e.count})` : ''}`),
  ];
}

/**
 * Human event lines: every ARN shortened to its id (the last path segment, or the part after the
 * last `:`), so the message fits the screen (`(service-deployment arn:aws:ecs:…/QFD5…)` →
 * `(service-deployment QFD5…)`). `--json` keeps the full text.
 */
export function shortenArns(message: string): string {
  return message.replace(/arn:aws[a-z-]*:[^\s()[\]{},;"']+/g, (arn) => {
    const trail = /[.:]+$/.exec(arn)?.[0] ?? '';
    const body = arn.slice(0, arn.length - trail.length);
    const slash = body.lastIndexOf('/');
    const id = slash >= 0 ? body.slice(slash + 1) : body.slice(body.lastIndexOf(':') + 1);
    return (id || body) + trail;
  });
}

export function statusText(report: StatusReport, opts: TextOptions = {}): string {
  const lines: string[] = [];
  lines.push(`${report.app} ${report.env} (${report.region}) — ${verdictOf(report)}`);
  if (report.url) lines.push(`url: ${report.url}`);
  if (report.metrics.error) lines.push(`! metrics unavailable: ${report.metrics.error}`);
  lines.push(...releaseLines(report));
  for (const s of report.services) {
    lines.push('', serviceHead(s), ...deploymentLines(s), ...targetLines(s));
    for (const a of s.alarms) lines.push(`    alarm ${a.name}: ${a.state}`);
    lines.push(...stoppedLines(s), ...metricLines(s, report, opts), ...eventLines(s));
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

export interface ScreenOptions extends TextOptions {
  /** The terminal's height and width. */
  rows: number;
  cols: number;
  /** Lines the caller adds below the screen (the refresh stamp). */
  reserve?: number;
}

/** A piece of the screen: shown when its level fits. Pieces keep their order on screen. */
interface Piece {
  level: number;
  lines: string[];
}

/**
 * `status --watch` in a terminal: what the plain text says, fitted to the screen. The summary line
 * and the problems come first, unhealthy services before healthy ones; details (deployments, then
 * targets and alarms, events, metrics; healthy services' details last) are added level by level while
 * they fit, and a closing line says what was folded. Lines are cut to the width.
 */
export function statusScreen(report: StatusReport, opts: ScreenOptions): string {
  const full = statusText(report, opts);
  const budget = Math.max(3, opts.rows - (opts.reserve ?? 0));
  const cut = (l: string) => (l.length > opts.cols ? `${l.slice(0, Math.max(1, opts.cols - 1))}…` : l);
  const fullLines = full.split('\n');
  if (fullLines.length <= budget) return fullLines.map(cut).join('\n');

  const sick = report.services.filter((s) => !s.healthy);
  const well = report.services.filter((s) => s.healthy);
  const pieces: Piece[] = [
    {
      level: 0,
      lines: [
        `${report.app} ${report.env} (${report.region}) — ${verdictOf(report)}, ${well.length}/${report.services.length} services healthy`,
      ],
    },
  ];
  if (report.problems.length) {
    pieces.push({ level: 0, lines: report.problems.slice(0, 3).map((p) => `  - ${p}`) });
    if (report.problems.length > 3) pieces.push({ level: 2, lines: report.problems.slice(3).map((p) => `  - ${p}`) });
  }
  if (report.hint) pieces.push({ level: 0, lines: [`try: ${report.hint}`] });
  pieces.push({ level: 1, lines: releaseLines(report) });
  if (report.url) pieces.push({ level: 3, lines: [`url: ${report.url}`] });
  for (const s of sick) {
    pieces.push({ level: 0, lines: [serviceHead(s)] });
    pieces.push({ level: 1, lines: deploymentLines(s) });
    pieces.push({ level: 2, lines: [...targetSummary(s), ...s.alarms.map((a) => `    alarm ${a.name}: ${a.state}`)] });
    pieces.push({ level: 2, lines: stoppedLines(s) });
    pieces.push({ level: 3, lines: eventLines(s, 3) });
    pieces.push({ level: 5, lines: metricLines(s, report, opts) });
  }
  for (const s of well) {
    pieces.push({ level: 1, lines: [serviceHead(s)] });
    pieces.push({ level: 4, lines: deploymentLines(s) });
    pieces.push({ level: 6, lines: metricLines(s, report, opts) });
  }
  const count = (level: number) => pieces.filter((p) => p.level <= level).reduce((n, p) => n + p.lines.length, 0);
  // One line is kept for the note that says what was folded.
  let level = 0;
  while (level < 6 && count(level + 1) <= budget - 1) level++;
  let shown = pieces.filter((p) => p.level <= level).flatMap((p) => p.lines);
  if (shown.length > budget - 1) shown = shown.slice(0, budget - 1);
  const folded = fullLines.filter((l) => l !== '').length - shown.length;
  const note = `… ${Math.max(folded, 1)} more lines: resize the terminal or run \`patchwork status --env ${report.env}\``;
  return [...shown, note].map(cut).join('\n');
}

/** The newest task that stopped on its own (read for a service that is not healthy) and its log's last lines. */
function stoppedLines(s: ServiceStatus): string[] {
  return s.stoppedTask ? stoppedTaskLines(s.stoppedTask, '    ') : [];
}

function shortTd(arn: string): string {
  return arn.split('/').pop() ?? arn;
}
