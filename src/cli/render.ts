/**
 * Renderers: the same library events shown three ways. NDJSON on stdout for --json (people get
 * plain lines on stderr beside it), plain lines when not a TTY or in CI, listr2 in a terminal.
 */
import type { Writable } from 'node:stream';
import type { PatchworkEvent } from '../lib/events.js';

export interface Renderer {
  event(e: PatchworkEvent): void;
  /** Human text (a command's result view). */
  text(s: string): void;
  /** The final --json line (no-op for human renderers). */
  result(r: Record<string, unknown>): void;
  /** Stop any live display; waits for it to settle. */
  close(ok: boolean): Promise<void>;
  /** Before a question in the terminal: end the live display; later events are plain lines. */
  suspend(): Promise<void>;
}

const MARK: Record<string, string> = { start: '→', done: '✓', skip: '-', fail: '✗' };

export function plainLine(e: PatchworkEvent, debug = false): string | undefined {
  switch (e.type) {
    case 'log':
      if (e.level === 'debug' && !debug) return undefined;
      return `${e.level === 'warn' ? '! ' : e.level === 'error' ? '✗ ' : '  '}${e.message}`;
    case 'warning':
      return `! ${e.code}: ${e.message}`;
    case 'task':
      return `${MARK[e.status]} ${e.title}${e.message ? `: ${e.message}` : ''}`;
    default:
      return undefined;
  }
}

/** `[0:42]`, `[12:05]`: time since the command started, for the terminal's lines. */
export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `[${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}]`;
}

/**
 * ARNs → names in the terminal (ECS event lines embed full target-group ARNs):
 * `arn:aws:elasticloadbalancing:…:targetgroup/shop-prod-web/0123abcd…` → `shop-prod-web`,
 * `arn:aws:ecs:…:task-definition/shop-prod-web:3` → `shop-prod-web:3`. --json keeps them whole.
 */
export function shortenArns(line: string): string {
  return line.replace(/\barn:aws[\w-]*:([\w-]+):[\w-]*:\d*:([^\s),;]+)/g, (_m, service: string, resource: string) => {
    const parts = resource.split('/');
    // Load balancers and target groups end in a generated id: their name is the part before it.
    if (service === 'elasticloadbalancing' && parts.length >= 3) return parts[parts.length - 2]!;
    return parts[parts.length - 1]!;
  });
}

export class PlainRenderer implements Renderer {
  constructor(
    private readonly out: Writable,
    private readonly debug = false,
  ) {}
  event(e: PatchworkEvent): void {
    const line = plainLine(e, this.debug);
    if (line !== undefined) this.out.write(`${line}\n`);
  }
  text(s: string): void {
    this.out.write(s.endsWith('\n') ? s : `${s}\n`);
  }
  result(): void {}
  async close(): Promise<void> {}
  async suspend(): Promise<void> {}
}

/** NDJSON on stdout, one event per line; human lines go to stderr. */
export class JsonRenderer implements Renderer {
  private readonly human: PlainRenderer;
  constructor(
    private readonly out: Writable,
    err: Writable,
    debug = false,
  ) {
    this.human = new PlainRenderer(err, debug);
  }
  event(e: PatchworkEvent): void {
    this.out.write(`${JSON.stringify(e)}\n`);
    this.human.event(e);
  }
  text(s: string): void {
    this.human.text(s);
  }
  result(r: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify({ type: 'result', ...r })}\n`);
  }
  async close(): Promise<void> {}
  async suspend(): Promise<void> {}
}

/**
 * listr2 in a terminal: one live task for the command whose output shows the task lines as they
 * change. listr2 is loaded only when a terminal asks for it.
 */
export class ListrRenderer implements Renderer {
  private lines: string[] = [];
  /** Per line: `start:<task id>` for a task's start line (replaced by its outcome), else null. */
  private keys: (string | null)[] = [];
  private readonly t0 = Date.now();
  private done!: (ok: boolean) => void;
  private setOutput: ((s: string) => void) | undefined;
  private setTitle: ((s: string) => void) | undefined;
  private running: Promise<void>;
  private readonly texts: string[] = [];
  private closed = false;
  private plain: PlainRenderer | undefined;

  constructor(
    private readonly title: string,
    private readonly debug = false,
  ) {
    const finished = new Promise<boolean>((resolve) => {
      this.done = resolve;
    });
    this.running = this.start(finished);
  }

  private async start(finished: Promise<boolean>): Promise<void> {
    const { Listr } = await import('listr2');
    const list = new Listr(
      [
        {
          title: this.title,
          task: async (_ctx, task) => {
            this.setOutput = (s) => {
              task.output = s;
            };
            this.setTitle = (s) => {
              task.title = s;
            };
            if (this.lines.length) task.output = this.lines.join('\n');
            const ok = await finished;
            if (!ok) throw new Error(`${this.title} failed`);
          },
          rendererOptions: { outputBar: Number.POSITIVE_INFINITY, persistentOutput: true },
        },
      ],
      { exitOnError: true, rendererOptions: { showErrorMessage: false }, registerSignalListeners: false },
    );
    await list.run().catch(() => {});
  }

  event(e: PatchworkEvent): void {
    if (this.plain) {
      this.plain.event(e);
      return;
    }
    const line = plainLine(e, this.debug);
    if (line === undefined) return;
    if (e.type === 'task' && e.status !== 'start') {
      // Replace the matching "→ title" line with its outcome.
      const at = this.keys.lastIndexOf(`start:${e.id}`);
      if (at >= 0) {
        this.lines.splice(at, 1);
        this.keys.splice(at, 1);
      }
    }
    const when = e.time ? Date.parse(e.time) : Date.now();
    this.lines.push(`${elapsed(when - this.t0)} ${shortenArns(line)}`);
    this.keys.push(e.type === 'task' && e.status === 'start' ? `start:${e.id}` : null);
    if (e.type === 'task' && e.status === 'start') this.setTitle?.(`${this.title}: ${e.title}`);
    this.setOutput?.(this.lines.join('\n'));
  }
  text(s: string): void {
    if (this.closed) process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
    else this.texts.push(s);
  }
  result(): void {}
  async close(ok: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.setTitle?.(this.title);
    this.done(ok);
    await this.running;
    for (const t of this.texts) process.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
  }
  async suspend(): Promise<void> {
    await this.close(true);
    this.plain = new PlainRenderer(process.stdout, this.debug);
  }
}

export function makeRenderer(opts: { json: boolean; debug: boolean; title: string }): Renderer {
  if (opts.json) return new JsonRenderer(process.stdout, process.stderr, opts.debug);
  const interactive =
    process.stdout.isTTY && !process.env.CI && process.env.TERM !== 'dumb' && (process.stdout.columns ?? 0) >= 40;
  return interactive ? new ListrRenderer(opts.title, opts.debug) : new PlainRenderer(process.stdout, opts.debug);
}
