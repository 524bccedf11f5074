/**
 * Verbs whose engine has not landed yet still validate config, environment and flags exactly as
 * they will (exit 2 on bad input, no AWS call), then say plainly that the verb is not available.
 */
import { PatchworkError } from '../lib/errors.js';
import { type CommonOptions, openSession } from '../lib/session.js';

export function notYet(verb: string, issue: number, opts: CommonOptions): never {
  const { target } = openSession(opts);
  throw new PatchworkError(
    'PW_NOT_IMPLEMENTED',
    `\`patchwork ${verb}\` is not available in this build (environment ${target.env} is valid)`,
    {
      hint: `\`patchwork doctor --env ${target.env}\` checks credentials, Docker and registry; ${verb} lands with issue #${issue}`,
    },
  );
}
