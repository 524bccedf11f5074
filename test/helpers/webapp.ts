/**
 * The app most integration and reliability tests deploy: this repository's webapp copied into
 * `<root>/app` (sources only: no test files, no built binary), and a patchwork.yml for it that
 * uses the local world's registry and region.
 */
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isolatedEnv, ROOT } from './cli.js';
import { git } from './git.js';
import { localWorld } from './localworld.js';

export function copyWebapp(root: string): void {
  cpSync(join(ROOT, 'webapp'), join(root, 'app'), {
    recursive: true,
    filter: (src) => !/\.test$/.test(src) && basename(src) !== 'bin',
  });
}

/** patchwork.yml text: service `web` built from `app/`, one task, a CPU alarm; `deploy` is the YAML flow map. */
export function webappConfig(o: { app: string; env?: string; deploy: string }): string {
  const world = localWorld();
  return [
    `app: ${o.app}`,
    `region: ${world.region}`,
    `registry: "${world.registry}"`,
    'services:',
    '  web:',
    '    build: { context: app }',
    '    port: 8080',
    '    healthCheck: { path: /healthz }',
    'environments:',
    `  ${o.env ?? 'it'}: { desiredCount: 1, alarms: { cpuPercent: 90 } }`,
    `deploy: ${o.deploy}`,
    '',
  ].join('\n');
}

/**
 * A new git repository in a temp dir (`prefix`) holding the webapp and its patchwork.yml, committed
 * once, and a CLI environment for the local world (isolated: no other credentials). The caller
 * removes `root`.
 */
export function webappProject(o: { app: string; deploy: string; prefix: string }): {
  root: string;
  env: NodeJS.ProcessEnv;
} {
  const world = localWorld();
  const env = isolatedEnv({
    AWS_ENDPOINT_URL: world.endpoint,
    AWS_ACCESS_KEY_ID: world.accessKeyId,
    AWS_SECRET_ACCESS_KEY: world.secretAccessKey,
  });
  const root = mkdtempSync(join(tmpdir(), o.prefix));
  copyWebapp(root);
  writeFileSync(join(root, 'patchwork.yml'), webappConfig({ app: o.app, deploy: o.deploy }));
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'webapp');
  return { root, env };
}
