/**
 * One environment, resolved: environment settings merged over `defaults:`, defaults applied,
 * cross-field rules checked (with file:line), names derived. Pure: the environment's variables come in as options
 * for the region fallback.
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { regionProblem } from '../aws/regions.js';
import { derivedNames, nameClashes } from '../desired/names.js';
import { PatchworkError } from '../errors.js';
import type { LoadedConfig } from './load.js';
import { nearest } from './load.js';
import { assignPriorities, shadowedPaths } from './routes.js';
import { CERT_ARN_RE, FARGATE_SIZES, type RawEnvironment } from './schema.js';
import { type ConfigIssue, configError, type KeyPath, printable } from './source.js';

/** ELB quotas: condition values per listener rule (paths and hosts together). */
export const MAX_RULE_CONDITION_VALUES = 5;

export const DEFAULTS = {
  cpu: 256,
  memory: 512,
  desiredCount: 1,
  dockerfile: 'Dockerfile',
  context: '.',
  platform: 'linux/amd64',
  healthPath: '/',
  healthMatcher: '200-399',
  healthInterval: 15,
  healthTimeout: 5,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  gracePeriodSeconds: 30,
  routePaths: ['/*'],
  allowedCidrs: ['0.0.0.0/0'],
  logRetentionDays: 30,
  keepImages: 30,
  sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
  timeoutSeconds: 600,
  pollSeconds: 2,
  keepReleases: 10,
  lockTtlSeconds: 900,
  smokeStatus: 200,
  smokeTimeout: 10,
  strategy: 'rolling',
  bakeMinutes: 5,
  canaryPercent: 10,
  canaryBakeMinutes: 10,
  linearStepPercent: 10,
  linearStepBakeMinutes: 6,
  testListenerPort: 9000,
  preTrafficStatus: 200,
} as const;

/** The alternate (green) target group of a progressive strategy adds `-b` to the service's name. */
export const ALTERNATE_SUFFIX = '-b';

/** The container user when neither config nor image names a non-root one (distroless's `nonroot`). */
export const DEFAULT_USER = '65532';

/** `user` names someone other than root (uid 0), with or without a group. */
export function isNonRootUser(user: string | null | undefined): boolean {
  const name = (user ?? '').trim().split(':')[0] ?? '';
  return name !== '' && name !== 'root' && name !== '0';
}

/** AWS limits names of ALBs and target groups to 32 characters. */
export const MAX_NAME = 32;

export interface ResolvedService {
  name: string;
  /** `<app>-<env>-<service>`: the ECS service, target group and log group name. */
  fullName: string;
  /**
   * The image repository: `<app>-<service>`, shared by the environments of one account and region
   * (registryLayout: shared, the default), or `<app>-<env>-<service>` (registryLayout: per-env).
   */
  repository: string;
  port: number;
  cpu: number;
  memory: number;
  desiredCount: number;
  build: {
    context: string;
    dockerfile: string;
    args: Record<string, string>;
    target?: string;
    platform: string;
  } | null;
  image: string | null;
  command: string[] | null;
  healthCheck: {
    path: string;
    matcher: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    healthyThreshold: number;
    unhealthyThreshold: number;
    gracePeriodSeconds: number;
    command: string[] | null;
  };
  route: { paths: string[]; hosts: string[] | null; priority: number };
  env: Record<string, string>;
  secrets: Record<string, string>;
  taskRolePolicyArns: string[];
  readonlyRootFilesystem: boolean;
  /** More paths that get a fresh writable volume (beside `/tmp` under a read-only root). */
  writablePaths: string[];
  /** The container user from config; null = the image's non-root USER, else DEFAULT_USER. */
  user: string | null;
  tags: Record<string, string>;
}

/** What `network: { create: true }` asks for (defaults applied). */
export interface NetworkCreate {
  azs: 2 | 3;
  cidr: string;
  egress: 'nat' | 'nat-per-az' | 'endpoints' | 'none';
}

export interface ResolvedEnvironment {
  app: string;
  env: string;
  /** `<app>-<env>`: the cluster, ALB and state-table prefix. */
  name: string;
  region: string;
  registry: string | null;
  /** environments.<env>.account (or defaults.account): the account its credentials must be in; null = not said. */
  account: string | null;
  /** environments.<env>.profile (or defaults.profile): the AWS profile its calls use (beneath --profile). */
  profile: string | null;
  /** shared: `<app>-<service>` repositories; per-env: `<app>-<env>-<service>`. */
  registryLayout: 'shared' | 'per-env';
  /** registryLayout is written in the config (else the default, which layout.ts may settle to per-env). */
  registryLayoutConfigured: boolean;
  configFile: string;
  baseDir: string;
  services: ResolvedService[];
  network: {
    vpc: string;
    publicSubnets: string[] | null;
    privateSubnets: string[] | null;
    /** network.create: the VPC patchwork makes (null: a given or the default VPC). */
    create: NetworkCreate | null;
  };
  autoscaling: {
    min: number;
    max: number;
    cpuPercent: number | null;
    requestsPerTarget: number | null;
    scaleInCooldownSeconds: number;
    scaleOutCooldownSeconds: number;
  } | null;
  https: { certificateArn: string; sslPolicy: string } | null;
  alarms: {
    http5xxPerMinute: number | null;
    cpuPercent: number | null;
    memoryPercent: number | null;
    unhealthyHosts: number | null;
    snsTopicArn: string | null;
  } | null;
  allowedCidrs: string[];
  logRetentionDays: number;
  /** ECR lifecycle: images kept per repository; a shared repository keeps the largest of its environments'. */
  keepImages: number;
  deploy: {
    timeoutSeconds: number;
    pollSeconds: number;
    keepReleases: number;
    lockTtlSeconds: number;
    smoke: SmokeConfig | null;
    /** deploy.preDeploy: one-off tasks on the new task definition of `service` (config name) before UpdateService. */
    preDeploy: { service: string; command: string[] }[];
    /** rolling, or one of ECS's native strategies (a green revision beside the old, traffic shifted by ECS). */
    strategy: Strategy;
    /** Minutes ECS keeps the old revision after all production traffic moved (progressive strategies). */
    bakeMinutes: number;
    canary: { percent: number; bakeMinutes: number } | null;
    linear: { stepPercent: number; stepBakeMinutes: number } | null;
    /** The test listener's port (progressive strategies). */
    testListenerPort: number;
    /** deploy.preTraffic: GETs through the test listener before production traffic moves. */
    preTraffic: { path: string; expectStatus: number }[];
  };
  /** Customer-managed KMS keys of the services' secrets (kms:Decrypt for the execution roles). */
  secretsKmsKeys: string[];
  tags: Record<string, string>;
}

export type Strategy = 'rolling' | 'blue-green' | 'canary' | 'linear';
/** blue-green, canary and linear: ECS's own deployments with a test listener and an alternate target group. */
export const isProgressive = (s: Strategy): boolean => s !== 'rolling';

/** `deploy.smoke`: `url` replaces the load balancer URL entirely; else `path` through it, with `host` as Host and SNI. */
export interface SmokeConfig {
  path: string | null;
  host: string | null;
  url: string | null;
  expectStatus: number;
  timeoutSeconds: number;
}

export interface ResolveOptions {
  /** --region flag; beats the config and AWS_REGION. */
  region?: string;
  /** Restrict to one service (--service). */
  service?: string;
  /** The region when neither --region nor the config gives one (AWS_REGION / AWS_DEFAULT_REGION, see env.ts). */
  defaultRegion?: string;
  /** Accept a region-shaped name that is not in the known list (PATCHWORK_ALLOW_UNKNOWN_REGION=1). */
  allowUnknownRegion?: boolean;
}

export function environmentNames(config: LoadedConfig): string[] {
  return Object.keys(config.raw.environments);
}

/** Which environment: --env, else PATCHWORK_ENV (the caller passes it, see env.ts); unknown or missing lists the known ones. */
export function pickEnvironment(config: LoadedConfig, flag?: string): string {
  const names = environmentNames(config);
  const chosen = flag;
  if (!chosen) {
    throw new PatchworkError('PW_ENV_REQUIRED', `no environment given; ${config.file} defines: ${names.join(', ')}`, {
      hint: `pass --env ${names[0]} (or set PATCHWORK_ENV)`,
      data: { environments: names },
    });
  }
  if (!names.includes(chosen)) {
    const near = nearest(chosen, names);
    throw new PatchworkError(
      'PW_UNKNOWN_ENV',
      `unknown environment "${printable(chosen)}"${near ? ` (did you mean ${near}?)` : ''}; ${config.file} defines: ${names.join(', ')}`,
      {
        hint: `pass --env ${near ?? names.join('|')}`,
        data: { environment: chosen, environments: names, ...(near ? { suggestion: near } : {}) },
      },
    );
  }
  return chosen;
}

/** Deep merge for plain objects: `over` wins, arrays replace, null clears. */
function merge<T>(base: T | undefined, over: T | null | undefined): T | undefined | null {
  if (over === undefined) return base;
  if (over === null) return null;
  if (base === undefined || base === null || typeof base !== 'object' || Array.isArray(base)) return over;
  if (typeof over !== 'object' || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    out[k] = merge((base as Record<string, unknown>)[k], v as never);
  }
  return out as T;
}

const stringify = (rec: Record<string, string | number | boolean> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(rec ?? {}).map(([k, v]) => [k, String(v)]));

export function resolveEnvironment(
  config: LoadedConfig,
  envName: string,
  opts: ResolveOptions = {},
): ResolvedEnvironment {
  const { raw, source } = config;
  const env: RawEnvironment = raw.environments[envName] ?? {};
  const defaults = raw.defaults ?? {};
  const issues: ConfigIssue[] = [];
  const envPath: KeyPath = ['environments', envName];
  /** Where a merged setting was written: the environment, else defaults, else the top level. */
  const whereSet = (key: string): KeyPath =>
    (env as Record<string, unknown>)[key] !== undefined
      ? [...envPath, key]
      : (defaults as Record<string, unknown>)[key] !== undefined
        ? ['defaults', key]
        : [key];

  // Region: --region > environment > defaults > top level > AWS_REGION > AWS_DEFAULT_REGION (as
  // defaultRegion) > the AWS profile's region (openSession retries with it on PW_NO_REGION).
  const configRegion = env.region ?? defaults.region ?? raw.region;
  const region = opts.region ?? configRegion ?? opts.defaultRegion;
  if (!region) {
    throw new PatchworkError('PW_NO_REGION', `no AWS region for environment "${envName}"`, {
      hint: `set region: in ${config.file}, AWS_REGION, or region in your AWS profile (~/.aws/config)`,
    });
  }
  const regionIssue = regionProblem(region, !!opts.allowUnknownRegion);
  if (regionIssue) {
    if (!opts.region && configRegion) issues.push(source.issue(whereSet('region'), regionIssue));
    else
      throw new PatchworkError('PW_UNKNOWN_REGION', printable(regionIssue), {
        hint: 'use a region such as eu-west-1 (set PATCHWORK_ALLOW_UNKNOWN_REGION=1 for one newer than patchwork)',
      });
  }

  const name = `${raw.app}-${envName}`;
  // CreateLoadBalancer: a load balancer name must not begin with "internal-"; ours is <app>-<env>.
  if (name.startsWith('internal-')) {
    issues.push(
      source.issue(
        ['app'],
        `app "${raw.app}" names the load balancer "${name}", and AWS refuses load balancer names beginning with "internal-"`,
      ),
    );
  }
  const deploy = merge(merge(raw.deploy, defaults.deploy), env.deploy) ?? {};
  const autoscaling = merge(defaults.autoscaling, env.autoscaling) ?? null;
  const https = merge(defaults.https, env.https) ?? null;
  const alarms = merge(defaults.alarms, env.alarms) ?? null;
  const network = merge(defaults.network, env.network) ?? {};
  const registry =
    env.registry !== undefined ? env.registry : defaults.registry !== undefined ? defaults.registry : raw.registry;
  const layoutOf = (e: RawEnvironment | null | undefined) => e?.registryLayout ?? defaults.registryLayout ?? 'shared';
  const registryLayout = layoutOf(env);
  // A shared repository has one lifecycle policy: it keeps the most images any environment sharing it asks for.
  const keepImagesOf = (e: RawEnvironment | null | undefined) =>
    e?.keepImages ?? defaults.keepImages ?? DEFAULTS.keepImages;
  const keepImages =
    registryLayout === 'shared'
      ? Math.max(
          ...Object.values(raw.environments)
            .filter((e) => layoutOf(e) === 'shared')
            .map(keepImagesOf),
        )
      : keepImagesOf(env);

  const smokeAt: KeyPath = env.deploy?.smoke
    ? [...envPath, 'deploy', 'smoke']
    : defaults.deploy?.smoke
      ? ['defaults', 'deploy', 'smoke']
      : ['deploy', 'smoke'];
  if (deploy.smoke) {
    const sm = deploy.smoke;
    if (sm.url && (sm.path || sm.host))
      issues.push(
        source.issue(
          [...smokeAt, 'url'],
          `url replaces the load balancer URL entirely: set url, or path${sm.host ? ' and host' : ''}, not both`,
        ),
      );
    else if (!sm.url && !sm.path)
      issues.push(source.issue(smokeAt, 'the smoke test needs path: (through the load balancer) or url:'));
  }

  const networkAt = (key: string): KeyPath =>
    (env.network as Record<string, unknown> | undefined)?.[key] !== undefined
      ? [...envPath, 'network', key]
      : ['defaults', 'network', key];
  if (network.create) {
    for (const key of ['vpc', 'publicSubnets', 'privateSubnets'] as const) {
      if (network[key] !== undefined)
        issues.push(
          source.issue(
            networkAt(key),
            `network.create makes the VPC and its subnets: remove ${key}, or remove create to use a given network`,
          ),
        );
    }
  } else {
    for (const key of ['azs', 'cidr', 'egress'] as const) {
      if (network[key] !== undefined)
        issues.push(source.issue(networkAt(key), `${key} applies only with network.create: true`));
    }
  }

  const strategy: Strategy = deploy.strategy ?? DEFAULTS.strategy;
  const deployAt = (key: string): KeyPath =>
    env.deploy?.[key as 'strategy'] !== undefined
      ? [...envPath, 'deploy', key]
      : defaults.deploy?.[key as 'strategy'] !== undefined
        ? ['defaults', 'deploy', key]
        : ['deploy', key];
  for (const [key, wants] of [
    ['canary', 'canary'],
    ['linear', 'linear'],
  ] as const) {
    if (deploy[key] && strategy !== wants)
      issues.push(
        source.issue(deployAt(key), `${key}: applies only to strategy: ${wants} (the strategy here is ${strategy})`),
      );
  }
  if (!isProgressive(strategy)) {
    for (const key of ['testListener', 'preTraffic', 'bakeMinutes'] as const)
      if (deploy[key] !== undefined)
        issues.push(
          source.issue(deployAt(key), `${key}: applies to strategy blue-green, canary or linear, not ${strategy}`),
        );
  }

  if (isProgressive(strategy) && deploy.smoke?.url) {
    // smoke.url cannot reach the test listener: deploy runs it in the bake, where a failure returns
    // production traffic to the old revision. It needs a bake that outlasts the smoke test's retries.
    const bake = deploy.bakeMinutes ?? DEFAULTS.bakeMinutes;
    const smokeSeconds = deploy.smoke.timeoutSeconds ?? DEFAULTS.smokeTimeout;
    if (bake * 60 <= smokeSeconds)
      issues.push(
        source.issue(
          deploy.bakeMinutes !== undefined ? deployAt('bakeMinutes') : [...smokeAt, 'timeoutSeconds'],
          `smoke.url cannot reach the test listener, so with strategy ${strategy} it is checked in the bake, after production traffic moved; a bake of ${bake} minute(s) does not outlast the smoke test's ${smokeSeconds}s, so a failure could not return traffic to the old revision: set bakeMinutes to ${Math.floor(smokeSeconds / 60) + 1} or more, or use smoke.path (checked through the test listener before production traffic)`,
        ),
      );
  }
  if (autoscaling && autoscaling.min > autoscaling.max) {
    issues.push(
      source.issue([...whereSet('autoscaling'), 'min'], `min ${autoscaling.min} is above max ${autoscaling.max}`),
    );
  }
  if (https) {
    const certRegion = CERT_ARN_RE.exec(https.certificateArn)?.[1];
    if (certRegion && certRegion !== region) {
      issues.push(
        source.issue(
          [...whereSet('https'), 'certificateArn'],
          `certificate is in ${certRegion} but the environment deploys to ${region}; an ALB needs a certificate from its own region`,
        ),
      );
    }
  }

  for (const key of Object.keys(env.services ?? {})) {
    if (!Object.hasOwn(raw.services, key)) {
      const near = nearest(key, Object.keys(raw.services));
      issues.push(
        source.issue(
          [...envPath, 'services', key],
          `no service "${key}" is defined${near ? ` (did you mean "${near}"?)` : ''}`,
          true,
        ),
      );
    }
  }

  const tags = { 'patchwork:app': raw.app, 'patchwork:env': envName, 'managed-by': 'patchwork' };
  const serviceNames = Object.keys(raw.services);
  const seenRoutes = new Map<string, string>();
  const duplicatePaths = new Set<string>();
  const services: ResolvedService[] = [];
  serviceNames.forEach((svcName) => {
    const svc = raw.services[svcName]!;
    // Own keys only: a service named like an Object method ("constructor") must not pick up a prototype's.
    const over = (env.services && Object.hasOwn(env.services, svcName) ? env.services[svcName] : undefined) ?? {};
    const svcPath: KeyPath = ['services', svcName];
    const fullName = `${name}-${svcName}`;
    if (isProgressive(strategy) && fullName.length + ALTERNATE_SUFFIX.length > MAX_NAME) {
      issues.push(
        source.issue(
          deployAt('strategy'),
          `strategy ${strategy} needs a second target group "${fullName}${ALTERNATE_SUFFIX}" (${fullName.length + ALTERNATE_SUFFIX.length} characters); AWS allows ${MAX_NAME}: shorten app, environment or service names`,
        ),
      );
    } else if (fullName.length > MAX_NAME) {
      issues.push(
        source.issue(
          envPath,
          `"${fullName}" is ${fullName.length} characters; AWS allows ${MAX_NAME} for load balancer and target group names: shorten app, environment or service names`,
          true,
        ),
      );
    }
    const cpu = over.cpu ?? svc.cpu ?? DEFAULTS.cpu;
    const memory = over.memory ?? svc.memory ?? DEFAULTS.memory;
    const allowed = FARGATE_SIZES[cpu] ?? [];
    if (!allowed.includes(memory)) {
      const at =
        over.memory !== undefined
          ? [...envPath, 'services', svcName, 'memory']
          : over.cpu !== undefined
            ? [...envPath, 'services', svcName, 'cpu']
            : svc.memory !== undefined
              ? [...svcPath, 'memory']
              : [...svcPath, 'cpu'];
      issues.push(
        source.issue(at, `memory ${memory} MiB is not a Fargate size for cpu ${cpu}; allowed: ${compactList(allowed)}`),
      );
    }
    if (!svc.build && !svc.image) {
      issues.push(source.issue(svcPath, 'a service needs build: (to build an image) or image: (a prebuilt one)', true));
    }
    if (svc.build && svc.image) {
      issues.push(source.issue([...svcPath, 'image'], 'set build: or image:, not both', true));
    }
    if (svc.port < 1024 && (svc.user === undefined || isNonRootUser(svc.user))) {
      // Fargate gives a non-root container no CAP_NET_BIND_SERVICE: it cannot listen below 1024.
      const who =
        svc.user === undefined
          ? `the default non-root user (the image's USER, else ${DEFAULT_USER})`
          : `user ${svc.user}`;
      issues.push(
        source.issue(
          [...svcPath, 'port'],
          `port ${svc.port} is below 1024 and the container runs as ${who}, which cannot bind it on Fargate; try: a port of 1024 or more (e.g. 8080), or user: root`,
        ),
      );
    }
    const vars = { ...stringify(svc.env), ...stringify(over.env) };
    const secrets = { ...(svc.secrets ?? {}), ...(over.secrets ?? {}) };
    for (const key of Object.keys(vars)) {
      const from =
        over.env?.[key] !== undefined ? [...envPath, 'services', svcName, 'env', key] : [...svcPath, 'env', key];
      if (looksSecret(key, vars[key]!)) {
        issues.push(
          source.issue(
            from,
            'looks like a secret in plain text; reference it under secrets: (an SSM parameter or Secrets Manager ARN)',
            true,
          ),
        );
      }
      if (key in secrets) issues.push(source.issue(from, `"${key}" is set in both env and secrets`, true));
    }
    const paths = svc.route?.paths ?? [...DEFAULTS.routePaths];
    const hosts = svc.route?.hosts ?? null;
    for (const p of paths) {
      const key = `${(hosts ?? ['*']).join(',')} ${p}`;
      const other = seenRoutes.get(key);
      if (other) {
        issues.push(
          source.issue([...svcPath, 'route', 'paths'], `path "${p}" is already routed to service "${other}"`),
        );
        duplicatePaths.add(`${svcName} ${p}`);
      }
      seenRoutes.set(key, svcName);
    }
    if (paths.length + (hosts?.length ?? 0) > MAX_RULE_CONDITION_VALUES) {
      // ELB quotas: a listener rule holds at most 5 condition values in total (its paths and hosts).
      issues.push(
        source.issue(
          [...svcPath, 'route'],
          `route has ${paths.length} path(s) and ${hosts?.length ?? 0} host(s): an ALB rule allows ${MAX_RULE_CONDITION_VALUES} condition values in total`,
        ),
      );
    }
    const hc = svc.healthCheck ?? {};
    const hcInterval = hc.intervalSeconds ?? DEFAULTS.healthInterval;
    const hcTimeout = hc.timeoutSeconds ?? DEFAULTS.healthTimeout;
    if (hcTimeout >= hcInterval) {
      // CreateTargetGroup / ModifyTargetGroup: the timeout must be smaller than the interval.
      issues.push(
        source.issue(
          [...svcPath, 'healthCheck', hc.timeoutSeconds !== undefined ? 'timeoutSeconds' : 'intervalSeconds'],
          `health check timeout ${hcTimeout}s must be less than the interval ${hcInterval}s`,
        ),
      );
    }
    const desiredCount =
      over.desiredCount ?? env.desiredCount ?? svc.desiredCount ?? defaults.desiredCount ?? DEFAULTS.desiredCount;
    if (autoscaling && (desiredCount < autoscaling.min || desiredCount > autoscaling.max)) {
      issues.push(
        source.issue(
          whereSet('desiredCount'),
          `desiredCount ${desiredCount} for ${svcName} is outside autoscaling ${autoscaling.min}..${autoscaling.max}`,
        ),
      );
    }
    const build = svc.build
      ? {
          context: absolute(config.baseDir, svc.build.context ?? DEFAULTS.context),
          dockerfile: svc.build.dockerfile ?? DEFAULTS.dockerfile,
          args: stringify(svc.build.args),
          ...(svc.build.target ? { target: svc.build.target } : {}),
          platform: svc.build.platform ?? DEFAULTS.platform,
        }
      : null;
    services.push({
      name: svcName,
      fullName,
      repository: registryLayout === 'shared' ? `${raw.app}-${svcName}` : fullName,
      port: svc.port,
      cpu,
      memory,
      desiredCount,
      build,
      image: svc.image ?? null,
      command: svc.command ?? null,
      healthCheck: {
        path: hc.path ?? DEFAULTS.healthPath,
        matcher: hc.matcher ?? DEFAULTS.healthMatcher,
        intervalSeconds: hc.intervalSeconds ?? DEFAULTS.healthInterval,
        timeoutSeconds: hc.timeoutSeconds ?? DEFAULTS.healthTimeout,
        healthyThreshold: hc.healthyThreshold ?? DEFAULTS.healthyThreshold,
        unhealthyThreshold: hc.unhealthyThreshold ?? DEFAULTS.unhealthyThreshold,
        gracePeriodSeconds: hc.gracePeriodSeconds ?? DEFAULTS.gracePeriodSeconds,
        command: hc.command ?? null,
      },
      route: { paths, hosts, priority: svc.route?.priority ?? 0 },
      env: vars,
      secrets,
      taskRolePolicyArns: svc.taskRolePolicyArns ?? [],
      readonlyRootFilesystem: svc.readonlyRootFilesystem ?? true,
      writablePaths: svc.writablePaths ?? [],
      user: svc.user ?? null,
      tags: { ...tags, 'patchwork:service': svcName },
    });
  });

  (deploy.preDeploy ?? []).forEach((p, i) => {
    if (p.service !== undefined && !(p.service in raw.services)) {
      issues.push(
        source.issue(
          [...whereSet('deploy'), 'preDeploy', i, 'service'],
          `unknown service "${p.service}" (services: ${Object.keys(raw.services).join(', ')})`,
        ),
      );
    }
  });
  issues.push(...routeIssues(config, services, duplicatePaths));

  if (issues.length > 0) throw configError('PW_CONFIG_INVALID', issues);
  const clashes = nameClashes(
    derivedNames({ name, progressive: isProgressive(strategy), alarms: alarms !== null }, services),
  );
  if (clashes.length > 0) {
    const whose = (n: { service: string | null; role: string }) =>
      n.service === null ? `the environment's ${n.role}` : `service "${n.service}"'s ${n.role}`;
    throw configError(
      'PW_NAME_CLASH',
      clashes.map(({ first, second }) =>
        source.issue(
          ['services', second.service ?? first.service ?? ''],
          `${whose(second)} and ${whose(first)} would both be the ${first.namespace} "${first.name}"${isProgressive(strategy) && (first.role.startsWith('alternate') || second.role.startsWith('alternate')) ? ` (strategy ${strategy} adds ${ALTERNATE_SUFFIX} for the alternate target group)` : ''}: one AWS resource claimed twice`,
          true,
        ),
      ),
      'rename one of the services so that the names patchwork derives from <app>-<env>-<service> differ',
    );
  }

  if (opts.service && !serviceNames.includes(opts.service)) {
    const nearService = nearest(opts.service, serviceNames);
    throw new PatchworkError(
      'PW_UNKNOWN_SERVICE',
      `unknown service "${printable(opts.service)}"${nearService ? ` (did you mean ${nearService}?)` : ''}; defined: ${serviceNames.join(', ')}`,
      { hint: `pass --service ${nearService ?? serviceNames.join('|')}` },
    );
  }

  return {
    app: raw.app,
    env: envName,
    name,
    region,
    registry: registry ?? null,
    account: (() => {
      const a = env.account ?? defaults.account;
      return a === undefined ? null : String(a);
    })(),
    profile: env.profile ?? defaults.profile ?? null,
    registryLayout,
    registryLayoutConfigured: (env.registryLayout ?? defaults.registryLayout) !== undefined,
    configFile: config.file,
    baseDir: config.baseDir,
    services: opts.service ? services.filter((s) => s.name === opts.service) : services,
    network: {
      vpc: network.vpc ?? 'default',
      publicSubnets: network.publicSubnets ?? null,
      privateSubnets: network.privateSubnets ?? null,
      create: network.create
        ? { azs: network.azs ?? 2, cidr: network.cidr ?? '10.0.0.0/16', egress: network.egress ?? 'nat' }
        : null,
    },
    autoscaling: autoscaling
      ? {
          min: autoscaling.min,
          max: autoscaling.max,
          cpuPercent: autoscaling.cpuPercent ?? null,
          requestsPerTarget: autoscaling.requestsPerTarget ?? null,
          scaleInCooldownSeconds: autoscaling.scaleInCooldownSeconds ?? 300,
          scaleOutCooldownSeconds: autoscaling.scaleOutCooldownSeconds ?? 60,
        }
      : null,
    https: https ? { certificateArn: https.certificateArn, sslPolicy: https.sslPolicy ?? DEFAULTS.sslPolicy } : null,
    alarms: alarms
      ? {
          http5xxPerMinute: alarms.http5xxPerMinute ?? null,
          cpuPercent: alarms.cpuPercent ?? null,
          memoryPercent: alarms.memoryPercent ?? null,
          unhealthyHosts: alarms.unhealthyHosts ?? null,
          snsTopicArn: alarms.snsTopicArn ?? null,
        }
      : null,
    allowedCidrs: env.allowedCidrs ?? defaults.allowedCidrs ?? [...DEFAULTS.allowedCidrs],
    logRetentionDays: env.logRetentionDays ?? defaults.logRetentionDays ?? DEFAULTS.logRetentionDays,
    keepImages,
    secretsKmsKeys: [...new Set(env.secretsKmsKeys ?? defaults.secretsKmsKeys ?? [])].sort(),
    deploy: {
      timeoutSeconds: deploy.timeoutSeconds ?? DEFAULTS.timeoutSeconds,
      pollSeconds: deploy.pollSeconds ?? DEFAULTS.pollSeconds,
      keepReleases: deploy.keepReleases ?? DEFAULTS.keepReleases,
      lockTtlSeconds: deploy.lockTtlSeconds ?? DEFAULTS.lockTtlSeconds,
      smoke: deploy.smoke
        ? {
            path: deploy.smoke.path ?? null,
            host: deploy.smoke.host ?? null,
            url: deploy.smoke.url ?? null,
            expectStatus: deploy.smoke.expectStatus ?? DEFAULTS.smokeStatus,
            timeoutSeconds: deploy.smoke.timeoutSeconds ?? DEFAULTS.smokeTimeout,
          }
        : null,
      preDeploy: (deploy.preDeploy ?? []).map((p) => ({
        service: p.service ?? Object.keys(raw.services)[0]!,
        command: p.command,
      })),
      strategy,
      bakeMinutes: deploy.bakeMinutes ?? DEFAULTS.bakeMinutes,
      canary:
        strategy === 'canary'
          ? {
              percent: deploy.canary?.percent ?? DEFAULTS.canaryPercent,
              bakeMinutes: deploy.canary?.bakeMinutes ?? DEFAULTS.canaryBakeMinutes,
            }
          : null,
      linear:
        strategy === 'linear'
          ? {
              stepPercent: deploy.linear?.stepPercent ?? DEFAULTS.linearStepPercent,
              stepBakeMinutes: deploy.linear?.stepBakeMinutes ?? DEFAULTS.linearStepBakeMinutes,
            }
          : null,
      testListenerPort: deploy.testListener?.port ?? DEFAULTS.testListenerPort,
      preTraffic: (deploy.preTraffic ?? []).map((c) => ({
        path: c.path,
        expectStatus: c.expectStatus ?? DEFAULTS.preTrafficStatus,
      })),
    },
    tags,
  };
}

/**
 * Fills in each service's listener-rule priority (explicit, else from its route's specificity:
 * routes.ts) and returns the issues: two services with one explicit priority, and a path that can
 * never match because an earlier rule takes all its requests (naming both services).
 */
function routeIssues(config: LoadedConfig, services: ResolvedService[], duplicates: Set<string>): ConfigIssue[] {
  const { raw, source } = config;
  const issues: ConfigIssue[] = [];
  const explicit = (svc: string) => raw.services[svc]?.route?.priority;
  const routes = services.map((s) => ({
    service: s.name,
    paths: s.route.paths,
    hosts: s.route.hosts,
    ...(explicit(s.name) !== undefined ? { priority: explicit(s.name) } : {}),
  }));
  const byPriority = new Map<number, string>();
  for (const r of routes) {
    if (r.priority === undefined) continue;
    const other = byPriority.get(r.priority);
    if (other)
      issues.push(
        source.issue(
          ['services', r.service, 'route', 'priority'],
          `priority ${r.priority} is also service "${other}"'s: listener rule priorities must be unique`,
        ),
      );
    else byPriority.set(r.priority, r.service);
  }
  const priorities = assignPriorities(routes);
  for (const s of services) s.route.priority = priorities.get(s.name)!;
  /** Where a service's route is written: its priority when explicit, else the path, else the service. */
  const where = (svc: string, path?: string) => {
    const route = raw.services[svc]?.route;
    if (route?.priority !== undefined && path === undefined) return ['services', svc, 'route', 'priority'];
    const i = route?.paths?.indexOf(path ?? '') ?? -1;
    if (i >= 0) return ['services', svc, 'route', 'paths', i];
    return route ? ['services', svc, 'route'] : ['services', svc];
  };
  for (const sh of shadowedPaths(services.map((s) => ({ service: s.name, ...s.route })))) {
    if (duplicates.has(`${sh.service} ${sh.path}`)) continue;
    const by = source.issue(where(sh.by, sh.byPath), '');
    const chosen = (svc: string) => (explicit(svc) !== undefined ? 'explicit' : 'default');
    issues.push(
      source.issue(
        explicit(sh.service) !== undefined ? where(sh.service) : where(sh.service, sh.path),
        `path "${sh.path}" of service "${sh.service}" (priority ${sh.priority}, ${chosen(sh.service)}) can never match: service "${sh.by}" (priority ${sh.byPriority}, ${chosen(sh.by)}, ${by.file}:${by.line}) routes "${sh.byPath}" first; give "${sh.service}" a lower priority than "${sh.by}" or drop the explicit priorities`,
      ),
    );
  }
  return issues;
}

function absolute(base: string, p: string): string {
  return isAbsolute(p) ? p : resolvePath(base, p);
}

const SECRET_NAME = /(^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|SECRET_ACCESS_KEY|CREDENTIALS?)$/i;
/** A key named like a secret, or a value shaped like an AWS secret/access key or a private key. */
export function looksSecret(key: string, value: string): boolean {
  if (value === '') return false;
  if (SECRET_NAME.test(key)) return true;
  return /^(AKIA|ASIA)[A-Z0-9]{16}$/.test(value) || /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value);
}

function compactList(values: number[]): string {
  if (values.length <= 4) return values.join(', ');
  return `${values[0]}–${values[values.length - 1]} in steps of ${values[1]! - values[0]!}`;
}

/** Whether the preflight applies: subnets are given (not the default VPC's, not a network patchwork creates). */
export function preflightApplies(target: ResolvedEnvironment): boolean {
  const net = target.network;
  if (net.create) return false;
  return !!(net.publicSubnets?.length || net.privateSubnets?.length);
}
