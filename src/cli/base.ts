/**
 * The base of every command: common flags, one renderer, the call counter, and the mapping of
 * every thrown error to one clean line, a --json result and the exit code of the contract.
 * Commands stay thin: parse flags, call one library function, describe the result.
 */
import { setMaxListeners } from 'node:events';
import { Command, Flags, type Interfaces } from '@oclif/core';
import { ApiCallCounter } from '../lib/aws/counter.js';
import { mapAwsError } from '../lib/aws/errors.js';
import { ExitCode, formatError, isPatchworkError, PatchworkError } from '../lib/errors.js';
import { nearest } from '../lib/nearest.js';
import { parseDuration } from '../lib/release/duration.js';
import type { CommonOptions } from '../lib/session.js';
import { PhaseClock } from './phases.js';
import { makeRenderer, type Renderer } from './render.js';

export const commonFlags = {
  env: Flags.string({
    char: 'e',
    description: 'environment from patchwork.yml',
    env: 'PATCHWORK_ENV',
    helpGroup: 'GLOBAL',
  }),
  config: Flags.string({
    char: 'c',
    description: 'config file [default: ./patchwork.yml]',
    env: 'PATCHWORK_CONFIG',
    helpGroup: 'GLOBAL',
  }),
  region: Flags.string({ description: 'AWS region (overrides the config and AWS_REGION)', helpGroup: 'GLOBAL' }),
  profile: Flags.string({ description: 'AWS profile', helpGroup: 'GLOBAL' }),
  json: Flags.boolean({ description: 'NDJSON events on stdout, ending with a result line', helpGroup: 'GLOBAL' }),
  debug: Flags.boolean({ description: 'show stack traces and debug events', helpGroup: 'GLOBAL' }),
};

/**
 * A duration flag (`--timeout`, `--lock-wait`): 90s, 10m, 1h, 1m30s or plain seconds, parsed to
 * seconds by oclif before the command runs; a bad or out-of-bounds value is PW_USAGE (exit 2)
 * naming the flag, before any config is read or AWS is called.
 */
export const durationFlag = Flags.custom<number, { min?: number }>({
  helpValue: '<duration>',
  parse: async (input, _ctx, opts) =>
    parseDuration(input, `--${opts.name}`, opts.min === undefined ? {} : { min: opts.min }),
});

export const mutatingFlags = {
  'dry-run': Flags.boolean({ description: 'show the plan; change nothing' }),
  'exit-code': Flags.boolean({
    description: 'with --dry-run: exit 6 when changes are pending',
    dependsOn: ['dry-run'],
  }),
  yes: Flags.boolean({ char: 'y', description: 'accepted for scripts; this verb never asks for confirmation' }),
};

/** The flags of every verb that rolls out (deploy, promote, rollback): how it waits and for how long. */
export const rolloutFlags = {
  'no-wait': Flags.boolean({ description: 'return after UpdateService' }),
  timeout: durationFlag({
    description: 'how long to wait for the rollout (90s, 10m, 1h) [default: deploy.timeoutSeconds]',
    min: 1,
  }),
  'lock-wait': durationFlag({
    description: 'wait this long for a held deploy lock (90s, 10m, 1h) instead of exiting 5',
  }),
};

export const rollbackOnTimeoutFlag = {
  'rollback-on-timeout': Flags.boolean({ description: 'on timeout, put the previous task definition back' }),
};

/** The library's rollout options from those flags (absent flags leave the config's defaults). */
export function rolloutOptions(flags: {
  'no-wait'?: boolean;
  timeout?: number | undefined;
  'lock-wait'?: number | undefined;
  'rollback-on-timeout'?: boolean;
}): { wait: boolean; timeoutSeconds?: number; lockWaitSeconds?: number; rollbackOnTimeout?: true } {
  return {
    wait: !flags['no-wait'],
    ...(flags.timeout !== undefined ? { timeoutSeconds: flags.timeout } : {}),
    ...(flags['lock-wait'] !== undefined ? { lockWaitSeconds: flags['lock-wait'] } : {}),
    ...(flags['rollback-on-timeout'] ? { rollbackOnTimeout: true as const } : {}),
  };
}

/** `--yes`, described as what it does for this verb (README: "Confirmation"). */
export const yesFlag = (description: string) => Flags.boolean({ char: 'y', description });

export interface Outcome {
  /** Fields added to the --json result line. */
  result?: Record<string, unknown>;
  /** What people see after the events. */
  text?: string;
  exitCode?: number;
}

export type CommonFlags = Interfaces.InferredFlags<typeof commonFlags>;

export abstract class PatchworkCommand extends Command {
  static override baseFlags = commonFlags;
  protected renderer: Renderer | undefined;
  protected readonly counter = new ApiCallCounter();
  /** Elapsed time per phase (build, push, register, rollout, smoke), from the library's events. */
  protected readonly phases = new PhaseClock();
  private started = Date.now();
  private json = process.argv.includes('--json');
  private debugOutput = process.argv.includes('--debug');
  /** Cancels the library call: SIGINT or SIGTERM aborts it (see interruptOnSignals). */
  protected readonly abort = new AbortController();
  private stopSignals: (() => void) | undefined;
  /** What the first SIGINT/SIGTERM prints (null: nothing, the command asks a question instead). */
  protected interruptNote: string | null = 'stopping (releasing the deploy lock); press Ctrl-C again to exit at once';
  private caughtSignal: NodeJS.Signals | undefined;

  /** Runs the command; flags are parsed by the subclass with this.parse. */
  abstract execute(): Promise<Outcome>;

  /** Options every library call takes, from the common flags. */
  protected common(flags: Partial<CommonFlags>): CommonOptions {
    this.interruptOnSignals();
    // Every AWS call in flight listens on the one signal (observe reads dozens at once): not a leak.
    setMaxListeners(0, this.abort.signal);
    return {
      ...(flags.config ? { config: flags.config } : {}),
      ...(flags.env ? { env: flags.env } : {}),
      ...(flags.region ? { region: flags.region } : {}),
      ...(flags.profile ? { profile: flags.profile } : {}),
      onEvent: (e) => {
        this.phases.event(e);
        this.renderer?.event(e);
      },
      counter: this.counter,
      signal: this.abort.signal,
      processAlive,
    };
  }

  /**
   * From the moment a library call gets our signal: the first SIGINT/SIGTERM aborts it (it stops
   * starting work, releases the deploy lock, records the release `interrupted` and rejects with
   * PW_INTERRUPTED → exit 130, or 143 for SIGTERM); a second one ends the process at once.
   */
  protected interruptOnSignals(): void {
    if (this.stopSignals) return;
    ignoreBrokenPipes();
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.abort.signal.aborted) {
        process.stderr.write(`${signal} again: exiting without waiting for the clean-up\n`);
        process.exit(signal === 'SIGTERM' ? 143 : 130);
      }
      this.caughtSignal = signal;
      if (this.interruptNote !== null) process.stderr.write(`${signal}: ${this.interruptNote}\n`);
      this.abort.abort(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    this.stopSignals = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  }

  /**
   * Asks in the terminal (the live display suspended first); resolves to the answer, '' on
   * Ctrl-C or end of input.
   */
  protected async ask(lines: string[], question: string): Promise<string> {
    await this.renderer?.suspend();
    const { ask } = await import('./confirm.js');
    return ask(lines, question);
  }

  /** Called by subclasses right after parsing, so output follows --json/--debug. */
  protected startOutput(flags: Partial<CommonFlags>): Renderer {
    this.json = !!flags.json;
    this.debugOutput = !!flags.debug;
    this.renderer = makeRenderer({
      json: this.json,
      debug: this.debugOutput,
      title: `patchwork ${this.id ?? ''}`.trim(),
    });
    return this.renderer;
  }

  async run(): Promise<void> {
    this.started = Date.now();
    let outcome: Outcome;
    try {
      outcome = await this.execute();
    } finally {
      this.stopSignals?.();
    }
    const renderer = this.renderer ?? this.startOutput({});
    const exitCode = outcome.exitCode ?? 0;
    // The result text goes in before the live display closes: a terminal renderer prints it
    // once its display has settled (the same facts as --json's result line).
    if (outcome.text) renderer.text(outcome.text);
    await renderer.close(exitCode === 0);
    renderer.result({
      ok: exitCode === 0,
      exitCode,
      command: this.id,
      ...outcome.result,
      durationMs: Date.now() - this.started,
      apiCalls: this.counter.snapshot(),
    });
    process.exitCode = exitCode;
  }

  override async catch(err: Error & { oclif?: { exit?: number } }): Promise<void> {
    // --help / --version end through an exit "error" with code 0.
    if (err.oclif?.exit === 0) return;
    // A parse that failed is still a parse: without this, oclif adds a Node warning ("did not
    // parse its arguments") under the error line whenever NODE_ENV is development or test.
    this.parsed = true;
    let mapped =
      unknownFlags(err, Object.keys({ ...commonFlags, ...(this.constructor as typeof Command).flags })) ??
      toPatchworkError(err, this.id);
    // A SIGTERM ends with the exit code of a process ended by SIGTERM (128 + 15).
    if (mapped.code === 'PW_INTERRUPTED' && this.caughtSignal === 'SIGTERM') {
      mapped = new PatchworkError(mapped.code, mapped.message, {
        ...(mapped.hint ? { hint: mapped.hint } : {}),
        exitCode: ExitCode.TERMINATED,
        data: mapped.data,
        cause: mapped.cause,
      });
    }
    if (this.renderer) await this.renderer.close(false);
    process.stderr.write(`${formatError(mapped)}\n`);
    if (this.debugOutput) process.stderr.write(`${(mapped.cause as Error | undefined)?.stack ?? err.stack ?? ''}\n`);
    if (this.json) {
      process.stdout.write(
        `${JSON.stringify({
          type: 'result',
          ok: false,
          exitCode: mapped.exitCode,
          command: this.id,
          error: mapped.toJSON(),
          durationMs: Date.now() - this.started,
          apiCalls: this.counter.snapshot(),
        })}\n`,
      );
    }
    process.exitCode = mapped.exitCode;
  }
}

/** Any thrown value → a PatchworkError: usage errors exit 2, SDK failures get a code, the rest PW_UNEXPECTED. */
export function toPatchworkError(err: unknown, verb?: string): PatchworkError {
  if (isPatchworkError(err)) return fromFlagParse(err) ?? err;
  const aws = mapAwsError(err, verb);
  if (isPatchworkError(aws)) return aws;
  const e = err as Error & { oclif?: { exit?: number } };
  if (e?.oclif?.exit === 2 || /Flag|Parse|Arg|Required/i.test(e?.constructor?.name ?? '')) {
    return new PatchworkError('PW_USAGE', usageLine(e.message), {
      hint: 'see `patchwork help` or `patchwork <verb> --help`',
      cause: err,
    });
  }
  return new PatchworkError('PW_UNEXPECTED', firstLine(e?.message ?? String(err)), {
    hint: 'rerun with --debug and report the stack trace if it persists',
    cause: err,
  });
}

/** oclif's NonExistentFlagsError → PW_USAGE naming each unknown flag with the nearest known one. */
export function unknownFlags(err: unknown, known: string[]): PatchworkError | null {
  const flags = (err as { flags?: unknown }).flags;
  if (!Array.isArray(flags) || !/^Nonexistent flags?:/.test((err as Error).message ?? '')) return null;
  const named = flags.map((f: string) => {
    const near = nearest(String(f).replace(/^-+/, '').split('=')[0]!, known);
    return { flag: String(f), ...(near ? { suggestion: `--${near}` } : {}) };
  });
  const parts = named.map((n) => `${n.flag}${n.suggestion ? ` (did you mean ${n.suggestion}?)` : ''}`);
  return new PatchworkError('PW_USAGE', `unknown flag${named.length === 1 ? '' : 's'} ${parts.join(', ')}`, {
    hint: 'see `patchwork <verb> --help` for its flags',
    data: { flags: named },
    cause: err,
  });
}

/** oclif prefixes an error thrown by a flag's parse ("Parsing --x \n\t<message>\nSee more help…"): undo it. */
function fromFlagParse(err: PatchworkError): PatchworkError | null {
  const m = /^Parsing --\S+ \n\t([^\n]*)\n/.exec(err.message);
  if (!m) return null;
  return new PatchworkError(err.code, m[1]!, {
    ...(err.hint ? { hint: err.hint } : {}),
    exitCode: err.exitCode,
    data: err.data,
    cause: err.cause,
  });
}

/** oclif's multi-line parse errors ("The following error occurred:\n  <what>\nSee more help…") on one line. */
function usageLine(s: string): string {
  const lines = s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^The following errors? occurred:?$/.test(l) && !/^See more help with/.test(l));
  return lines.join('; ') || firstLine(s);
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '') ?? s;
}

/** Whether a process of this host runs (signal 0 only asks; EPERM: it runs, as another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `patchwork deploy | tee log` (or `| cat`) and Ctrl-C: the terminal's SIGINT ends the reader too, so
 * the next write to stdout/stderr fails with EPIPE — an unhandled stream error that would end the
 * process holding the deploy lock, its release left in-progress. Output nobody reads is dropped; the
 * clean-up (lock, release record) goes on. Other stream errors stay fatal, as before.
 */
let pipesGuarded = false;
function ignoreBrokenPipes(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') return;
      process.nextTick(() => {
        throw err;
      });
    });
  }
}
