/**
 * The patchwork.yml schema: one zod definition that validates files, types the code and is
 * exported as JSON Schema for editors (`patchwork schema`). Every object is strict: unknown keys
 * are errors. Defaults are applied when an environment is resolved (resolve.ts), not here, so that
 * environments can merge over top-level defaults without defaults masking what was written.
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const NAME_RE = /^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$/;
const resourceName = (what: string) =>
  z
    .string()
    .regex(NAME_RE, `${what} must be lowercase letters, digits and dashes, starting with a letter`)
    .max(20, `${what} is at most 20 characters (AWS names are built from it)`);

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _');

export const SECRET_ARN_RE =
  /^arn:aws[a-z-]*:(ssm:[a-z0-9-]+:\d{12}:parameter\/.+|secretsmanager:[a-z0-9-]+:\d{12}:secret:.+)$/;
export const CERT_ARN_RE = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[A-Za-z0-9-]+$/;
const SNS_ARN_RE = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/;
const IAM_POLICY_ARN_RE = /^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/.+$/;
/** A KMS key ARN (not an alias: kms:Decrypt is authorised on the key's own ARN). */
export const KMS_KEY_ARN_RE = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/** IPv4 or IPv6 CIDR, checked strictly (octets, prefix length). */
export function isCidr(value: string): boolean {
  const [addr, prefix, extra] = value.split('/');
  if (addr === undefined || prefix === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefix)) return false;
  const bits = Number(prefix);
  if (z.ipv4().safeParse(addr).success) return bits <= 32;
  if (z.ipv6().safeParse(addr).success) return bits <= 128;
  return false;
}
const cidr = z.string().refine(isCidr, { message: 'expected a CIDR such as 203.0.113.0/24' });

/** An IPv4 CIDR whose prefix is /16 to /24, with no host bits set (a VPC's block). */
export function isVpcCidr(value: string): boolean {
  if (!isCidr(value) || !z.ipv4().safeParse(value.split('/')[0]).success) return false;
  const [addr, prefix] = value.split('/') as [string, string];
  const bits = Number(prefix);
  if (bits < 16 || bits > 24) return false;
  const n = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n % 2 ** (32 - bits) === 0;
}

const subnetId = z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'expected a subnet id such as subnet-0abc1234');

/** Fargate's valid cpu → memory (MiB) combinations. */
export const FARGATE_SIZES: Record<number, number[]> = (() => {
  const range = (from: number, to: number, step: number) =>
    Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
  return {
    256: [512, 1024, 2048],
    512: range(1024, 4096, 1024),
    1024: range(2048, 8192, 1024),
    2048: range(4096, 16384, 1024),
    4096: range(8192, 30720, 1024),
    8192: range(16384, 61440, 4096),
    16384: range(32768, 122880, 8192),
  };
})();

const cpu = z
  .literal([256, 512, 1024, 2048, 4096, 8192, 16384], {
    error: 'expected one of Fargate CPU sizes 256, 512, 1024, 2048, 4096, 8192, 16384',
  })
  .describe('Fargate task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384');
const memory = int(512, 122880).describe('Task memory in MiB; must be valid for the cpu (Fargate sizes)');

export const BuildSchema = z
  .strictObject({
    context: z.string().min(1).optional().describe('Build context directory, relative to patchwork.yml (default ".")'),
    dockerfile: z.string().min(1).optional().describe('Dockerfile path inside the context (default "Dockerfile")'),
    args: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe('Build args'),
    target: z.string().min(1).nullish().describe('Multi-stage target'),
    platform: z.enum(['linux/amd64', 'linux/arm64']).optional().describe('Image platform (default linux/amd64)'),
  })
  .describe('How the service image is built');

export const HealthCheckSchema = z.strictObject({
  path: z.string().startsWith('/').optional().describe('ALB health check path (default "/")'),
  matcher: z
    .string()
    .regex(/^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$/, 'expected HTTP codes such as 200 or 200-399')
    .optional(),
  intervalSeconds: int(5, 300).optional(),
  timeoutSeconds: int(2, 120).optional(),
  healthyThreshold: int(2, 10).optional(),
  unhealthyThreshold: int(2, 10).optional(),
  gracePeriodSeconds: int(0, 7200).optional().describe('ECS health check grace period (default 30)'),
  command: z.array(z.string()).min(1).optional().describe('Container health check command (CMD form)'),
});

export const RouteSchema = z.strictObject({
  paths: z.array(z.string().startsWith('/')).min(1).max(5).optional().describe('Path patterns (default ["/*"])'),
  hosts: z.array(z.string().min(1)).min(1).max(5).optional().describe('Host header patterns'),
  priority: int(1, 50000).optional().describe('Listener rule priority (default: stable, from the service order)'),
});

const envVars = z.record(envVarName, z.union([z.string(), z.number(), z.boolean()]));
const secrets = z.record(
  envVarName,
  z.string().regex(SECRET_ARN_RE, 'expected an SSM parameter or Secrets Manager ARN (valueFrom); plaintext is refused'),
);

export const ServiceSchema = z.strictObject({
  build: BuildSchema.optional(),
  image: z.string().min(1).optional().describe('A prebuilt image instead of build (repo:tag or repo@sha256:…)'),
  port: int(1, 65535).describe('Container port the app listens on'),
  cpu: cpu.optional(),
  memory: memory.optional(),
  desiredCount: int(0, 1000).optional(),
  command: z.array(z.string()).min(1).optional(),
  healthCheck: HealthCheckSchema.optional(),
  route: RouteSchema.optional(),
  env: envVars.optional().describe('Plain environment variables (no secrets: use secrets)'),
  secrets: secrets.optional().describe('Secrets by reference: NAME: ssm or secretsmanager ARN'),
  taskRolePolicyArns: z.array(z.string().regex(IAM_POLICY_ARN_RE, 'expected an IAM policy ARN')).optional(),
  readonlyRootFilesystem: z.boolean().optional().describe('Default true'),
  writablePaths: z
    .array(
      z
        .string()
        .regex(/^(\/[A-Za-z0-9._@+-]+)+$/, 'expected an absolute path such as /var/cache/app')
        .refine((p) => !p.split('/').includes('..'), 'expected a path without ..'),
    )
    .max(20)
    .optional()
    .describe('Paths that get a fresh writable volume each task (/tmp has one already when the root is read-only)'),
  user: z
    .string()
    .regex(
      /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/,
      'expected uid, uid:gid, user or user:group',
    )
    .optional()
    .describe("The container's user. Default: the image's own non-root USER, else 65532. Root only when set here."),
});

export const ServiceOverrideSchema = z.strictObject({
  cpu: cpu.optional(),
  memory: memory.optional(),
  desiredCount: int(0, 1000).optional(),
  env: envVars.optional(),
  secrets: secrets.optional(),
});

export const NetworkSchema = z.strictObject({
  vpc: z
    .union([z.literal('default'), z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'expected "default" or a VPC id')])
    .optional(),
  publicSubnets: z.array(subnetId).min(2, 'an ALB needs subnets in at least two availability zones').optional(),
  privateSubnets: z.array(subnetId).min(1).optional(),
  create: z
    .literal(true)
    .optional()
    .describe('patchwork creates the VPC, subnets, gateways and routes (not with vpc/publicSubnets/privateSubnets)'),
  azs: z.literal([2, 3]).optional().describe('With create: availability zones to span (default 2)'),
  cidr: z
    .string()
    .refine(isVpcCidr, { message: 'expected an IPv4 CIDR from /16 to /24 such as 10.0.0.0/16' })
    .optional()
    .describe('With create: the VPC CIDR, /16 to /24 (default 10.0.0.0/16)'),
  egress: z
    .enum(['nat', 'nat-per-az', 'endpoints', 'none'])
    .optional()
    .describe(
      'With create: how private tasks reach AWS and the internet: one NAT gateway (default), one per AZ, VPC endpoints only, or none',
    ),
});

export const AutoscalingSchema = z.strictObject({
  min: int(0, 1000),
  max: int(1, 1000),
  cpuPercent: int(1, 100).optional(),
  requestsPerTarget: int(1, 1_000_000).optional(),
  scaleInCooldownSeconds: int(0, 3600).optional(),
  scaleOutCooldownSeconds: int(0, 3600).optional(),
});

export const HttpsSchema = z.strictObject({
  certificateArn: z.string().regex(CERT_ARN_RE, 'expected an ACM certificate ARN'),
  sslPolicy: z.string().min(1).optional().describe('Default ELBSecurityPolicy-TLS13-1-2-2021-06'),
});

export const AlarmsSchema = z.strictObject({
  http5xxPerMinute: int(1, 1_000_000).optional(),
  cpuPercent: int(1, 100).optional(),
  memoryPercent: int(1, 100).optional(),
  unhealthyHosts: int(0, 1000).optional(),
  snsTopicArn: z.string().regex(SNS_ARN_RE, 'expected an SNS topic ARN').nullish(),
});

export const SmokeSchema = z.strictObject({
  path: z
    .string()
    .startsWith('/')
    .optional()
    .describe('Path to GET through the load balancer (needed unless url is set)'),
  host: z
    .string()
    .regex(
      /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/,
      'expected a host name such as shop.example.com',
    )
    .optional()
    .describe(
      "Host header and TLS SNI of the smoke test (default: the first route.hosts entry, else the load balancer's DNS name)",
    ),
  url: z
    .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
    .optional()
    .describe('Full URL to GET instead of the load balancer (overrides path and host)'),
  expectStatus: int(100, 599).optional(),
  timeoutSeconds: int(1, 300).optional(),
});

/** A percentage ECS accepts for canary / linear steps: multiples of 0.1 in [min, 100]. */
const tenthPercent = (min: number) =>
  z
    .number()
    .min(min)
    .max(100)
    .refine((n) => Math.abs(n * 10 - Math.round(n * 10)) < 1e-9, { message: 'expected a multiple of 0.1' });
const bakeMinutes = int(0, 1440);

export const STRATEGIES = ['rolling', 'blue-green', 'canary', 'linear'] as const;

export const DeploySchema = z.strictObject({
  strategy: z
    .enum(STRATEGIES)
    .optional()
    .describe(
      'rolling (default): replace tasks in place; blue-green, canary, linear: ECS starts a green revision beside the old one, checks it on the test listener, then shifts production traffic (all at once, a canary share first, or in equal steps)',
    ),
  bakeMinutes: bakeMinutes
    .optional()
    .describe('blue-green, canary, linear: minutes the old revision is kept after all traffic moved (default 5)'),
  canary: z
    .strictObject({
      percent: tenthPercent(0.1).optional().describe('Share of production traffic sent first (default 10)'),
      bakeMinutes: bakeMinutes.optional().describe('Minutes at that share before the rest moves (default 10)'),
    })
    .optional(),
  linear: z
    .strictObject({
      stepPercent: tenthPercent(3).optional().describe('Share of production traffic moved per step (default 10)'),
      stepBakeMinutes: bakeMinutes.optional().describe('Minutes between steps (default 6)'),
    })
    .optional(),
  testListener: z
    .strictObject({
      port: int(1, 65535)
        .refine((p) => p !== 80 && p !== 443, { message: 'ports 80 and 443 serve production traffic' })
        .optional()
        .describe('Port of the test listener that reaches the new revision before production does (default 9000)'),
    })
    .optional(),
  preTraffic: z
    .array(
      z.strictObject({
        path: z.string().startsWith('/'),
        expectStatus: int(100, 599).optional().describe('Default 200'),
      }),
    )
    .max(20)
    .optional()
    .describe('GETs through the test listener (after the smoke test) that must pass before production traffic moves'),
  timeoutSeconds: int(30, 86400).optional(),
  pollSeconds: int(1, 60).optional(),
  keepReleases: int(1, 100).optional(),
  lockTtlSeconds: int(60, 86400).optional(),
  smoke: SmokeSchema.nullish(),
  preDeploy: z
    .array(
      z.strictObject({
        command: z.array(z.string()).min(1).describe('the command of the one-off task, e.g. ["/app/migrate", "up"]'),
        service: z
          .string()
          .min(1)
          .optional()
          .describe('whose new task definition runs it (default: the first service)'),
      }),
    )
    .optional()
    .describe('one-off tasks run on the new task definition before UpdateService; a non-zero exit aborts the deploy'),
});

const LOG_RETENTION = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Settings an environment may set, and that `defaults:` may set for every environment. */
const environmentSettings = {
  region: z.string().min(1).optional(),
  registry: z.string().min(1).nullish().describe('host[:port] of a plain registry; default ECR'),
  account: z
    .union([z.string(), z.number()])
    .refine((v) => /^\d{12}$/.test(String(v)), {
      message: 'expected a 12-digit AWS account id, quoted ("012345678901")',
    })
    .optional()
    .describe(
      "The AWS account the environment lives in: checked against the credentials' account before promote copies an image into or out of it",
    ),
  profile: z
    .string()
    .min(1)
    .optional()
    .describe("The AWS profile (~/.aws/config) the environment's calls use; --profile beats it, it beats AWS_PROFILE"),
  desiredCount: int(0, 1000).optional(),
  network: NetworkSchema.optional(),
  autoscaling: AutoscalingSchema.nullish(),
  https: HttpsSchema.nullish(),
  alarms: AlarmsSchema.nullish(),
  allowedCidrs: z.array(cidr).min(1).optional(),
  logRetentionDays: z
    .number()
    .int()
    .refine((n) => (LOG_RETENTION as readonly number[]).includes(n), {
      message: `expected one of CloudWatch Logs' retention values: ${LOG_RETENTION.join(', ')}`,
    })
    .optional(),
  keepImages: int(1, 1000).optional().describe('ECR lifecycle: images kept per repository (default 30)'),
  secretsKmsKeys: z
    .array(z.string().regex(KMS_KEY_ARN_RE, 'expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias)'))
    .optional()
    .describe(
      "Customer-managed KMS keys that encrypt the services' secrets: the execution roles get kms:Decrypt on them, through SSM / Secrets Manager only",
    ),
  registryLayout: z
    .enum(['shared', 'per-env'])
    .optional()
    .describe(
      'shared (default): one repository <app>-<service> for every environment of an account and region; per-env: <app>-<env>-<service> (the layout before 0.2)',
    ),
  deploy: DeploySchema.optional(),
};

export const DefaultsSchema = z.strictObject(environmentSettings);
export const EnvironmentSchema = z.strictObject({
  ...environmentSettings,
  services: z.record(z.string(), ServiceOverrideSchema).optional().describe('Per-service overrides'),
});

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    app: resourceName('app'),
    region: z.string().min(1).optional().describe('Default AWS region (else AWS_REGION)'),
    registry: z.string().min(1).nullish(),
    services: z.record(resourceName('service name'), ServiceSchema).refine((s) => Object.keys(s).length > 0, {
      message: 'at least one service is needed',
    }),
    environments: z
      .record(resourceName('environment name'), EnvironmentSchema.nullable())
      .refine((e) => Object.keys(e).length > 0, { message: 'at least one environment is needed' }),
    defaults: DefaultsSchema.optional(),
    deploy: DeploySchema.optional(),
  })
  .describe('patchwork.yml');

export type RawConfig = z.infer<typeof ConfigSchema>;
export type RawService = z.infer<typeof ServiceSchema>;
export type RawEnvironment = z.infer<typeof EnvironmentSchema>;

export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
