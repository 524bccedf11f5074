/**
 * Issue #10, scenario 2: kill -9 of `provision` and of `deploy` at 10 points each, then a rerun
 * converges. The CLI talks to moto through the fault proxy; a fault-free run measured in this file
 * gives the number and sequence of AWS requests, 10 evenly spaced steps of it are the kill points:
 * the request at that step is held — never forwarded — and the process is SIGKILLed while it waits
 * for the answer (see killAtStep). The rerun goes straight to moto. Checked with the AWS CLI as an
 * independent observer:
 * - provision: the rerun exits 0, a further run makes 0 mutating calls with an empty plan, and
 *   every resource exists exactly once (load balancer, target group, listener, rule, security
 *   groups, log group, cluster, service, state table, roles, alarms, bootstrap task definition).
 * - deploy: a kill that left the lock → the third time, a run on this host takes it over at once
 *   (the lock names the killed process, which has exited); the others as seen from another host
 *   (`lockFromAnotherHost`): the next deploy exits 5 naming the holder; then the lock is
 *   resolved the three honest ways in turn (a real wait past the 60 s TTL with --lock-wait at the
 *   first such point, then alternately `patchwork unlock` and the lock's expiry moved into the past
 *   — what 60 s of waiting would do), the rerun exits 0, the service runs the rerun's task
 *   definition, and the killed run's release record says `interrupted` (never a silent success,
 *   never `in-progress` forever) unless it had already recorded its success before the kill.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, type LogEntry, startFaultProxy } from '../faults/proxy.js';
import { BIN, type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import {
  awsCli,
  deployLock,
  expireDeployLock,
  localWorld,
  lockFromAnotherHost,
  resetWorld,
  settleEcsReads,
} from '../helpers/localworld.js';
import { copyWebapp, webappConfig } from '../helpers/webapp.js';

const stamp = Date.now().toString(36).slice(-5);
const POINTS = 10;
let proxy: FaultProxy;
let proxyUrl = '';
let root = '';
let direct: NodeJS.ProcessEnv;
let viaProxy: NodeJS.ProcessEnv;
const t0 = Date.now();
const report: Record<string, unknown> = {};

interface Killed {
  step: number;
  held: LogEntry | null;
  /** The requests the killed run made (the held one last). */
  log: LogEntry[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** `Service.Operation#occurrence` of each request of a run, in order. */
function keys(log: LogEntry[]): string[] {
  const seen = new Map<string, number>();
  return log.map((e) => {
    const op = `${e.service}.${e.operation}`;
    const n = (seen.get(op) ?? 0) + 1;
    seen.set(op, n);
    return `${op}#${n}`;
  });
}

/**
 * Runs the CLI through the proxy and kills it (SIGKILL) once it sends a request, held unanswered:
 * - `nth`: its `step`-th request (provision: the same number of requests on every run);
 * - `at-or-past`: the request at `step` of the reference run (the same service and operation, its
 *   same occurrence) or, should this run never send that one (deploy: fewer rounds of status
 *   polling than the reference), the first one the reference sent after it.
 */
async function killAtStep(
  args: string[],
  cwd: string,
  reference: LogEntry[],
  step: number,
  mode: 'nth' | 'at-or-past',
): Promise<Killed> {
  proxy.reset();
  const atOrPast = new Set(keys(reference).slice(step - 1));
  const seen = new Map<string, number>();
  const held =
    mode === 'nth'
      ? proxy.holdAfter(step)
      : proxy.holdNext((e) => {
          const op = `${e.service}.${e.operation}`;
          const n = (seen.get(op) ?? 0) + 1;
          seen.set(op, n);
          return atOrPast.has(`${op}#${n}`);
        });
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: viaProxy,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const first = await Promise.race([held.then((e) => ({ held: e })), exited.then(() => ({ held: null }))]);
  if (first.held) child.kill('SIGKILL');
  const { code, signal } = await exited;
  const log = [...proxy.log];
  proxy.reset(); // drops a hold that never fired
  return { step, held: first.held, log, code, signal, stderr };
}

/** `step`s 1..count spread evenly (never 0, never past the last request). */
const spread = (count: number) =>
  Array.from({ length: POINTS }, (_, i) => Math.max(1, Math.round(((i + 1) * count) / (POINTS + 1))));

// biome-ignore lint/suspicious/noExplicitAny: JSON from the CLI
const res = (run: CliRun): any => run.result;

// The minimum TTL; history long enough to keep every record of this file.
const config = (app: string) =>
  webappConfig({ app, deploy: '{ pollSeconds: 1, timeoutSeconds: 120, keepReleases: 60, lockTtlSeconds: 60 }' });

beforeAll(async () => {
  execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
  await resetWorld({ rolloutSeconds: 2 });
  const world = localWorld();
  ({ proxy, url: proxyUrl } = await startFaultProxy({ target: world.endpoint, seed: 10 }));
  const creds = { AWS_ACCESS_KEY_ID: world.accessKeyId, AWS_SECRET_ACCESS_KEY: world.secretAccessKey };
  direct = isolatedEnv({ AWS_ENDPOINT_URL: world.endpoint, ...creds });
  viaProxy = isolatedEnv({ AWS_ENDPOINT_URL: proxyUrl, ...creds });
  root = mkdtempSync(join(tmpdir(), 'pw-crash-'));
  copyWebapp(root);
  git(root, 'init', '-q', '-b', 'main');
}, 1_200_000);

afterAll(async () => {
  await proxy?.close();
  if (root) rmSync(root, { recursive: true, force: true });
  console.log(`crash.test: ${Math.round((Date.now() - t0) / 1000)}s ${JSON.stringify(report)}`);
});

/** Every patchwork resource of `app`, by name, as the AWS CLI sees it (one entry per resource found). */
function inventory(apps: string[]): Record<string, Record<string, string[]>> {
  // `<app>-it`, `<app>-it-…`, and listeners / rules named here `<app>-it:<port>…`.
  const owner = (name: string) =>
    apps.find((a) => name === `${a}-it` || (/^[-:]/.test(name.slice(`${a}-it`.length)) && name.startsWith(`${a}-it`)));
  const out: Record<string, Record<string, string[]>> = Object.fromEntries(apps.map((a) => [a, {}]));
  const add = (kind: string, name: string) => {
    const app = owner(name);
    if (!app) return;
    const byKind = out[app]!;
    byKind[kind] = [...(byKind[kind] ?? []), name];
  };
  const lbs = awsCli(['elbv2', 'describe-load-balancers']).LoadBalancers as {
    LoadBalancerName: string;
    LoadBalancerArn: string;
  }[];
  for (const lb of lbs) {
    add('load-balancer', lb.LoadBalancerName);
    if (!owner(lb.LoadBalancerName)) continue;
    const listeners = awsCli(['elbv2', 'describe-listeners', '--load-balancer-arn', lb.LoadBalancerArn]).Listeners as {
      ListenerArn: string;
      Port: number;
    }[];
    for (const l of listeners) {
      add('listener', `${lb.LoadBalancerName}:${l.Port}`);
      const rules = awsCli(['elbv2', 'describe-rules', '--listener-arn', l.ListenerArn]).Rules as {
        IsDefault: boolean;
        Priority: string;
      }[];
      for (const r of rules.filter((x) => !x.IsDefault))
        add('listener-rule', `${lb.LoadBalancerName}:${l.Port}:${r.Priority}`);
    }
  }
  for (const tg of awsCli(['elbv2', 'describe-target-groups']).TargetGroups as { TargetGroupName: string }[])
    add('target-group', tg.TargetGroupName);
  for (const g of awsCli(['ec2', 'describe-security-groups']).SecurityGroups as { GroupName: string }[])
    add('security-group', g.GroupName);
  for (const g of awsCli(['logs', 'describe-log-groups']).logGroups as { logGroupName: string }[])
    add('log-group', g.logGroupName);
  for (const r of awsCli(['iam', 'list-roles']).Roles as { RoleName: string }[]) add('iam-role', r.RoleName);
  for (const t of awsCli(['dynamodb', 'list-tables']).TableNames as string[]) add('state-table', t);
  for (const r of awsCli(['ecr', 'describe-repositories']).repositories as { repositoryName: string }[])
    add('ecr-repository', r.repositoryName);
  for (const a of awsCli(['cloudwatch', 'describe-alarms']).MetricAlarms as { AlarmName: string }[])
    add('alarm', a.AlarmName);
  const clusters = awsCli(['ecs', 'describe-clusters', '--clusters', ...apps.map((a) => `${a}-it`)]).clusters as {
    clusterName: string;
    status: string;
  }[];
  for (const c of clusters.filter((x) => x.status === 'ACTIVE')) {
    add('ecs-cluster', c.clusterName);
    for (const arn of awsCli(['ecs', 'list-services', '--cluster', c.clusterName]).serviceArns as string[])
      add('ecs-service', arn.split('/').pop()!);
  }
  for (const arn of awsCli(['ecs', 'list-task-definitions', '--status', 'ACTIVE']).taskDefinitionArns as string[]) {
    const family = arn.split('/').pop()!.split(':')[0]!;
    if (family.endsWith('-bootstrap')) add('bootstrap-task-definition', family);
  }
  for (const app of apps) for (const names of Object.values(out[app]!)) names.sort();
  return out;
}

/** What one provision of `app` creates: each name exactly once. */
const expected = (app: string) => ({
  alarm: [`${app}-it-web-cpu`, `${app}-it-web-unhealthy-hosts`],
  'bootstrap-task-definition': [`${app}-it-web-bootstrap`],
  'ecs-cluster': [`${app}-it`],
  'ecs-service': [`${app}-it-web`],
  'iam-role': [`${app}-it-web-execution`, `${app}-it-web-task`],
  listener: [`${app}-it:80`],
  'listener-rule': [expect.stringMatching(new RegExp(`^${app}-it:80:\\d+$`))],
  'load-balancer': [`${app}-it`],
  'log-group': [`${app}-it-web`],
  'security-group': [`${app}-it-alb`, `${app}-it-web-tasks`],
  'state-table': [`${app}-it-patchwork`],
  'target-group': [`${app}-it-web`],
});

describe('kill -9 of provision at 10 points, then a rerun converges', () => {
  const apps: string[] = [];
  it('each rerun exits 0, the next one changes nothing, every resource exists once', async () => {
    // The account's first provision also makes the service-linked roles (first-provision.test.ts):
    // made once here, so the reference run and every killed run make the same calls.
    const warm = `cp${stamp}w`;
    writeFileSync(join(root, `${warm}.yml`), config(warm));
    const first = await runCli(['provision', '-e', 'it', '-c', `${warm}.yml`, '--json', '--yes'], {
      cwd: root,
      env: direct,
      timeoutMs: 180_000,
    });
    expect(first.code, first.stderr).toBe(0);
    apps.push(warm);
    const ref = `cp${stamp}r`;
    writeFileSync(join(root, `${ref}.yml`), config(ref));
    proxy.reset();
    const clean = await runCli(['provision', '-e', 'it', '-c', `${ref}.yml`, '--json', '--yes'], {
      cwd: root,
      env: viaProxy,
      timeoutMs: 180_000,
    });
    expect(clean.code, clean.stderr).toBe(0);
    const reference = [...proxy.log];
    expect(reference.length).toBe(clean.result.apiCalls!.attempts);
    apps.push(ref);
    const steps = spread(reference.length);
    report.provision = { calls: reference.length, mutating: clean.result.apiCalls!.mutating, steps: [] };

    for (const [i, step] of steps.entries()) {
      const app = `cp${stamp}${i}`;
      apps.push(app);
      const cfg = `${app}.yml`;
      writeFileSync(join(root, cfg), config(app));
      const killed = await killAtStep(
        ['provision', '-e', 'it', '-c', cfg, '--json', '--yes'],
        root,
        reference,
        step,
        'nth',
      );
      expect(killed.held, `provision never reached step ${step}: exit ${killed.code} ${killed.stderr}`).not.toBeNull();
      expect(killed.signal).toBe('SIGKILL');

      const rerun = await runCli(['provision', '-e', 'it', '-c', cfg, '--json', '--yes'], {
        cwd: root,
        env: direct,
        timeoutMs: 180_000,
      });
      expect(rerun.code, `rerun after a kill at step ${step}: ${rerun.stderr}`).toBe(0);
      await settleEcsReads();
      const again = await runCli(['provision', '-e', 'it', '-c', cfg, '--json', '--yes'], {
        cwd: root,
        env: direct,
        timeoutMs: 180_000,
      });
      expect(again.code, again.stderr).toBe(0);
      expect(again.result.apiCalls!.mutating, JSON.stringify(again.result.apiCalls)).toBe(0);
      const plan = res(again).plan;
      expect(plan.summary, `step ${step}`).toMatchObject({ create: 0, update: 0, replace: 0, delete: 0 });
      expect(plan.pending).toBe(false);
      (report.provision as { steps: unknown[] }).steps.push({
        step,
        at: `${killed.held!.service}.${killed.held!.operation}`,
        rerunMutating: rerun.result.apiCalls!.mutating,
        rerunPlan: res(rerun).plan.summary,
      });
    }

    const found = inventory(apps);
    for (const app of apps) expect(found[app], app).toEqual(expected(app));
  }, 900_000);
});

describe('kill -9 of deploy at 10 points, then a rerun converges', () => {
  const app = `cd${stamp}`;
  const table = `${app}-it-patchwork`;
  const svcName = `${app}-it-web`;
  const cli = (args: string[], env = direct) =>
    runCli([...args, '-e', 'it', '--json'], { cwd: root, env, timeoutMs: 300_000 });
  const lockItem = () => deployLock(table);
  const service = () =>
    awsCli(['ecs', 'describe-services', '--cluster', `${app}-it`, '--services', svcName]).services[0] as {
      taskDefinition: string;
      desiredCount: number;
      runningCount: number;
      deployments: { status: string; taskDefinition: string }[];
    };
  let base = '';
  const commitVariant = (label: string) => {
    writeFileSync(join(root, 'app', 'Dockerfile'), `FROM ${base}\nLABEL patchwork.test.variant="${label}"\n`);
    git(root, 'commit', '-q', '-am', label);
    return git(root, 'rev-parse', 'HEAD');
  };

  beforeAll(async () => {
    writeFileSync(join(root, 'patchwork.yml'), config(app));
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'webapp');
    const prov = await cli(['provision', '--yes']);
    expect(prov.code, prov.stderr).toBe(0);
    const first = await cli(['deploy']);
    expect(first.code, first.stderr).toBe(0);
    base = res(first).release.services[0].image;
  }, 900_000);

  it('the rerun exits 0 and the service runs its task definition; killed runs show up interrupted', async () => {
    commitVariant('reference');
    proxy.reset();
    const clean = await cli(['deploy'], viaProxy);
    expect(clean.code, clean.stderr).toBe(0);
    const reference = [...proxy.log];
    const steps = spread(reference.length);
    const outcomes: unknown[] = [];
    report.deploy = { calls: reference.length, steps: outcomes };
    let lockLeftCount = 0;
    const kills: {
      step: number;
      at: string;
      sha: string;
      rerunId: string;
      recordedSuccess: boolean;
      lockLeft: boolean;
      resolved: string;
    }[] = [];

    for (const [i, step] of steps.entries()) {
      const sha = commitVariant(`kill-${i}`);
      const killed = await killAtStep(['deploy', '-e', 'it', '--json'], root, reference, step, 'at-or-past');
      expect(killed.held, `deploy never reached step ${step}: exit ${killed.code} ${killed.stderr}`).not.toBeNull();
      expect(killed.signal).toBe('SIGKILL');
      const at = `${killed.held!.service}.${killed.held!.operation}`;
      // Had the killed run recorded its success before the kill? (the request body names the outcome)
      const recordedSuccess = killed.log.some(
        (e) =>
          (e.operation === 'PutItem' || e.operation === 'TransactWriteItems') &&
          e.status === 200 &&
          e.body.includes('"pk":{"S":"release"}') &&
          e.body.includes('"outcome":{"S":"succeeded"}'),
      );

      const left = lockItem();
      let resolved = 'none';
      const extra: string[] = [];
      if (left) {
        lockLeftCount++;
        // The third lock left is met by a run on this host: its process has exited, so it is taken
        // over at once. The others as a run on another machine meets them (it cannot tell).
        const sameHost = lockLeftCount === 3;
        if (!sameHost) lockFromAnotherHost(table);
        if (lockLeftCount <= 3 && !sameHost) {
          // The lock of a dead run holds others off until it expires.
          const blocked = await cli(['deploy']);
          expect(blocked.code, blocked.stderr).toBe(5);
          expect(blocked.stderr).toMatch(/PW_LOCK_HELD: the deploy lock is held by .*\(deploy [0-9a-f]{12}, for \d+s/);
        }
        if (sameHost) {
          resolved = 'its process has exited (this host): taken over at once';
        } else if (lockLeftCount === 1) {
          resolved = 'waited for the 60 s TTL (--lock-wait)';
          extra.push('--lock-wait', '2m');
        } else if (lockLeftCount % 2 === 0) {
          resolved = 'patchwork unlock';
          const un = await cli(['unlock']);
          expect(un.code, un.stderr).toBe(0);
          expect(res(un).broken.command).toBe(left.command!.S);
        } else {
          resolved = 'expiry moved into the past';
          expireDeployLock(table, 1000);
        }
      }
      const rerun = await cli(['deploy', ...extra]);
      expect(rerun.code, `rerun after a kill at step ${step} (${at}): ${rerun.stderr}`).toBe(0);
      if (left && resolved !== 'patchwork unlock') expect(rerun.stdout).toMatch(/"code":"PW_LOCK_TAKEN_OVER"/);
      const release = res(rerun).release;
      expect(release).toMatchObject({ outcome: 'succeeded', sha });
      const svc = service();
      expect(svc.taskDefinition).toBe(release.services[0].taskDefinitionArn);
      expect(svc.runningCount).toBe(1);
      expect(svc.deployments).toHaveLength(1);

      kills.push({ step, at, sha, rerunId: release.id, recordedSuccess, lockLeft: !!left, resolved });
    }

    // History, read once: each killed run shows up as interrupted (or as the success it had
    // recorded before the kill), never as in-progress; the last release is the final rerun's.
    const history = res(await cli(['releases', '--limit', '60'])).releases as {
      id: string;
      kind: string;
      sha: string | null;
      outcome: string;
      reason: string | null;
      services: { taskDefinitionArn: string | null }[];
    }[];
    expect(history.filter((r) => r.outcome === 'in-progress')).toEqual([]);
    for (const k of kills) {
      const ofKilled = history.filter((r) => r.kind === 'deploy' && r.sha === k.sha && r.id !== k.rerunId);
      expect(ofKilled.length).toBeLessThanOrEqual(1);
      const killedOutcome = ofKilled[0]?.outcome ?? 'no record';
      if (k.recordedSuccess) expect(killedOutcome, k.at).toBe('succeeded');
      else if (k.lockLeft) expect(['interrupted', 'no record'], k.at).toContain(killedOutcome);
      else expect(killedOutcome, k.at).toBe('no record');
      if (killedOutcome === 'interrupted') expect(ofKilled[0]!.reason).toMatch(/died holding the deploy lock/);
      const { sha: _sha, rerunId: _id, ...shown } = k;
      outcomes.push({ ...shown, killedRecord: killedOutcome });
    }
    // Kills in the middle of the rollout left records to mark.
    expect(
      outcomes.filter((o) => (o as { killedRecord: string }).killedRecord === 'interrupted').length,
    ).toBeGreaterThan(0);
    const last = history.find((r) => r.kind === 'deploy')!;
    expect(last).toMatchObject({ id: kills.at(-1)!.rerunId, outcome: 'succeeded' });
    expect(service().taskDefinition).toBe(last.services[0]!.taskDefinitionArn);
    expect(lockItem()).toBeUndefined();

    // Nothing duplicated by the deploys either; provision still sees no change.
    const found = inventory([app])[app]!;
    expect(found).toEqual(expected(app));
    const plan = await cli(['provision', '--dry-run', '--exit-code']);
    expect(plan.code, plan.stderr).toBe(0);
  }, 1_200_000);
});
