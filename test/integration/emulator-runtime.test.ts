/**
 * The Fargate task runtime of the local world (test/emulator/pwemu/runtime.py, README "The Fargate
 * task runtime"): a task's containers run with what the task definition says. The AWS CLI registers
 * the task definitions and runs them through a service; `docker inspect`/`docker logs` and
 * describe-tasks observe. The image: a static busybox on scratch, in the local registry.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createFargateService,
  createTargetGroup,
  defaultNetwork,
  registerFargateTaskDefinition,
  serviceTasks,
  webTarget,
} from '../helpers/emulator.js';
import { awsCli, emu, localWorld, resetWorld, waitFor } from '../helpers/localworld.js';

const CLUSTER = 'rt';
const BUSYBOX = '/usr/bin/busybox';
const DOCKER_OK = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const HAVE_BUSYBOX =
  existsSync(BUSYBOX) && /statically linked/.test(spawnSync('file', [BUSYBOX], { encoding: 'utf8' }).stdout ?? '');

// biome-ignore lint/suspicious/noExplicitAny: AWS CLI JSON
type Json = any;

/** Build `dir` as `tag` (optionally for another platform), push it, and return `repo@sha256:…`. */
function pushImage(dir: string, name: string, platform?: string): string {
  const tag = `${localWorld().registry}/${name}:test`;
  // --no-cache: the classic builder's cache ignores --platform (it would hand back the amd64 image).
  execFileSync('docker', ['build', '-q', '--no-cache', ...(platform ? ['--platform', platform] : []), '-t', tag, dir], {
    stdio: 'pipe',
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  execFileSync('docker', ['push', tag], { stdio: 'pipe' });
  const digests: string[] = JSON.parse(
    execFileSync('docker', ['inspect', '--format', '{{json .RepoDigests}}', tag], { encoding: 'utf8' }),
  );
  const pinned = digests.find((d) => d.startsWith(`${localWorld().registry}/${name}@sha256:`));
  expect(pinned).toBeTruthy();
  return pinned!;
}

/** scratch + static busybox as /bin/sh and /bin/busybox, a served /www/healthz, a world-writable /scratch. */
function busyboxContext(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-rt-'));
  copyFileSync(BUSYBOX, join(dir, 'busybox'));
  // COPY keeps the mode of what it copies (not of the directory named): /scratch comes in inside root/.
  mkdirSync(join(dir, 'root', 'www'), { recursive: true });
  writeFileSync(join(dir, 'root', 'www', 'healthz'), 'ok\n');
  mkdirSync(join(dir, 'root', 'scratch'));
  chmodSync(join(dir, 'root', 'scratch'), 0o1777);
  writeFileSync(
    join(dir, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nCOPY root/ /\nENTRYPOINT ["/bin/sh", "-c"]\n',
  );
  return dir;
}

/** What the web container does: report what it may write and who it is, then serve /www on $PORT. */
const WEB = [
  '(echo x > /rootfile) 2>/dev/null && echo ROOTW=ok || echo ROOTW=denied;',
  '(echo x > /scratch/f) 2>/dev/null && echo SCRATCHW=ok || echo SCRATCHW=denied;',
  '(echo x > /data/f) 2>/dev/null && echo DATAW=ok || echo DATAW=denied;',
  'echo UID=$(busybox id -u); echo NOFILE=$(ulimit -n);',
  'exec busybox httpd -f -p 127.0.0.1:$PORT -h /www',
].join(' ');

function register(family: string, containers: Json[], extra: string[] = []): string {
  return registerFargateTaskDefinition(family, containers, extra);
}

function runService(name: string, td: string): void {
  const net = defaultNetwork();
  const tg = createTargetGroup(net, `rt-${name}`);
  createFargateService({ cluster: CLUSTER, name, taskDefinition: td, network: net, loadBalancers: webTarget(tg) });
}

const tasks = (service: string, status: 'RUNNING' | 'STOPPED'): Json[] => serviceTasks(CLUSTER, service, status);

const stoppedTask = (service: string) =>
  waitFor(() => tasks(service, 'STOPPED').find((t) => t.lastStatus === 'STOPPED'), {
    timeoutMs: 30_000,
    intervalMs: 300,
    what: `${service}: a stopped task`,
  });

const runningTask = (service: string, ok: (t: Json) => boolean = () => true) =>
  waitFor(() => tasks(service, 'RUNNING').find((t) => t.lastStatus === 'RUNNING' && ok(t)), {
    timeoutMs: 40_000,
    intervalMs: 300,
    what: `${service}: a running task`,
  });

/** The docker container the world runs for `container` of the task. */
function containerOf(taskArn: string, container: string): string {
  const id = taskArn.split('/').pop()!;
  const out = execFileSync(
    'docker',
    ['ps', '-aq', '--filter', `label=patchwork.task=${id}`, '--filter', `label=patchwork.container=${container}`],
    { encoding: 'utf8' },
  ).trim();
  expect(out).not.toBe('');
  return out.split('\n')[0]!;
}

const web = (over: Json = {}) => ({
  name: 'web',
  image: '',
  essential: true,
  portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
  command: [WEB],
  ...over,
});

describe.skipIf(!DOCKER_OK || !HAVE_BUSYBOX)('the Fargate task runtime (real containers)', () => {
  let image = '';
  let armImage = '';

  beforeAll(() => {
    const ctx = busyboxContext();
    image = pushImage(ctx, 'rt-busybox');
    armImage = pushImage(ctx, 'rt-busybox-arm', 'linux/arm64');
  });

  beforeEach(async () => {
    await resetWorld({ consistencyLagSeconds: 0, requireServiceLinkedRoles: false, healthTimeoutSeconds: 20 });
    awsCli(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
  });

  it('applies user, read-only root (volumes writable), cpu/memory and ulimits as docker run options', async () => {
    const td = register(
      'rt-ro',
      [
        web({
          image,
          user: '65532',
          readonlyRootFilesystem: true,
          mountPoints: [
            { sourceVolume: 'scratch', containerPath: '/scratch' },
            { sourceVolume: 'data', containerPath: '/data' },
          ],
          ulimits: [{ name: 'nofile', softLimit: 1024, hardLimit: 2048 }],
        }),
      ],
      ['--volumes', JSON.stringify([{ name: 'scratch' }, { name: 'data' }])],
    );
    runService('ro', td);
    const task = await runningTask('ro');
    const cid = containerOf(task.taskArn, 'web');
    const hc = JSON.parse(execFileSync('docker', ['inspect', '--format', '{{json .}}', cid], { encoding: 'utf8' }));
    expect(hc.Config.User).toBe('65532');
    expect(hc.HostConfig.ReadonlyRootfs).toBe(true);
    expect(hc.HostConfig.NanoCpus).toBe(250_000_000);
    expect(hc.HostConfig.Memory).toBe(512 * 1024 * 1024);
    expect(hc.HostConfig.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    expect(hc.Mounts.map((m: Json) => m.Destination).sort()).toEqual(['/data', '/scratch']);
    const logs = execFileSync('docker', ['logs', cid], { encoding: 'utf8' });
    expect(logs).toContain('ROOTW=denied'); // read-only root
    expect(logs).toContain('SCRATCHW=ok'); // a volume seeded from the image's 1777 /scratch
    expect(logs).toContain('DATAW=denied'); // a path the image lacks: root-owned 0755, as Fargate bind mounts
    expect(logs).toContain('UID=65532');
    expect(logs).toContain('NOFILE=1024');

    // Switchable: without the runtime rules the root filesystem is writable.
    await emu('config', { applyTaskRuntime: false });
    const td2 = register('rt-ro', [web({ image, user: '65532', readonlyRootFilesystem: true })]);
    awsCli(['ecs', 'update-service', '--cluster', CLUSTER, '--service', 'ro', '--task-definition', td2]);
    const plain = await runningTask('ro', (t) => t.taskDefinitionArn === td2);
    const logs2 = execFileSync('docker', ['logs', containerOf(plain.taskArn, 'web')], { encoding: 'utf8' });
    expect(logs2).toContain('ROOTW=ok');
  });

  it('a non-root container asked to listen on port 80 stops: essential container exited, exit code 1', async () => {
    const td = register('rt-port', [
      web({ image, user: '65532', portMappings: [{ containerPort: 80, protocol: 'tcp' }] }),
    ]);
    createFargateService({ cluster: CLUSTER, name: 'port', taskDefinition: td, network: defaultNetwork() });
    const t = await stoppedTask('port');
    expect(t.stoppedReason).toBe('Essential container in task exited');
    expect(t.stopCode).toBe('EssentialContainerExited');
    expect(t.containers[0].exitCode).toBe(1);
    const note = (await emu('tasks?all=1')).tasks.find((x: Json) => x.taskArn === t.taskArn)?.note;
    expect(note).toMatch(/bind: permission denied/);
  });

  it('an arm64 image on an X86_64 task stops with exec format error (exit code 1)', async () => {
    const td = register(
      'rt-arch',
      [web({ image: armImage })],
      ['--runtime-platform', JSON.stringify({ cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' })],
    );
    runService('arch', td);
    const t = await stoppedTask('arch');
    expect(t.stoppedReason).toBe('Essential container in task exited');
    expect(t.containers[0].exitCode).toBe(1);
    const note = (await emu('tasks?all=1')).tasks.find((x: Json) => x.taskArn === t.taskArn)?.note;
    expect(note).toMatch(/exec format error/);
  });

  it('runs every container: dependsOn SUCCESS before the app, a non-essential exit does not stop the task, the health check sets healthStatus', async () => {
    const td = register('rt-side', [
      web({
        image,
        dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
        healthCheck: {
          command: ['CMD-SHELL', 'busybox wget -q -O- http://127.0.0.1:$PORT/healthz'],
          interval: 5,
          retries: 3,
          timeout: 3,
        },
      }),
      { name: 'init', image, essential: false, command: ['echo init done'] },
      { name: 'side', image, essential: false, command: ['sleep 3; exit 7'] },
      { name: 'logger', image, essential: false, command: ['exec sleep 600'] },
    ]);
    runService('side', td);
    const healthy = await runningTask('side', (t) => t.healthStatus === 'HEALTHY');
    const byName = (t: Json) => Object.fromEntries(t.containers.map((c: Json) => [c.name, c]));
    expect(byName(healthy).init).toMatchObject({ lastStatus: 'STOPPED', exitCode: 0 });
    expect(byName(healthy).web.healthStatus).toBe('HEALTHY');
    for (const c of ['web', 'init', 'side', 'logger']) containerOf(healthy.taskArn, c);
    const after = await waitFor(
      () => {
        const t = tasks('side', 'RUNNING').find((x) => x.taskArn === healthy.taskArn);
        return t && byName(t).side.lastStatus === 'STOPPED' ? t : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 300, what: 'the side container exited' },
    );
    expect(byName(after).side.exitCode).toBe(7);
    expect(after.lastStatus).toBe('RUNNING');
    expect(byName(after).logger.lastStatus).toBe('RUNNING');
  });

  it('an essential container whose health check fails stops the task (UNHEALTHY)', async () => {
    const td = register('rt-sick', [
      web({ image, healthCheck: { command: ['CMD-SHELL', 'exit 1'], interval: 5, retries: 2, timeout: 2 } }),
    ]);
    runService('sick', td);
    const t = await stoppedTask('sick');
    expect(t.stoppedReason).toBe('Task failed container health checks');
    expect(t.healthStatus).toBe('UNHEALTHY');
  });
});
