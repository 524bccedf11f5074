/** Maps AWS SDK failures (after the SDK's retries) to PatchworkErrors with a code and a hint. */
import { PatchworkError } from '../errors.js';

interface SdkErrorLike {
  name?: string;
  code?: string;
  message?: string;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'TimeoutError',
  'RequestTimeout',
]);
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired']);
const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'AuthFailure',
]);

function networkCode(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as SdkErrorLike;
  if (e.code && NETWORK_CODES.has(e.code)) return e.code;
  if (e.name && NETWORK_CODES.has(e.name)) return e.name;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const c = networkCode(inner, depth + 1);
      if (c) return c;
    }
  }
  return networkCode(e.cause, depth + 1);
}

/** Where an SDK error happened; set by the client factory's middleware. */
export const AWS_CONTEXT = Symbol.for('patchwork.awsContext');
interface AwsContext {
  service: string;
  operation: string;
  region: string;
  endpoint: string | undefined;
}

export function awsContext(err: unknown): AwsContext | undefined {
  return err && typeof err === 'object' ? (err as { [AWS_CONTEXT]?: AwsContext })[AWS_CONTEXT] : undefined;
}

/** True for an error from an AWS call with this name (e.g. ResourceNotFoundException). */
export function isAwsError(err: unknown, ...names: string[]): boolean {
  return !!err && typeof err === 'object' && names.includes((err as SdkErrorLike).name ?? '');
}

/**
 * The least-privilege policy (examples/iam/) each verb needs: README "IAM permissions" says the same
 * (test/unit/iam-policies.test.ts checks both against the files).
 */
export const POLICY_FILES = {
  provision: 'provision.json',
  destroy: 'provision.json',
  build: 'deploy.json',
  deploy: 'deploy.json',
  rollback: 'deploy.json',
  unlock: 'deploy.json',
  run: 'deploy.json',
  promote: 'deploy.json',
  status: 'read-only.json',
  releases: 'read-only.json',
  logs: 'read-only.json',
} as const satisfies Record<string, string>;

/** The IAM action an access-denied message names (`… is not authorized to perform: ecs:UpdateService on …`). */
export function deniedAction(message: string | undefined): string | undefined {
  return /not authorized to perform:? ([\w-]+:[\w*]+)/.exec(message ?? '')?.[1];
}

/**
 * An SDK failure that reached the CLI boundary → PatchworkError; anything else unchanged. `verb`
 * (the command) names the policy file in an access-denied hint.
 */
export function mapAwsError(err: unknown, verb?: string): unknown {
  if (err instanceof PatchworkError) return err;
  const ctx = awsContext(err);
  const e = (err ?? {}) as SdkErrorLike;
  if (!ctx && e.name !== 'CredentialsProviderError') return err;
  const service = ctx?.service ?? 'AWS';
  const operation = ctx?.operation ?? 'call';
  const where = { region: ctx?.region ?? '?', endpoint: ctx?.endpoint };
  const name = e.name ?? 'Error';
  const op = `${service}.${operation}`;
  const data = { service, operation, awsError: name, requestId: e.$metadata?.requestId };

  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
    return new PatchworkError('PW_NO_CREDENTIALS', `no AWS credentials found (needed for ${op})`, {
      hint: 'set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws sso login`, or configure OIDC in CI',
      data,
      cause: err,
    });
  }
  if (EXPIRED.has(name)) {
    return new PatchworkError('PW_CREDENTIALS_EXPIRED', `AWS credentials have expired (${op}: ${name})`, {
      hint: 'refresh them: `aws sso login`, re-assume the role, or rerun the CI job',
      data,
      cause: err,
    });
  }
  const net = networkCode(err);
  if (net) {
    const target = where.endpoint ?? `the ${service} endpoint in ${where.region}`;
    return new PatchworkError('PW_ENDPOINT_UNREACHABLE', `cannot reach ${target} (${op}: ${net})`, {
      hint: where.endpoint
        ? 'check AWS_ENDPOINT_URL and that the endpoint is running'
        : 'check the network, proxy settings and the region',
      data: { ...data, endpoint: where.endpoint, network: net },
      cause: err,
    });
  }
  if (DENIED.has(name)) {
    const action = deniedAction(e.message);
    const file = verb && Object.hasOwn(POLICY_FILES, verb) ? POLICY_FILES[verb as keyof typeof POLICY_FILES] : null;
    const grant = action ? `grant ${action}` : 'grant the permissions';
    return new PatchworkError('PW_ACCESS_DENIED', `AWS refused ${op}: ${firstLine(e.message) || name}`, {
      hint: file
        ? `${grant}: \`patchwork ${verb}\` needs the policy examples/iam/${file} (README "IAM permissions") for the identity \`aws sts get-caller-identity\` shows`
        : `${grant}: README "IAM permissions" lists the policy file (examples/iam/) each verb needs`,
      data: { ...data, ...(action ? { action } : {}), ...(file ? { policy: `examples/iam/${file}` } : {}) },
      cause: err,
    });
  }
  return new PatchworkError('PW_AWS_ERROR', `${op} failed: ${name}: ${firstLine(e.message)}`, {
    hint: 'rerun with --debug for details; rerunning is safe (patchwork converges)',
    data: { ...data, httpStatus: e.$metadata?.httpStatusCode },
    cause: err,
  });
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0]!.slice(0, 300);
}
