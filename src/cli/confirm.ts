/**
 * Confirmation in a terminal: the library asks through a `confirm` callback, the CLI answers by
 * asking the person at the terminal (on stderr, so --json's stdout stays NDJSON). Ctrl-C or end of
 * input while asking is a "no".
 */
import { createInterface } from 'node:readline';

/** A terminal to ask in: stdin and stderr are both TTYs. */
export function canAsk(): boolean {
  return !!process.stdin.isTTY && !!process.stderr.isTTY;
}

/** Shows `lines`, asks `question` and resolves to the trimmed answer ('' on Ctrl-C or EOF). */
export function ask(lines: string[], question: string): Promise<string> {
  return new Promise((resolve) => {
    process.stderr.write(`${lines.join('\n')}\n`);
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let settled = false;
    const done = (answer: string) => {
      if (settled) return;
      settled = true;
      rl.close();
      // readline leaves stdin flowing: without this the process would wait for more input.
      process.stdin.pause();
      process.stdin.unref?.();
      resolve(answer.trim());
    };
    rl.on('SIGINT', () => {
      process.stderr.write('\n');
      done('');
    });
    rl.on('close', () => done(''));
    rl.question(question, done);
  });
}

/** Lines naming what a plan deletes, grouped by kind: `  ecs-service (1): shop-prod-web`. */
export function summarize(items: { kind: string; name: string }[], indent = '  '): string[] {
  const byKind = new Map<string, string[]>();
  for (const i of items) byKind.set(i.kind, [...(byKind.get(i.kind) ?? []), i.name]);
  return [...byKind].map(([kind, names]) => `${indent}${kind} (${names.length}): ${names.join(', ')}`);
}
