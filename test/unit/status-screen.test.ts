import { describe, expect, it } from 'vitest';
import { shortenArns, statusScreen, statusText } from '../../src/cli/format/status.js';
import type { MetricSeries, ServiceStatus, StatusReport } from '../../src/lib/status/model.js';

const series = (): MetricSeries => ({ stat: 'Average', unit: 'Percent', timestamps: [], values: [], latest: null });
const metrics = () => ({ cpu: series(), memory: series(), requests: series(), target5xx: series(), p95: series() });

function service(name: string, healthy: boolean, events = 8): ServiceStatus {
  return {
    name,
    fullName: `shop-prod-${name}`,
    serviceStatus: 'ACTIVE',
    taskDefinition: `arn:aws:ecs:eu-west-1:1:task-definition/shop-prod-${name}:3`,
    counts: { running: healthy ? 2 : 1, desired: 2, pending: healthy ? 0 : 1 },
    deployments: [
      {
        id: 'ecs-svc/1',
        status: 'PRIMARY',
        taskDefinition: `shop-prod-${name}:3`,
        sha: 'abc1234',
        shaSource: 'release',
        shaNote: null,
        rolloutState: healthy ? 'COMPLETED' : 'IN_PROGRESS',
        rolloutStateReason: null,
        createdAt: null,
        ageSeconds: 600,
        desired: 2,
        running: healthy ? 2 : 1,
        pending: 0,
        failed: 0,
      },
    ],
    events: Array.from({ length: events }, (_, i) => ({
      at: '2026-12-01T10:00:00Z',
      ago: `${i + 1}m ago`,
      message: `(service shop-prod-${name}) event number ${i} with a long message that is wider than eighty columns of any terminal`,
      count: 1,
    })),
    targetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/shop-prod-${name}/abc`,
    targets: [
      { id: '10.0.0.1', port: 8080, state: 'healthy', reason: null, description: null },
      { id: '10.0.0.2', port: 8080, state: healthy ? 'healthy' : 'unhealthy', reason: null, description: null },
    ],
    alarms: [{ name: `shop-prod-${name}-cpu`, state: 'OK', reason: null, updatedAt: null }],
    metrics: metrics(),
    deployed: true,
    healthy,
    problems: healthy ? [] : [`${name}: 1/2 running`],
    stoppedTask: null,
  };
}

function report(services: ServiceStatus[]): StatusReport {
  return {
    schemaVersion: 1,
    app: 'shop',
    env: 'prod',
    region: 'eu-west-1',
    generatedAt: '2026-12-01T10:00:30Z',
    url: 'http://shop-prod-1.eu-west-1.elb.amazonaws.com',
    state: services.every((s) => s.healthy) ? 'healthy' : 'unhealthy',
    healthy: services.every((s) => s.healthy),
    hint: null,
    problems: services.flatMap((s) => s.problems),
    services,
    alarms: [],
    metrics: { periodSeconds: 60, start: '2026-12-01T09:00:30Z', end: '2026-12-01T10:00:30Z', error: null },
    releases: { current: null, previous: [], lock: null },
  } as StatusReport;
}

describe('status --watch fitted to the terminal', () => {
  it('a report that fits is the plain text, lines cut to the width', () => {
    const r = report([service('web', true, 1)]);
    const screen = statusScreen(r, { rows: 200, cols: 80, reserve: 2 });
    const plain = statusText(r).split('\n');
    expect(screen.split('\n')).toHaveLength(plain.length);
    for (const line of screen.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(screen).toMatch(/^ {6}1m ago +\(service shop-prod-web\) event number 0 with a long message that …$/m);
  });

  it('two services with many events in 24 rows: the summary first, the unhealthy service before the healthy one, a note of what was folded', () => {
    const r = report([service('web', true), service('api', false)]);
    expect(statusText(r, { sparklines: true }).split('\n').length).toBeGreaterThan(40);
    const lines = statusScreen(r, { rows: 24, cols: 80, reserve: 2, sparklines: true }).split('\n');
    expect(lines.length).toBeLessThanOrEqual(22);
    expect(lines[0]).toBe('shop prod (eu-west-1) — ✗ unhealthy, 1/2 services healthy');
    expect(lines[1]).toBe('  - api: 1/2 running');
    const api = lines.findIndex((l) => l.startsWith('✗ api'));
    const web = lines.findIndex((l) => l.startsWith('✓ web'));
    expect(api).toBeGreaterThan(0);
    expect(web).toBeGreaterThan(api);
    // The unhealthy service keeps its deployment and a target summary; its events are cut to 3.
    expect(lines).toContain('    targets: 1 healthy, 1 unhealthy');
    expect(lines.filter((l) => l.includes('(service shop-prod-api)'))).toHaveLength(3);
    expect(lines.some((l) => l.includes('(service shop-prod-web)'))).toBe(false);
    expect(lines.at(-1)).toMatch(/^… \d+ more lines: resize the terminal or run `patchwork status --env prod`$/);
  });

  it('a tiny terminal still shows the verdict and the problems, never more rows than it has', () => {
    const r = report([service('web', false), service('api', false), service('worker', false)]);
    for (const rows of [5, 8, 12]) {
      const lines = statusScreen(r, { rows, cols: 40, reserve: 2 }).split('\n');
      expect(lines.length).toBeLessThanOrEqual(Math.max(3, rows - 2));
      expect(lines[0]).toContain('✗ unhealthy');
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(40);
    }
  });
});

describe('event lines name ARNs by their id (human output only)', () => {
  const arnMessage =
    '(service shop-prod-web) (service-deployment arn:aws:ecs:eu-west-1:123456789012:service-deployment/shop-prod/shop-prod-web/QFD5wjzMqY4VBxyz) is in the canary stage: 10% of traffic on task set arn:aws:ecs:eu-west-1:1:task-set/c/s/ecs-svc/77.';

  it('shortenArns keeps the message, turning each ARN into its last path segment (or resource after the last colon)', () => {
    expect(shortenArns(arnMessage)).toBe(
      '(service shop-prod-web) (service-deployment QFD5wjzMqY4VBxyz) is in the canary stage: 10% of traffic on task set 77.',
    );
    expect(shortenArns('role arn:aws:iam::1:role/deep/path/r1, topic arn:aws:sns:us-east-1:1:alerts')).toBe(
      'role r1, topic alerts',
    );
    expect(shortenArns('no arn here: arnold')).toBe('no arn here: arnold');
  });

  it('at 160 columns the message itself shows in plain status and in the watch screen; the report (--json) keeps the full ARN', () => {
    const svc = service('web', false, 1);
    svc.events[0]!.message = arnMessage;
    const r = report([svc]);
    const plain = statusText(r);
    expect(plain).toContain('(service-deployment QFD5wjzMqY4VBxyz) is in the canary stage');
    expect(plain).not.toContain('arn:aws:ecs:eu-west-1:123456789012:service-deployment');
    const screen = statusScreen(r, { rows: 200, cols: 160, reserve: 2 });
    expect(screen).toMatch(/\(service-deployment QFD5wjzMqY4VBxyz\) is in the canary stage/);
    expect(JSON.stringify(r)).toContain('service-deployment/shop-prod/shop-prod-web/QFD5wjzMqY4VBxyz');
  });
});
