/**
 * What every verb starts from: the config loaded and validated, one environment resolved, an
 * event emitter, and a (lazy) AWS client factory. Opening a session makes no AWS call.
 */
import { AwsClients } from './aws/clients.js';
import type { ApiCallCounter } from './aws/counter.js';
import { profileRegion } from './aws/regions.js';
import { configPath, type LoadedConfig, loadConfigFile, parseConfig } from './config/load.js';
import { pickEnvironment, type ResolvedEnvironment, resolveEnvironment } from './config/resolve.js';
import type { RawConfig } from './config/schema.js';
import { yamlStringify } from './config/source.js';
import { type EnvSource, type PatchworkEnv, readEnv } from './env.js';
import { PatchworkError } from './errors.js';
import { Emitter, type EventSink } from './events.js';

export interface CommonOptions {
  /** A path to patchwork.yml, or the config as an object (programmatic use). */
  config?: string | RawConfig;
  /** Environment name (else PATCHWORK_ENV). */
  env?: string;
  /** Only this service. */
  service?: string;
  region?: string;
  profile?: string;
  /** Endpoint override for every AWS service (else AWS_ENDPOINT_URL). */
  endpoint?: string;
  /** Progress events; the library never prints. */
  onEvent?: EventSink;
  /** Directory relative paths are resolved from (default process.cwd()). */
  cwd?: string;
  /**
   * The environment variables to read (PATCHWORK_ENV, PATCHWORK_CONFIG, AWS_REGION, AWS_PROFILE,
   * AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, DOCKER_HOST, …; see env.ts). Default:
   * this process's environment.
   */
  environment?: EnvSource;
  /** Share a call counter across sessions (tests, benchmarks). */
  counter?: ApiCallCounter;
  /**
   * Cancels the verb: nothing more is started in AWS or the engine, the deploy lock is released,
   * a release in progress is recorded `interrupted`, and the verb rejects with PW_INTERRUPTED.
   */
  signal?: AbortSignal;
  /**
   * Whether a process of this host still runs (the CLI passes one; the library never looks at
   * processes): a deploy lock held by an exited process of this host is taken over at once.
   */
  processAlive?: (pid: number) => boolean;
}

export interface Session {
  config: LoadedConfig;
  target: ResolvedEnvironment;
  aws: AwsClients;
  events: Emitter;
  /** The environment variables, read once (env.ts). */
  environment: PatchworkEnv;
  /** The verb's cancellation (CommonOptions.signal); the clients in `aws` honour it too. */
  signal: AbortSignal | undefined;
  /** CommonOptions.processAlive. */
  processAlive: ((pid: number) => boolean) | undefined;
}

export function loadConfig(config: CommonOptions['config'], cwd = process.cwd(), fromEnv?: string): LoadedConfig {
  if (config !== undefined && typeof config === 'object')
    return parseConfig(yamlStringify(config), '(config object)', cwd);
  return loadConfigFile(configPath(config, cwd, fromEnv), cwd);
}

/**
 * Loads and resolves; no AWS call. The region: --region, the config's `region:`, AWS_REGION,
 * AWS_DEFAULT_REGION, then the AWS profile's `region` (AWS_PROFILE or `default`, in
 * AWS_CONFIG_FILE or ~/.aws/config), the file read only when nothing before it set one.
 */
export async function openSession(opts: CommonOptions): Promise<Session> {
  const cwd = opts.cwd ?? process.cwd();
  const environment = readEnv(opts.environment);
  const config = loadConfig(opts.config, cwd, environment.config);
  const envName = pickEnvironment(config, opts.env ?? environment.env);
  // The profile: --profile, else the environment's own `profile:` (its account), else AWS_PROFILE.
  const rawEnv = config.raw.environments[envName];
  const configProfile = rawEnv?.profile ?? config.raw.defaults?.profile;
  const profile = opts.profile ?? configProfile ?? environment.profile;
  const resolveOpts = {
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.service ? { service: opts.service } : {}),
    ...(environment.region ? { defaultRegion: environment.region } : {}),
    allowUnknownRegion: environment.allowUnknownRegion,
  };
  let target: ResolvedEnvironment;
  try {
    target = resolveEnvironment(config, envName, resolveOpts);
  } catch (err) {
    if (!(err instanceof PatchworkError && err.code === 'PW_NO_REGION')) throw err;
    const region = await profileRegion({
      profile,
      awsConfigFile: environment.awsConfigFile,
      awsCredentialsFile: environment.awsCredentialsFile,
    });
    if (!region) throw err;
    target = resolveEnvironment(config, envName, { ...resolveOpts, defaultRegion: region });
  }
  const endpoint = opts.endpoint ?? environment.endpoint;
  const aws = new AwsClients(
    {
      region: target.region,
      ...(profile ? { profile } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(environment.maxAttempts ? { maxAttempts: environment.maxAttempts } : {}),
      ...(environment.retryMode ? { retryMode: environment.retryMode } : {}),
    },
    opts.counter,
    opts.signal,
  );
  return {
    config,
    target,
    aws,
    events: new Emitter(opts.onEvent),
    environment,
    signal: opts.signal,
    processAlive: opts.processAlive,
  };
}
