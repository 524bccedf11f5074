/**
 * Renderers: the same library events shown three ways. NDJSON on stdout for --json (people get
 * plain lines on stderr beside it), plain lines when not a TTY or in CI, a live region in a terminal.
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

/** The writable side of a terminal: what the live renderer needs of `process.stdout`. */
export interface TerminalOut {
  write(s: string): unknown;
  columns?: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A terminal: each finished line (a task's outcome, a log line, a warning) is written once, and
 * below them one live region (at most `maxLive` lines) shows what is running now, with its elapsed
 * time and the last thing it said. Only the live region is redrawn, at most 10 times a second (and
 * once a second for the clocks), so output grows with the finished lines, never with redraws, and
 * the renderer keeps no buffer of past lines. No signal handlers, no cursor hiding: a killed
 * process leaves a normal terminal.
 */
export class LiveRenderer implements Renderer {
  private readonly t0 = Date.now();
  /** Running tasks by id: title, start time, last message. */
  private readonly active = new Map<string, { title: string; since: number; note?: string }>();
  /** Finished lines waiting for the next draw. */
  private pending: string[] = [];
  /** Lines of the live region on screen now. */
  private drawn = 0;
  private frame = 0;
  /** The last log line while no task runs (what the command waits for). */
  private note: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly clock: ReturnType<typeof setInterval>;
  private lastDraw = 0;
  private readonly texts: string[] = [];
  private closed = false;
  private plain: PlainRenderer | undefined;

  constructor(
    private readonly title: string,
    private readonly debug = false,
    private readonly out: TerminalOut = process.stdout,
    private readonly maxLive = 4,
  ) {
    this.clock = setInterval(() => this.draw(), 1000);
    this.clock.unref?.();
  }

  event(e: PatchworkEvent): void {
    if (this.plain) {
      this.plain.event(e);
      return;
    }
    if (e.type === 'task' && e.status === 'start') {
      this.active.set(e.id, { title: e.title, since: e.time ? Date.parse(e.time) : Date.now() });
    } else {
      const line = plainLine(e, this.debug);
      if (line === undefined) return;
      if (e.type === 'task') this.active.delete(e.id);
      const when = e.time ? Date.parse(e.time) : Date.now();
      this.pending.push(`${elapsed(when - this.t0)} ${shortenArns(line)}`);
      // A log line from inside a running task is also what that task is doing now.
      if (e.type === 'log') {
        const running = [...this.active.values()].at(-1);
        if (running) running.note = shortenArns(e.message);
        else this.note = shortenArns(e.message);
      }
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const wait = Math.max(0, 100 - (Date.now() - this.lastDraw));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, wait);
    this.timer.unref?.();
  }

  private fit(line: string): string {
    const width = Math.max(20, (this.out.columns ?? 80) - 1);
    return line.length > width ? `${line.slice(0, width - 1)}…` : line;
  }

  /** The live region: a line per running task (the newest last), or the command's title. */
  private region(): string[] {
    const now = Date.now();
    const spin = SPINNER[this.frame++ % SPINNER.length];
    const tasks = [...this.active.values()];
    if (!tasks.length) return [`${spin} ${this.title} ${elapsed(now - this.t0)}${this.note ? ` — ${this.note}` : ''}`];
    const shown = tasks.slice(-this.maxLive);
    const lines = shown.map(
      (t) => `${spin} ${t.title} ${elapsed(now - t.since).slice(1, -1)}${t.note ? ` — ${t.note}` : ''}`,
    );
    if (tasks.length > shown.length) lines.unshift(`  … ${tasks.length - shown.length} more running`);
    return lines;
  }

  private draw(final = false): void {
    if (this.closed && !final) return;
    this.lastDraw = Date.now();
    // Up to the first line of the live region, then the finished lines once and the region anew,
    // each line erased first (`\x1b[2K`, not "clear to the end of the screen": tmux keeps a
    // cleared whole screen in its scrollback); old region lines left below are erased too.
    let s = this.drawn ? `\r\x1b[${this.drawn}A` : '\r';
    for (const line of this.pending) s += `\x1b[2K${this.fit(line)}\n`;
    const written = this.pending.length;
    this.pending = [];
    const region = final ? [] : this.region().map((l) => this.fit(l));
    for (const line of region) s += `\x1b[2K${line}\n`;
    const left = this.drawn - written - region.length;
    if (left > 0) s += `${'\x1b[2K\n'.repeat(left)}\x1b[${left}A`;
    this.drawn = region.length;
    this.out.write(s);
  }

  /** The result text, its ARNs shortened to names as in the lines above it (--json keeps them). */
  text(s: string): void {
    const t = shortenArns(s);
    if (this.closed) this.out.write(t.endsWith('\n') ? t : `${t}\n`);
    else this.texts.push(t);
  }
  result(): void {}
  async close(ok: boolean): Promise<void> {
    this.finish(!ok);
  }
  /** Ends the live region; `unfinished`: say once which tasks were still running (a failure, Ctrl-C). */
  private finish(unfinished: boolean): void {
    if (this.closed) return;
    clearInterval(this.clock);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (unfinished) {
      for (const t of this.active.values())
        this.pending.push(`${elapsed(Date.now() - this.t0)} ✗ ${t.title}: not finished`);
    }
    this.draw(true);
    this.closed = true;
    for (const t of this.texts) this.out.write(t.endsWith('\n') ? t : `${t}\n`);
  }
  async suspend(): Promise<void> {
    this.finish(false);
    this.plain = new PlainRenderer(this.out as Writable, this.debug);
  }
}

export function makeRenderer(opts: { json: boolean; debug: boolean; title: string }): Renderer {
  if (opts.json) return new JsonRenderer(process.stdout, process.stderr, opts.debug);
  const interactive =
    process.stdout.isTTY && !process.env.CI && process.env.TERM !== 'dumb' && (process.stdout.columns ?? 0) >= 40;
  return interactive ? new LiveRenderer(opts.title, opts.debug) : new PlainRenderer(process.stdout, opts.debug);
}
