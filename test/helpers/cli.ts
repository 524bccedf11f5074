/** Runs the built CLI (bin/run.js → dist) as a user would, and parses its --json output. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** NDJSON lines of stdout (when --json). */
  events: Record<string, unknown>[];
  /** The final `{"type":"result"}` line, if any. */
  result: Record<string, unknown> & {
    ok?: boolean;
    exitCode?: number;
    error?: Record<string, unknown>;
    apiCalls?: { total: number; mutating: number; attempts: number; byOperation: Record<string, number> };
  };
}

/** An environment with no AWS credentials, profile files or metadata endpoints reachable. */
export function isolatedEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('AWS_') || k.startsWith('PATCHWORK_')) delete env[k];
  Object.assign(env, {
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    // Never let the credential chain reach an instance metadata address: loopback only.
    AWS_EC2_METADATA_DISABLED: 'true',
    CI: 'true',
  });
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? isolatedEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const events = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return []; // not NDJSON (e.g. pretty-printed `schema` output)
          }
        });
      const result = (events.findLast((e) => e.type === 'result') ?? {}) as CliRun['result'];
      resolve({ code, stdout, stderr, events, result });
    });
  });
}
