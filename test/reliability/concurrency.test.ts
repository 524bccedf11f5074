/**
 * Issue #10, scenario 3: concurrent deploys of one environment, each process through its own
 * labelled listener of the (fault-free) proxy, so the proxy log tells them apart.
 *
 * 1. Five deploys at once without --lock-wait: exactly one exits 0; the four others exit 5
 *    (PW_LOCK_HELD) naming the holder, having made one lock write and no ECS change.
 * 2. Five deploys at once with --lock-wait 5m, each of its own commit (a real new release each):
 *    all exit 0, and the proxy log shows them one after another: from a process's first
 *    RegisterTaskDefinition/UpdateService to its lock release (the transaction deleting the lock item), no
 *    other process registers a task definition or updates the service.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, type LogEntry, startFaultProxy } from '../faults/proxy.js';
import type { CliRun } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, localWorld, resetWorld } from '../helpers/localworld.js';
import { describeService, ensureGolangImage, lockItem, makeApp, shaOf, type TestApp, timed } from './env-helpers.js';

const N = 5;
let proxy: FaultProxy;
let a: TestApp;
let firstImage = '';
const clones: TestApp[] = [];

const ROLLOUT_OPS = new Set(['RegisterTaskDefinition', 'UpdateService']);
const isRolloutCall = (e: LogEntry) => e.service === 'ecs' && ROLLOUT_OPS.has(e.operation);
// The lock is taken by a TransactWriteItems whose first item puts it (`attribute_not_exists(pk)`),
// and released by one whose first item deletes it (with the final release record).
const isLockWrite = (e: LogEntry) =>
  e.operation === 'TransactWriteItems' && e.body.includes('attribute_not_exists(pk)');
const isLockRelease = (e: LogEntry) =>
  e.service === 'dynamodb' &&
  e.operation === 'TransactWriteItems' &&
  /^\{"TransactItems":\[\{"Delete":/.test(e.body) &&
  /"Key":\{"pk":\{"S":"lock"\}/.test(e.body);

function explain(runs: CliRun[]): string {
  return runs.map((r, i) => `deploy-${i + 1}: exit ${r.code}\n${r.stderr.slice(-1500)}`).join('\n---\n');
}

beforeAll(async () => {
  ensureGolangImage();
  await resetWorld({ rolloutSeconds: 2 });
  ({ proxy } = await startFaultProxy({ target: localWorld().endpoint, seed: 3 }));
  a = makeApp(`cc${Date.now().toString(36)}`);
  const prov = await a.cli(['provision', '--yes']);
  expect(prov.code, prov.stderr).toBe(0);
  // Build and push once, so the racing deploys below all skip the build and meet at the lock.
  const built = await a.cli(['build']);
  expect(built.code, built.stderr).toBe(0);
}, 900_000);

afterAll(async () => {
  await proxy?.close();
  a?.cleanup();
  for (const c of clones) c.cleanup();
});

describe('concurrent deploys of one environment', () => {
  it(`${N} at once without --lock-wait: exactly one proceeds, the others exit 5 naming the holder`, async () => {
    const urls = await Promise.all(Array.from({ length: N }, (_, i) => proxy.listen(`deploy-${i + 1}`)));
    proxy.reset();
    const [runs, seconds] = await timed(() => Promise.all(urls.map((endpoint) => a.cli(['deploy'], { endpoint }))));
    console.log(
      `no wait: ${seconds.toFixed(1)}s, exit codes ${runs.map((r) => r.code).join(',')}, calls ${runs.map((r) => r.result.apiCalls?.total).join(',')}`,
    );
    expect(runs.map((r) => r.code).sort(), explain(runs)).toEqual([0, 5, 5, 5, 5]);
    const winner = runs.findIndex((r) => r.code === 0);
    for (const [i, r] of runs.entries()) {
      const label = `deploy-${i + 1}`;
      const mine = proxy.log.filter((e) => e.label === label);
      if (i === winner) {
        expect(mine.filter(isRolloutCall).map((e) => e.operation)).toEqual(['RegisterTaskDefinition', 'UpdateService']);
        expect(mine.filter(isLockRelease)).toHaveLength(1);
        continue;
      }
      expect(r.stderr).toMatch(/PW_LOCK_HELD: the deploy lock is held by .+ \(deploy [0-9a-f]{12}, for \d+s/);
      expect((r.result.error as { code?: string })?.code).toBe('PW_LOCK_HELD');
      // One refused lock write, nothing changed in ECS, nothing released (it never held it).
      expect(mine.filter(isLockWrite).map((e) => e.status)).toEqual([400]);
      expect(mine.filter(isRolloutCall)).toHaveLength(0);
      expect(mine.filter(isLockRelease)).toHaveLength(0);
    }
    const svc = describeService(a);
    expect(svc.runningCount).toBe(1);
    expect(svc.deployments).toHaveLength(1);
    expect(lockItem(a)).toBeUndefined();
    firstImage = awsCli(['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).taskDefinition
      .containerDefinitions[0].image;
  }, 600_000);

  it(`${N} at once with --lock-wait 5m, each its own commit: all exit 0, rollouts never interleave`, async () => {
    expect(firstImage).toContain('@sha256:');
    // One clone per process, each with its own commit: a new digest (a label on the first image) per deploy.
    const shas: string[] = [];
    for (let i = 1; i <= N; i++) {
      const c = makeApp(a.app);
      writeFileSync(join(c.root, 'app', 'Dockerfile'), `FROM ${firstImage}\nLABEL patchwork.test.variant="c${i}"\n`);
      git(c.root, 'commit', '-q', '-am', `variant ${i}`);
      shas.push(git(c.root, 'rev-parse', 'HEAD'));
      clones.push(c);
    }
    const urls = await Promise.all(Array.from({ length: N }, (_, i) => proxy.listen(`wait-${i + 1}`)));
    proxy.reset();
    const [runs, seconds] = await timed(() =>
      Promise.all(clones.map((c, i) => c.cli(['deploy', '--lock-wait', '5m'], { endpoint: urls[i] }))),
    );
    console.log(
      `--lock-wait: ${seconds.toFixed(1)}s, exit codes ${runs.map((r) => r.code).join(',')}, calls ${runs.map((r) => r.result.apiCalls?.total).join(',')}, lock writes ${urls.map((_, i) => proxy.log.filter((e) => e.label === `wait-${i + 1}` && isLockWrite(e)).length).join(',')}`,
    );
    expect(
      runs.map((r) => r.code),
      explain(runs),
    ).toEqual(Array(N).fill(0));

    // Each process's window: its first RegisterTaskDefinition/UpdateService → its lock release.
    const windows = runs.map((_, i) => {
      const label = `wait-${i + 1}`;
      const mine = proxy.log.filter((e) => e.label === label);
      const lockTaken = mine.find((e) => isLockWrite(e) && e.status === 200);
      const first = mine.find(isRolloutCall);
      const release = mine.find(isLockRelease);
      expect(lockTaken, label).toBeDefined();
      expect(first, label).toBeDefined();
      expect(release?.status, label).toBe(200);
      expect(lockTaken!.seq).toBeLessThan(first!.seq);
      expect(first!.seq).toBeLessThan(release!.seq);
      return { label, from: first!.seq, to: release!.seq };
    });
    for (const w of windows) {
      const intruders = proxy.log.filter(
        (e) => e.label !== w.label && isRolloutCall(e) && e.seq >= w.from && e.seq <= w.to,
      );
      expect(
        intruders.map((e) => `${e.label} ${e.operation} #${e.seq}`),
        `inside ${w.label}'s rollout #${w.from}..#${w.to}`,
      ).toEqual([]);
    }
    // One after another: the windows, in order, do not overlap.
    const ordered = [...windows].sort((x, y) => x.from - y.from);
    for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.from).toBeGreaterThan(ordered[i - 1]!.to);
    console.log(`rollout order: ${ordered.map((w) => `${w.label} #${w.from}..#${w.to}`).join(', ')}`);

    // Real rollouts: five distinct task definitions rolled out; the last one serves, under its sha.
    const tds = runs.map(
      (r) =>
        (r.result as { release?: { services?: { taskDefinitionArn: string }[] } }).release!.services![0]!
          .taskDefinitionArn,
    );
    expect(new Set(tds).size).toBe(N);
    const lastLabel = ordered.at(-1)!.label;
    const last = Number(lastLabel.split('-')[1]) - 1;
    const svc = describeService(a);
    expect(svc.taskDefinition).toBe(tds[last]);
    expect(svc.runningCount).toBe(1);
    expect(shaOf(svc.taskDefinition)).toBe(shas[last]);
    expect(lockItem(a)).toBeUndefined();
    const hist = await a.cli(['releases']);
    const releases = (hist.result as { releases?: { sha: string; outcome: string }[] }).releases ?? [];
    for (const sha of shas) expect(releases.find((r) => r.sha === sha)?.outcome, sha).toBe('succeeded');
  }, 600_000);
});
