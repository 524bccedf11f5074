/**
 * The CLI in a real pseudo-terminal (util-linux `script`, sized 160×48): every verb ends with its
 * result text on screen (provision, doctor, deploy, releases); a failed smoke test is shown as ✗
 * and exits 3; destroy shows what it deletes and asks for the environment's name: a wrong answer
 * deletes nothing (the AWS CLI still sees the load balancer), the right one deletes, and --yes
 * deletes without asking.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, resetWorld } from '../helpers/localworld.js';
import { runInPty } from '../helpers/pty.js';
import { webappProject } from '../helpers/webapp.js';

const app = `tm${Date.now().toString(36)}`;
let root = '';
let env: NodeJS.ProcessEnv;

const pty = (args: string[], more: Parameters<typeof runInPty>[1] = {}) =>
  runInPty([...args, '-e', 'it'], { cwd: root, env, timeoutMs: 300_000, ...more });
const loadBalancers = (): string[] =>
  (awsCli(['elbv2', 'describe-load-balancers']).LoadBalancers ?? [])
    .map((lb: { LoadBalancerName: string }) => lb.LoadBalancerName)
    .filter((n: string) => n === `${app}-it`);
const serviceImage = (): string => {
  const svc = awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', `${app}-it-web`]).services[0];
  return awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition
    .containerDefinitions[0].image as string;
};

describe('the CLI in a terminal (pty)', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    await resetWorld();
    ({ root, env } = webappProject({
      app,
      deploy: '{ pollSeconds: 1, timeoutSeconds: 120, keepReleases: 5 }',
      prefix: 'pw-term-it-',
    }));
  }, 1_200_000);

  afterAll(async () => {
    if (root) {
      await runCli(['destroy', '-e', 'it', '--yes'], { cwd: root, env, timeoutMs: 180_000 }).catch(() => {});
      rmSync(root, { recursive: true, force: true });
    }
  }, 200_000);

  it('provision and doctor end with their summaries (a plan that only creates does not ask)', async () => {
    const prov = await pty(['provision']);
    expect(prov.code, prov.plain).toBe(0);
    expect(prov.plain).not.toMatch(/\[y\/N\]/);
    expect(prov.plain).toMatch(new RegExp(`${app}-it: applied: \\d+ to create, 0 to update, 0 to replace`));
    const doc = await pty(['doctor']);
    expect(doc.code, doc.plain).toBe(0);
    expect(doc.plain).toMatch(/all \d+ checks passed/);
  }, 600_000);

  it('deploy ends with the sha, the digest, the task definition and the time per phase; releases with its table', async () => {
    const sha = git(root, 'rev-parse', 'HEAD');
    const dep = await pty(['deploy']);
    expect(dep.code, dep.plain).toBe(0);
    expect(dep.plain).toContain(`deployed ${sha.slice(0, 12)} to it: rolled out in `);
    expect(dep.plain).toMatch(new RegExp(`web: sha256:[0-9a-f]{64} → ${app}-it-web:\\d+`));
    expect(dep.plain).toMatch(/time: build [\d.]+s, push [\d.]+s, register [\d.]+s, rollout [\d.]+s/);
    const rel = await pty(['releases']);
    expect(rel.code, rel.plain).toBe(0);
    expect(rel.plain).toMatch(new RegExp(`deploy\\s+${sha.slice(0, 12)}\\s+succeeded`));
    expect(rel.plain).toContain('not locked');
  }, 900_000);

  it('a deploy whose smoke test fails renders ✗ for the smoke step and exits 3', async () => {
    const config = join(root, 'patchwork.yml');
    const original = readFileSync(config, 'utf8');
    writeFileSync(
      config,
      original.replace(
        /^deploy: .*$/m,
        'deploy: { pollSeconds: 1, timeoutSeconds: 120, keepReleases: 5, smoke: { path: /no-such-page, timeoutSeconds: 4 } }',
      ),
    );
    writeFileSync(
      join(root, 'app', 'Dockerfile'),
      `FROM ${serviceImage()}\nLABEL patchwork.test.variant="smoke-bad"\n`,
    );
    git(root, 'commit', '-q', '-am', 'smoke-bad');
    try {
      const bad = await pty(['deploy']);
      expect(bad.code, bad.plain).toBe(3);
      expect(bad.plain).toMatch(
        /✗ smoke test GET \/no-such-page through the load balancer: .*answered 404, expected 200/,
      );
      expect(bad.plain).not.toMatch(/✓ smoke test/);
      expect(bad.plain).toContain('PW_DEPLOY_ROLLED_BACK');
    } finally {
      writeFileSync(config, original);
      git(root, 'commit', '-q', '-am', 'no smoke');
    }
  }, 600_000);

  it('destroy asks: a wrong answer deletes nothing, the name deletes; --yes deletes without asking', async () => {
    const prompt = /Type the environment's name \(it\) to delete it: /;
    const wrong = await pty(['destroy'], { prompt, answer: 'yes' });
    expect(wrong.code, wrong.plain).toBe(2);
    expect(wrong.plain).toContain(`destroy deletes from ${app}-it`);
    expect(wrong.plain).toMatch(new RegExp(`load-balancer \\(1\\): ${app}-it`));
    expect(wrong.plain).toMatch(/ecs-service \(1\): /);
    expect(wrong.plain).toContain('PW_ABORTED_BY_USER');
    expect(loadBalancers()).toEqual([`${app}-it`]);

    const right = await pty(['destroy'], { prompt, answer: 'it' });
    expect(right.code, right.plain).toBe(0);
    expect(right.plain).toMatch(new RegExp(`${app}-it: deleted \\d+ resource\\(s\\)`));
    expect(loadBalancers()).toEqual([]);

    const again = await pty(['provision', '--yes']);
    expect(again.code, again.plain).toBe(0);
    expect(loadBalancers()).toEqual([`${app}-it`]);
    const yes = await pty(['destroy', '--yes']);
    expect(yes.code, yes.plain).toBe(0);
    expect(yes.plain).not.toMatch(prompt);
    expect(loadBalancers()).toEqual([]);
  }, 900_000);
});
