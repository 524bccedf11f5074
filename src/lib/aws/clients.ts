/**
 * The ONE place that builds AWS SDK v3 clients: region, profile, endpoint (AWS_ENDPOINT_URL),
 * adaptive retries, request compression off behind an endpoint override, and a middleware that
 * counts calls and turns SDK failures into PatchworkErrors. Clients (and their SDK packages) are
 * loaded lazily, on first use: `patchwork --help` never loads the SDK, and a verb loads only the
 * clients it calls (each client package costs memory and start-up time). The clients of one
 * factory share one credential provider: the first client's (the SDK's chain, resolved and
 * cached once), not one chain per client.
 */
import type { ACMClient } from '@aws-sdk/client-acm';
import type { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { interrupted } from '../abort.js';
import { ApiCallCounter, isMutating } from './counter.js';
import { AWS_CONTEXT } from './errors.js';
import { sdkPackage } from './sdk.js';

export interface AwsSettings {
  region: string;
  /** Named profile (the session passes --profile, else AWS_PROFILE; else the default chain). */
  profile?: string;
  /** Endpoint override for every service (the session passes AWS_ENDPOINT_URL when no option sets it). */
  endpoint?: string;
  /** Attempts per call, retries included (the session passes AWS_MAX_ATTEMPTS; else 6). */
  maxAttempts?: number;
  /** The SDK's retry mode (the session passes AWS_RETRY_MODE; else adaptive). */
  retryMode?: string;
  /** Explicit credentials (programmatic use, tests); default: the SDK's provider chain. */
  credentials?: AwsCredentialIdentityProvider;
}

export interface ClientMap {
  ecs: ECSClient;
  ecr: ECRClient;
  elbv2: ElasticLoadBalancingV2Client;
  cloudwatch: CloudWatchClient;
  logs: CloudWatchLogsClient;
  ec2: EC2Client;
  iam: IAMClient;
  sts: STSClient;
  ssm: SSMClient;
  dynamodb: DynamoDBClient;
  autoscaling: ApplicationAutoScalingClient;
  acm: ACMClient;
}
export type ServiceKey = keyof ClientMap;

type Ctor = new (config: Record<string, unknown>) => ClientMap[ServiceKey];
const loaders: Record<ServiceKey, () => Promise<Ctor>> = {
  ecs: async () => sdkPackage('@aws-sdk/client-ecs').ECSClient as unknown as Ctor,
  ecr: async () => sdkPackage('@aws-sdk/client-ecr').ECRClient as unknown as Ctor,
  elbv2: async () =>
    sdkPackage('@aws-sdk/client-elastic-load-balancing-v2').ElasticLoadBalancingV2Client as unknown as Ctor,
  cloudwatch: async () => sdkPackage('@aws-sdk/client-cloudwatch').CloudWatchClient as unknown as Ctor,
  logs: async () => sdkPackage('@aws-sdk/client-cloudwatch-logs').CloudWatchLogsClient as unknown as Ctor,
  ec2: async () => sdkPackage('@aws-sdk/client-ec2').EC2Client as unknown as Ctor,
  iam: async () => sdkPackage('@aws-sdk/client-iam').IAMClient as unknown as Ctor,
  sts: async () => sdkPackage('@aws-sdk/client-sts').STSClient as unknown as Ctor,
  ssm: async () => sdkPackage('@aws-sdk/client-ssm').SSMClient as unknown as Ctor,
  dynamodb: async () => sdkPackage('@aws-sdk/client-dynamodb').DynamoDBClient as unknown as Ctor,
  autoscaling: async () =>
    sdkPackage('@aws-sdk/client-application-auto-scaling').ApplicationAutoScalingClient as unknown as Ctor,
  acm: async () => sdkPackage('@aws-sdk/client-acm').ACMClient as unknown as Ctor,
};

/** Short service names for the counter, from the SDK's client class names. */
const SERVICE_LABEL: Record<string, string> = {
  ECSClient: 'ECS',
  ECRClient: 'ECR',
  ElasticLoadBalancingV2Client: 'ELBv2',
  CloudWatchClient: 'CloudWatch',
  CloudWatchLogsClient: 'CloudWatchLogs',
  EC2Client: 'EC2',
  IAMClient: 'IAM',
  STSClient: 'STS',
  SSMClient: 'SSM',
  DynamoDBClient: 'DynamoDB',
  ACMClient: 'ACM',
  ApplicationAutoScalingClient: 'ApplicationAutoScaling',
};

/** No AWS API call patchwork makes takes this long; a silent endpoint is given up on (and retried). */
export const REQUEST_TIMEOUT_MS = 30_000;

export class AwsClients {
  readonly counter: ApiCallCounter;
  readonly endpoint: string | undefined;
  private readonly cache = new Map<ServiceKey, Promise<ClientMap[ServiceKey]>>();
  /** The credential provider every client of this factory (and of its detached twin) uses. */
  private readonly shared: { credentials?: AwsCredentialIdentityProvider };

  constructor(
    readonly settings: AwsSettings,
    counter?: ApiCallCounter,
    /** Once aborted, no call is started (PW_INTERRUPTED) and calls in flight are cancelled. */
    readonly signal?: AbortSignal,
    shared?: { credentials?: AwsCredentialIdentityProvider },
  ) {
    this.counter = counter ?? new ApiCallCounter();
    this.endpoint = settings.endpoint || undefined;
    this.shared = shared ?? {};
  }

  /**
   * The same settings and counter without the signal: for the clean-up an aborted verb still owes
   * (releasing its lock, recording its release as interrupted). Its clients are made on first use.
   */
  detached(): AwsClients {
    if (!this.signal) return this;
    this.unbound ??= new AwsClients(this.settings, this.counter, undefined, this.shared);
    return this.unbound;
  }
  private unbound: AwsClients | undefined;

  get region(): string {
    return this.settings.region;
  }

  /** The client for a service, created on first use. */
  get<K extends ServiceKey>(service: K): Promise<ClientMap[K]> {
    let client = this.cache.get(service);
    if (!client) {
      client = loaders[service]().then((ClientClass) => {
        const made = new ClientClass(this.clientConfig(service));
        // The first client's provider (the default chain, memoized) serves every later client.
        if (!this.settings.credentials && !this.shared.credentials) {
          const provider = (made.config as { credentials?: unknown }).credentials;
          if (typeof provider === 'function') this.shared.credentials = provider as AwsCredentialIdentityProvider;
        }
        return this.instrument(made);
      });
      this.cache.set(service, client);
    }
    return client as Promise<ClientMap[K]>;
  }

  /** The client config every service gets (exported for tests of the factory itself). */
  clientConfig(service: ServiceKey): Record<string, unknown> {
    const config: Record<string, unknown> = {
      region: this.settings.region,
      retryMode: this.settings.retryMode ?? 'adaptive',
      maxAttempts: this.settings.maxAttempts ?? 6,
      // An endpoint that takes the connection and never answers must end in an error (retried),
      // not a hang: without throwOnRequestTimeout the handler only logs a warning and waits on.
      requestHandler: { connectionTimeout: 3_000, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    };
    if (this.settings.profile) config.profile = this.settings.profile;
    if (this.settings.credentials) config.credentials = this.settings.credentials;
    else if (this.shared.credentials) config.credentials = this.shared.credentials;
    if (this.endpoint) {
      config.endpoint = this.endpoint;
      // Emulators (and some proxies) do not accept gzip-compressed CloudWatch bodies.
      if (service === 'cloudwatch') config.disableRequestCompression = true;
    }
    return config;
  }

  private instrument<C extends ClientMap[ServiceKey]>(client: C): C {
    const counter = this.counter;
    const signal = this.signal;
    const stack = client.middlewareStack as unknown as MiddlewareStackLike;
    if (signal) {
      // Every call of a verb that was cancelled is refused before it starts (no write after an
      // abort, the middleware below), and a read in flight is cut at once. A write in flight is let
      // finish: cut, it may or may not have happened (a lock taken that nobody releases).
      const send = client.send.bind(client) as (command: object, options?: Record<string, unknown>) => Promise<unknown>;
      (client as { send: unknown }).send = (command: object, options?: Record<string, unknown>) =>
        isMutating(command.constructor.name.replace(/Command$/, ''))
          ? send(command, options)
          : send(command, { abortSignal: signal, ...options });
    }
    stack.add(
      (next, context) => async (args) => {
        const service = SERVICE_LABEL[String(context.clientName)] ?? String(context.clientName).replace(/Client$/, '');
        const operation = String(context.commandName).replace(/Command$/, '');
        if (signal?.aborted) throw interrupted(signal, `before ${service}.${operation}`);
        counter.record(service, operation);
        try {
          return await next(args);
        } catch (err) {
          if (signal?.aborted) throw interrupted(signal, `during ${service}.${operation}`);
          // Keep the SDK error (callers match on its name); remember where it happened so the
          // CLI boundary can turn it into a PatchworkError (mapAwsError) with service and operation.
          if (err && typeof err === 'object') {
            Object.defineProperty(err, AWS_CONTEXT, {
              value: { service, operation, region: this.region, endpoint: this.endpoint },
              enumerable: false,
            });
          }
          throw err;
        }
      },
      { step: 'initialize', name: 'patchworkCallCounter', priority: 'high' },
    );
    stack.add(
      (next) => async (args) => {
        counter.attempt();
        return next(args);
      },
      { step: 'finalizeRequest', name: 'patchworkAttemptCounter', priority: 'low' },
    );
    return client;
  }

  /** Releases sockets (the CLI exits anyway; long-lived programmatic users may call it). */
  async destroy(): Promise<void> {
    for (const c of this.cache.values()) (await c).destroy();
    this.cache.clear();
  }
}

type Handler = (args: unknown) => Promise<unknown>;
interface MiddlewareStackLike {
  add(
    mw: (next: Handler, context: { clientName?: string; commandName?: string }) => Handler,
    opts: { step: string; name: string; priority?: string },
  ): void;
}
