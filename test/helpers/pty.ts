/**
 * Runs the built CLI in a real pseudo-terminal through util-linux `script` (installed by
 * scripts/localworld.sh): stdin, stdout and stderr of the CLI are the pty, sized with stty first.
 * `answer` types a line once `prompt` appears in the output; `interruptOn` types Ctrl-C (the
 * terminal's own ^C: the pty's line discipline sends SIGINT to the CLI) once it appears. The output
 * is the raw terminal stream; `plain` is it without ANSI escapes and carriage returns.
 */
import { spawn } from 'node:child_process';
import { BIN, ROOT } from './cli.js';

export interface PtyRun {
  code: number | null;
  output: string;
  plain: string;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function stripAnsi(s: string): string {
  // CSI sequences, OSC sequences, other two-byte escapes; then CRs.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_]/g, '').replace(/\r/g, '');
}

export function runInPty(
  args: string[],
  opts: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    cols?: number;
    rows?: number;
    timeoutMs?: number;
    prompt?: RegExp;
    answer?: string;
    interruptOn?: RegExp;
    /** A second Ctrl-C this long after the first (a user who does not wait for the clean-up). */
    interruptAgainMs?: number;
  } = {},
): Promise<PtyRun> {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), TERM: 'xterm-256color' };
  // A terminal session, not CI: the terminal renderer and the questions are what is under test.
  delete env.CI;
  delete env.GITHUB_ACTIONS;
  const cmd = `stty cols ${opts.cols ?? 160} rows ${opts.rows ?? 48}; exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      cwd: opts.cwd ?? ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A key typed after the CLI ended (`script` closed its side) is an EPIPE, not a test error.
    child.stdin.on('error', () => {});
    let output = '';
    let answered = false;
    let interrupted = false;
    const onData = (d: Buffer) => {
      output += d.toString();
      if (opts.interruptOn && !interrupted && opts.interruptOn.test(stripAnsi(output))) {
        interrupted = true;
        child.stdin.write('\x03');
        if (opts.interruptAgainMs !== undefined) {
          setTimeout(() => {
            if (!child.stdin.destroyed && child.exitCode === null) child.stdin.write('\x03');
          }, opts.interruptAgainMs);
        }
      }
      if (opts.prompt && !answered && opts.prompt.test(stripAnsi(output))) {
        answered = true;
        child.stdin.write(`${opts.answer ?? ''}\r`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, output, plain: stripAnsi(output) });
    });
  });
}
