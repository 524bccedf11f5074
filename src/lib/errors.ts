/**
 * Errors with a stable code, one-line message, a "try:" hint and the exit code of the CLI contract
 * (see DESIGN.md). Everything the library throws on purpose is a PatchworkError; anything else is
 * mapped to PW_UNEXPECTED (exit 1) by the CLI.
 */

export const ExitCode = {
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  ROLLED_BACK: 3,
  TIMEOUT: 4,
  LOCKED: 5,
  CHANGES_OR_UNHEALTHY: 6,
  /** Cancelled (SIGINT / an AbortSignal): the lock released, the release marked interrupted. */
  INTERRUPTED: 130,
  /** The CLI got SIGTERM: as INTERRUPTED, with the exit code of a process ended by SIGTERM. */
  TERMINATED: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Every stable code, with the exit code it maps to. Scripts match on these: never rename one. */
export const ErrorCodes = {
  PW_USAGE: ExitCode.USAGE,
  PW_CONFIG_NOT_FOUND: ExitCode.USAGE,
  PW_CONFIG_SYNTAX: ExitCode.USAGE,
  PW_CONFIG_INVALID: ExitCode.USAGE,
  PW_NAME_CLASH: ExitCode.USAGE,
  PW_ENV_REQUIRED: ExitCode.USAGE,
  PW_UNKNOWN_ENV: ExitCode.USAGE,
  PW_UNKNOWN_SERVICE: ExitCode.USAGE,
  PW_UNKNOWN_REGION: ExitCode.USAGE,
  PW_NO_REGION: ExitCode.USAGE,
  PW_CONFIRMATION_REQUIRED: ExitCode.USAGE,
  PW_ABORTED_BY_USER: ExitCode.USAGE,
  PW_FILE_EXISTS: ExitCode.USAGE,
  PW_NO_CREDENTIALS: ExitCode.UNEXPECTED,
  PW_CREDENTIALS_EXPIRED: ExitCode.UNEXPECTED,
  PW_ACCESS_DENIED: ExitCode.UNEXPECTED,
  PW_ENDPOINT_UNREACHABLE: ExitCode.UNEXPECTED,
  PW_AWS_ERROR: ExitCode.UNEXPECTED,
  PW_STRATEGY_SWITCH_BLOCKED: ExitCode.UNEXPECTED,
  PW_NO_DOCKER: ExitCode.UNEXPECTED,
  PW_REGISTRY_UNREACHABLE: ExitCode.UNEXPECTED,
  PW_UNEXPECTED: ExitCode.UNEXPECTED,
  PW_DEPLOY_ROLLED_BACK: ExitCode.ROLLED_BACK,
  PW_TIMEOUT: ExitCode.TIMEOUT,
  PW_LOCK_HELD: ExitCode.LOCKED,
  PW_LOCK_NOT_HELD: ExitCode.LOCKED,
  PW_CHANGES_PENDING: ExitCode.CHANGES_OR_UNHEALTHY,
  PW_UNHEALTHY: ExitCode.CHANGES_OR_UNHEALTHY,
  PW_NOT_PROVISIONED: ExitCode.USAGE,
  PW_UNKNOWN_RELEASE: ExitCode.USAGE,
  PW_IMAGE_NOT_FOUND: ExitCode.USAGE,
  PW_SHA_AMBIGUOUS: ExitCode.USAGE,
  PW_UNKNOWN_NETWORK: ExitCode.USAGE,
  PW_CERTIFICATE_NOT_ISSUED: ExitCode.USAGE,
  PW_NETWORK_PREFLIGHT: ExitCode.USAGE,
  PW_CONFLICT: ExitCode.UNEXPECTED,
  PW_INTERRUPTED: ExitCode.INTERRUPTED,
  // build (issue 6)
  PW_NOT_A_GIT_REPO: ExitCode.USAGE,
  PW_DIRTY_TREE: ExitCode.USAGE,
  PW_CONTEXT_NOT_FOUND: ExitCode.USAGE,
  PW_DOCKERFILE_NOT_FOUND: ExitCode.USAGE,
  PW_BUILD_FAILED: ExitCode.UNEXPECTED,
  PW_PUSH_FAILED: ExitCode.UNEXPECTED,
  PW_REPOSITORY_NOT_FOUND: ExitCode.UNEXPECTED,
  PW_TASK_NOT_STARTED: ExitCode.UNEXPECTED,
  PW_PREDEPLOY_FAILED: ExitCode.ROLLED_BACK,
  // promote across accounts (issue 17)
  PW_WRONG_ACCOUNT: ExitCode.USAGE,
} as const satisfies Record<string, ExitCode>;
export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorDetails {
  /** What to do about it; rendered as "try: …". */
  hint?: string;
  /** Overrides the exit code that the code maps to. */
  exitCode?: ExitCode;
  /** Extra machine-readable facts for --json (file, line, path, known envs, …). */
  data?: Record<string, unknown>;
  cause?: unknown;
}

export class PatchworkError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PatchworkError';
    this.code = code;
    this.hint = details.hint;
    this.exitCode = details.exitCode ?? ErrorCodes[code];
    this.data = details.data ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, exitCode: this.exitCode, ...this.data };
  }
}

/** Where an environment lives, for the one "not provisioned" error. */
export interface EnvironmentRef {
  app: string;
  env: string;
  region: string;
}

/**
 * The one error for an environment whose state table, cluster or services are missing:
 * PW_NOT_PROVISIONED (exit 2), hint `patchwork provision --env X`. Without `where` (deep in the
 * lock or history code, which knows only the table) the verb fills it in with `inEnvironment`.
 */
export function notProvisioned(where: EnvironmentRef | null, what: string, cause?: unknown): PatchworkError {
  return new PatchworkError(
    'PW_NOT_PROVISIONED',
    where
      ? `environment ${where.env} is not provisioned: ${what} (region ${where.region})`
      : `not provisioned: ${what}`,
    {
      hint: `patchwork provision --env ${where?.env ?? '<env>'}`,
      ...(where ? { data: { app: where.app, env: where.env, region: where.region } } : {}),
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/** A PW_NOT_PROVISIONED that does not yet name its environment, named (anything else as it is). */
export function inEnvironment(err: unknown, where: EnvironmentRef): unknown {
  if (!(err instanceof PatchworkError) || err.code !== 'PW_NOT_PROVISIONED' || err.data.env !== undefined) return err;
  const what = err.message.replace(/^not provisioned: /, '');
  return notProvisioned(where, what, err.cause);
}

export function isPatchworkError(err: unknown): err is PatchworkError {
  return err instanceof PatchworkError;
}

/** One line for people: `PW_CODE: message` then `  try: hint`. */
export function formatError(err: PatchworkError): string {
  return err.hint ? `${err.code}: ${err.message}\n  try: ${err.hint}` : `${err.code}: ${err.message}`;
}
