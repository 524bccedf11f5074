/**
 * The local world's standalone tasks (RunTask / StopTask with real containers) and the awslogs log
 * driver (stdout/stderr shipped into CloudWatch Logs), observed with the AWS CLI v2 as a peer client.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerFargateTaskDefinition } from '../helpers/emulator.js';
import { awsCli, emu, resetWorld, waitFor } from '../helpers/localworld.js';
import { dockerOk, findGo, taskImage } from '../helpers/task-image.js';

const GO = findGo();
const CLUSTER = 'emu-run';
const GROUP = '/emu/run';

function subnet(): string {
  return awsCli(['ec2', 'describe-subnets', '--filters', 'Name=default-for-az,Values=true']).Subnets[0].SubnetId;
}

function register(image: string, group = GROUP, extra: Record<string, string> = {}): string {
  const container = {
    name: 'job',
    image,
    essential: true,
    environment: [{ name: 'FROM_DEF', value: 'def' }],
    logConfiguration: {
      logDriver: 'awslogs',
      options: { 'awslogs-group': group, 'awslogs-region': 'eu-west-1', 'awslogs-stream-prefix': 'jobs', ...extra },
    },
  };
  return registerFargateTaskDefinition('emu-job', [container]);
}

function runTask(td: string, command: string[]): string {
  return awsCli([
    'ecs',
    'run-task',
    '--cluster',
    CLUSTER,
    '--task-definition',
    td,
    '--launch-type',
    'FARGATE',
    '--started-by',
    'emu-test',
    '--network-configuration',
    JSON.stringify({ awsvpcConfiguration: { subnets: [subnet()], assignPublicIp: 'ENABLED' } }),
    '--overrides',
    JSON.stringify({ containerOverrides: [{ name: 'job', command }] }),
  ]).tasks[0].taskArn;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the AWS CLI
function task(arn: string): any {
  return awsCli(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', arn]).tasks[0];
}

const stopped = (arn: string) =>
  waitFor(() => (task(arn).lastStatus === 'STOPPED' ? task(arn) : false), { timeoutMs: 40_000, what: 'STOPPED' });

describe.skipIf(!GO || !dockerOk())('standalone tasks and the awslogs driver', () => {
  let image = '';
  beforeAll(() => {
    image = taskImage(GO!);
  }, 180_000);

  beforeEach(async () => {
    await resetWorld({ requireServiceLinkedRoles: false, runContainers: true });
    awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
  });

  it('RunTask runs the container with the command override; its exit code and output arrive', async () => {
    awsCli(['logs', 'create-log-group', '--log-group-name', GROUP]);
    const arn = runTask(register(image), ['/task', 'say', 'hello-from-job', 'exit', '7']);
    expect(task(arn).startedBy).toBe('emu-test');
    const t = await stopped(arn);
    expect(t.stopCode).toBe('EssentialContainerExited');
    expect(t.stoppedReason).toBe('Essential container in task exited');
    expect(t.containers[0].exitCode).toBe(7);
    const id = arn.split('/').pop();
    const events = awsCli(['logs', 'filter-log-events', '--log-group-name', GROUP]).events;
    expect(events.map((e: { message: string }) => e.message)).toEqual(
      expect.arrayContaining(['hello-from-job', 'stderr: hello-from-job']),
    );
    expect(new Set(events.map((e: { logStreamName: string }) => e.logStreamName))).toEqual(new Set([`jobs/job/${id}`]));
  }, 60_000);

  it('a missing log group fails the task as ECS does, unless awslogs-create-group (rule switchable)', async () => {
    const t = await stopped(runTask(register(image), ['/task', 'say', 'x']));
    expect(t.stopCode).toBe('TaskFailedToStart');
    expect(t.stoppedReason).toMatch(/^ResourceInitializationError: .*The specified log group does not exist/);

    const created = await stopped(runTask(register(image, GROUP, { 'awslogs-create-group': 'true' }), ['/task']));
    expect(created.containers[0].exitCode).toBe(0);
    expect(
      awsCli(['logs', 'describe-log-groups']).logGroups.map((g: { logGroupName: string }) => g.logGroupName),
    ).toEqual([GROUP]);

    await emu('config', { checkLogGroups: false });
    const off = await stopped(runTask(register(image, '/emu/absent'), ['/task', 'exit', '3']));
    expect(off.containers[0].exitCode).toBe(3);
  }, 90_000);

  it('an image that cannot be pulled stops the task with CannotPullContainerError', async () => {
    awsCli(['logs', 'create-log-group', '--log-group-name', GROUP]);
    const missing = image.replace(/@sha256:[0-9a-f]{64}$/, `@sha256:${'0'.repeat(64)}`);
    const t = await stopped(runTask(register(missing), ['/task']));
    expect(t.stopCode).toBe('TaskFailedToStart');
    expect(t.stoppedReason).toMatch(/^CannotPullContainerError: /);
    expect(t.containers[0].exitCode ?? null).toBeNull();
  }, 60_000);

  it('StopTask stops a running task (UserInitiated, the reason given)', async () => {
    awsCli(['logs', 'create-log-group', '--log-group-name', GROUP]);
    const arn = runTask(register(image), ['/task', 'say', 'started', 'sleep', '60']);
    await waitFor(() => task(arn).lastStatus === 'RUNNING', { timeoutMs: 30_000, what: 'RUNNING' });
    awsCli(['ecs', 'stop-task', '--cluster', CLUSTER, '--task', arn, '--reason', 'enough']);
    const t = await stopped(arn);
    expect(t.stopCode).toBe('UserInitiated');
    expect(t.stoppedReason).toBe('enough');
  }, 60_000);
});
