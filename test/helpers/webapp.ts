/**
 * The app most integration and reliability tests deploy: this repository's webapp copied into
 * `<root>/app` (sources only: no test files, no built binary), and a patchwork.yml for it that
 * uses the local world's registry and region.
 */
import { cpSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ROOT } from './cli.js';
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
