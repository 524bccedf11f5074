/**
 * oclif's command_not_found hook: an unknown verb is PW_USAGE (exit 2) with the nearest verb
 * ("did you mean deploy?"), one error line and hint like every other error, and with --json the
 * result line of the contract on stdout.
 */
import type { Hook } from '@oclif/core';
import { formatError, PatchworkError } from '../lib/errors.js';
import { nearest } from '../lib/nearest.js';

const hook: Hook.CommandNotFound = async (opts) => {
  const verbs = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id);
  const near = nearest(opts.id, verbs);
  const err = new PatchworkError('PW_USAGE', `unknown command "${opts.id}"${near ? ` (did you mean ${near}?)` : ''}`, {
    hint: near ? `patchwork ${near} --help` : 'see `patchwork help` for the verbs',
    data: { command: opts.id, ...(near ? { suggestion: near } : {}) },
  });
  process.stderr.write(`${formatError(err)}\n`);
  if ((opts.argv ?? []).includes('--json')) {
    const result = {
      type: 'result',
      ok: false,
      exitCode: err.exitCode,
      command: opts.id,
      error: err.toJSON(),
      durationMs: 0,
      apiCalls: { total: 0, mutating: 0, attempts: 0, byOperation: {} },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  process.exitCode = err.exitCode;
};

export default hook;
