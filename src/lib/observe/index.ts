/**
 * Observed state: what AWS holds now for the resources desired state names, found by name (and
 * tag), read in parallel, paginated, normalised into the same plain shapes as desired state so the
 * planner can compare them. Read-only. Each kind reads its own (src/lib/resources/<kind>.ts); a
 * kind waits only for the kinds it names in `observe.after`.
 */
import type { AwsClients } from '../aws/clients.js';
import { type DesiredState, type Facts, type Kind, keyOf } from '../desired/types.js';
import { KINDS, kindOf } from '../resources/index.js';
import type { ObserveContext, ObservedResource, ObservedState } from '../resources/kind.js';

export { alarmCandidates } from '../resources/alarm.js';
export { trustServiceOf } from '../resources/iam-role.js';
export type { ObservedResource, ObservedState } from '../resources/kind.js';
export { arnSuffix } from '../resources/kind.js';
export { rulesFrom } from '../resources/security-group.js';

/**
 * Reads everything `desired` names (plus what patchwork made that is no longer desired: extra
 * listeners and rules on its load balancer, alarms and scaling policies of its services).
 */
export async function observe(aws: AwsClients, desired: DesiredState, facts: Facts): Promise<ObservedState> {
  const state: ObservedState = {
    facts,
    resources: new Map(),
    ids: { securityGroups: new Map(), targetGroups: new Map(), loadBalancers: new Map(), listeners: new Map() },
  };
  const shared = new Map<string, Promise<unknown>>();
  const ctx: ObserveContext = {
    aws,
    desired,
    facts,
    state,
    add(r: ObservedResource) {
      let key = keyOf(r);
      for (let i = 2; state.resources.has(key); i++) {
        r.name = `${r.name.replace(/#\d+$/, '')}#${i}`;
        key = keyOf(r);
      }
      state.resources.set(key, r);
    },
    shared<T>(key: string, read: () => Promise<T>): Promise<T> {
      let p = shared.get(key) as Promise<T> | undefined;
      if (!p) {
        p = read();
        shared.set(key, p);
      }
      return p;
    },
  };
  const runs = new Map<Kind, Promise<void>>();
  const run = (kind: Kind): Promise<void> => {
    let p = runs.get(kind);
    if (!p) {
      const spec = kindOf(kind).observe;
      p = Promise.all((spec.after ?? []).map(run)).then(() => spec.read(ctx));
      runs.set(kind, p);
    }
    return p;
  };
  await Promise.all(KINDS.map(run));
  return state;
}
