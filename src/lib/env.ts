/**
 * The ONE place the library reads environment variables. Every verb reads them once, from
 * `CommonOptions.environment` (default: the process's environment, the only read of
 * `process.env` in src/lib), into this object, and passes the values down: nothing deeper looks
 * at the environment. An embedding program can hand in its own map (tests, several
 * environments in one process) and nothing leaks from the host's.
 */

import { homedir } from 'node:os';
import { join } from 'node:path';

/** Environment variables by name (process.env, or any map). */
export type EnvSource = Readonly<Record<string, string | undefined>>;

export interface PatchworkEnv {
  /** PATCHWORK_ENV: the environment when --env is not given. */
  env: string | undefined;
  /** PATCHWORK_CONFIG: the config file when --config is not given. */
  config: string | undefined;
  /**
   * AWS_REGION, else AWS_DEFAULT_REGION: the region when neither --region nor the config set one
   * (and before the profile's `region`, read from `awsConfigFile` only when still needed).
   */
  region: string | undefined;
  /** AWS_PROFILE. */
  profile: string | undefined;
  /** AWS_CONFIG_FILE, else ~/.aws/config (HOME, else USERPROFILE): where a profile's `region` is read. */
  awsConfigFile: string;
  /** AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials (the shared-ini loader reads both). */
  awsCredentialsFile: string;
  /** AWS_ENDPOINT_URL: one endpoint for every AWS service (the local world, a proxy). */
  endpoint: string | undefined;
  /** AWS_MAX_ATTEMPTS (a positive number), attempts per call. */
  maxAttempts: number | undefined;
  /** AWS_RETRY_MODE (standard, adaptive, legacy). */
  retryMode: string | undefined;
  /** PATCHWORK_ALLOW_UNKNOWN_REGION=1: accept a region-shaped name newer than the known list. */
  allowUnknownRegion: boolean;
  /**
   * PATCHWORK_SKIP_NETWORK_PREFLIGHT=1: TEST-ONLY — skip the preflight of given networks (to show
   * the local world refusing what the preflight would have caught). Never set it for real use.
   */
  skipNetworkPreflight: boolean;
  /** DOCKER_HOST. */
  dockerHost: string | undefined;
  /** DOCKER_TLS_VERIFY or DOCKER_CERT_PATH set: the engine is reached over TLS. */
  dockerTls: boolean;
  /** CI is set (to anything but the empty string). */
  ci: boolean;
  /** Every variable, for child processes (git) that need PATH, HOME and the rest. */
  vars: EnvSource;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** Reads the variables patchwork uses from `source` (default: this process's environment). */
export function readEnv(source: EnvSource = process.env): PatchworkEnv {
  const attempts = Number(source.AWS_MAX_ATTEMPTS);
  const home = nonEmpty(source.HOME) ?? nonEmpty(source.USERPROFILE) ?? homedir();
  return {
    env: nonEmpty(source.PATCHWORK_ENV),
    config: nonEmpty(source.PATCHWORK_CONFIG),
    region: nonEmpty(source.AWS_REGION) ?? nonEmpty(source.AWS_DEFAULT_REGION),
    profile: nonEmpty(source.AWS_PROFILE),
    awsConfigFile: nonEmpty(source.AWS_CONFIG_FILE) ?? join(home, '.aws', 'config'),
    awsCredentialsFile: nonEmpty(source.AWS_SHARED_CREDENTIALS_FILE) ?? join(home, '.aws', 'credentials'),
    endpoint: nonEmpty(source.AWS_ENDPOINT_URL),
    maxAttempts: Number.isFinite(attempts) && attempts > 0 ? attempts : undefined,
    retryMode: nonEmpty(source.AWS_RETRY_MODE),
    allowUnknownRegion: source.PATCHWORK_ALLOW_UNKNOWN_REGION === '1',
    skipNetworkPreflight: source.PATCHWORK_SKIP_NETWORK_PREFLIGHT === '1',
    dockerHost: nonEmpty(source.DOCKER_HOST),
    dockerTls: !!(nonEmpty(source.DOCKER_TLS_VERIFY) || nonEmpty(source.DOCKER_CERT_PATH)),
    ci: nonEmpty(source.CI) !== undefined,
    vars: source,
  };
}
