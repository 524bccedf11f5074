/**
 * The reads of `deploy --dry-run` and `rollback --dry-run`: what each service runs now (one
 * DescribeServices per 10 services, its task definition with tags), the revision a release would
 * register (derived exactly as the rollout derives it) or reuse, and their field-level diff
 * (diff.ts). Reads only: no lock, no registration, no update.
 */
import { DescribeTaskDefinitionCommand, type Service, type Tag, type TaskDefinition } from '@aws-sdk/client-ecs';
import { describeServices } from '../aws/ecs.js';
import { isAwsError } from '../aws/errors.js';
import type { ResolvedService } from '../config/resolve.js';
import { bootstrapFamily, clusterName, containerName, ecsServiceName } from '../desired/names.js';
import { notProvisioned, PatchworkError } from '../errors.js';
import { SERVICE_DEPLOYMENT } from '../resources/ecs-service.js';
import type { Session } from '../session.js';
import {
  parseImage,
  type ReleaseDiff,
  releaseDiff,
  type ServiceDiff,
  type ServiceView,
  serviceDiff,
  taskView,
} from './diff.js';
import { deriveTaskDefinition, digestOf, pinImage } from './taskdef.js';

/** What a release would give one service. */
export interface DryRunChange {
  svc: ResolvedService;
  /** `repo@sha256:…`, or `repo:tag` when the image is not built yet (its digest is not known); null: none recorded. */
  image: string | null;
  digest: string | null;
  /** The release's git sha (or tag) for this image. */
  tag: string | null;
  /** Reuse this revision while it is ACTIVE (rollback to a recorded one) instead of deriving a new one. */
  taskDefinitionArn?: string | null;
  imageUser?: string | null;
}

export interface CurrentRevision {
  /** The task definition the service runs, null when the service does not exist. */
  arn: string | null;
  digest: string | null;
}

/** A placeholder digest for an image still to be built: the derived revision's image is then reported without one. */
const UNKNOWN_DIGEST = `sha256:${'0'.repeat(64)}`;

export async function diffRelease(
  session: Session,
  kind: ReleaseDiff['kind'],
  changes: DryRunChange[],
): Promise<{ diff: ReleaseDiff; current: Map<string, CurrentRevision> }> {
  const { target, aws, events } = session;
  const ecs = await aws.get('ecs');
  const cluster = clusterName(target);
  const described = await describeServices(
    ecs,
    cluster,
    changes.map((c) => ecsServiceName(c.svc)),
  ).catch((err: unknown) => {
    throw isAwsError(err, 'ClusterNotFoundException')
      ? notProvisioned(target, `cluster ${cluster} does not exist`, err)
      : err;
  });
  const describe = async (arn: string): Promise<{ td: TaskDefinition; tags: Tag[] }> => {
    const out = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn, include: ['TAGS'] }));
    return { td: out.taskDefinition ?? {}, tags: out.tags ?? [] };
  };
  const time = new Date().toISOString();
  const current = new Map<string, CurrentRevision>();
  const services: ServiceDiff[] = [];
  for (const change of changes) {
    const { svc } = change;
    const name = containerName(svc);
    const service = described.services.find((s) => s.serviceName === ecsServiceName(svc) && s.status === 'ACTIVE');
    const arn = service?.taskDefinition ?? null;
    const now = arn ? await describe(arn) : null;
    current.set(svc.name, { arn, digest: now ? digestOf(now.td, svc) : null });
    const placeholder = !!arn?.includes(`:task-definition/${bootstrapFamily(svc)}:`);

    let nextArn: string | null = null;
    let next: ReturnType<typeof taskView>;
    // A recorded revision is reused while it is ACTIVE (as rollback does); else one is derived.
    const reused = change.taskDefinitionArn
      ? change.taskDefinitionArn === arn && now
        ? now
        : await describe(change.taskDefinitionArn).catch((err: unknown) => {
            if (isAwsError(err, 'ClientException', 'InvalidParameterException')) return null;
            throw err;
          })
      : null;
    if (change.taskDefinitionArn && reused?.td.status === 'ACTIVE') {
      nextArn = change.taskDefinitionArn;
      next = taskView(reused.td, name, reused.tags);
    } else {
      if (!change.image) {
        throw new PatchworkError(
          'PW_UNKNOWN_RELEASE',
          `release ${change.tag} of ${svc.name} has no recorded image digest`,
          { hint: 'pick another release from `patchwork releases`' },
        );
      }
      const pinned = change.digest ? pinImage(change.image, change.digest) : pinImage(change.image, UNKNOWN_DIGEST);
      const input = deriveTaskDefinition(target, svc, now?.td ?? {}, {
        image: pinned,
        sha: change.tag ?? '',
        deployer: 'dry-run',
        time,
        imageUser: change.imageUser ?? null,
      });
      next = taskView(input, name, input.tags);
      if (!change.digest) next.image = parseImage(change.image, change.tag);
    }
    services.push(
      serviceDiff({
        service: svc.name,
        current: {
          arn,
          task: now ? taskView(now.td, name, now.tags) : null,
          service: service ? viewOf(service) : null,
        },
        // Leaving provision's placeholder (0 tasks), the rollout starts the configured count.
        next: {
          arn: nextArn,
          task: next,
          desiredCount: placeholder && (service?.desiredCount ?? 0) === 0 ? svc.desiredCount : null,
        },
        config: {
          desiredCount: svc.desiredCount,
          deploymentConfiguration: { ...SERVICE_DEPLOYMENT },
          healthCheckGracePeriodSeconds: svc.healthCheck.gracePeriodSeconds,
        },
        scaleBounds: target.autoscaling ? { min: target.autoscaling.min, max: target.autoscaling.max } : null,
        placeholder,
      }),
    );
  }
  const diff = releaseDiff(kind, target.env, services);
  events.emit({ type: 'data', kind: 'diff', data: diff });
  return { diff, current };
}

/** The service settings as ECS reports them (its defaults where a field is absent). */
function viewOf(s: Service): ServiceView {
  const dc = s.deploymentConfiguration;
  return {
    desiredCount: s.desiredCount ?? 0,
    deploymentConfiguration: {
      minimumHealthyPercent: dc?.minimumHealthyPercent ?? 100,
      maximumPercent: dc?.maximumPercent ?? 200,
      circuitBreaker: dc?.deploymentCircuitBreaker?.enable ?? false,
      rollback: dc?.deploymentCircuitBreaker?.rollback ?? false,
    },
    healthCheckGracePeriodSeconds: s.healthCheckGracePeriodSeconds ?? 0,
  };
}
