/**
 * The local world (scripts/localworld.sh) as seen from tests: its addresses, a reset, the
 * emulator's control endpoints, and the AWS CLI as an independent peer client.
 * Works in any worker: everything is read from .localworld/env.json, written by `localworld.sh up`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const STATE_DIR = process.env.LOCALWORLD_DIR ?? join(REPO_ROOT, '.localworld');
export const ENV_FILE = join(STATE_DIR, 'env.json');

export interface LocalWorld {
  /** moto (with patchwork's extension), one endpoint for every AWS service: http://127.0.0.1:PORT */
  endpoint: string;
  motoPort: number;
  /** The loopback registry, host:port (push images as `${registry}/name:tag`). */
  registry: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  dockerHost: string;
  /** AWS CLI binary (Debian's v2 at /usr/bin/aws when present). */
  awsCli: string;
  stateDir: string;
  /** The world's CA (PEM): its HTTPS listeners serve certificates it issued (absent before issue 15's world). */
  caFile?: string;
}

/** The emulator's knobs (POST /_patchwork/config). */
export interface EmulatorConfig {
  /** Seconds a simulated rollout takes: tasks start after half, replaced tasks drain for the other half. */
  rolloutSeconds: number;
  /** Run tasks as real containers when their image can be had locally (else simulate them). */
  runContainers: boolean;
  /** Circuit-breaker threshold; null = AWS's min(200, max(3, ceil(desired / 2))). */
  failThreshold: number | null;
  /** A real container must pass its target group's health check within this many seconds. */
  healthTimeoutSeconds: number;
  /** Fail tasks whose container `secrets` point at SSM parameters / secrets that do not exist. */
  checkSecrets: boolean;
  /** Refuse DescribeServices with more than 10 services, as ECS does. */
  limitDescribeServices: boolean;
  /** ListTaskDefinitions pages (maxResults ≤ 100, nextToken) and sorts (sort ASC/DESC) as ECS does. */
  pageTaskDefinitions: boolean;
  /** CreateCluster/CreateService refused until AWSServiceRoleForECS exists (the first refusal creates it). */
  requireServiceLinkedRoles: boolean;
  /** A service-linked role is usable this many seconds after its creation. */
  slrPropagationSeconds: number;
  /** RegisterScalableTarget this soon after CreateService: "ECS service doesn't exist" (0 = off). */
  scalableTargetLagSeconds: number;
  /** A role this new cannot be passed to CreateService/UpdateService or start a task (0 = off). */
  iamPropagationSeconds: number;
  tickSeconds: number;
  /** Check every request against AWS's API models (botocore's service-2.json) before moto sees it. */
  validateRequests: boolean;
  /** ECS reads lag behind writes: DescribeServices/ListTasks show the previous state this long after CreateService/UpdateService. */
  consistencyLagSeconds: number;
  /** Tasks whose image cannot be pulled stop with CannotPullContainerError (and feed the circuit breaker). */
  checkImages: boolean;
  /** ELBv2: at most 5 condition values per rule. */
  checkRuleConditionValues: boolean;
  /** ELBv2 ModifyTargetGroup: health-check timeout below the interval. */
  checkHealthCheckTimeout: boolean;
  /** ELBv2 CreateLoadBalancer: no name beginning with "internal-". */
  checkLoadBalancerName: boolean;
  /** ELBv2 listeners: ACM certificates ISSUED, in the load balancer's region. */
  checkCertificates: boolean;
  /** awslogs: a container whose log group does not exist fails to start (unless awslogs-create-group). */
  checkLogGroups: boolean;
  /** Seconds until a requested ACM certificate is ISSUED (PENDING_VALIDATION until then). */
  acmValidationSeconds: number;
  /** DeleteSecurityGroup refuses a group that another group's rule or an ENI uses (world default: on). */
  sgDependencies?: boolean;
  /** Seconds a stopped task's ENI outlives the task (world default: 3). */
  eniLingerSeconds?: number;
  /** Seconds a just-created security group answers InvalidGroup.NotFound (world default: 1). */
  sgVisibilitySeconds?: number;
  /** Requests signed by an IAM user are authorised against its policies; task secrets against the execution role's (world default: on). */
  evaluateIam?: boolean;
  /** Task containers get the task definition's user, read-only root, volumes, limits (world default: on). */
  applyTaskRuntime?: boolean;
  /** Every container of a task runs (essential, dependsOn), container health checks too (world default: on). */
  runSidecars?: boolean;
  /** Container health-check timings (interval, startPeriod) times this (world default: 0.2). */
  containerHealthScale?: number;
  /** A non-root container cannot bind a containerPort below 1024 (world default: on). */
  checkPortPrivilege?: boolean;
  /** The image's architecture must be the task's runtimePlatform (world default: on). */
  checkArchitecture?: boolean;
  /** ECS BLUE_GREEN/CANARY/LINEAR: seconds per minute of bake times and hook timeouts (world default: 1). */
  deploymentBakeScale?: number;
  /** CreateService/UpdateService refuse strategy settings AWS refuses (world default: on). */
  checkDeploymentStrategies?: boolean;
}

export const DEFAULT_EMULATOR_CONFIG: EmulatorConfig = {
  rolloutSeconds: 3,
  runContainers: true,
  failThreshold: null,
  healthTimeoutSeconds: 30,
  checkSecrets: true,
  limitDescribeServices: true,
  pageTaskDefinitions: true,
  requireServiceLinkedRoles: true,
  slrPropagationSeconds: 3,
  scalableTargetLagSeconds: 2,
  iamPropagationSeconds: 2,
  tickSeconds: 0.1,
  // On in every test; PATCHWORK_EMULATOR_VALIDATE=0 turns it off for a whole run (BENCHMARKS.md measures the cost).
  validateRequests: process.env.PATCHWORK_EMULATOR_VALIDATE !== '0',
  consistencyLagSeconds: 1.5,
  checkImages: true,
  checkRuleConditionValues: true,
  checkHealthCheckTimeout: true,
  checkLoadBalancerName: true,
  checkCertificates: true,
  checkLogGroups: true,
  acmValidationSeconds: 60,
  evaluateIam: true,
};

/** The running world's addresses (throws if `scripts/localworld.sh up` has not run). */
export function localWorld(): LocalWorld {
  if (!existsSync(ENV_FILE)) {
    throw new Error(`no local world (${ENV_FILE} missing): run \`bash scripts/localworld.sh up\``);
  }
  return JSON.parse(readFileSync(ENV_FILE, 'utf8')) as LocalWorld;
}

/** Environment variables that point an AWS SDK / CLI at the world. */
export function worldAwsEnv(world: LocalWorld = localWorld()): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: world.endpoint,
    AWS_ACCESS_KEY_ID: world.accessKeyId,
    AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    AWS_REGION: world.region,
    AWS_DEFAULT_REGION: world.region,
    PATCHWORK_REGISTRY: world.registry,
    AWS_PAGER: '',
    ...(world.caFile ? { NODE_EXTRA_CA_CERTS: world.caFile } : {}),
  };
}

/**
 * Call an emulator control endpoint: `emu('config')` (GET), `emu('failing-images', {image})` (POST),
 * `emu('failing-images', undefined, 'DELETE')`. Returns the parsed JSON; throws on HTTP errors.
 */
// biome-ignore lint/suspicious/noExplicitAny: JSON from the emulator
export async function emu<T = any>(path: string, body?: unknown, method?: string): Promise<T> {
  const url = `${localWorld().endpoint}/_patchwork/${path.replace(/^\/+/, '')}`;
  const res = await fetch(url, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok)
    throw new Error(`emulator ${method ?? (body === undefined ? 'GET' : 'POST')} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/**
 * Empty every AWS service (POST /moto-api/reset, which also stops the emulator's task containers
 * and clears failing images and target-health overrides) and set the emulator's config to the
 * defaults, with `config` on top.
 */
export async function resetWorld(config: Partial<EmulatorConfig> = {}): Promise<void> {
  const res = await fetch(`${localWorld().endpoint}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: ${res.status} ${await res.text()}`);
  await emu('config', { ...DEFAULT_EMULATOR_CONFIG, ...config });
}

/**
 * Run the AWS CLI against the world (`--output json`, the world's endpoint, region and test
 * credentials; no profile or config file of the machine is read) and return its parsed JSON
 * ({} when it prints nothing). Throws with the CLI's stderr when it exits non-zero.
 * The endpoint is passed as --endpoint-url: Debian's CLI v2 (2.9) ignores AWS_ENDPOINT_URL.
 */
// biome-ignore lint/suspicious/noExplicitAny: JSON from the AWS CLI
export function awsCli(args: string[], opts: AwsCliOptions = {}): any {
  const res = runAwsCli(args, opts);
  if (res.error) throw new Error(`aws ${args.join(' ')}: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(`aws ${args.join(' ')} exited ${res.status}: ${res.stderr.trim()}`);
  }
  const out = res.stdout.trim();
  return out ? JSON.parse(out) : {};
}

export interface AwsCliOptions {
  timeoutMs?: number;
  /**
   * The request is meant to break AWS's model (a test of the emulator's validation): the CLI's own
   * client-side checks (required members, minimums) are off so the request reaches the world, and it
   * is marked (User-Agent `exec-env/patchwork-expected-violation`) so `GET /_patchwork/validation`
   * counts it apart from patchwork's and the harness's requests.
   */
  expectViolation?: boolean;
  /** Sign as someone else (an IAM user of the world) instead of the harness's test credentials. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The AWS CLI's exit status, stdout and stderr (for requests that are meant to fail). */
export function runAwsCli(args: string[], opts: AwsCliOptions = {}) {
  const world = localWorld();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k];
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: world.accessKeyId,
    AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
    AWS_DEFAULT_REGION: world.region,
    AWS_REGION: world.region,
    AWS_PAGER: '',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  if (opts.credentials) {
    env.AWS_ACCESS_KEY_ID = opts.credentials.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = opts.credentials.secretAccessKey;
  }
  if (opts.expectViolation) {
    env.AWS_CONFIG_FILE = join(REPO_ROOT, 'test', 'helpers', 'aws-cli-no-param-validation.ini');
    env.AWS_EXECUTION_ENV = 'patchwork-expected-violation';
  }
  return spawnSync(
    world.awsCli || 'aws',
    [...args, '--output', 'json', '--endpoint-url', world.endpoint, '--region', world.region],
    { env, encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** What `GET /_patchwork/validation` answers (counts since the last reset; `sinceStart` since start or DELETE). */
export interface ValidationCounts {
  total: number;
  checked: number;
  /** Time spent checking, in seconds, and the slowest single check. */
  seconds: number;
  slowest: { operation: string | null; seconds: number };
  byClient: Record<string, number>;
  operations: Record<string, { count: number; members: Record<string, number>; clients: Record<string, number> }>;
}
export interface ValidationReport extends ValidationCounts {
  enabled: boolean;
  sinceStart: ValidationCounts;
  recent: { operation: string; client: string; violations: { member: string; kind: string; constraint: string }[] }[];
  skippedPatterns: Record<string, string>;
}

/** Violations by clients other than the emulator's own deliberate tests (`expectViolation`). */
export function unexpectedViolations(counts: ValidationCounts): Record<string, ValidationCounts['operations'][string]> {
  const out: Record<string, ValidationCounts['operations'][string]> = {};
  for (const [op, entry] of Object.entries(counts.operations)) {
    const others = Object.entries(entry.clients).filter(([client]) => client !== 'expected');
    if (others.length) out[op] = entry;
  }
  return out;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Poll `check` until it returns a value other than undefined/false (that value is returned),
 * or throw after `timeoutMs` with the last value or error seen.
 */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}: last ${detail}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

const LOCK_KEY = '{"pk":{"S":"lock"},"sk":{"S":"lock"}}';

/** The deploy lock item of a state table as the AWS CLI reads it (consistent read; undefined when free). */
export function deployLock(table: string): Record<string, { S?: string; N?: string }> | undefined {
  return awsCli(['dynamodb', 'get-item', '--table-name', table, '--key', LOCK_KEY, '--consistent-read']).Item;
}

/**
 * The deploy lock as if a run on another machine held it (its `host` changed): a run here cannot
 * tell whether that process still runs, so only the lock's expiry (or unlock) frees it.
 */
export function lockFromAnotherHost(table: string): void {
  awsCli([
    'dynamodb',
    'update-item',
    '--table-name',
    table,
    '--key',
    LOCK_KEY,
    '--update-expression',
    'SET #h = :h',
    '--expression-attribute-names',
    '{"#h":"host"}',
    '--expression-attribute-values',
    '{":h":{"S":"another-host"}}',
  ]);
}

/** Sets the lock's expiry `msAgo` into the past with the AWS CLI: what waiting out its TTL would do. */
export function expireDeployLock(table: string, msAgo: number): void {
  awsCli([
    'dynamodb',
    'update-item',
    '--table-name',
    table,
    '--key',
    LOCK_KEY,
    '--update-expression',
    'SET expiresAt = :e',
    '--expression-attribute-values',
    `{":e":{"N":"${Date.now() - msAgo}"}}`,
  ]);
}

/**
 * Waits out the world's ECS read-after-write lag (consistencyLagSeconds, as ECS's eventual
 * consistency): a provision started sooner after a CreateService/UpdateService may still read the
 * previous state, so "a second run changes nothing" holds once this has passed.
 */
export async function settleEcsReads(): Promise<void> {
  const cfg = (await emu('config')) as { consistencyLagSeconds?: number };
  const ms = ((cfg.consistencyLagSeconds ?? DEFAULT_EMULATOR_CONFIG.consistencyLagSeconds) + 0.3) * 1000;
  await new Promise((r) => setTimeout(r, ms));
}
