/**
 * The engine answers /build and /images/push with a stream of JSON messages. These helpers read
 * that stream message by message (chunk boundaries fall anywhere), and turn build output into
 * whole lines while remembering the current step and the last lines, for error reports.
 */
import type { Readable } from 'node:stream';
import { PatchworkError } from '../errors.js';

export interface EngineMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { code?: number; message?: string };
}

/** The error a message carries, if any (`errorDetail.message`, else `error`). */
export function messageError(m: EngineMessage): string | undefined {
  if (m.errorDetail) return m.errorDetail.message ?? m.error ?? 'unknown engine error';
  return m.error;
}

/** Calls onMessage for every JSON message in the stream; resolves at its end. */
export function readMessages(stream: Readable, onMessage: (m: EngineMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let failed = false;
    const handle = (line: string) => {
      const text = line.trim();
      if (!text) return;
      let m: EngineMessage;
      try {
        m = JSON.parse(text) as EngineMessage;
      } catch {
        m = { stream: `${line}\n` }; // not JSON: keep it as output rather than lose it
      }
      try {
        onMessage(m);
      } catch (err) {
        failed = true;
        stream.destroy();
        reject(err);
      }
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      if (failed) return;
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0 && !failed) {
        handle(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
    });
    stream.on('end', () => {
      if (failed) return;
      if (buffered) handle(buffered);
      if (!failed) resolve();
    });
    stream.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
    stream.on('close', () => {
      // A socket closed without 'end' (engine died mid-build).
      if (!failed && stream.readableEnded === false) {
        failed = true;
        reject(new PatchworkError('PW_NO_DOCKER', 'the engine closed the connection before the end of its output'));
      }
    });
  });
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

/** The classic builder's own lines around a step: not the step's output. */
const ENGINE_CHATTER = /^\s*(---> |Removing intermediate container |Successfully (built|tagged) )/;

/** Build output as whole lines; knows the current `Step n/m : …` and keeps the last lines. */
export class BuildLog {
  step: string | null = null;
  readonly tail: string[] = [];
  /** Lines printed since the current step began (capped like tail). */
  stepLines: string[] = [];
  private partial = '';

  constructor(
    private readonly onLine: (line: string, isStep: boolean) => void = () => {},
    private readonly keep = 30,
  ) {}

  write(text: string): void {
    this.partial += text;
    let nl = this.partial.search(/\r?\n/);
    while (nl >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(this.partial[nl] === '\r' ? nl + 2 : nl + 1);
      this.line(line);
      nl = this.partial.search(/\r?\n/);
    }
  }

  flush(): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
  }

  private line(raw: string): void {
    // Progress bars redraw with \r: keep the last state of the line. The engine colours a RUN's
    // stderr with ANSI escapes: drop them.
    const line = stripAnsi(raw.includes('\r') ? raw.slice(raw.lastIndexOf('\r') + 1) : raw);
    const isStep = /^Step \d+\/\d+ : /.test(line);
    if (isStep) {
      this.step = line;
      this.stepLines = [];
    } else if (line.trim() !== '' && !ENGINE_CHATTER.test(line)) {
      this.stepLines.push(line);
      if (this.stepLines.length > this.keep) this.stepLines.shift();
    }
    if (line.trim() !== '') {
      this.tail.push(line);
      if (this.tail.length > this.keep) this.tail.shift();
    }
    this.onLine(line, isStep);
  }
}
