/**
 * The library never prints: it emits typed events to a sink. The CLI renders them (a live region for
 * people, plain lines in CI, NDJSON for --json); programmatic users pass their own callback.
 */

import type { ImageResult } from './build.js';
import type { PlanCost } from './cost/index.js';
import type { LayerProgress } from './docker/image.js';
import type { LogLine } from './logs/index.js';
import type { PublicPlan } from './plan/index.js';
import type { ReleaseDiff } from './release/diff.js';
import type { StatusReport } from './status/model.js';
import type { WarningCode } from './warnings.js';

export type { WarningCode } from './warnings.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';

interface Base {
  /** ISO timestamp, filled in by the emitter. */
  time?: string;
}

/** A free-form progress line. */
export interface LogEvent extends Base {
  type: 'log';
  level: Level;
  message: string;
  resource?: string;
}

/** Declares units of work up front so a renderer can show them as a list. */
export interface TasksEvent extends Base {
  type: 'tasks';
  tasks: { id: string; title: string }[];
}

/** A unit of work changed state. */
export interface TaskEvent extends Base {
  type: 'task';
  id: string;
  title: string;
  status: 'start' | 'done' | 'skip' | 'fail';
  message?: string;
  resource?: string;
}

/** A warning that the user should read, even in --json. */
export interface WarningEvent extends Base {
  type: 'warning';
  /** One of the registry in warnings.ts (documented in README.md). */
  code: WarningCode;
  message: string;
  resource?: string;
}

/** What each kind of `data` event carries. */
export interface DataKinds {
  /** provision's plan; destroy's adds the task definition families it deregisters. */
  plan: PublicPlan & { taskDefinitions?: unknown };
  /** provision's monthly cost estimate: per component, desired and max, before → after (USD). */
  cost: PlanCost;
  /** One image built, pushed, found in the registry, or (dry run) that would be built. */
  image: ImageResult;
  /** A layer of a push changed status or made progress (throttled). */
  'push.layer': LayerProgress & { service: string; tag: string };
  /** One refresh of `status --watch --json`. */
  status: StatusReport;
  /** One line of a task's log (`logs`, `run`, `deploy.preDeploy`). */
  'log.line': LogLine;
  /** A one-off task changed state (`run`, `deploy.preDeploy`). */
  'run.task': { taskArn: string; taskId: string; lastStatus: string; taskDefinition: string };
  /** `deploy --dry-run` / `rollback --dry-run`: the field-level difference per service. */
  diff: ReleaseDiff;
  /** A blue-green, canary or linear deployment changed stage, status or traffic weights. */
  'deployment.stage': {
    service: string;
    serviceDeploymentArn: string;
    status: string;
    stage: string | null;
    /** Share of production / test traffic to the new revision (null: unknown). */
    productionWeight: number | null;
    testWeight: number | null;
  };
}
export type DataKind = keyof DataKinds;

/** A named fact a command produced (a plan, an image, a status), for renderers and --json: one member per kind. */
export type DataEvent = {
  [K in DataKind]: Base & { type: 'data'; kind: K; data: DataKinds[K] };
}[DataKind];

export type PatchworkEvent = LogEvent | TasksEvent | TaskEvent | WarningEvent | DataEvent;
export type EventSink = (event: PatchworkEvent) => void;

/** Distributive Omit, so each member of the union keeps its own fields. */
export type EventInput = PatchworkEvent extends infer E ? (E extends PatchworkEvent ? Omit<E, 'time'> : never) : never;

export class Emitter {
  private readonly sinks: EventSink[];

  constructor(...sinks: (EventSink | undefined)[]) {
    this.sinks = sinks.filter((s): s is EventSink => typeof s === 'function');
  }

  emit(event: EventInput): void {
    const full = { ...event, time: new Date().toISOString() } as PatchworkEvent;
    for (const sink of this.sinks) sink(full);
  }

  log(message: string, level: Level = 'info', resource?: string): void {
    this.emit(resource ? { type: 'log', level, message, resource } : { type: 'log', level, message });
  }

  warn(code: WarningCode, message: string, resource?: string): void {
    this.emit(resource ? { type: 'warning', code, message, resource } : { type: 'warning', code, message });
  }

  /** Runs fn as a task: start, then done or fail. The error is re-thrown. */
  async task<T>(id: string, title: string, fn: () => Promise<T>): Promise<T> {
    this.emit({ type: 'task', id, title, status: 'start' });
    try {
      const value = await fn();
      this.emit({ type: 'task', id, title, status: 'done' });
      return value;
    } catch (err) {
      this.emit({ type: 'task', id, title, status: 'fail', message: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  }
}

/** A sink that drops everything: the default for library calls without a callback. */
export const silentSink: EventSink = () => {};
