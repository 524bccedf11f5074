/**
 * patchwork's task definitions on the world's Fargate runtime (emulator-runtime.test.ts shows the
 * world's rules): the webapp deployed with the defaults runs read-only as 65532 with a writable
 * /tmp; a non-root user on port 80 is refused before any AWS call; an arm64-only image for an
 * `image:` service gets ARM64 (and its own USER) in the registered task definition.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, emu, localWorld, settleEcsReads } from '../helpers/localworld.js';
import { copyWebapp, webappConfig } from '../helpers/webapp.js';

const app = `tr${Date.now().toString(36)}`;
const BUSYBOX = '/usr/bin/busybox';
let root = '';
let env: NodeJS.ProcessEnv;

/** `docker build` (classic builder, no cache: its cache ignores --platform), push, and the pinned ref. */
function pushImage(dir: string, name: string, platform?: string): string {
  const tag = `${localWorld().registry}/${name}:test`;
  execFileSync('docker', ['build', '-q', '--no-cache', ...(platform ? ['--platform', platform] : []), '-t', tag, dir], {
    stdio: 'pipe',
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  execFileSync('docker', ['push', tag], { stdio: 'pipe' });
  const digests: string[] = JSON.parse(
    execFileSync('docker', ['inspect', '--format', '{{json .RepoDigests}}', tag], { encoding: 'utf8' }),
  );
  return digests.find((d) => d.startsWith(`${localWorld().registry}/${name}@sha256:`))!;
}

describe('task runtime: what patchwork registers runs on Fargate', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await emu('config', undefined, 'DELETE'); // every rule on, the Fargate runtime included
    const world = localWorld();
    env = isolatedEnv({
      AWS_ENDPOINT_URL: world.endpoint,
      AWS_ACCESS_KEY_ID: world.accessKeyId,
      AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    });
    root = mkdtempSync(join(tmpdir(), 'pw-runtime-it-'));
    copyWebapp(root);
    writeFileSync(
      join(root, 'patchwork.yml'),
      webappConfig({ app, deploy: '{ pollSeconds: 1, timeoutSeconds: 120 }' }),
    );
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
  }, 1_200_000);

  afterAll(async () => {
    for (const cfg of ['patchwork.yml', 'arm.yml']) {
      if (root && existsSync(join(root, cfg)))
        await runCli(['destroy', '-e', 'it', '--yes', '-c', cfg], { cwd: root, env, timeoutMs: 180_000 }).catch(
          () => {},
        );
    }
    if (root) rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it('the webapp deployed with the defaults runs read-only as 65532, with /tmp a writable volume', async () => {
    const prov = await runCli(['provision', '-e', 'it', '--json', '--yes'], { cwd: root, env, timeoutMs: 180_000 });
    expect(prov.code, prov.stderr).toBe(0);
    const run = await runCli(['deploy', '-e', 'it', '--json'], { cwd: root, env, timeoutMs: 300_000 });
    expect(run.code, run.stderr).toBe(0);

    const svc = awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', `${app}-it-web`])
      .services[0];
    const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition;
    expect(td.volumes).toEqual(
      [{ name: 'writable-tmp', host: {} }].map((v) => expect.objectContaining({ name: v.name })),
    );
    expect(td.containerDefinitions[0]).toMatchObject({
      readonlyRootFilesystem: true,
      user: '65532:65532', // the image's own non-root USER
      mountPoints: [{ sourceVolume: 'writable-tmp', containerPath: '/tmp', readOnly: false }],
    });

    const task = (await emu('tasks', undefined, 'GET')).tasks.find(
      (t: { service: string; lastStatus: string }) => t.service === `${app}-it-web` && t.lastStatus === 'RUNNING',
    );
    expect(task?.mode).toBe('real');
    const inspected = JSON.parse(
      execFileSync('docker', ['inspect', '--format', '{{json .}}', task.containerId], { encoding: 'utf8' }),
    );
    expect(inspected.Config.User).toBe('65532:65532');
    expect(inspected.HostConfig.ReadonlyRootfs).toBe(true);
    expect(inspected.Mounts.map((m: { Destination: string }) => m.Destination)).toEqual(['/tmp']);

    // The image has no shell: a static busybox in another container, as 65532 with the task's volumes,
    // writes /tmp (the volume, seeded from the image's 1777 /tmp) — and cannot write its own read-only root.
    if (existsSync(BUSYBOX)) {
      const ctx = mkdtempSync(join(tmpdir(), 'pw-bb-'));
      copyFileSync(BUSYBOX, join(ctx, 'busybox'));
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/sh\n');
      const bb = `${app}-probe:local`;
      execFileSync('docker', ['build', '-q', '-t', bb, ctx], {
        stdio: 'pipe',
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      });
      const probe = spawnSync(
        'docker',
        [
          'run',
          '--rm',
          '--network',
          'none',
          '--read-only',
          '--user',
          '65532',
          '--volumes-from',
          task.containerId,
          '--entrypoint',
          '/bin/sh',
          bb,
          '-c',
          'echo x > /tmp/probe && echo TMP=ok; (echo x > /probe) 2>/dev/null && echo ROOT=ok || echo ROOT=denied',
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      execFileSync('docker', ['rmi', '-f', bb], { stdio: 'ignore' });
      expect(probe.stdout).toContain('TMP=ok');
      expect(probe.stdout).toContain('ROOT=denied');
    }
  }, 900_000);

  it('a non-root user with port 80 is refused: exit 2, file:line and the way out, zero AWS calls', async () => {
    writeFileSync(
      join(root, 'port80.yml'),
      webappConfig({ app, deploy: '{}' }).replace('    port: 8080\n', '    port: 80\n    user: "1000"\n'),
    );
    for (const verb of [['provision', '--yes'], ['deploy']]) {
      const run = await runCli([...verb, '-e', 'it', '--json', '-c', 'port80.yml'], { cwd: root, env });
      expect(run.code, run.stderr).toBe(2);
      expect(run.result.error?.code).toBe('PW_CONFIG_INVALID');
      expect(String(run.result.error?.message)).toMatch(
        /port80\.yml:\d+ services\.web\.port: port 80 is below 1024 and the container runs as user 1000.*a port of 1024 or more \(e\.g\. 8080\), or user: root/,
      );
      expect(run.result.apiCalls?.total).toBe(0);
    }
  });

  it('an arm64-only image for an image: service gets ARM64 and its own USER in the registered task definition', async () => {
    const ctx = mkdtempSync(join(tmpdir(), 'pw-arm-'));
    writeFileSync(join(ctx, 'hello'), 'arm64 only\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\nUSER 1000:1000\nENTRYPOINT ["/hello"]\n');
    const image = pushImage(ctx, `${app}-vendor-arm`, 'linux/arm64');
    expect(image).toBeTruthy();
    const world = localWorld();
    writeFileSync(
      join(root, 'arm.yml'),
      [
        `app: ${app}a`,
        `region: ${world.region}`,
        `registry: "${world.registry}"`,
        'services:',
        '  vendor:',
        `    image: ${image}`,
        '    port: 8080',
        'environments:',
        '  it: { desiredCount: 1 }',
        '',
      ].join('\n'),
    );
    const prov = await runCli(['provision', '-e', 'it', '--json', '--yes', '-c', 'arm.yml'], {
      cwd: root,
      env,
      timeoutMs: 180_000,
    });
    expect(prov.code, prov.stderr).toBe(0);
    await settleEcsReads(); // the service was just created: ECS reads lag
    const svc = awsCli(['ecs', 'describe-services', '--cluster', `${app}a-it`, '--services', `${app}a-it-vendor`])
      .services[0];
    const td = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition;
    expect(td.runtimePlatform).toEqual({ cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' });
    expect(td.containerDefinitions[0].user).toBe('1000:1000');
    expect(prov.events.some((e) => e.type === 'warning' && e.code === 'PW_IMAGE_RUNS_AS_ROOT')).toBe(false);
    // A rerun plans nothing: the platform read from the image is what AWS holds.
    const again = await runCli(['provision', '-e', 'it', '--json', '--dry-run', '-c', 'arm.yml'], {
      cwd: root,
      env,
      timeoutMs: 180_000,
    });
    expect(again.code, again.stderr).toBe(0);
    const planned = again.events.find((e) => e.type === 'data' && e.kind === 'plan') as { data: { pending: boolean } };
    expect(planned.data.pending).toBe(false);
  }, 600_000);
});
