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
  const rows = c.lines
    .filter((l) => l.desired !== 0 || l.max !== 0 || c.changes.some((x) => x.component === l.component && x.delta))
    .map((l) => {
      const ch = c.changes.find((x) => x.component === l.component);
      return [
        LABEL[l.component],
        ch && ch.delta !== 0 ? `${usd(ch.before)} → ${usd(l.desired)}` : usd(l.desired),
        ch && ch.delta !== 0 ? signed(ch.delta) : '',
        l.max !== l.desired ? `max ${usd(l.max)}` : '',
        l.detail,
      ];
    });
  const total = [
    'total',
    c.delta !== 0 ? `${usd(c.before.total)} → ${usd(c.total.desired)}` : usd(c.total.desired),
    c.delta !== 0 ? signed(c.delta) : '',
    c.total.max !== c.total.desired ? `max ${usd(c.total.max)}` : '',
    '',
  ];
  const all = [...rows, total];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...all.map((r) => r[i]!.length)));
  // Columns no row uses (no change, no autoscaling) are left out.
  const fmt = (r: string[]) =>
    `  ${r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[0]!) : i === 4 ? cell : cell.padStart(widths[i]!)))
      .filter((_, i) => i === 0 || i === 4 || widths[i]! > 0)
      .join('  ')}`.trimEnd();
  return [head, ...rows.map(fmt), fmt(total), `  assumes ${c.assumptions.join('; ')}; ${c.excluded}`].join('\n');
}
