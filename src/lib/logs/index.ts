/**
 * `patchwork logs`: the CloudWatch Logs of an environment's services (one log group per service,
 * one stream per task container: `<service>/<container>/<task id>`, the awslogs driver's naming),
 * read with FilterLogEvents through the SDK's paginator, lines interleaved by time. `follow` polls
 * until the signal aborts, remembering the ids of the events it has shown in a bounded window.
 */
import type { FilteredLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { isInterrupted, sleep, throwIfAborted } from '../abort.js';
import { isAwsError } from '../aws/errors.js';
import { logsSdk } from '../aws/sdk.js';
import type { ResolvedService } from '../config/resolve.js';
import { logGroupName, logStreamName } from '../desired/names.js';
import { inEnvironment } from '../errors.js';
import { type CommonOptions, openSession, type Session } from '../session.js';

const { paginateFilterLogEvents } = logsSdk();

export interface LogLine {
  /** ISO time of the event. */
  time: string;
  timestamp: number;
  service: string;
  taskId: string;
  container: string;
  message: string;
  eventId: string;
}

export interface LogsOptions extends CommonOptions {
  /** Only this task (its id, or its ARN). */
  task?: string;
  /** How far back to start, in seconds (default 600). */
  sinceSeconds?: number;
  /** Keep polling for new lines until the signal aborts. */
  follow?: boolean;
  /** A CloudWatch Logs filter pattern (a term, several terms, or a "quoted phrase"). */
  filter?: string;
  /** Seconds between polls with follow (default deploy.pollSeconds). */
  pollSeconds?: number;
  /** Every line, in time order (also emitted as `data` events of kind `log.line`). */
  onLine?: (line: LogLine) => void;
}

export interface LogsResult {
  env: string;
  services: string[];
  lines: number;
}

/** Late events (a batch of the driver arriving after a poll) are looked for this far back. */
const OVERLAP_MS = 10_000;
/** How many event ids follow keeps to tell new lines from those already shown. */
export const SEEN_WINDOW = 10_000;

/** A set of the last `max` ids: memory stays bounded however long the follow runs. */
export class SeenWindow {
  private readonly ids = new Set<string>();
  constructor(private readonly max = SEEN_WINDOW) {}
  /** true when the id is new (and remembers it). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.max) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }
  get size(): number {
    return this.ids.size;
  }
}

/** `web/web/0123…` → the container and task id of an awslogs stream. */
export function parseStream(stream: string): { container: string; taskId: string } {
  const parts = stream.split('/');
  if (parts.length >= 3) return { container: parts[parts.length - 2]!, taskId: parts[parts.length - 1]! };
  return { container: '', taskId: parts[parts.length - 1] ?? stream };
}

export function toLine(service: string, e: FilteredLogEvent): LogLine {
  const timestamp = e.timestamp ?? 0;
  return {
    time: new Date(timestamp).toISOString(),
    timestamp,
    service,
    ...parseStream(e.logStreamName ?? ''),
    message: (e.message ?? '').replace(/\n$/, ''),
    eventId: e.eventId ?? `${e.logStreamName}:${timestamp}:${e.message}`,
  };
}

/** One service's events from `startTime` on (every page), as lines. */
export async function readLines(
  session: Session,
  svc: ResolvedService,
  q: { startTime: number; task?: string; filter?: string },
): Promise<LogLine[]> {
  const logs = await session.aws.get('logs');
  const taskId = q.task?.split('/').pop();
  const out: LogLine[] = [];
  try {
    for await (const page of paginateFilterLogEvents(
      { client: logs },
      {
        logGroupName: logGroupName(svc),
        startTime: q.startTime,
        ...(taskId ? { logStreamNames: [logStreamName(svc, taskId)] } : {}),
        ...(q.filter ? { filterPattern: q.filter } : {}),
      },
    )) {
      for (const e of page.events ?? []) out.push(toLine(svc.name, e));
    }
  } catch (err) {
    // No log group (never provisioned) or no such stream yet: nothing to show.
    if (isAwsError(err, 'ResourceNotFoundException')) return out;
    throw err;
  }
  return out;
}

export async function logs(opts: LogsOptions): Promise<LogsResult> {
  const session = await openSession(opts);
  return logsIn(session, opts).catch((err: unknown) => {
    throw inEnvironment(err, session.target);
  });
}

async function logsIn(session: Session, opts: LogsOptions): Promise<LogsResult> {
  const { target, events } = session;
  const services = target.services;
  const seen = new SeenWindow();
  let lines = 0;
  let latest = Date.now() - (opts.sinceSeconds ?? 600) * 1000;
  const poll = async (startTime: number) => {
    const found = (
      await Promise.all(
        services.map((svc) =>
          readLines(session, svc, {
            startTime,
            ...(opts.task ? { task: opts.task } : {}),
            ...(opts.filter ? { filter: opts.filter } : {}),
          }),
        ),
      )
    ).flat();
    found.sort((a, b) => a.timestamp - b.timestamp || a.eventId.localeCompare(b.eventId));
    for (const line of found) {
      if (!seen.add(`${line.service}:${line.eventId}`)) continue;
      lines++;
      latest = Math.max(latest, line.timestamp);
      opts.onLine?.(line);
      events.emit({ type: 'data', kind: 'log.line', data: line });
    }
  };
  await poll(latest);
  if (opts.follow) {
    const every = (opts.pollSeconds ?? target.deploy.pollSeconds) * 1000;
    try {
      // Polls start on a fixed tick (every `every` ms from the first), not `every` after the last
      // one ended: a line is shown at most one interval (plus one poll's duration) after it landed.
      let tick = Date.now();
      for (;;) {
        tick += every;
        const wait = tick - Date.now();
        if (wait > 0) await sleep(wait, session.signal);
        else tick = Date.now(); // a poll longer than the interval: the next one starts at once
        throwIfAborted(session.signal);
        await poll(Math.max(0, Math.min(latest, Date.now()) - OVERLAP_MS));
      }
    } catch (err) {
      // Ctrl-C is how a follow ends: a normal end, with what was shown.
      if (!isInterrupted(err)) throw err;
    }
  }
  return { env: target.env, services: services.map((s) => s.name), lines };
}
