/**
 * The sandbox end to end: runs `bash scripts/sandbox.sh` itself (not a re-implementation) against
 * the shared local world, then checks its JSON summary (every step exit 0) and, with the AWS CLI as
 * an independent observer, that after `rollback --to <first sha>` the service runs the first
 * release's image digest.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isolatedEnv, ROOT } from '../helpers/cli.js';
import { awsCli } from '../helpers/localworld.js';

interface Step {
  name: string;
  exitCode: number;
  seconds: number;
  apiCalls: number | null;
  output: string;
}
interface Summary {
  ok: boolean;
  steps: Step[];
  firstSha: string;
  secondSha: string | null;
  urls: string[];
  loadBalancer: string | null;
}

function runSandbox(timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // The machine's AWS_* / PATCHWORK_* are dropped: the script points itself at the local world.
    const child = spawn('bash', ['scripts/sandbox.sh'], { cwd: ROOT, env: isolatedEnv(), stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// biome-ignore lint/suspicious/noExplicitAny: JSON result lines
function resultOf(file: string): any {
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  return JSON.parse(lines[lines.length - 1] ?? '{}');
}

describe('npm run sandbox (scripts/sandbox.sh)', () => {
  it('provision → deploy → status → deploy → rollback --to first → status → releases, all exit 0; the first digest serves', async () => {
    const run = await runSandbox(600_000);
    expect(run.code, run.output.slice(-4000)).toBe(0);

    const summary = JSON.parse(readFileSync(join(ROOT, '.sandbox', 'summary.json'), 'utf8')) as Summary;
    expect(summary.ok).toBe(true);
    expect(summary.steps.map((s) => s.name)).toEqual([
      'provision',
      'deploy-1',
      'status-1',
      'deploy-2',
      'rollback',
      'status-2',
      'releases',
    ]);
    for (const step of summary.steps) {
      expect(step.exitCode, step.name).toBe(0);
      expect(step.seconds, step.name).toBeGreaterThan(0);
      expect(step.apiCalls, step.name).toBeGreaterThan(0);
    }
    expect(summary.firstSha).toMatch(/^[0-9a-f]{40}$/);
    expect(summary.secondSha).toMatch(/^[0-9a-f]{40}$/);
    expect(summary.secondSha).not.toBe(summary.firstSha);
    expect(summary.urls.length).toBeGreaterThan(0);
    for (const url of summary.urls) expect(url).toMatch(/^http:\/\/127\.\d+\.\d+\.\d+:\d+\//);

    const outputOf = (name: string) => {
      const step = summary.steps.find((s) => s.name === name);
      if (!step) throw new Error(`no step ${name}`);
      return resultOf(step.output);
    };
    // The two deploys built two different images (the second commit changed the webapp).
    const firstDigest = outputOf('deploy-1').services[0].digest as string;
    const secondDigest = outputOf('deploy-2').services[0].digest as string;
    expect(firstDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(secondDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(secondDigest).not.toBe(firstDigest);
    // releases --json agrees: newest is the rollback to the first sha, with the first digest.
    const releases = outputOf('releases').releases as {
      kind: string;
      sha: string;
      services: { digest: string }[];
    }[];
    expect(releases.map((r) => [r.kind, r.sha])).toEqual([
      ['rollback', summary.firstSha],
      ['deploy', summary.secondSha],
      ['deploy', summary.firstSha],
    ]);
    expect(releases[0]?.services[0]?.digest).toBe(firstDigest);

    // The AWS CLI, independently: the service's task definition pins the first release's digest.
    const svc = awsCli(['ecs', 'describe-services', '--cluster', 'sandbox-local', '--services', 'sandbox-local-web'])
      .services[0] as { taskDefinition: string; runningCount: number; desiredCount: number };
    expect(svc.desiredCount).toBe(1);
    expect(svc.runningCount).toBe(1);
    const image = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition
      .containerDefinitions[0].image as string;
    expect(image.endsWith(`@${firstDigest}`)).toBe(true);

    // And the container that answers on loopback is the first release (its greeting, not the second's).
    const body = (await (await fetch(summary.urls[0] as string)).json()) as { message: string; sha: string };
    expect(body.message).toBe('hello from patchwork webapp');
    // build passes GIT_SHA, so the binary itself says which commit it is.
    expect(body.sha).toBe(summary.firstSha);
    // The same answer through the load balancer (the emulator serves its listener on loopback).
    expect(summary.loadBalancer).toMatch(/^http:\/\/127\.\d+\.\d+\.\d+$/);
    const viaLb = (await (await fetch(`${summary.loadBalancer}/`)).json()) as { sha: string };
    expect(viaLb.sha).toBe(summary.firstSha);
  }, 600_000);
});
