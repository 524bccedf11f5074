/**
 * Task definition derivation — pure. A new revision of `<app>-<env>-<svc>` is derived from the
 * service's current task definition (which carries roles, log group and anything set out of band)
 * with the config's settings laid over it and the image pinned by digest. Works from the bootstrap
 * placeholder too: only the family changes.
 */
import type {
  ContainerDefinition,
  MountPoint,
  RegisterTaskDefinitionCommandInput,
  Tag,
  TaskDefinition,
  Volume,
} from '@aws-sdk/client-ecs';
import { DEFAULT_USER, isNonRootUser, type ResolvedEnvironment, type ResolvedService } from '../config/resolve.js';
import { containerName, logGroupName, taskFamily } from '../desired/names.js';
import type { ContainerContent, ContainerHealth, ImageFacts, RuntimePlatform } from '../desired/types.js';
import { PatchworkError } from '../errors.js';

export type { ContainerHealth, RuntimePlatform } from '../desired/types.js';

export interface ReleaseFacts {
  /** `repo@sha256:…` */
  image: string;
  /** Git sha (or tag) of the image. */
  sha: string;
  /** IAM identity (ARN) of who deploys. */
  deployer: string;
  /** ISO time. */
  time: string;
  /** The image's configured USER, when known (a local build); unknown: the previous revision's. */
  imageUser?: string | null;
  /** The task's platform when known otherwise (an `image:` service's image); default from `build.platform`. */
  runtimePlatform?: RuntimePlatform;
}

const DIGEST_RE = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

export function isDigestPinned(image: string): boolean {
  return DIGEST_RE.test(image);
}

/** `host/repo:tag` + digest → `host/repo@sha256:…` */
export function pinImage(image: string, digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest))
    throw new PatchworkError('PW_UNEXPECTED', `not an image digest: ${digest}`);
  const at = image.indexOf('@');
  let repo = at >= 0 ? image.slice(0, at) : image;
  const slash = repo.lastIndexOf('/');
  const colon = repo.lastIndexOf(':');
  if (colon > slash) repo = repo.slice(0, colon);
  return `${repo}@${digest}`;
}

/** Tag values: ECS allows 256 characters and a restricted character set. */
function tagValue(v: string): string {
  return v.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_').slice(0, 256);
}

export function releaseTags(
  target: Pick<ResolvedEnvironment, 'tags'>,
  svc: Pick<ResolvedService, 'name' | 'tags'>,
  r: ReleaseFacts,
): Tag[] {
  const all: Record<string, string> = {
    ...target.tags,
    ...svc.tags,
    'patchwork:service': svc.name,
    'patchwork:sha': r.sha,
    'patchwork:deployer': r.deployer,
    'patchwork:time': r.time,
  };
  // No git sha known (an --image without a revision label): no patchwork:sha tag rather than an empty one.
  return Object.entries(all)
    .filter(([key, value]) => key !== 'patchwork:sha' || value !== '')
    .map(([key, value]) => ({ key, value: tagValue(value) }));
}

const nonRoot = (u: string | null | undefined): string | null => (isNonRootUser(u) ? u!.trim() : null);

/**
 * Who the container runs as: the config's `user` (root only when written there), else the image's
 * non-root USER, else the previous revision's non-root user, else DEFAULT_USER — never root by default.
 */
export function containerUser(
  svc: Pick<ResolvedService, 'user'>,
  imageUser: string | null | undefined,
  previous: string | undefined,
): string {
  return svc.user ?? nonRoot(imageUser) ?? nonRoot(previous) ?? DEFAULT_USER;
}

export function containerHealth(hc: ResolvedService['healthCheck']): ContainerHealth | null {
  if (!hc.command) return null;
  return {
    command: hc.command,
    interval: Math.max(5, Math.min(300, hc.intervalSeconds)),
    timeout: Math.max(2, Math.min(60, hc.timeoutSeconds)),
    retries: Math.max(1, Math.min(10, hc.unhealthyThreshold)),
    startPeriod: Math.max(0, Math.min(300, hc.gracePeriodSeconds)),
  };
}

/**
 * The task's platform. `build:` services: `build.platform` (`linux/arm64` → ARM64, Graviton; else X86_64).
 * `image:` services: the image's own platform as its registry tells (`image`): ARM64 when it has arm64
 * and no amd64 for linux, else X86_64 (the Fargate default, also when unknown).
 */
export function runtimePlatformOf(
  svc: Pick<ResolvedService, 'build'>,
  image?: Pick<ImageFacts, 'architectures'> | null,
): RuntimePlatform {
  const arm = svc.build
    ? svc.build.platform === 'linux/arm64'
    : !!image && image.architectures.includes('arm64') && !image.architectures.includes('amd64');
  return { cpuArchitecture: arm ? 'ARM64' : 'X86_64', operatingSystemFamily: 'LINUX' };
}

/** A task definition's platform, as the RuntimePlatform type (X86_64 / LINUX when unset). */
export function platformOf(td: Pick<TaskDefinition, 'runtimePlatform'>): RuntimePlatform {
  return {
    cpuArchitecture: td.runtimePlatform?.cpuArchitecture === 'ARM64' ? 'ARM64' : 'X86_64',
    operatingSystemFamily: 'LINUX',
  };
}

/** Volume names patchwork owns (a fresh writable volume per path): `writable-<path>`. */
export const WRITABLE_PREFIX = 'writable-';

/** The paths that get a writable volume: `/tmp` under a read-only root, then `writablePaths`, once each. */
export function writablePathsOf(svc: Pick<ResolvedService, 'readonlyRootFilesystem' | 'writablePaths'>): string[] {
  return [...new Set([...(svc.readonlyRootFilesystem ? ['/tmp'] : []), ...svc.writablePaths])];
}

/** `/var/cache/nginx` → `writable-var-cache-nginx` (ECS volume names: letters, digits, `-`, `_`). */
export function volumeName(path: string): string {
  const slug = path
    .replace(/^\/+/, '')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .slice(0, 200);
  return `${WRITABLE_PREFIX}${slug || 'root'}`;
}

/**
 * Host-less task volumes (Fargate: a fresh bind mount per task on its ephemeral storage) and the
 * container's mount points for `paths`. Writable by the container's user when the image has the path
 * with permissions that allow it (a path the image lacks is root-owned 0755 on Fargate).
 */
export function writableVolumes(paths: string[]): { volumes: Volume[]; mountPoints: MountPoint[] } {
  return {
    volumes: paths.map((p) => ({ name: volumeName(p) })),
    mountPoints: paths.map((p) => ({ sourceVolume: volumeName(p), containerPath: p, readOnly: false })),
  };
}

/** Everything the service container is made of: the bootstrap placeholder and deploy both build from it. */
export interface ContainerSpec extends ContainerContent {
  name: string;
  port: number;
  region: string;
  /** Log stream prefix: the config service name. */
  streamPrefix: string;
}

const sortedEntries = (o: Record<string, string>) => Object.entries(o).sort(([a], [b]) => a.localeCompare(b));

/** The one container definition builder (env and secrets sorted, health check with its timings). */
export function containerDefinition(s: ContainerSpec): ContainerDefinition {
  const c: ContainerDefinition = {
    name: s.name,
    image: s.image,
    essential: true,
    portMappings: [{ containerPort: s.port, protocol: 'tcp' }],
    environment: sortedEntries(s.env).map(([n, value]) => ({ name: n, value })),
    secrets: sortedEntries(s.secrets).map(([n, valueFrom]) => ({ name: n, valueFrom })),
    readonlyRootFilesystem: s.readonlyRootFilesystem,
    mountPoints: writableVolumes(s.writablePaths).mountPoints,
    user: s.user,
    logConfiguration: {
      logDriver: 'awslogs',
      options: { 'awslogs-group': s.logGroup, 'awslogs-region': s.region, 'awslogs-stream-prefix': s.streamPrefix },
    },
  };
  if (s.command) c.command = s.command;
  if (s.healthCheck) c.healthCheck = { ...s.healthCheck, command: ['CMD', ...s.healthCheck.command] };
  return c;
}

export interface TaskSpec {
  family: string;
  cpu: number;
  memory: number;
  runtimePlatform: RuntimePlatform;
  containers: ContainerDefinition[];
  tags: Tag[];
  executionRoleArn?: string | undefined;
  taskRoleArn?: string | undefined;
  volumes?: Volume[] | undefined;
}

/** The one RegisterTaskDefinition input builder: Fargate, awsvpc, the service's platform. */
export function taskDefinitionInput(t: TaskSpec): RegisterTaskDefinitionCommandInput {
  const input: RegisterTaskDefinitionCommandInput = {
    family: t.family,
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: String(t.cpu),
    memory: String(t.memory),
    runtimePlatform: { ...t.runtimePlatform },
    containerDefinitions: t.containers,
    tags: t.tags,
  };
  if (t.executionRoleArn) input.executionRoleArn = t.executionRoleArn;
  if (t.taskRoleArn) input.taskRoleArn = t.taskRoleArn;
  if (t.volumes?.length) input.volumes = t.volumes;
  return input;
}

/**
 * The RegisterTaskDefinition input of a release. `base` is the service's current task definition
 * (roles, volumes and other containers come from it); the service container is built from config.
 */
export function deriveTaskDefinition(
  target: Pick<ResolvedEnvironment, 'region' | 'tags'>,
  svc: ResolvedService,
  base: TaskDefinition,
  r: ReleaseFacts,
): RegisterTaskDefinitionCommandInput {
  if (!isDigestPinned(r.image)) throw new PatchworkError('PW_UNEXPECTED', `image must be pinned by digest: ${r.image}`);
  const name = containerName(svc);
  const prev: ContainerDefinition =
    base.containerDefinitions?.find((c) => c.name === name) ?? base.containerDefinitions?.[0] ?? {};
  const writable = writablePathsOf(svc);
  const container: ContainerDefinition = {
    ...prev,
    ...containerDefinition({
      name,
      image: r.image,
      port: svc.port,
      env: svc.env,
      secrets: svc.secrets,
      command: svc.command,
      readonlyRootFilesystem: svc.readonlyRootFilesystem,
      writablePaths: writable,
      user: containerUser(svc, r.imageUser, prev.user),
      healthCheck: containerHealth(svc.healthCheck),
      logGroup: logGroupName(svc),
      region: target.region,
      streamPrefix: svc.name,
    }),
  };
  if (!svc.command) delete container.command;
  if (!svc.healthCheck.command) delete container.healthCheck;
  // Mount points and volumes set out of band are kept; patchwork's own (`writable-…`) follow the config.
  const ours = (v: string | undefined) => !!v?.startsWith(WRITABLE_PREFIX);
  container.mountPoints = [
    ...(prev.mountPoints ?? []).filter((m) => !ours(m.sourceVolume)),
    ...(container.mountPoints ?? []),
  ];
  const volumes = [...(base.volumes ?? []).filter((v) => !ours(v.name)), ...writableVolumes(writable).volumes];
  const input = taskDefinitionInput({
    family: taskFamily(svc),
    cpu: svc.cpu,
    memory: svc.memory,
    // build: the configured platform; image: the running revision's (provision set it from the image).
    runtimePlatform:
      r.runtimePlatform ?? (svc.build || !base.runtimePlatform ? runtimePlatformOf(svc) : platformOf(base)),
    containers: [container, ...(base.containerDefinitions ?? []).filter((c) => c.name !== prev.name)],
    tags: releaseTags(target, svc, r),
    executionRoleArn: base.executionRoleArn,
    taskRoleArn: base.taskRoleArn,
  });
  if (volumes.length) input.volumes = volumes;
  if (base.ephemeralStorage) input.ephemeralStorage = base.ephemeralStorage;
  return input;
}

/** The digest a task definition's service container is pinned to, if any. */
export function digestOf(
  td: Pick<TaskDefinition, 'containerDefinitions'>,
  svc: Pick<ResolvedService, 'name'>,
): string | null {
  const c = td.containerDefinitions?.find((x) => x.name === containerName(svc)) ?? td.containerDefinitions?.[0];
  const m = c?.image?.match(/@(sha256:[0-9a-f]{64})$/);
  return m?.[1] ?? null;
}
