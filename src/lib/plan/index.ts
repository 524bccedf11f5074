/**
 * The planner: a pure diff of desired against observed state. Every resource gets exactly one
 * change — create, update, replace, delete or noop — with a reason, and for updates the fields
 * that differ. The public shape (`publicPlan`) is the stable `--json` contract:
 *
 * ```
 * { "env": {app, env, name, region},
 *   "changes": [{ "kind": "target-group", "name": "shop-prod-web", "service": "web",
 *                 "action": "update", "reason": "healthCheck.path differs",
 *                 "diff": [{ "field": "healthCheck.path", "from": "/", "to": "/healthz" }] }],
 *   "summary": { "create": 0, "update": 1, "replace": 0, "delete": 0, "noop": 21 },
 *   "pending": true,
 *   "warnings": [{ "code": "PW_NO_IMAGE_YET", "message": "…" }] }
 * ```
 * `changes` is ordered by kind, then name; `step` is when apply carries a change out (changes of one
 * step run together; see `stages`); `diff` is present for update/replace.
 */
import { bootstrapFamily } from '../desired/names.js';
import {
  canonicalJson,
  type DesiredState,
  type EcsService,
  KINDS,
  type Kind,
  keyOf,
  type Resource,
} from '../desired/types.js';
import { kindOf } from '../resources/index.js';
import { isKind, type ObservedResource } from '../resources/kind.js';

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'noop';
export const ACTIONS: Action[] = ['create', 'update', 'replace', 'delete', 'noop'];

export interface FieldDiff {
  field: string;
  from: unknown;
  to: unknown;
}

export interface Change {
  kind: Kind;
  name: string;
  service?: string;
  action: Action;
  reason: string;
  diff?: FieldDiff[];
  /** Apply order: 1 first; 0 for a no-op. */
  step?: number;
}

/** A change plus the objects apply needs (not part of the --json shape). */
export interface PlannedChange extends Change {
  desired?: Resource;
  observed?: ObservedResource;
}

export interface Plan {
  env: DesiredState['env'];
  changes: PlannedChange[];
  warnings: DesiredState['warnings'];
}

export interface PublicPlan {
  env: DesiredState['env'];
  changes: Change[];
  summary: Record<Action, number>;
  pending: boolean;
  warnings: DesiredState['warnings'];
}

/** Replacing `parent` replaces a `kind` resource that lives inside or points at it. */
function replacedBy<K extends Kind>(kind: K, child: Resource, parent: Resource): boolean {
  const spec = kindOf(kind);
  return !!spec.replacedWith && isKind(kind)(child) && spec.replacedWith(child, parent);
}

/** A field of a resource by name (the kind's `fields` are typed as its keys). */
const fieldOf = (r: object, f: PropertyKey): unknown => (r as Record<PropertyKey, unknown>)[f];

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/** Field-level differences between two values: objects are compared one level down (`healthCheck.path`). */
export function diffFields(field: string, from: unknown, to: unknown): FieldDiff[] {
  if (same(from, to)) return [];
  const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(from) && isObj(to)) {
    const a = from as Record<string, unknown>;
    const b = to as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    if (field === 'inlinePolicy' || field === 'defaultAction') return [{ field, from, to }];
    return keys.flatMap((k) =>
      same(a[k], b[k]) ? [] : [{ field: `${field}.${k}`, from: a[k] ?? null, to: b[k] ?? null }],
    );
  }
  return [{ field, from: from ?? null, to: to ?? null }];
}

/** Tags desired but missing or different (extra tags on the resource are left alone). */
export function tagDiff(want: Record<string, string>, have: Record<string, string>): FieldDiff[] {
  return Object.keys(want)
    .sort()
    .filter((k) => have[k] !== want[k])
    .map((k) => ({ field: `tags.${k}`, from: have[k] ?? null, to: want[k]! }));
}

/** The desired count an ECS service should have, given what runs now. */
export function wantedCount(want: EcsService, have: EcsService): { count: number; why: string } | null {
  if (have.taskFamily === bootstrapFamily({ fullName: want.name })) {
    return have.desiredCount === 0 ? null : { count: 0, why: 'still on the bootstrap placeholder (run deploy)' };
  }
  if (want.scaleBounds) {
    const { min, max } = want.scaleBounds;
    if (have.desiredCount >= min && have.desiredCount <= max) return null;
    return {
      count: want.desiredCount,
      why: `desired count ${have.desiredCount} is outside autoscaling ${min}..${max}`,
    };
  }
  return have.desiredCount === want.desiredCount
    ? null
    : { count: want.desiredCount, why: `desired count ${have.desiredCount} differs from ${want.desiredCount}` };
}

function compare(want: Resource, have: ObservedResource): PlannedChange {
  const spec: { update: PropertyKey[]; replace: PropertyKey[] } = kindOf(want.kind).fields;
  const base = {
    kind: want.kind,
    name: want.name,
    ...(want.service ? { service: want.service } : {}),
    desired: want,
    observed: have,
  };
  const replaceDiff = spec.replace.flatMap((f) => diffFields(String(f), fieldOf(have, f), fieldOf(want, f)));
  if (replaceDiff.length) {
    return {
      ...base,
      action: 'replace',
      reason: `${replaceDiff.map((d) => d.field).join(', ')} cannot change in place`,
      diff: replaceDiff,
    };
  }
  const diff = spec.update.flatMap((f) => diffFields(String(f), fieldOf(have, f), fieldOf(want, f)));
  if (want.kind === 'ecs-service' && have.kind === 'ecs-service') {
    const count = wantedCount(want, have);
    if (count) diff.unshift({ field: 'desiredCount', from: have.desiredCount, to: count.count });
  }
  diff.push(...tagDiff(want.tags, have.tags));
  if (!diff.length) return { ...base, action: 'noop', reason: 'matches the config' };
  return { ...base, action: 'update', reason: reasonFor(want, have, diff), diff };
}

function reasonFor(want: Resource, have: ObservedResource, diff: FieldDiff[]): string {
  const parts = diff.map((d) => {
    if (d.field === 'desiredCount' && want.kind === 'ecs-service' && have.kind === 'ecs-service') {
      return wantedCount(want, have)?.why ?? 'desired count';
    }
    if (d.field.startsWith('tags.')) return `tag ${d.field.slice(5)} ${d.from === null ? 'missing' : 'differs'}`;
    if (d.field === 'ingress') return 'ingress rules differ';
    if (d.field === 'state' && want.kind === 'nat-gateway')
      return 'still pending (a run stopped waiting): wait until available';
    // A number shows both values (e.g. `progressive.pauseHookTimeoutMinutes 10 → 15`).
    if (typeof d.from === 'number' && typeof d.to === 'number') return `${d.field} ${d.from} → ${d.to}`;
    return `${d.field} differs`;
  });
  return [...new Set(parts)].join('; ');
}

function order(c: Change): string {
  return `${String(KINDS.indexOf(c.kind)).padStart(2, '0')}|${c.name}`;
}

/** Which observed resources not in desired state are patchwork's to delete. */
function deletable<K extends Kind>(kind: K, have: ObservedResource): boolean {
  if (/#\d+$/.test(have.name)) return true; // a duplicate of a desired resource
  const spec = kindOf(kind);
  return !!spec.orphan && isKind(kind)(have) && spec.orphan(have);
}

export function plan(desired: DesiredState, observed: Iterable<ObservedResource>): Plan {
  const have = new Map<string, ObservedResource>();
  for (const o of observed) have.set(keyOf(o), o);
  const changes: PlannedChange[] = [];
  for (const want of desired.resources) {
    const h = have.get(keyOf(want));
    if (!h) {
      changes.push({
        kind: want.kind,
        name: want.name,
        ...(want.service ? { service: want.service } : {}),
        action: 'create',
        reason: 'does not exist',
        desired: want,
      });
    } else changes.push(compare(want, h));
  }
  // Replacing a parent replaces what lives inside or points at it.
  let grew = true;
  while (grew) {
    grew = false;
    for (const c of changes) {
      if (c.action !== 'update' && c.action !== 'noop') continue;
      const child = c.desired;
      const parent =
        child && changes.find((p) => p.action === 'replace' && p.desired && replacedBy(c.kind, child, p.desired));
      if (parent) {
        c.action = 'replace';
        c.reason = `${parent.kind} ${parent.name} is replaced`;
        grew = true;
      }
    }
  }
  const wanted = new Set(desired.resources.map(keyOf));
  for (const [key, h] of have) {
    if (wanted.has(key) || !deletable(h.kind, h)) continue;
    changes.push({
      kind: h.kind,
      name: h.name,
      ...(h.service ? { service: h.service } : {}),
      action: 'delete',
      reason: /#\d+$/.test(h.name) ? 'duplicate' : 'no longer in the config',
      observed: h,
    });
  }
  changes.sort((a, b) => order(a).localeCompare(order(b)));
  return { env: desired.env, changes, warnings: [...desired.warnings, ...noImageYet(desired, have)] };
}

/**
 * PW_NO_IMAGE_YET only while it is true: a `build:` service that does not exist yet, or still runs
 * its bootstrap placeholder (no deploy has registered a real task definition).
 */
function noImageYet(desired: DesiredState, have: Map<string, ObservedResource>): DesiredState['warnings'] {
  return desired.resources.flatMap((want) => {
    if (want.kind !== 'ecs-service' || !want.bootstrap?.placeholder) return [];
    const h = have.get(keyOf(want));
    if (h?.kind === 'ecs-service' && h.taskFamily !== bootstrapFamily({ fullName: want.name })) return [];
    return [
      {
        code: 'PW_NO_IMAGE_YET' as const,
        message: `service ${want.service ?? want.name} has no image yet: it ${h ? 'runs' : 'is created with'} a placeholder task definition and 0 tasks; run \`patchwork deploy --env ${desired.env.env}\` next`,
      },
    ];
  });
}

/** One step of apply: changes of one kind, all removals or all writes, run together. */
export interface Stage {
  removing: boolean;
  kind: Kind;
  changes: PlannedChange[];
}

/**
 * The order apply carries a plan out in. Removals (deletes, and the delete half of replacements)
 * come first in reverse kind order, then writes in kind order — except where removing first would
 * open a window in which the load balancer answers what it should not (create before delete):
 * - a listener's new default action (the :80 redirect of an environment switched to HTTPS, the
 *   404 of one switched back) is written after the rules, so no request falls through to it early;
 * - a listener and listener rules that are only deleted (their port is no longer served: the :80
 *   rules after a switch to HTTPS, the :443 listener after a switch back) go last, once their
 *   successors answer — unless the load balancer, a target group they forward to or their listener
 *   goes too, or a new rule wants their priority;
 * - a progressive strategy switched back to rolling: the service's update goes first (it leaves the
 *   second target group, moving production traffic back), then the production rule's rewrite, then the
 *   deletes of the second group, the test listener and its rules and the ECS role.
 * Without writes (destroy) it is the plain order.
 */
export function stages(changes: PlannedChange[]): Stage[] {
  const writes = changes.filter(
    (c) => (c.action === 'create' || c.action === 'update' || c.action === 'replace') && c.desired,
  );
  const removals = changes.filter((c) => (c.action === 'delete' || c.action === 'replace') && c.observed);
  const gone = (kind: Kind, pred: (c: PlannedChange) => boolean = () => true) =>
    removals.some((c) => c.kind === kind && pred(c));
  const lbGone = gone('load-balancer');
  const ruleOf = (c: PlannedChange) =>
    c.observed?.kind === 'listener-rule' ? c.observed : c.desired?.kind === 'listener-rule' ? c.desired : undefined;
  const lateListener = (c: PlannedChange) =>
    writes.length > 0 && !lbGone && c.kind === 'listener' && c.action === 'delete' && !gone('target-group');
  const lateRule = (c: PlannedChange) => {
    const rule = ruleOf(c);
    if (!writes.length || lbGone || !rule || c.action !== 'delete') return false;
    if (gone('target-group', (t) => t.name === rule.targetGroup)) return false;
    const listener = removals.find((l) => l.observed?.kind === 'listener' && l.observed.port === rule.listenerPort);
    if (listener && !lateListener(listener)) return false;
    return !writes.some((w) => {
      const r = ruleOf(w);
      return r && r.listenerPort === rule.listenerPort && r.priority === rule.priority;
    });
  };
  // A progressive strategy switched off: the service update leaves the second target group, the test
  // rule and the role (and moves production traffic to its own group, ecs-service.ts switchBack); what
  // it used is deleted after it, and the production rule is rewritten after it.
  const switchedOff =
    !lbGone &&
    writes.some(
      (c) =>
        c.kind === 'ecs-service' &&
        c.observed?.kind === 'ecs-service' &&
        !!c.observed.progressive &&
        c.desired?.kind === 'ecs-service' &&
        !c.desired.progressive,
    );
  const afterSwitch = (c: PlannedChange) =>
    switchedOff &&
    c.action === 'delete' &&
    (c.kind === 'target-group' || c.kind === 'listener' || c.kind === 'listener-rule' || c.kind === 'iam-role');
  const late = (c: PlannedChange) => lateListener(c) || lateRule(c) || afterSwitch(c);
  const lateWrite = (c: PlannedChange) =>
    (c.kind === 'listener' && c.action === 'update' && (c.diff ?? []).some((d) => d.field === 'defaultAction')) ||
    (switchedOff && c.kind === 'listener-rule' && c.action === 'update');
  const out: Stage[] = [];
  const add = (removing: boolean, list: PlannedChange[], kinds: readonly Kind[]) => {
    for (const kind of kinds) {
      const of = list.filter((c) => c.kind === kind);
      if (of.length) out.push({ removing, kind, changes: of });
    }
  };
  const reversed = [...KINDS].reverse();
  add(
    true,
    removals.filter((c) => !late(c)),
    reversed,
  );
  add(
    false,
    writes.filter((c) => !lateWrite(c)),
    KINDS,
  );
  add(false, writes.filter(lateWrite), KINDS);
  add(true, removals.filter(late), reversed);
  return out;
}

export function publicPlan(p: Plan): PublicPlan {
  const summary = Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<Action, number>;
  for (const c of p.changes) summary[c.action]++;
  const step = new Map<PlannedChange, number>();
  stages(p.changes).forEach((s, i) => {
    for (const c of s.changes) if (!step.has(c)) step.set(c, i + 1);
  });
  return {
    env: p.env,
    changes: p.changes.map((full) => {
      const { desired: _d, observed: _o, ...c } = full;
      return { ...c, step: step.get(full) ?? 0 };
    }),
    summary,
    pending: p.changes.some((c) => c.action !== 'noop'),
    warnings: p.warnings,
  };
}
