/**
 * Ctrl-C in a real terminal (util-linux `script`: the ^C goes through the pty's line discipline as
 * a user's would): 20 deploys interrupted at different phases — while building, while registering
 * the task definition, while waiting for the rollout. After each: exit 130, no lock left (the next
 * deploy starts, never exit 5), its release recorded `interrupted`, none left `in-progress`. Then a
 * deploy runs to the end.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, resetWorld } from '../helpers/localworld.js';
import { runInPty } from '../helpers/pty.js';
import { webappProject } from '../helpers/webapp.js';

const app = `cc${Date.now().toString(36)}`;
let root = '';
let baseImage = '';
let env: NodeJS.ProcessEnv;
const cli = (args: string[]) => runCli([...args, '-e', 'it'], { cwd: root, env, timeoutMs: 300_000 });

interface Rec {
  id: string;
  outcome: string;
  sha: string | null;
}
async function history(): Promise<{ releases: Rec[]; lock: unknown }> {
  const r = await cli(['releases', '--json', '--limit', '50']);
  expect(r.code, r.stderr).toBe(0);
  return r.result as unknown as { releases: Rec[]; lock: unknown };
}

describe('Ctrl-C during deploys in a terminal', () => {
  const shas: string[] = [];
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await resetWorld();
    // keepReleases is larger than the trials: every interrupted record must still be there to check.
    ({ root, env } = webappProject({
      app,
      deploy: '{ pollSeconds: 1, timeoutSeconds: 120, keepReleases: 40 }',
      prefix: 'pw-ctrlc-it-',
    }));
    expect((await cli(['provision', '--yes'])).code).toBe(0);
    const first = await cli(['deploy', '--yes']);
    expect(first.code, first.stderr).toBe(0);
    shas.push(git(root, 'rev-parse', 'HEAD'));
    // Later builds start FROM the first image: a build is a real build and push, but quick.
    const svc = awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', `${app}-it-web`])
      .services[0];
    baseImage = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition
      .containerDefinitions[0].image as string;
    writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${baseImage}\nLABEL patchwork.test.variant="two"\n`);
    git(root, 'commit', '-q', '-am', 'two');
    const second = await cli(['deploy', '--yes']);
    expect(second.code, second.stderr).toBe(0);
    shas.push(git(root, 'rev-parse', 'HEAD'));
  }, 900_000);

  afterAll(async () => {
    if (root) {
      await cli(['destroy', '--yes']).catch(() => {});
      rmSync(root, { recursive: true, force: true });
    }
  }, 300_000);

  it('20 interrupted deploys (build, register, rollout): each exits 130, leaves no lock, is recorded interrupted', async () => {
    const phases = [
      // A new commit: its image is built and pushed; ^C as the build starts.
      {
        name: 'build',
        interruptOn: /build web/,
        args: (i: number) => {
          bump(i);
          return ['deploy'];
        },
      },
      // An image already pushed: ^C while its task definition is registered.
      { name: 'register', interruptOn: /register /, args: (i: number) => ['deploy', '--sha', shas[i % 2]!] },
      // ^C once UpdateService was sent, while the rollout is watched.
      {
        name: 'rollout',
        interruptOn: /✓ update service/,
        args: (i: number) => ['deploy', '--sha', shas[(i + 1) % 2]!],
      },
    ];
    function bump(i: number): void {
      writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${baseImage}\nLABEL patchwork.test.variant="ctrl-c-${i}"\n`);
      git(root, 'commit', '-q', '-am', `ctrl-c ${i}`);
    }
    const seen: string[] = [];
    for (let i = 0; i < 20; i++) {
      const phase = phases[i % phases.length]!;
      const run = await runInPty([...phase.args(i), '-e', 'it', '--yes'], {
        cwd: root,
        env,
        cols: 120,
        rows: 40,
        timeoutMs: 180_000,
        interruptOn: phase.interruptOn,
      });
      const where = `trial ${i + 1} (${phase.name}):\n${run.plain.slice(-1500)}`;
      // Never exit 5: the previous trial's lock is gone.
      expect(run.code, where).toBe(130);
      expect(run.plain, where).toContain('PW_INTERRUPTED');
      const h = await history();
      expect(h.lock, where).toBeNull();
      expect(h.releases[0]?.outcome, where).toBe('interrupted');
      expect(
        h.releases.filter((r) => r.outcome === 'in-progress'),
        where,
      ).toEqual([]);
      seen.push(h.releases[0]!.id);
    }
    expect(new Set(seen).size).toBe(20);

    const h = await history();
    expect(h.releases.filter((r) => r.outcome === 'interrupted').length).toBeGreaterThanOrEqual(20);
    // And after all that, a deploy runs to the end.
    const last = await cli(['deploy', '--sha', shas[0]!, '--yes']);
    expect(last.code, last.stderr).toBe(0);
    expect((await history()).releases[0]?.outcome).toBe('succeeded');
  }, 1_800_000);

  it('a second Ctrl-C exits at once; the next deploy on this host sees that run is gone and takes its lock over', async () => {
    // The first ^C starts the clean-up (the lock's release); the second, 50 ms later, ends the
    // process before it: the lock stays behind, held by a process that has exited.
    const run = await runInPty(['deploy', '--sha', shas[1]!, '-e', 'it', '--yes'], {
      cwd: root,
      env,
      cols: 120,
      rows: 40,
      timeoutMs: 180_000,
      interruptOn: /✓ update service/,
      interruptAgainMs: 50,
    });
    expect([130, 143], run.plain.slice(-1500)).toContain(run.code);
    const next = await cli(['deploy', '--sha', shas[0]!, '--yes', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const warned = next.events.filter((e) => e.type === 'warning').map((e) => String(e.message));
    const lockWasLeft = (await history()).releases.some((r) => r.outcome === 'interrupted' && r.sha === shas[1]);
    expect(lockWasLeft).toBe(true);
    // Either the clean-up won the race (no lock left), or the next run took the dead run's lock over.
    for (const w of warned.filter((m) => m.includes('took over'))) expect(w).toMatch(/has exited/);
    expect((await history()).releases.filter((r) => r.outcome === 'in-progress')).toEqual([]);
  }, 600_000);
});
