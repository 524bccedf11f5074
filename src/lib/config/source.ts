/**
 * A parsed config file that remembers where every value came from, so errors can name
 * `file:line path`. Parsing uses `yaml` with a LineCounter; paths are zod/our own key paths.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { PatchworkError } from '../errors.js';

export type KeyPath = (string | number)[];

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

export function formatPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out || '(root)';
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line} ${issue.path}: ${issue.message}`;
}

export class ConfigSource {
  readonly data: unknown;

  private constructor(
    readonly file: string,
    private readonly contents: ReturnType<typeof parseDocument>,
    private readonly lines: LineCounter,
  ) {
    this.data = contents.toJS({ maxAliasCount: 100 });
  }

  /** Parses YAML text; syntax errors throw PW_CONFIG_SYNTAX with file:line. */
  static parse(text: string, file: string): ConfigSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
    const problems = [...doc.errors];
    if (problems.length > 0) {
      const issues = problems.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const message = e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? e.message;
        return { file, line: pos.line, column: pos.col, path: '(yaml)', message };
      });
      throw configError('PW_CONFIG_SYNTAX', issues, 'fix the YAML syntax at that line (indentation, quotes, colons)');
    }
    try {
      return new ConfigSource(file, doc, lines);
    } catch (err) {
      // e.g. too many aliases ("billion laughs"): refuse rather than expand.
      const msg = err instanceof Error ? err.message : String(err);
      throw configError('PW_CONFIG_SYNTAX', [{ file, line: 1, column: 1, path: '(yaml)', message: msg }]);
    }
  }

  /** Where a path is written. `key: true` points at the key itself (for unknown keys). */
  locate(path: KeyPath, key = false): { line: number; column: number } {
    let node: unknown = this.contents.contents;
    let best: Node | undefined = isNode(node) ? node : undefined;
    for (const part of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part));
        if (!pair) break;
        if (key && part === path[path.length - 1] && isNode(pair.key)) {
          best = pair.key;
          break;
        }
        node = pair.value;
        if (isNode(node)) best = node;
        else if (isNode(pair.key)) best = pair.key;
      } else if (isSeq(node) && typeof part === 'number') {
        node = node.items[part];
        if (isNode(node)) best = node;
        else break;
      } else break;
    }
    const offset = best?.range?.[0] ?? 0;
    const pos = this.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }

  /** An issue at a path; `key` points at the key itself; a missing key points at its parent's key. */
  issue(path: KeyPath, message: string, key: boolean | 'parent' = false): ConfigIssue {
    const at = key === 'parent' ? this.locate(path.slice(0, -1), true) : this.locate(path, key);
    return { file: this.file, line: at.line, column: at.column, path: formatPath(path), message };
  }
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && 'range' in v;
}

export function configError(
  code: 'PW_CONFIG_INVALID' | 'PW_CONFIG_SYNTAX',
  issues: ConfigIssue[],
  hint = 'fix the value at that line; `patchwork schema` prints every key and type',
): PatchworkError {
  const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
  return new PatchworkError(code, sorted.map(formatIssue).join('\n'), {
    hint,
    data: { issues: sorted },
  });
}
