/** The human view of a plan's cost estimate: a line per component, now → planned, and the max. */
import type { Component, PlanCost } from '../../lib/cost/index.js';

const LABEL: Record<Component, string> = {
  fargate: 'Fargate tasks',
  'load-balancer': 'load balancer',
  'nat-gateway': 'NAT gateways',
  'vpc-endpoints': 'VPC endpoints',
  'public-ipv4': 'public IPv4',
  logs: 'CloudWatch Logs',
  alarms: 'alarms',
  'state-table': 'state table',
};

export const usd = (n: number) => `${n < 0 ? '-' : ''}$${Math.abs(n).toFixed(2)}`;
const signed = (n: number) => (n === 0 ? '±$0.00' : `${n > 0 ? '+' : '-'}$${Math.abs(n).toFixed(2)}`);

export function describeCost(c: PlanCost): string {
  const where = c.unpriced
    ? `${c.region}: not priced (${c.unpriced})`
    : c.carried
      ? `${c.region} carried from ${c.carried.from} × ${c.carried.multiplier.toFixed(2)}, an estimate`
      : c.region;
  const head = `Estimated monthly cost (${c.currency}, ${c.hoursPerMonth} h, prices of ${c.table.date}; ${where})`;
  // Columns: label, now, →, planned, delta, max, detail (now and → only where the plan changes the line).
  const rows = c.lines
    .filter((l) => l.desired !== 0 || l.max !== 0 || c.changes.some((x) => x.component === l.component && x.delta))
    .map((l) => {
      const ch = c.changes.find((x) => x.component === l.component);
      const moved = !!ch && ch.delta !== 0;
      return [
        LABEL[l.component],
        moved ? usd(ch.before) : '',
        moved ? '→' : '',
        usd(l.desired),
        moved ? signed(ch.delta) : '',
        l.max !== l.desired ? `max ${usd(l.max)}` : '',
        l.detail,
      ];
    });
  const moved = c.delta !== 0;
  const total = [
    'total',
    moved ? usd(c.before.total) : '',
    moved ? '→' : '',
    usd(c.total.desired),
    moved ? signed(c.delta) : '',
    c.total.max !== c.total.desired ? `max ${usd(c.total.max)}` : '',
    '',
  ];
  const all = [...rows, total];
  const last = 6;
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  // Columns no row uses (no change, no autoscaling) are left out.
  const fmt = (r: string[]) =>
    `  ${r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[0]!) : i === last ? cell : cell.padStart(widths[i]!)))
      .filter((_, i) => i === 0 || i === last || widths[i]! > 0)
      .join('  ')}`
      .replace(/ {2}→ {2}/g, ' → ')
      .trimEnd();
  return [
    head,
    ...rows.map(fmt),
    fmt(total),
    `  assumes ${c.assumptions.join('; ')}`,
    `  not included: ${c.excluded}`,
  ].join('\n');
}
