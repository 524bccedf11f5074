/**
 * The contract every resource kind implements (one file per kind in this folder), and the small
 * helpers the kinds share. A kind owns its whole pipeline: the desired builder (pure), the observer
 * (SDK reads, paginated), the compared fields, and the apply handler.
 */

import type { ApplyContext } from '../apply/context.js';
import type { AwsClients } from '../aws/clients.js';
import { isAwsError } from '../aws/errors.js';
import type { ResolvedEnvironment, ResolvedService } from '../config/resolve.js';
import type { DesiredState, Facts, Kind, Resource, ResourceOf, Tags } from '../desired/types.js';
import type { FieldDiff } from '../plan/index.js';

/** An observed resource: the normalised shape plus its AWS id/ARN and facts the planner may need. */
export type ObservedResource = Resource & { id: string; meta?: Record<string, unknown> };
export type ObservedOf<K extends Kind> = ResourceOf<K> & { id: string; meta?: Record<string, unknown> };

export interface ObservedState {
  facts: Facts;
  /** By `kind/name`. */
  resources: Map<string, ObservedResource>;
  /** Names → AWS ids, for apply to resolve references. */
  ids: {
    securityGroups: Map<string, string>;
    targetGroups: Map<string, string>;
    loadBalancers: Map<string, string>;
    listeners: Map<number, string>;
    /** network.create: `kind/name` → id of the VPC, subnets, gateways, route tables, endpoints (resources/network.ts). */
    network?: Map<string, string>;
  };
}

/** What a desired builder gets: the resolved environment and the facts read from AWS. */
export interface DesiredInput {
  target: ResolvedEnvironment;
  facts: Facts;
}

export interface ObserveContext {
  aws: AwsClients;
  desired: DesiredState;
  facts: Facts;
  state: ObservedState;
  add(r: ObservedResource): void;
  /** A read several kinds share (one pass over the load balancer), run once per observe. */
  shared<T>(key: string, read: () => Promise<T>): Promise<T>;
}

export interface DeleteOptions {
  /** destroy --delete-images: delete ECR repositories that still hold images. */
  deleteImages?: boolean;
}

export interface ResourceKind<K extends Kind> {
  kind: K;
  desired: {
    /** Environment-wide resources of this kind. */
    environment?(input: DesiredInput): ResourceOf<K>[];
    /** This kind's resources for one configured service. */
    service?(input: DesiredInput, svc: ResolvedService): ResourceOf<K>[];
  };
  observe: {
    /** Kinds whose observers must finish first (they fill the name → id maps this one reads). */
    after?: Kind[];
    read(ctx: ObserveContext): Promise<void>;
  };
  /** Compared fields: `update` ones change in place, `replace` ones need a new resource. */
  fields: { update: (keyof ResourceOf<K>)[]; replace: (keyof ResourceOf<K>)[] };
  /** Lives inside or points at `parent`: replacing the parent replaces this one. */
  replacedWith?(child: ResourceOf<K>, parent: Resource): boolean;
  /** Observed but not desired: patchwork's to delete (duplicates `name#2` always are). */
  orphan?(have: ObservedOf<K>): boolean;
  /** Replacement would destroy data: apply refuses with this reason. */
  irreplaceable?: { what: string; why: string };
  /** Resources of this kind are applied one at a time (environment-wide first). */
  sequential?: boolean;
  /** With `sequential`: lower first when writing, first last when removing (default: environment-wide 0, a service's 1). */
  sequence?(r: ResourceOf<K>): number;
  create(ctx: ApplyContext, want: ResourceOf<K>): Promise<void>;
  update(ctx: ApplyContext, want: ResourceOf<K>, have: ObservedOf<K>, diff: FieldDiff[]): Promise<void>;
  delete(ctx: ApplyContext, have: ObservedOf<K>, opts: DeleteOptions): Promise<void>;
}

export const isKind =
  <K extends Kind>(kind: K) =>
  <R extends Resource>(r: R): r is R & ResourceOf<K> =>
    r.kind === kind;

/** The desired resources of one kind. */
export function ofKind<K extends Kind>(desired: DesiredState, kind: K): ResourceOf<K>[] {
  return desired.resources.filter(isKind(kind));
}

export const changed = (diff: FieldDiff[] | undefined, field: string) =>
  (diff ?? []).some((d) => d.field === field || d.field.startsWith(`${field}.`));
export const hasTagDiff = (diff: FieldDiff[] | undefined) => (diff ?? []).some((d) => d.field.startsWith('tags.'));

export const tagsFrom = (list: { Key?: string; Value?: string; key?: string; value?: string }[] | undefined): Tags =>
  Object.fromEntries((list ?? []).map((t) => [t.Key ?? t.key ?? '', t.Value ?? t.value ?? '']));

export async function orNull<T>(p: Promise<T>, ...notFound: string[]): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (isAwsError(err, ...notFound)) return null;
    throw err;
  }
}

/** Collects every page of an SDK paginator. */
export async function allPages<P>(pages: AsyncIterable<P>): Promise<P[]> {
  const out: P[] = [];
  for await (const p of pages) out.push(p);
  return out;
}

/**
 * For the rejection of a create: when AWS says the resource already exists (the request was
 * carried out but its answer lost, and the SDK's retry was refused; or a concurrent run made it),
 * `find` looks it up and its id is the result; when `find` finds nothing of ours, the error stands.
 */
export function ifExists(names: string[], find: (err: unknown) => Promise<string | undefined>) {
  return async (err: unknown): Promise<string> => {
    if (!isAwsError(err, ...names)) throw err;
    const id = await find(err);
    if (!id) throw err;
    return id;
  };
}

export function ignore(...names: string[]) {
  return (err: unknown): undefined => {
    if (isAwsError(err, ...names)) return undefined;
    throw err;
  };
}

/** `app/<name>/<id>` from an ALB ARN; `targetgroup/<name>/<id>` from a target group ARN (CloudWatch dimensions). */
export const arnSuffix = (arn: string): string =>
  arn
    .split(':')
    .slice(5)
    .join(':')
    .replace(/^loadbalancer\//, '');

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The name of a managed id (security group, target group), or the id itself. */
export const nameOf = (ids: Map<string, string>, id: string): string =>
  [...ids.entries()].find(([, v]) => v === id)?.[0] ?? id;
