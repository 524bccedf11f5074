/**
 * The CLI's commands, for oclif's `explicit` command discovery: `scripts/bundle.mjs` bundles this
 * module (and everything it imports) into one file, `dist/cli.cjs`, which `bin/run.js` loads. One
 * file instead of ~400 (oclif, zod, yaml and patchwork's own modules) spares Node a module
 * resolution, a file read and a wrapper compile per module on every run; Node 20 gets V8's code
 * cache for it too (bin/run.js). The keys are the command ids of the oclif manifest; a new verb
 * under src/commands must be added here (test/unit/contract.test.ts checks the two agree).
 */
import type { Command } from '@oclif/core';
import Build from '../commands/build.js';
import Deploy from '../commands/deploy.js';
import Destroy from '../commands/destroy.js';
import Doctor from '../commands/doctor.js';
import Init from '../commands/init.js';
import Logs from '../commands/logs.js';
import Promote from '../commands/promote.js';
import Provision from '../commands/provision.js';
import Releases from '../commands/releases.js';
import Rollback from '../commands/rollback.js';
import Run from '../commands/run.js';
import Schema from '../commands/schema.js';
import Status from '../commands/status.js';
import Unlock from '../commands/unlock.js';

export { execute } from '@oclif/core';

export const COMMANDS = {
  build: Build,
  deploy: Deploy,
  destroy: Destroy,
  doctor: Doctor,
  init: Init,
  logs: Logs,
  promote: Promote,
  provision: Provision,
  releases: Releases,
  rollback: Rollback,
  run: Run,
  schema: Schema,
  status: Status,
  unlock: Unlock,
} satisfies Record<string, Command.Class>;
