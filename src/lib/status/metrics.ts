/**
 * The metrics of `status`: ONE GetMetricData for every service's last hour (CPU, memory, requests,
 * target 5xx, p95 latency), normalised into series per service.
 */
import type { MetricDataQuery, MetricDataResult } from '@aws-sdk/client-cloudwatch';
import type { ResolvedEnvironment } from '../config/resolve.js';
import { clusterName, ecsServiceName } from '../desired/names.js';
import { arnSuffix } from '../observe/index.js';
import type { Session } from '../session.js';
import { METRIC_KEYS, type MetricKey, type MetricSeries } from './model.js';

export const METRIC_PERIOD_SECONDS = 60;

const METRIC_SPECS: Record<
  MetricKey,
  { namespace: string; metric: string; stat: string; unit: string; dims: 'ecs' | 'tg' }
> = {
  cpu: { namespace: 'AWS/ECS', metric: 'CPUUtilization', stat: 'Average', unit: 'Percent', dims: 'ecs' },
  memory: { namespace: 'AWS/ECS', metric: 'MemoryUtilization', stat: 'Average', unit: 'Percent', dims: 'ecs' },
  requests: { namespace: 'AWS/ApplicationELB', metric: 'RequestCount', stat: 'Sum', unit: 'Count', dims: 'tg' },
  target5xx: {
    namespace: 'AWS/ApplicationELB',
    metric: 'HTTPCode_Target_5XX_Count',
    stat: 'Sum',
    unit: 'Count',
    dims: 'tg',
  },
  p95: { namespace: 'AWS/ApplicationELB', metric: 'TargetResponseTime', stat: 'p95', unit: 'Seconds', dims: 'tg' },
};

/** The metric queries of every service, for ONE GetMetricData call (500 queries a call: 100 services). */
export function metricQueries(
  target: Pick<ResolvedEnvironment, 'name' | 'services'>,
  tgArns: Map<string, string>,
  lbArn: string | null,
): { queries: MetricDataQuery[]; ids: Map<string, { service: string; key: MetricKey }> } {
  const queries: MetricDataQuery[] = [];
  const ids = new Map<string, { service: string; key: MetricKey }>();
  target.services.forEach((svc, i) => {
    const tg = tgArns.get(svc.name);
    for (const key of METRIC_KEYS) {
      const spec = METRIC_SPECS[key];
      let dims: { Name: string; Value: string }[];
      if (spec.dims === 'ecs') {
        dims = [
          { Name: 'ClusterName', Value: clusterName(target) },
          { Name: 'ServiceName', Value: ecsServiceName(svc) },
        ];
      } else {
        if (!tg || !lbArn) continue;
        dims = [
          { Name: 'TargetGroup', Value: arnSuffix(tg) },
          { Name: 'LoadBalancer', Value: arnSuffix(lbArn) },
        ];
      }
      const id = `s${i}_${key}`;
      ids.set(id, { service: svc.name, key });
      queries.push({
        Id: id,
        MetricStat: {
          Metric: { Namespace: spec.namespace, MetricName: spec.metric, Dimensions: dims },
          Period: METRIC_PERIOD_SECONDS,
          Stat: spec.stat,
        },
        ReturnData: true,
      });
    }
  });
  return { queries, ids };
}

export function emptyMetrics(): Record<MetricKey, MetricSeries> {
  const one = (k: MetricKey): MetricSeries => ({
    stat: METRIC_SPECS[k].stat,
    unit: METRIC_SPECS[k].unit,
    timestamps: [],
    values: [],
    latest: null,
  });
  return {
    cpu: one('cpu'),
    memory: one('memory'),
    requests: one('requests'),
    target5xx: one('target5xx'),
    p95: one('p95'),
  };
}

export async function readMetrics(
  session: Session,
  tgArns: Map<string, string>,
  lbArn: string | null,
  start: Date,
  end: Date,
): Promise<Map<string, Record<MetricKey, MetricSeries>>> {
  const { queries, ids } = metricQueries(session.target, tgArns, lbArn);
  const out = new Map<string, Record<MetricKey, MetricSeries>>();
  if (queries.length === 0) return out;
  const { paginateGetMetricData } = await import('@aws-sdk/client-cloudwatch');
  const cw = await session.aws.get('cloudwatch');
  const results: MetricDataResult[] = [];
  const pages = paginateGetMetricData(
    { client: cw },
    { MetricDataQueries: queries, StartTime: start, EndTime: end, ScanBy: 'TimestampAscending' },
  );
  for await (const res of pages) results.push(...(res.MetricDataResults ?? []));
  for (const r of results) {
    const at = r.Id ? ids.get(r.Id) : undefined;
    if (!at) continue;
    const series = out.get(at.service) ?? emptyMetrics();
    const m = series[at.key];
    const points = (r.Timestamps ?? [])
      .map((t, i) => ({ t: new Date(t).toISOString(), v: r.Values?.[i] }))
      .filter((p): p is { t: string; v: number } => typeof p.v === 'number');
    // Paged results for the same id concatenate; keep time order.
    const merged = [...m.timestamps.map((t, i) => ({ t, v: m.values[i] as number })), ...points].sort((a, b) =>
      a.t.localeCompare(b.t),
    );
    m.timestamps = merged.map((p) => p.t);
    m.values = merged.map((p) => p.v);
    m.latest = merged.length ? (merged[merged.length - 1]?.v ?? null) : null;
    out.set(at.service, series);
  }
  return out;
}
