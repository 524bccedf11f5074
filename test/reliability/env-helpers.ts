/**
 * Shared set-up for the reliability scenarios: a copy of webapp/ in its own git repository with a
 * patchwork.yml for one environment, and a way to run the built CLI against it with the AWS
 * endpoint of our choice (a fault proxy listener, or moto itself).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliRun, isolatedEnv, ROOT, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';
import { awsCli, deployLock, localWorld } from '../helpers/localworld.js';
import { copyWebapp, webappConfig } from '../helpers/webapp.js';

export const ENV_NAME = 'rel';

export interface TestApp {
  app: string;
  root: string;
  /** ECS cluster and service names of the `web` service. */
  cluster: string;
  serviceName: string;
  table: string;
  /** Run the CLI with `-e rel --json` through `endpoint` (default: moto directly). */
  cli(
    args: string[],
    opts?: { endpoint?: string; timeoutMs?: number; extraEnv?: Record<string, string> },
  ): Promise<CliRun>;
  cleanup(): void;
}

/** The local golang base image the webapp's Dockerfile derives from (idempotent, quick once made). */
export function ensureGolangImage(): void {
  execFileSync('bash', ['scripts/golang-image.sh', '--quiet'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
}

/** A fresh app directory (webapp + patchwork.yml, committed) for environment `rel` of `app`. */
export function makeApp(app: string): TestApp {
  const world = localWorld();
  const root = mkdtempSync(join(tmpdir(), `pw-rel-${app}-`));
  copyWebapp(root);
  writeFileSync(
    join(root, 'patchwork.yml'),
    webappConfig({ app, env: ENV_NAME, deploy: '{ pollSeconds: 1, timeoutSeconds: 180, keepReleases: 20 }' }),
  );
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'webapp');
  return {
    app,
    root,
    cluster: `${app}-${ENV_NAME}`,
    serviceName: `${app}-${ENV_NAME}-web`,
    table: `${app}-${ENV_NAME}-patchwork`,
    cli(args, opts = {}) {
      const env = isolatedEnv({
        AWS_ENDPOINT_URL: opts.endpoint ?? world.endpoint,
        AWS_ACCESS_KEY_ID: world.accessKeyId,
        AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
        ...opts.extraEnv,
      });
      return runCli([...args, '-e', ENV_NAME, '--json'], { cwd: root, env, timeoutMs: opts.timeoutMs ?? 600_000 });
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The web service as the AWS CLI (talking to moto directly) sees it. */
export function describeService(a: TestApp): {
  taskDefinition: string;
  desiredCount: number;
  runningCount: number;
  deployments: { status: string; taskDefinition: string; rolloutState?: string }[];
} {
  return awsCli(['ecs', 'describe-services', '--cluster', a.cluster, '--services', a.serviceName]).services[0];
}

/** The lock item of the app's state table (undefined when free). */
export const lockItem = (a: TestApp) => deployLock(a.table);

/** The `patchwork:sha` tag of a task definition. */
export function shaOf(taskDefinitionArn: string): string | undefined {
  const tags = awsCli(['ecs', 'list-tags-for-resource', '--resource-arn', taskDefinitionArn]).tags as {
    key: string;
    value: string;
  }[];
  return tags.find((t) => t.key === 'patchwork:sha')?.value;
}

/** One line per run for the test log: what a reader of the report needs. */
export function summarize(label: string, run: CliRun, seconds: number): string {
  const calls = run.result.apiCalls;
  return `${label}: exit ${run.code}, ${seconds.toFixed(1)}s, apiCalls.total ${calls?.total}, mutating ${calls?.mutating}, attempts ${calls?.attempts}`;
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await fn();
  return [v, (Date.now() - t0) / 1000];
}
