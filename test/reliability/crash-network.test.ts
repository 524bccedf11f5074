/**
 * Issue #18, crash safety of network.create (beside crash.test.ts, in its style): `provision` of an
 * environment with `network: { create: true, egress: nat }` is SIGKILLed while it waits for its NAT
 * gateway to become available (the world keeps it `pending` for natPendingSeconds, raised here to
 * make the window wide): the waiter's DescribeNatGateways after CreateNatGateway is held by the
 * fault proxy, never answered, and the process killed while it waits. The rerun (through the proxy
 * again, to see its requests) converges, as the AWS CLI sees it: exit 0, exactly one NAT gateway
 * (available, not a second one), one VPC, one Elastic IP, one internet gateway, no duplicate
 * subnets or route tables; it waited for the pending NAT gateway before routing to it (its
 * CreateRoute to the gateway is sent only after the gateway's pending time is over); a third
 * provision makes 0 mutating calls with an empty plan.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, type LogEntry, startFaultProxy } from '../faults/proxy.js';
import { BIN, type CliRun, isolatedEnv, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, localWorld, resetWorld } from '../helpers/localworld.js';
import { copyWebapp } from '../helpers/webapp.js';

const PENDING_SECONDS = 20;
const app = `cn${Date.now().toString(36).slice(-5)}`;
const name = `${app}-it`;
let proxy: FaultProxy;
let root = '';
let direct: NodeJS.ProcessEnv;
let viaProxy: NodeJS.ProcessEnv;
const t0 = Date.now();
const report: Record<string, unknown> = {};

// biome-ignore lint/suspicious/noExplicitAny: JSON from the CLI
const res = (run: CliRun): any => run.result;
const cli = (env: NodeJS.ProcessEnv) =>
  runCli(['provision', '-e', 'it', '--json', '--yes'], { cwd: root, env, timeoutMs: 300_000 });

const tagFilter = `Name=tag:patchwork:app,Values=${app}`;
const owned = <T>(what: string, key: string): T[] =>
  (awsCli(['ec2', what, what === 'describe-nat-gateways' ? '--filter' : '--filters', tagFilter])[key] ?? []) as T[];
const tagName = (r: { Tags?: { Key: string; Value: string }[] }) => r.Tags?.find((t) => t.Key === 'Name')?.Value;
interface Nat {
  NatGatewayId: string;
  State: string;
  CreateTime: string;
}
const liveNats = () => owned<Nat>('describe-nat-gateways', 'NatGateways').filter((n) => n.State !== 'deleted');
const names = (what: string, key: string) =>
  owned<{ Tags?: { Key: string; Value: string }[] }>(what, key)
    .map((r) => tagName(r) ?? '?')
    .sort();

beforeAll(async () => {
  await resetWorld({ natPendingSeconds: PENDING_SECONDS });
  const world = localWorld();
  let url = '';
  ({ proxy, url } = await startFaultProxy({ target: world.endpoint, seed: 18 }));
  const creds = { AWS_ACCESS_KEY_ID: world.accessKeyId, AWS_SECRET_ACCESS_KEY: world.secretAccessKey };
  direct = isolatedEnv({ AWS_ENDPOINT_URL: world.endpoint, ...creds });
  viaProxy = isolatedEnv({ AWS_ENDPOINT_URL: url, ...creds });
  root = mkdtempSync(join(tmpdir(), 'pw-crash-net-'));
  copyWebapp(root);
  git(root, 'init', '-q', '-b', 'main');
  writeFileSync(
    join(root, 'patchwork.yml'),
    [
      `app: ${app}`,
      `region: ${world.region}`,
      `registry: "${world.registry}"`,
      'services:',
      '  web: { build: { context: app }, port: 8080, healthCheck: { path: /healthz } }',
      'environments:',
      '  it:',
      '    desiredCount: 1',
      '    network: { create: true, azs: 2, cidr: 10.41.0.0/16, egress: nat }',
      'deploy: { pollSeconds: 1, timeoutSeconds: 120 }',
      '',
    ].join('\n'),
  );
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  if (root) rmSync(root, { recursive: true, force: true });
  console.log(`crash-network.test: ${Math.round((Date.now() - t0) / 1000)}s ${JSON.stringify(report)}`);
});

describe('kill -9 of provision while it waits for the NAT gateway, then a rerun converges', () => {
  it('the rerun waits for the pending NAT gateway, duplicates nothing; a third run changes nothing', async () => {
    // Hold the waiter's first poll after CreateNatGateway, then SIGKILL the run.
    proxy.reset();
    let created = false;
    const held = proxy.holdNext((e) => {
      if (e.operation === 'CreateNatGateway') created = true;
      return created && e.operation === 'DescribeNatGateways';
    });
    const child: ChildProcess = spawn(process.execPath, [BIN, 'provision', '-e', 'it', '--json', '--yes'], {
      cwd: root,
      env: viaProxy,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<{ signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (_code, signal) => resolve({ signal })),
    );
    const first = await Promise.race([held.then((e) => e as LogEntry | null), exited.then(() => null)]);
    expect(first, `provision never waited for the NAT gateway: ${stderr}`).not.toBeNull();
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    proxy.reset();

    // Left behind: one NAT gateway, pending; no route to it yet.
    const left = liveNats();
    expect(left.map((n) => n.State)).toEqual(['pending']);
    const nat = left[0]!;

    const rerun = await cli(viaProxy);
    expect(rerun.code, rerun.stderr).toBe(0);
    const log = [...proxy.log];
    proxy.reset();
    expect(log.filter((e) => e.operation === 'CreateNatGateway')).toEqual([]);
    // It routed to the gateway only once the gateway was available.
    const availableAt = Date.parse(nat.CreateTime) + PENDING_SECONDS * 1000;
    const routes = log.filter((e) => e.operation === 'CreateRoute' && e.body.includes(nat.NatGatewayId));
    expect(routes.length).toBeGreaterThan(0);
    for (const r of routes) expect(r.startedAt).toBeGreaterThanOrEqual(availableAt - 1000);
    expect(res(rerun).plan.changes.find((c: { kind: string }) => c.kind === 'nat-gateway')).toMatchObject({
      action: 'update',
      reason: expect.stringMatching(/pending/),
      diff: [{ field: 'state', from: 'pending', to: 'available' }],
    });
    report.rerun = {
      mutating: rerun.result.apiCalls!.mutating,
      plan: res(rerun).plan.summary,
      natChange: res(rerun).plan.changes.find((c: { kind: string }) => c.kind === 'nat-gateway'),
    };

    // Everything once, as the AWS CLI sees it.
    expect(liveNats().map((n) => [n.NatGatewayId, n.State])).toEqual([[nat.NatGatewayId, 'available']]);
    expect(names('describe-vpcs', 'Vpcs')).toEqual([name]);
    expect(names('describe-addresses', 'Addresses')).toHaveLength(1);
    expect(names('describe-internet-gateways', 'InternetGateways')).toHaveLength(1);
    const subnets = names('describe-subnets', 'Subnets');
    expect(subnets).toHaveLength(4);
    expect(new Set(subnets).size).toBe(4);
    expect(names('describe-route-tables', 'RouteTables')).toHaveLength(3);

    const again = await cli(direct);
    expect(again.code, again.stderr).toBe(0);
    expect(again.result.apiCalls!.mutating, JSON.stringify(again.result.apiCalls)).toBe(0);
    expect(res(again).plan.summary).toMatchObject({ create: 0, update: 0, replace: 0, delete: 0 });
    expect(res(again).plan.pending).toBe(false);
  }, 600_000);
});
