/**
 * The field-level difference a deploy or rollback would make — pure. Both sides are first reduced
 * to a view of what a user sets (image, env, secrets, cpu/memory, ports, health check, command,
 * user, platform, …); task-definition bookkeeping (revision, release tags, registration time) is
 * not a change. Env values are shown unless the key or value looks like a secret; secrets show their
 * source (`valueFrom`), never a value. Tested by equality (test/unit/release-diff.test.ts).
 */
import type { ContainerDefinition, RuntimePlatform, Tag } from '@aws-sdk/client-ecs';
import { looksSecret } from '../config/resolve.js';

export type DiffValue = string | number | boolean | null | string[] | { [key: string]: DiffValue };

export interface FieldChange {
  /**
   * `image`, `env.NAME`, `secrets.NAME`, `cpu`, `memory`, `ports`, `healthCheck`, `command`,
   * `entryPoint`, `user`, `workingDirectory`, `readonlyRootFilesystem`, `logConfiguration`,
   * `runtimePlatform`, `desiredCount`, `deploymentConfiguration`, `healthCheckGracePeriodSeconds`.
   */
  field: string;
  change: 'added' | 'removed' | 'changed';
  /** null when added. */
  before: DiffValue;
  /** null when removed. */
  after: DiffValue;
  /** An env value that looks like a secret: before/after say `(hidden)`. */
  hidden?: true;
}

export interface ImageView {
  repository: string;
  /** The git sha (or tag) of the release: the `patchwork:sha` tag of the task definition, or the image tag. */
  tag: string | null;
  /** null: not known yet (a deploy would build and push it). */
  digest: string | null;
}

/** What a user sets in a task definition's service container, and the task's size and platform. */
export interface TaskView {
  image: ImageView | null;
  env: Record<string, string>;
  secrets: Record<string, string>;
  cpu: string | null;
  memory: string | null;
  ports: string[];
  healthCheck: { [key: string]: DiffValue } | null;
  command: string[] | null;
  entryPoint: string[] | null;
  user: string | null;
  workingDirectory: string | null;
  readonlyRootFilesystem: boolean | null;
  logConfiguration: { [key: string]: DiffValue } | null;
  runtimePlatform: string | null;
}

/** The service settings a release can touch (desired count) or that provision owns (the rest). */
export interface ServiceView {
  desiredCount: number;
  deploymentConfiguration: {
    minimumHealthyPercent: number;
    maximumPercent: number;
    circuitBreaker: boolean;
    rollback: boolean;
  };
  healthCheckGracePeriodSeconds: number;
}

export interface ServiceDiff {
  service: string;
  /** The revision the service runs now, and the one it would run: an ARN (reused), or null (a new revision). */
  taskDefinition: { current: string | null; next: string | null };
  /** What this deploy or rollback would change. */
  changes: FieldChange[];
  /** Service settings that differ from the config: `patchwork provision` sets them; a deploy or rollback does not. */
  provision: FieldChange[];
}

export interface ReleaseDiff {
  kind: 'deploy' | 'rollback';
  env: string;
  /** Some service would change (`--exit-code` → 6). */
  pending: boolean;
  services: ServiceDiff[];
}

export type TaskLike = {
  containerDefinitions?: ContainerDefinition[] | undefined;
  cpu?: string | undefined;
  memory?: string | undefined;
  runtimePlatform?: RuntimePlatform | undefined;
};

const pairs = (list: { name?: string | undefined; value?: string | undefined }[] | undefined) =>
  Object.fromEntries((list ?? []).filter((e) => e.name).map((e) => [e.name!, e.value ?? '']));

/** `host/repo@sha256:…`, `host/repo:tag` or `host/repo` → repository, tag, digest. */
export function parseImage(image: string, tag: string | null): ImageView {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : null;
  let repository = at >= 0 ? image.slice(0, at) : image;
  let own: string | null = null;
  const colon = repository.lastIndexOf(':');
  if (colon > repository.lastIndexOf('/')) {
    own = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
  }
  return { repository, tag: tag ?? own, digest };
}

/** The view of `td`'s container `container` (else its first); `tags` give the release's sha. */
export function taskView(td: TaskLike, container: string, tags: Tag[] | undefined): TaskView {
  const c = td.containerDefinitions?.find((x) => x.name === container) ?? td.containerDefinitions?.[0];
  const sha = tags?.find((t) => t.key === 'patchwork:sha')?.value ?? null;
  const hc = c?.healthCheck;
  const log = c?.logConfiguration;
  const platform = td.runtimePlatform;
  return {
    image: c?.image ? parseImage(c.image, sha) : null,
    env: pairs(c?.environment),
    secrets: Object.fromEntries(
      (c?.secrets ?? []).filter((s) => s.name).map((s) => [s.name!, s.valueFrom ?? ''] as const),
    ),
    cpu: td.cpu ?? null,
    memory: td.memory ?? null,
    ports: (c?.portMappings ?? []).map((p) => `${p.containerPort ?? '?'}/${p.protocol ?? 'tcp'}`).sort(),
    healthCheck: hc
      ? strip({
          command: hc.command ?? [],
          interval: hc.interval ?? null,
          timeout: hc.timeout ?? null,
          retries: hc.retries ?? null,
          startPeriod: hc.startPeriod ?? null,
        })
      : null,
    command: c?.command?.length ? [...c.command] : null,
    entryPoint: c?.entryPoint?.length ? [...c.entryPoint] : null,
    user: c?.user ?? null,
    workingDirectory: c?.workingDirectory ?? null,
    readonlyRootFilesystem: c?.readonlyRootFilesystem ?? null,
    logConfiguration: log?.logDriver ? strip({ driver: log.logDriver, ...(log.options ?? {}) }) : null,
    runtimePlatform: platform
      ? `${platform.operatingSystemFamily ?? 'LINUX'}/${platform.cpuArchitecture ?? 'X86_64'}`
      : null,
  };
}

function strip(o: { [key: string]: DiffValue | undefined }): { [key: string]: DiffValue } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as {
    [key: string]: DiffValue;
  };
}

const same = (a: DiffValue, b: DiffValue): boolean => JSON.stringify(a) === JSON.stringify(b);

function field(name: string, before: DiffValue, after: DiffValue): FieldChange[] {
  if (same(before, after)) return [];
  const change = before === null ? 'added' : after === null ? 'removed' : 'changed';
  return [{ field: name, change, before, after }];
}

const HIDDEN = '(hidden)';

/** Per key of two maps: added, removed, changed; `hide` decides whether a value may be shown. */
function mapDiff(
  prefix: string,
  before: Record<string, string>,
  after: Record<string, string>,
  hide: (key: string, value: string) => boolean,
): FieldChange[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const out: FieldChange[] = [];
  for (const k of keys) {
    const b = before[k] ?? null;
    const a = after[k] ?? null;
    if (b === a) continue;
    const [c] = field(`${prefix}.${k}`, b, a);
    if (!c) continue;
    if ((b !== null && hide(k, b)) || (a !== null && hide(k, a))) {
      out.push({ ...c, before: b === null ? null : HIDDEN, after: a === null ? null : HIDDEN, hidden: true });
    } else out.push(c);
  }
  return out;
}

/** The image changes when its repository, digest or release tag does; an unknown digest (to be built) is a change. */
function imageDiff(before: ImageView | null, after: ImageView | null): FieldChange[] {
  const value = (i: ImageView | null): DiffValue =>
    i ? { repository: i.repository, tag: i.tag, digest: i.digest } : null;
  if (before && after && after.digest === null) {
    return [{ field: 'image', change: 'changed', before: value(before), after: value(after) }];
  }
  return field('image', value(before), value(after));
}

/** Every field of the view that differs, in the order of TaskView. */
export function diffTask(before: TaskView, after: TaskView): FieldChange[] {
  return [
    ...imageDiff(before.image, after.image),
    ...mapDiff('env', before.env, after.env, looksSecret),
    ...mapDiff('secrets', before.secrets, after.secrets, () => false),
    ...field('cpu', before.cpu, after.cpu),
    ...field('memory', before.memory, after.memory),
    ...field('ports', before.ports, after.ports),
    ...field('healthCheck', before.healthCheck, after.healthCheck),
    ...field('command', before.command, after.command),
    ...field('entryPoint', before.entryPoint, after.entryPoint),
    ...field('user', before.user, after.user),
    ...field('workingDirectory', before.workingDirectory, after.workingDirectory),
    ...field('readonlyRootFilesystem', before.readonlyRootFilesystem, after.readonlyRootFilesystem),
    ...field('logConfiguration', before.logConfiguration, after.logConfiguration),
    ...field('runtimePlatform', before.runtimePlatform, after.runtimePlatform),
  ];
}

/** Service settings: `before` what runs, `after` what is wanted. */
export function diffService(before: ServiceView, after: ServiceView): FieldChange[] {
  return [
    ...field('desiredCount', before.desiredCount, after.desiredCount),
    ...field('deploymentConfiguration', before.deploymentConfiguration, after.deploymentConfiguration),
    ...field(
      'healthCheckGracePeriodSeconds',
      before.healthCheckGracePeriodSeconds,
      after.healthCheckGracePeriodSeconds,
    ),
  ];
}

/** What a service would run and be set to, against what it runs: one ServiceDiff. */
export function serviceDiff(input: {
  service: string;
  current: { arn: string | null; task: TaskView | null; service: ServiceView | null };
  next: { arn: string | null; task: TaskView; desiredCount: number | null };
  /** The service settings of the config (what provision would set). */
  config: ServiceView;
  /** Autoscaling bounds: a desired count within them is the scaler's, not drift. */
  scaleBounds: { min: number; max: number } | null;
  /** The service still runs provision's placeholder (no release yet). */
  placeholder: boolean;
}): ServiceDiff {
  const { current, next, config } = input;
  const changes = diffTask(current.task ?? EMPTY_TASK, next.task);
  if (current.service && next.desiredCount !== null)
    changes.push(...field('desiredCount', current.service.desiredCount, next.desiredCount));
  let provision: FieldChange[] = [];
  if (current.service) {
    provision = diffService(current.service, config).filter((c) => {
      if (c.field !== 'desiredCount') return true;
      // The release sets it (leaving the placeholder), or the scaler owns it.
      if (input.placeholder || next.desiredCount !== null) return false;
      const n = current.service!.desiredCount;
      return !input.scaleBounds || n < input.scaleBounds.min || n > input.scaleBounds.max;
    });
  }
  return { service: input.service, taskDefinition: { current: current.arn, next: next.arn }, changes, provision };
}

export const EMPTY_TASK: TaskView = {
  image: null,
  env: {},
  secrets: {},
  cpu: null,
  memory: null,
  ports: [],
  healthCheck: null,
  command: null,
  entryPoint: null,
  user: null,
  workingDirectory: null,
  readonlyRootFilesystem: null,
  logConfiguration: null,
  runtimePlatform: null,
};

export function releaseDiff(kind: ReleaseDiff['kind'], env: string, services: ServiceDiff[]): ReleaseDiff {
  return { kind, env, pending: services.some((s) => s.changes.length > 0), services };
}
