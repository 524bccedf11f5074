/**
 * CloudWatch alarms: the load balancer's 5xx, and per service target 5xx, unhealthy hosts, CPU, memory.
 * With a progressive strategy the target-group alarms are made for both target groups of the pair
 * (`-b` twins on `<svc>-b`): ECS puts the new revision on whichever one is not serving, and the
 * service's deploymentConfiguration.alarms lists both, so a green revision answering 5xx or failing
 * health checks during test traffic, a canary step or the bake makes ECS roll back.
 */
import {
  DeleteAlarmsCommand,
  type MetricAlarm,
  PutMetricAlarmCommand,
  paginateDescribeAlarms,
} from '@aws-sdk/client-cloudwatch';
import { type ApplyContext, lbArn, tagList, tgArn } from '../apply/context.js';
import { isProgressive } from '../config/resolve.js';
import * as n from '../desired/names.js';
import type { Alarm, DesiredState, Tags } from '../desired/types.js';
import { allPages, arnSuffix, ofKind, type ResourceKind } from './kind.js';

type Spec = Pick<
  Alarm,
  'namespace' | 'metricName' | 'statistic' | 'dimensions' | 'comparison' | 'threshold' | 'evaluationPeriods'
>;

function alarmOf(name: string, tags: Tags, topic: string | null, spec: Spec, service?: string): Alarm {
  return {
    kind: 'alarm',
    name,
    ...(service ? { service } : {}),
    tags,
    ...spec,
    periodSeconds: 60,
    treatMissingData: 'notBreaching',
    actions: topic ? [topic] : [],
  };
}

/** Alarm names patchwork may own for this desired state (including kinds switched off in config). */
export function alarmCandidates(desired: DesiredState): Set<string> {
  const out = new Set<string>([`${desired.env.name}-alb-5xx`]);
  for (const s of ofKind(desired, 'ecs-service')) {
    for (const what of n.SERVICE_ALARM_SUFFIXES) out.add(`${s.name}-${what}`);
  }
  return out;
}

function dimensionName(name: string, value: string): string {
  if (name === 'LoadBalancer') return value.split('/')[1] ?? value;
  if (name === 'TargetGroup') return value.split('/')[1] ?? value;
  return value;
}

async function putAlarm(ctx: ApplyContext, want: Alarm): Promise<void> {
  const cw = await ctx.aws.get('cloudwatch');
  const dims = Object.entries(want.dimensions).map(([Name, v]) => ({
    Name,
    Value: Name === 'LoadBalancer' ? arnSuffix(lbArn(ctx, v)) : Name === 'TargetGroup' ? arnSuffix(tgArn(ctx, v)) : v,
  }));
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: want.name,
      AlarmDescription: `patchwork: ${want.metricName} ${want.comparison} ${want.threshold}`,
      Namespace: want.namespace,
      MetricName: want.metricName,
      Statistic: want.statistic as 'Sum',
      Dimensions: dims,
      Period: want.periodSeconds,
      EvaluationPeriods: want.evaluationPeriods,
      Threshold: want.threshold,
      ComparisonOperator: want.comparison as 'GreaterThanThreshold',
      TreatMissingData: want.treatMissingData,
      AlarmActions: want.actions,
      OKActions: want.actions,
      Tags: tagList(want.tags),
    }),
  );
}

export const alarm: ResourceKind<'alarm'> = {
  kind: 'alarm',
  desired: {
    environment: ({ target }) => {
      const alarms = target.alarms;
      if (alarms?.http5xxPerMinute == null) return [];
      return [
        alarmOf(`${target.name}-alb-5xx`, { ...target.tags }, alarms.snsTopicArn, {
          namespace: 'AWS/ApplicationELB',
          metricName: 'HTTPCode_ELB_5XX_Count',
          statistic: 'Sum',
          dimensions: { LoadBalancer: n.loadBalancerName(target) },
          comparison: 'GreaterThanOrEqualToThreshold',
          threshold: alarms.http5xxPerMinute,
          evaluationPeriods: 1,
        }),
      ];
    },
    service: ({ target }, svc) => {
      const alarms = target.alarms;
      if (!alarms) return [];
      const tags = { ...svc.tags };
      const topic = alarms.snsTopicArn;
      const ecsDims = { ClusterName: n.clusterName(target), ServiceName: n.ecsServiceName(svc) };
      const out: Alarm[] = [];
      const push = (what: n.ServiceAlarmSuffix, spec: Spec) =>
        out.push(alarmOf(n.serviceAlarmName(svc, what), tags, topic, spec));
      const pair: [string, '' | '-b'][] = [[n.targetGroupName(svc), '']];
      if (isProgressive(target.deploy.strategy)) pair.push([n.alternateTargetGroupName(svc), '-b']);
      for (const [tg, suffix] of pair) {
        const tgDims = { LoadBalancer: n.loadBalancerName(target), TargetGroup: tg };
        if (alarms.http5xxPerMinute !== null) {
          push(`target-5xx${suffix}`, {
            namespace: 'AWS/ApplicationELB',
            metricName: 'HTTPCode_Target_5XX_Count',
            statistic: 'Sum',
            dimensions: tgDims,
            comparison: 'GreaterThanOrEqualToThreshold',
            threshold: alarms.http5xxPerMinute,
            evaluationPeriods: 1,
          });
        }
        push(`unhealthy-hosts${suffix}`, {
          namespace: 'AWS/ApplicationELB',
          metricName: 'UnHealthyHostCount',
          statistic: 'Maximum',
          dimensions: tgDims,
          comparison: 'GreaterThanThreshold',
          threshold: alarms.unhealthyHosts ?? 0,
          evaluationPeriods: 2,
        });
      }
      if (alarms.cpuPercent !== null) {
        push('cpu', {
          namespace: 'AWS/ECS',
          metricName: 'CPUUtilization',
          statistic: 'Average',
          dimensions: ecsDims,
          comparison: 'GreaterThanOrEqualToThreshold',
          threshold: alarms.cpuPercent,
          evaluationPeriods: 3,
        });
      }
      if (alarms.memoryPercent !== null) {
        push('memory', {
          namespace: 'AWS/ECS',
          metricName: 'MemoryUtilization',
          statistic: 'Average',
          dimensions: ecsDims,
          comparison: 'GreaterThanOrEqualToThreshold',
          threshold: alarms.memoryPercent,
          evaluationPeriods: 3,
        });
      }
      return out;
    },
  },
  observe: {
    async read({ aws, desired, add }) {
      const candidates = alarmCandidates(desired);
      if (!candidates.size) return;
      const cw = await aws.get('cloudwatch');
      const pages = await allPages(
        paginateDescribeAlarms(
          { client: cw },
          { AlarmNamePrefix: `${desired.env.name}-`, AlarmTypes: ['MetricAlarm'] },
        ),
      );
      const alarms: MetricAlarm[] = pages.flatMap((p) =>
        (p.MetricAlarms ?? []).filter((a) => candidates.has(a.AlarmName ?? '')),
      );
      const desiredAlarms = ofKind(desired, 'alarm');
      for (const a of alarms) {
        const want = desiredAlarms.find((d) => d.name === a.AlarmName);
        const svc =
          want?.service ?? ofKind(desired, 'ecs-service').find((s) => a.AlarmName!.startsWith(`${s.name}-`))?.service;
        add({
          kind: 'alarm',
          name: a.AlarmName!,
          ...(svc ? { service: svc } : {}),
          id: a.AlarmArn ?? a.AlarmName!,
          // Tags are written with PutMetricAlarm; reading them back costs a call per alarm.
          tags: want?.tags ?? {},
          namespace: a.Namespace ?? '',
          metricName: a.MetricName ?? '',
          statistic: a.Statistic ?? '',
          dimensions: Object.fromEntries(
            (a.Dimensions ?? [])
              .map((d) => [d.Name!, dimensionName(d.Name!, d.Value ?? '')])
              .sort(([x], [y]) => x!.localeCompare(y!)),
          ),
          comparison: a.ComparisonOperator ?? '',
          threshold: a.Threshold ?? 0,
          periodSeconds: a.Period ?? 0,
          evaluationPeriods: a.EvaluationPeriods ?? 0,
          treatMissingData: a.TreatMissingData ?? 'missing',
          actions: [...(a.AlarmActions ?? [])].sort(),
        });
      }
    },
  },
  fields: {
    update: [
      'namespace',
      'metricName',
      'statistic',
      'dimensions',
      'comparison',
      'threshold',
      'periodSeconds',
      'evaluationPeriods',
      'treatMissingData',
      'actions',
    ],
    replace: [],
  },
  // Named after a configured service.
  orphan: () => true,
  create: putAlarm,
  update: (ctx, want) => putAlarm(ctx, want),
  async delete(ctx, have) {
    const cw = await ctx.aws.get('cloudwatch');
    await cw.send(new DeleteAlarmsCommand({ AlarmNames: [have.name] }));
  },
};
