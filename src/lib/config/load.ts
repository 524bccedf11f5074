/**
 * Reading and validating patchwork.yml. Nothing here touches AWS: a bad file fails with exit 2
 * before any client exists.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve as resolvePath } from 'node:path';
import type { z } from 'zod';
import { PatchworkError } from '../errors.js';
import { nearest } from '../nearest.js';
import { ConfigSchema, type RawConfig } from './schema.js';
import { type ConfigIssue, ConfigSource, configError, type KeyPath } from './source.js';

/** The nearest-name helper (../nearest.ts), also used for environments, services, verbs and flags. */
export { nearest };

/** A file larger than this is not a config someone wrote by hand. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface LoadedConfig {
  /** The file as given (for messages). */
  file: string;
  /** Directory that relative paths in the config (build contexts) are resolved against. */
  baseDir: string;
  raw: RawConfig;
  source: ConfigSource;
}

export const DEFAULT_CONFIG_FILE = 'patchwork.yml';

/** Finds the config file: explicit path, PATCHWORK_CONFIG (`fromEnv`, see env.ts), or ./patchwork.yml (or .yaml). */
export function configPath(explicit?: string, cwd = process.cwd(), fromEnv?: string): string {
  const given = explicit ?? fromEnv;
  if (given) return resolvePath(cwd, given);
  const yml = resolvePath(cwd, DEFAULT_CONFIG_FILE);
  const yaml = resolvePath(cwd, 'patchwork.yaml');
  return !existsSync(yml) && existsSync(yaml) ? yaml : yml;
}

export function loadConfigFile(path: string, cwd = process.cwd()): LoadedConfig {
  const display = relative(cwd, path) || path;
  if (!existsSync(path)) {
    throw new PatchworkError('PW_CONFIG_NOT_FOUND', `${display}: no such file`, {
      hint: 'run `patchwork init` to write a starter config, or pass --config <file>',
      data: { file: display },
    });
  }
  const st = statSync(path);
  if (!st.isFile()) {
    throw new PatchworkError('PW_CONFIG_NOT_FOUND', `${display}: not a file`, { hint: 'pass --config <file>' });
  }
  if (st.size > MAX_CONFIG_BYTES) {
    throw configError('PW_CONFIG_INVALID', [
      { file: display, line: 1, column: 1, path: '(file)', message: `file is ${st.size} bytes; the limit is 1 MiB` },
    ]);
  }
  return parseConfig(readFileSync(path, 'utf8'), display, dirname(path));
}

export function parseConfig(text: string, file = DEFAULT_CONFIG_FILE, baseDir = process.cwd()): LoadedConfig {
  const source = ConfigSource.parse(text, file);
  const result = ConfigSchema.safeParse(source.data ?? {});
  if (!result.success) throw configError('PW_CONFIG_INVALID', zodIssues(source, result.error.issues));
  return { file, baseDir, raw: result.data, source };
}

/** zod issues → file:line issues; unknown keys point at the key and suggest the nearest known one. */
function zodIssues(source: ConfigSource, issues: z.core.$ZodIssue[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const known = knownKeys(source.data, path);
        const near = nearest(key, known);
        const msg = `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`;
        out.push(source.issue([...path, key], msg, true));
      }
      continue;
    }
    if (issue.code === 'invalid_key') {
      // A record key (environment, service or variable name) that its own rule refuses: say which rule.
      const inner = issue.issues?.[0]?.message;
      out.push(source.issue(path, inner ? cleanMessage(inner) : 'not allowed as a name here', true));
      continue;
    }
    if (issue.code === 'invalid_type' && valueAt(source.data, path) === undefined) {
      out.push(source.issue(path, `required (expected ${issue.expected})`, 'parent'));
      continue;
    }
    out.push(source.issue(path, cleanMessage(issue.message)));
  }
  return out;
}

function cleanMessage(message: string): string {
  return message.replace(/^Invalid (input|option): /, '');
}

function valueAt(data: unknown, path: KeyPath): unknown {
  let cur: unknown = data;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** The keys the schema allows at a path (walks the zod shape; records accept any key). */
function knownKeys(_data: unknown, path: KeyPath): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definition generically
  let schema: any = ConfigSchema;
  for (const part of path) {
    schema = unwrap(schema);
    const def = schema?._zod?.def;
    if (def?.type === 'object') schema = def.shape[part];
    else if (def?.type === 'record') schema = def.valueType;
    else if (def?.type === 'array') schema = def.element;
    else return [];
  }
  schema = unwrap(schema);
  const def = schema?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

// biome-ignore lint/suspicious/noExplicitAny: zod internals
function unwrap(schema: any): any {
  let s = schema;
  for (let i = 0; i < 10 && s?._zod?.def; i++) {
    const def = s._zod.def;
    if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'nonoptional'].includes(def.type))
      s = def.innerType;
    else if (def.type === 'pipe') s = def.in;
    else break;
  }
  return s;
}
