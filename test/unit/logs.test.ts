import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { colourOf, logLineText } from '../../src/cli/format/logs.js';
import { parseStream, SeenWindow, toLine } from '../../src/lib/logs/index.js';
import { lastStoppedTask } from '../../src/lib/logs/stopped.js';
import { openSession } from '../../src/lib/session.js';
import { awsMock, restoreAwsMocks, testClients } from '../helpers/aws-mock.js';

afterAll(() => restoreAwsMocks());

describe('logs', () => {
  it('parses awslogs stream names (prefix/container/task-id)', () => {
    expect(parseStream('web/web/0123abcd')).toEqual({ container: 'web', taskId: '0123abcd' });
    expect(parseStream('a/b/sidecar/ff00')).toEqual({ container: 'sidecar', taskId: 'ff00' });
    expect(parseStream('deadbeef')).toEqual({ container: '', taskId: 'deadbeef' });
  });

  it('turns events into lines with ISO time, task and container', () => {
    const line = toLine('web', { timestamp: 0, logStreamName: 'web/web/abc', message: 'hi\n', eventId: '7' });
    expect(line).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      timestamp: 0,
      service: 'web',
      container: 'web',
      taskId: 'abc',
      message: 'hi',
      eventId: '7',
    });
    expect(logLineText(line, false)).toBe('1970-01-01T00:00:00.000Z web/abc web | hi');
    expect(logLineText(line, true)).toBe(`1970-01-01T00:00:00.000Z \x1b[${colourOf('abc')}mweb/abc web\x1b[0m | hi`);
  });

  it('remembers at most its window of event ids (bounded memory for --follow)', () => {
    const seen = new SeenWindow(3);
    expect(['a', 'b', 'c', 'a'].map((id) => seen.add(id))).toEqual([true, true, true, false]);
    expect(seen.add('d')).toBe(true);
    expect(seen.size).toBe(3);
    expect(seen.add('a')).toBe(true); // forgotten: the oldest left the window
    expect(seen.add('d')).toBe(false);
  });
});

describe('lastStoppedTask on one session (status --watch)', () => {
  const NOW = Date.parse('2026-12-01T12:00:00Z');
  const arn = (id: string) => `arn:aws:ecs:eu-west-1:123456789012:task/shop-prod/${id}`;
  const stopped = (id: string, agoMs: number) => ({
    taskArn: arn(id),
    lastStatus: 'STOPPED',
    desiredStatus: 'STOPPED',
    stopCode: 'EssentialContainerExited' as const,
    stoppedReason: 'Essential container in task exited',
    stoppedAt: new Date(NOW - agoMs),
    containers: [{ name: 'web', exitCode: 2 }],
  });

  async function session() {
    const s = await openSession({
      config: {
        app: 'shop',
        region: 'eu-west-1',
        services: { web: { image: 'nginx:1.27', port: 8080 } },
        environments: { prod: {} },
      } as never,
      env: 'prod',
    });
    return { ...s, aws: testClients() };
  }

  it('describes each stopped task once and reads a final tail once; a newly stopped task is read', async () => {
    const ecs = awsMock(ECSClient);
    const logs = awsMock(CloudWatchLogsClient);
    ecs.on(ListTasksCommand).resolves({ taskArns: [arn('a1')] });
    ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.map((t) => stopped(t.split('/').pop()!, t.endsWith('b2') ? 1_000 : 60_000)),
    }));
    logs.on(GetLogEventsCommand).resolves({ events: [{ message: 'bad LOG_LEVEL\n' }] });
    const s = await session();
    const svc = s.target.services[0]!;
    const first = await lastStoppedTask(s, svc, () => NOW);
    expect(first).toMatchObject({ taskId: 'a1', exitCode: 2, logTail: ['bad LOG_LEVEL'] });
    const again = await lastStoppedTask(s, svc, () => NOW + 5_000);
    expect(again).toEqual(first);
    expect([ecs.commandCalls(ListTasksCommand).length, ecs.commandCalls(DescribeTasksCommand).length]).toEqual([2, 1]);
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(1);

    // A task that stopped a second ago: described (alone), its tail read, and read again next time.
    ecs.on(ListTasksCommand).resolves({ taskArns: [arn('b2'), arn('a1')] });
    expect(await lastStoppedTask(s, svc, () => NOW)).toMatchObject({ taskId: 'b2' });
    expect(ecs.commandCalls(DescribeTasksCommand)[1]!.args[0].input.tasks).toEqual([arn('b2')]);
    await lastStoppedTask(s, svc, () => NOW);
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(3);
    expect(ecs.commandCalls(DescribeTasksCommand)).toHaveLength(2);

    // Another session starts afresh.
    await lastStoppedTask(await session(), svc, () => NOW);
    expect(ecs.commandCalls(DescribeTasksCommand)).toHaveLength(3);
  });
});
