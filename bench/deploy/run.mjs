#!/usr/bin/env node
/**
 * Benchmark of `deploy` (image already pushed) and `rollback --to <sha>` on the local world:
 * AWS API calls before UpdateService (target ≤ 6, flat in the number of revisions in the family),
 * total calls and wall time, with 1 and with 500+ revisions in the family; beside an AWS CLI
 * script doing register + update + `ecs wait services-stable` in the same run. Uses the built
 * library (`npm run build`) and the local world (`bash scripts/localworld.sh up`). Writes
 * bench/deploy/results/<time>.json and prints a markdown table.
 *   node bench/deploy/run.mjs [--revisions 500]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const REVISIONS = Number(arg('--revisions', '500'));

const world = JSON.parse(readFileSync(join(root, '.localworld', 'env.json'), 'utf8'));
if (!/^http:\/\/(127\.|localhost)/.test(world.endpoint)) {
  console.error('bench/deploy: the local world must be on loopback');
  process.exit(2);
}
Object.assign(process.env, {
  AWS_ENDPOINT_URL: world.endpoint,
  AWS_REGION: world.region,
  AWS_DEFAULT_REGION: world.region,
  AWS_ACCESS_KEY_ID: world.accessKeyId,
  AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
});
const { deploy } = await import(join(root, 'dist/lib/deploy.js'));
const { rollback } = await import(join(root, 'dist/lib/rollback.js'));
const { provision } = await import(join(root, 'dist/lib/provision.js'));
const { ApiCallCounter } = await import(join(root, 'dist/lib/aws/counter.js'));
const { ECSClient, DescribeServicesCommand, DescribeTaskDefinitionCommand, RegisterTaskDefinitionCommand } =
  await import('@aws-sdk/client-ecs');

const git = (cwd, ...a) =>
  execFileSync('git', a, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'b',
      GIT_AUTHOR_EMAIL: 'b@x',
      GIT_COMMITTER_NAME: 'b',
      GIT_COMMITTER_EMAIL: 'b@x',
    },
  }).trim();

const app = `bd${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'pw-bench-deploy-'));
cpSync(join(root, 'webapp'), join(dir, 'app'), { recursive: true, filter: (s) => basename(s) !== 'bin' });
writeFileSync(
  join(dir, 'patchwork.yml'),
  `app: ${app}\nregion: ${world.region}\nregistry: "${world.registry}"\nservices:\n  web:\n    build: { context: app }\n    port: 8080\n    healthCheck: { path: /healthz }\nenvironments:\n  b: { desiredCount: 1 }\ndeploy: { pollSeconds: 2, keepReleases: 10 }\n`,
);
git(dir, 'init', '-q', '-b', 'main');
git(dir, 'add', '-A');
git(dir, 'commit', '-q', '-m', 'one');
const sha1 = git(dir, 'rev-parse', 'HEAD');
const common = { config: join(dir, 'patchwork.yml'), env: 'b', cwd: dir };

/** Runs fn with a counter; calls before the first ECS.UpdateService, total calls, seconds. */
async function measure(label, fn) {
  const counter = new ApiCallCounter();
  let before = null;
  const seq = [];
  counter.onCall((service, op) => {
    if (before === null) {
      if (op === 'UpdateService') before = seq.length;
      else seq.push(`${service}.${op}`);
    }
  });
  const t0 = performance.now();
  await fn(counter);
  const seconds = (performance.now() - t0) / 1000;
  const snap = counter.snapshot();
  return { label, callsBeforeUpdate: before, before: seq, total: snap.total, seconds: Math.round(seconds * 10) / 10 };
}

await provision({ ...common, yes: true });
await deploy(common); // builds and pushes once
const ecs = new ECSClient({ region: world.region, endpoint: world.endpoint });
const family = `${app}-b-web`;
// a second commit: the first image with a label (a different digest, built in seconds)
const firstTd = (await ecs.send(new DescribeServicesCommand({ cluster: `${app}-b`, services: [family] }))).services[0]
  .taskDefinition;
const firstImage = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: firstTd }))).taskDefinition
  .containerDefinitions[0].image;
writeFileSync(join(dir, 'app', 'Dockerfile'), `FROM ${firstImage}\nLABEL bench=two\n`);
git(dir, 'commit', '-q', '-am', 'two');
await deploy(common);

const rows = [];
rows.push(await measure('deploy (pushed), 2 revisions', (counter) => deploy({ ...common, counter })));
rows.push(
  await measure(`rollback --to ${sha1.slice(0, 7)}, 3 revisions`, (counter) =>
    rollback({ ...common, to: sha1.slice(0, 7), counter }),
  ),
);

// Grow the family to REVISIONS revisions (copies of the current one).
const cur = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: family }))).taskDefinition;
const input = {
  family,
  containerDefinitions: cur.containerDefinitions,
  requiresCompatibilities: cur.requiresCompatibilities,
  networkMode: cur.networkMode,
  cpu: cur.cpu,
  memory: cur.memory,
  executionRoleArn: cur.executionRoleArn,
  taskRoleArn: cur.taskRoleArn,
};
for (let i = 0; i < REVISIONS; i++) await ecs.send(new RegisterTaskDefinitionCommand(input));
rows.push(await measure(`deploy (pushed), ${REVISIONS}+ revisions`, (counter) => deploy({ ...common, counter })));
rows.push(
  await measure(`rollback --to ${sha1.slice(0, 7)}, ${REVISIONS}+ revisions`, (counter) =>
    rollback({ ...common, to: sha1.slice(0, 7), counter }),
  ),
);

// The AWS CLI doing the same: register + update + wait services-stable.
const aws = (...a) => {
  const r = spawnSync(
    world.awsCli || 'aws',
    [...a, '--endpoint-url', world.endpoint, '--region', world.region, '--output', 'json'],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout ? JSON.parse(r.stdout) : {};
};
const t0 = performance.now();
const reg = aws('ecs', 'register-task-definition', '--cli-input-json', JSON.stringify(input));
aws(
  'ecs',
  'update-service',
  '--cluster',
  `${app}-b`,
  '--service',
  family,
  '--task-definition',
  reg.taskDefinition.taskDefinitionArn,
);
spawnSync(world.awsCli || 'aws', [
  'ecs',
  'wait',
  'services-stable',
  '--cluster',
  `${app}-b`,
  '--services',
  family,
  '--endpoint-url',
  world.endpoint,
  '--region',
  world.region,
]);
rows.push({
  label: 'AWS CLI: register + update + wait services-stable',
  callsBeforeUpdate: 1,
  total: null,
  seconds: Math.round((performance.now() - t0) / 100) / 10,
});

const { destroy } = await import(join(root, 'dist/lib/destroy.js'));
await destroy({ ...common, yes: true }).catch(() => {});
rmSync(dir, { recursive: true, force: true });

console.log('| run | calls before UpdateService | total calls | wall s |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.label} | ${r.callsBeforeUpdate} | ${r.total ?? '—'} | ${r.seconds} |`);
console.log(`\ncalls before UpdateService (deploy): ${rows[0].before.join(', ')}`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
  `${JSON.stringify({ revisions: REVISIONS, rows }, null, 2)}\n`,
);
