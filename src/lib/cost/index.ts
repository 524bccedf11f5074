/**
 * The cost of a plan: the estimate of what the environment will run (desired resources and the
 * network the config creates), the estimate of what runs now (observed resources), and per
 * component the difference. Pure.
 */
import type { LoadedConfig } from '../config/load.js';
import type { ResolvedEnvironment } from '../config/resolve.js';
import type { Resource } from '../desired/types.js';
import { costInputsOf, createdNetworkOf, interfaceEndpointsFor, networkCost, observedNetwork } from './inputs.js';
import {
  type CostEstimate,
  type CostLineChange,
  cents,
  costChange,
  estimateCost,
  PRICE_TABLE,
  type PriceTable,
} from './model.js';

export * from './inputs.js';
export * from './model.js';

/** The `cost` payload of provision's plan (`data` event of kind `cost`, and `result.cost`). */
export interface PlanCost extends CostEstimate {
  /** What runs now, priced the same way (all zero for an environment that does not exist yet). */
  before: { lines: { component: CostLineChange['component']; desired: number }[]; total: number };
  /** Per component: before → after (desired counts) and the difference. */
  changes: CostLineChange[];
  /** after − before of the totals (desired counts). */
  delta: number;
}

export function planCost(
  input: {
    config: Pick<LoadedConfig, 'raw'>;
    target: ResolvedEnvironment;
    desired: readonly Resource[];
    observed: readonly Resource[];
  },
  table: PriceTable = PRICE_TABLE,
): PlanCost {
  const { target } = input;
  const created = createdNetworkOf(input.config, target.env);
  const after = estimateCost(
    costInputsOf(input.desired, {
      region: target.region,
      network: created ? networkCost(created, interfaceEndpointsFor(target)) : null,
      ...(created ? { loadBalancerAzs: created.azs, privateTasks: true } : {}),
    }),
    table,
  );
  const before = estimateCost(
    costInputsOf(input.observed, { region: target.region, network: observedNetwork(input.observed) }),
    table,
  );
  return {
    ...after,
    before: {
      lines: before.lines.map((l) => ({ component: l.component, desired: l.desired })),
      total: before.total.desired,
    },
    changes: costChange(before, after),
    delta: cents(after.total.desired - before.total.desired),
  };
}
