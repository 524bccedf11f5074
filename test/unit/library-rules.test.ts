/**
 * The library is embeddable (DEVELOPERS.md, DESIGN.md "Layering"): nothing in src/lib ends or
 * signals the process, installs a signal handler, or throws a plain Error (everything it throws on
 * purpose is a PatchworkError with a stable code), and reads environment variables only in env.ts. Checked on the source text, like a lint rule.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LIB = fileURLToPath(new URL('../../src/lib', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `file:line: text` for every line of src/lib matching `pattern` (comments included: say it differently). */
function offenders(pattern: RegExp): string[] {
  return sources(LIB).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) => (pattern.test(line) ? [`${relative(LIB, file)}:${i + 1}: ${line.trim()}`] : [])),
  );
}

describe('src/lib is a library', () => {
  it('has sources to check', () => expect(sources(LIB).length).toBeGreaterThan(30));
  it('never creates a plain Error (throw new PatchworkError(code, …))', () => {
    expect(offenders(/\bnew (Type|Range)?Error\(/)).toEqual([]);
  });
  it('never ends or signals the process', () => {
    expect(offenders(/\bprocess\.(exit|kill|abort)\b/)).toEqual([]);
  });
  it('reads environment variables in one place (env.ts), never process.env elsewhere', () => {
    expect(offenders(/\bprocess\.env\b/).filter((o) => !o.startsWith('env.ts:'))).toEqual([]);
    expect(offenders(/\bprocess\.env\b/).some((o) => o.startsWith('env.ts:'))).toBe(true);
  });
  it('installs no process signal handler (cancellation comes as an AbortSignal)', () => {
    expect(offenders(/\bprocess\.(on|once|off|addListener|prependListener|removeListener)\(/)).toEqual([]);
  });
});
