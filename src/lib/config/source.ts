/**
 * A parsed config file that remembers where every value came from, so errors can name
 * `file:line path`. Parsing uses `yaml` with a LineCounter; paths are zod/our own key paths.
 */
import { createRequire } from 'node:module';
import type { Document, LineCounter as LineCounterT, Node, Pair, YAMLMap } from 'yaml';
import { PatchworkError } from '../errors.js';

// yaml is CommonJS: require() spares Node's ESM pass over its sources for export names (the
// cjs-module-lexer scan an `import` of a CommonJS package costs; see src/lib/aws/sdk.ts). Every
// command that reads the config loads it, so it is on the start-up path of nearly every verb.
const yaml: typeof import('yaml') = createRequire(import.meta.url)('yaml');
const { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } = yaml;
/** yaml's stringify (a config given as an object is parsed from its YAML text, with positions). */
export const yamlStringify = yaml.stringify;

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

/**
 * Text from the file made safe to print on one line: control characters (NUL, newlines, ESC) and
 * bidirectional overrides (which can make a terminal show text other than what is there) become
 * \u{…} escapes, so a hostile key can neither break the one-line format nor forge output.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters escaped
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    return `\\u{${c.codePointAt(0)!.toString(16)}}`;
  });
}

/** Deeper than this is not a config (patchwork's own schema is 6 levels deep). */
export const MAX_DEPTH = 64;

export class ConfigSource {
  readonly data: unknown;

  private constructor(
    readonly file: string,
    private readonly contents: ReturnType<typeof parseDocument>,
    private readonly lines: LineCounterT,
  ) {
    this.data = contents.toJS({ maxAliasCount: 100 });
  }

  /** Parses YAML text; syntax errors throw PW_CONFIG_SYNTAX with file:line. */
  static parse(text: string, file: string): ConfigSource {
    const lines = new LineCounter();
    // logLevel 'error': yaml's warnings (e.g. a list used as a key) would go to stderr through
    // process.emitWarning; the shapes they are about are reported as issues below instead.
    // uniqueKeys off: yaml's own check compares every key with every other (a 400 kB file of
    // distinct keys took a minute); shapeIssues finds duplicates with one set per map instead.
    const doc = parseDocument(text, {
      lineCounter: lines,
      prettyErrors: false,
      uniqueKeys: false,
      strict: true,
      logLevel: 'error',
    });
    const problems = [...doc.errors];
    // yaml reports a document too deep for its recursion as the engine's stack error; where that
    // happens depends on the stack size, so it is reported like the depth check below, whatever it hit.
    const tooDeep = problems.find((e) => /call stack/i.test(e.message));
    if (tooDeep) throw configError('PW_CONFIG_INVALID', [deepIssue(file, lines.linePos(tooDeep.pos[0]).line)]);
    if (problems.length > 0) {
      const seen = new Set<string>();
      const issues = problems.flatMap((e) => {
        const pos = lines.linePos(e.pos[0]);
        const message = e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? e.message;
        const key = `${pos.line}:${message}`;
        if (seen.has(key)) return [];
        seen.add(key);
        return [{ file, line: pos.line, column: pos.col, path: '(yaml)', message }];
      });
      throw configError('PW_CONFIG_SYNTAX', issues, 'fix the YAML syntax at that line (indentation, quotes, colons)');
    }
    const shape = shapeIssues(doc, lines, file);
    if (shape.duplicates.length > 0) {
      throw configError('PW_CONFIG_SYNTAX', shape.duplicates, 'remove or rename the repeated key at that line');
    }
    if (shape.invalid.length > 0) throw configError('PW_CONFIG_INVALID', shape.invalid);
    try {
      return new ConfigSource(file, doc, lines);
    } catch (err) {
      // e.g. too many aliases ("billion laughs"): refuse rather than expand.
      const msg = err instanceof Error ? err.message : String(err);
      if (err instanceof RangeError && /call stack/i.test(msg))
        throw configError('PW_CONFIG_INVALID', [deepIssue(file, 1)]);
      throw configError('PW_CONFIG_SYNTAX', [{ file, line: 1, column: 1, path: '(yaml)', message: msg }]);
    }
  }

  private readonly keyIndex = new WeakMap<object, Map<string, Pair>>();

  /** A map's pair by key, through an index built once per map (thousands of issues stay linear). */
  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    let index = this.keyIndex.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        if (isPair(p) && isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
      }
      this.keyIndex.set(map, index);
    }
    return index.get(key);
  }

  /** Where a path is written. `key: true` points at the key itself (for unknown keys). */
  locate(path: KeyPath, key = false): { line: number; column: number } {
    let node: unknown = this.contents.contents;
    let best: Node | undefined = isNode(node) ? node : undefined;
    for (const part of path) {
      if (isMap(node)) {
        const pair = this.pairOf(node, String(part));
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

function deepIssue(file: string, line: number): ConfigIssue {
  return { file, line, column: 1, path: '(yaml)', message: `nested more than ${MAX_DEPTH} levels deep` };
}

/**
 * What YAML allows but a config cannot mean, found before the document is turned into data:
 * repeated keys in a map, nesting deeper than MAX_DEPTH, keys that are lists or maps (JavaScript
 * would silently turn them into strings), and `__proto__` keys (which JavaScript objects drop
 * without a word). Iterative and linear, so neither a deep nor a wide document can hang it.
 */
function shapeIssues(
  doc: Document,
  lines: LineCounterT,
  file: string,
): { duplicates: ConfigIssue[]; invalid: ConfigIssue[] } {
  const duplicates: ConfigIssue[] = [];
  const invalid: ConfigIssue[] = [];
  const at = (node: unknown, path: KeyPath | '(yaml)', message: string): ConfigIssue => {
    const pos = lines.linePos(isNode(node) ? (node.range?.[0] ?? 0) : 0);
    return { file, line: pos.line, column: pos.col, path: path === '(yaml)' ? path : formatPath(path), message };
  };
  const stack: { node: unknown; path: KeyPath }[] = [{ node: doc.contents, path: [] }];
  while (stack.length > 0 && invalid.length + duplicates.length < 100) {
    const { node, path } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (path.length >= MAX_DEPTH) {
      invalid.push(at(node, path, `nested more than ${MAX_DEPTH} levels deep`));
      continue;
    }
    if (isSeq(node)) {
      node.items.forEach((item, i) => {
        stack.push({ node: item, path: [...path, i] });
      });
      continue;
    }
    const seen = new Set<string>();
    for (const pair of node.items) {
      let key: unknown = pair.key;
      if (isAlias(key)) key = key.resolve(doc) ?? key;
      if (isMap(key) || isSeq(key)) {
        invalid.push(at(pair.key, path, 'a key must be a plain name, not a list or a map'));
        continue;
      }
      const name = isScalar(key) ? String(key.value) : '';
      if (seen.has(name)) {
        duplicates.push(at(pair.key, '(yaml)', 'Map keys must be unique'));
        continue;
      }
      seen.add(name);
      if (name === '__proto__') {
        invalid.push(at(pair.key, [...path, name], '"__proto__" cannot be used as a key'));
        continue;
      }
      stack.push({ node: pair.value, path: [...path, name] });
    }
  }
  return { duplicates, invalid };
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && 'range' in v;
}

/** Issues listed at most (a generated or corrupted file can have thousands). */
const MAX_ISSUES = 50;

export function configError(
  code: 'PW_CONFIG_INVALID' | 'PW_CONFIG_SYNTAX' | 'PW_NAME_CLASH',
  issues: ConfigIssue[],
  hint = 'fix the value at that line; `patchwork schema` prints every key and type',
): PatchworkError {
  const sorted = [...issues]
    .sort((a, b) => a.line - b.line || a.column - b.column)
    .slice(0, MAX_ISSUES)
    .map((i) => ({ ...i, path: printable(i.path), message: printable(i.message) }));
  const more = issues.length - sorted.length;
  const lines = sorted.map(formatIssue);
  if (more > 0) lines.push(`(${more} more issue${more === 1 ? '' : 's'} not shown)`);
  return new PatchworkError(code, lines.join('\n'), {
    hint,
    data: { issues: sorted },
  });
}
