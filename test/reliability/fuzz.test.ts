/**
 * Hostile input (issue #10, scenario 4): random mutations of valid patchwork.yml files and random
 * flags, from fixed seeds so a failure replays.
 *
 * - In-process, thousands of cases against the same path every verb runs (parseConfig →
 *   pickEnvironment → resolveEnvironment): it either accepts the file or throws a PatchworkError
 *   with exit 2, one printable line per issue and a hint. Never another error type.
 * - Through the built CLI (`provision --dry-run --json`), fewer cases: AWS_ENDPOINT_URL points at
 *   a loopback server that counts connections and closes each one unanswered. So a config that
 *   validates can only end in exit 1 (PW_ENDPOINT_UNREACHABLE: it reached "AWS", which answered
 *   nothing), and the in-process verdict is the oracle: refused in-process ⇔ exit 2 with the same
 *   code and zero connections; accepted ⇔ exit 1 after at least one connection. Exit 0 is
 *   impossible here (a plan needs AWS) and is a failure. No stack trace without --debug; stderr
 *   carries the `PW_…:` line and its `try:` hint; stdout stays valid NDJSON.
 * - Flags: each case is a valid invocation plus at least one bad element (unknown flag, bad value,
 *   bad duration, unknown environment/service/region, missing value, ...): exit 2, zero
 *   connections, no stack.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseConfig } from '../../src/lib/config/load.js';
import { pickEnvironment, resolveEnvironment } from '../../src/lib/config/resolve.js';
import { type ErrorCode, ErrorCodes, PatchworkError } from '../../src/lib/errors.js';
import { isolatedEnv, runCli } from '../helpers/cli.js';
import { git } from '../helpers/git.js';

/** Seeds: change them to explore further; a failure message names the seed and the case. */
const SEED_IN_PROCESS = 10_4_2026;
const SEED_CLI = 10_4_2027;
const SEED_FLAGS = 10_4_2028;
const IN_PROCESS_RUNS = 2000;
const CLI_RUNS = 40;
const FLAG_RUNS = 30;
/** CLI runs at once: each is ~1 s of CPU; more than the machine's cores only adds contention. */
const CONCURRENCY = 2;

// ---------------------------------------------------------------------------------------------
// Valid starting points

const BASES: { text: string; envs: string[] }[] = [
  {
    envs: ['prod', 'staging'],
    text: `app: shop
region: eu-west-1
services:
  web:
    build: { context: webapp }
    port: 8080
    healthCheck: { path: /healthz }
environments:
  prod:
    desiredCount: 2
  staging:
    desiredCount: 1
`,
  },
  {
    envs: ['prod', 'staging'],
    text: `# several services, everything switched on
app: shop
region: eu-west-1
services:
  web:
    build:
      context: webapp
      dockerfile: Dockerfile
      args: { GO_VERSION: "1.26", DEBUG: false, N: 3 }
      platform: linux/arm64
    port: 8080
    cpu: 512
    memory: 1024
    command: ["/webapp"]
    healthCheck:
      path: /healthz
      matcher: "200-399"
      intervalSeconds: 15
      timeoutSeconds: 5
      healthyThreshold: 2
      unhealthyThreshold: 3
      gracePeriodSeconds: 30
      command: ["/webapp", "-healthcheck"]
    route: { paths: ["/*"], hosts: ["shop.example.com"], priority: 10 }
    env: { LOG_LEVEL: info, WORKERS: 4 }
    secrets:
      DB_PASSWORD: arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db
    taskRolePolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    readonlyRootFilesystem: true
  api:
    image: public.example/api:1.2.3
    port: 9000
    route: { paths: ["/api/*"] }
defaults:
  allowedCidrs: ["0.0.0.0/0", "::/0"]
  logRetentionDays: 30
  alarms: { http5xxPerMinute: 5, cpuPercent: 80, memoryPercent: 80, unhealthyHosts: 0 }
environments:
  prod:
    desiredCount: 2
    network: { vpc: vpc-0abc1234, publicSubnets: [subnet-0abc1234, subnet-0def5678], privateSubnets: [subnet-0aaa1111] }
    autoscaling: { min: 2, max: 10, cpuPercent: 60, requestsPerTarget: 1000 }
    https: { certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abcd-1234", sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06 }
    keepImages: 30
    deploy: { timeoutSeconds: 900 }
    services: { web: { desiredCount: 3, cpu: 1024, memory: 2048, env: { LOG_LEVEL: warn } } }
  staging: { desiredCount: 1, alarms: ~ }
deploy: { timeoutSeconds: 600, pollSeconds: 2, keepReleases: 10, lockTtlSeconds: 900, smoke: { path: /healthz, expectStatus: 200, timeoutSeconds: 10 } }
`,
  },
  {
    envs: ['local', 'qa'],
    text: `app: a1
registry: 127.0.0.1:5000
defaults: &d
  region: us-east-1
  desiredCount: 1
services:
  s:
    image: nginx@sha256:${'a'.repeat(64)}
    port: 80
    user: root
environments:
  local: *d
  qa:
    region: eu-central-1
    logRetentionDays: 7
`,
  },
];

// ---------------------------------------------------------------------------------------------
// Mutations

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const SPECIAL_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'prototype',
  'hasOwnProperty',
  '',
  ' ',
  '<<',
  '?',
  '-',
  '#',
  '\u202Eprod',
  '\u0000',
  'a\nb',
  '🚀',
  'прод',
  'פרוד',
  'prot',
  'servces',
  'app',
  'services',
  'environments',
  'region',
  'desiredCount',
];
const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u202Eevil\u202C',
  '\u200F\u061C',
  '🛒🚀👩‍👩‍👧',
  'שלום',
  'مرحبا',
  '\u0000',
  '\u0007\u001b[31mred',
  'a\r\nb',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell-style reference, on purpose
  '${AWS_SECRET_ACCESS_KEY}',
  '$(reboot)',
  '&a',
  '*a',
  '!!binary',
  '0x1F90',
  '0o17',
  'yes',
  'no',
  'on',
  'null',
  '~',
  '.inf',
  '-.inf',
  '.nan',
  '1e400',
  '-0',
  '2001-12-14t21:59:43.10-05:00',
  'arn:aws:ssm:eu-west-1:123456789012:parameter/x',
  'AKIAABCDEFGHIJKLMNOP',
  '-----BEGIN RSA PRIVATE KEY-----',
  '10.0.0.0/33',
  '/healthz',
  'mars-north-1',
  'eu-west-1',
  'x'.repeat(1025),
];
const SPECIAL_NUMBERS = [
  0,
  -0,
  -1,
  1,
  1.5,
  255,
  256,
  511,
  512,
  65535,
  65536,
  2 ** 31,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
  1e21,
];

const keyArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_KEYS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

const leafArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(...SPECIAL_STRINGS),
  fc.constantFrom(...SPECIAL_NUMBERS),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** Something nested `depth` levels deep, as a list or a map. */
function nested(depth: number, asMap: boolean): Json {
  let v: Json = 1;
  for (let i = 0; i < depth; i++) v = asMap ? { a: v } : [v];
  return v;
}

const valueArb: fc.Arbitrary<Json> = fc.oneof(
  { weight: 6, arbitrary: leafArb },
  { weight: 1, arbitrary: fc.array(leafArb, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.dictionary(keyArb, leafArb, { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 200 }), fc.boolean()).map(([d, m]) => nested(d, m)) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 300_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 3_000 }).map((n) => Array.from({ length: n }, (_, i) => i)) },
);

type ObjectMutation =
  | { kind: 'replace'; at: number; value: Json }
  | { kind: 'insert'; at: number; key: string; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'rename'; at: number; key: string }
  | { kind: 'wrap'; at: number; asMap: boolean }
  | { kind: 'retype'; at: number };

type TextMutation =
  | { kind: 'insert-text'; at: number; text: string }
  | { kind: 'delete-text'; at: number; length: number }
  | { kind: 'duplicate-line'; at: number }
  | { kind: 'reindent'; at: number; indent: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'alias-bomb'; levels: number; width: number }
  | { kind: 'deep-text'; depth: number; open: string }
  | { kind: 'anchor-alias'; at: number }
  | { kind: 'tag'; at: number; tag: string };

const YAML_TOKENS = [
  ':',
  ': ',
  '- ',
  '{',
  '}',
  '[',
  ']',
  '"',
  "'",
  '\t',
  '&a ',
  '*a',
  '*nope',
  '!!str ',
  '!!binary ',
  '!!set ',
  '!!omap ',
  '!custom ',
  '? ',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  '%TAG ! tag:x,2000:\n',
  '#',
  '|',
  '>-',
  '\u0000',
  '\uFEFF',
  '\r',
  '\n  ',
  '\n\t',
  '<<: ',
  '@',
  '`',
  '%',
  '\u202E',
  '🚀',
];

const objectMutationArb: fc.Arbitrary<ObjectMutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: valueArb }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), key: keyArb, value: valueArb }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), key: keyArb }),
  fc.record({ kind: fc.constant('wrap' as const), at: fc.nat(), asMap: fc.boolean() }),
  fc.record({ kind: fc.constant('retype' as const), at: fc.nat() }),
);

const textMutationArb: fc.Arbitrary<TextMutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('insert-text' as const),
      at: fc.nat(),
      text: fc.oneof(fc.constantFrom(...YAML_TOKENS), fc.string({ maxLength: 6 }), fc.string({ unit: 'binary' })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('delete-text' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 20 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate-line' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('reindent' as const),
      at: fc.nat(),
      indent: fc.constantFrom('', ' ', '\t', '   ', '        ', ' \t'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('alias-bomb' as const),
      levels: fc.integer({ min: 2, max: 9 }),
      width: fc.integer({ min: 2, max: 12 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('deep-text' as const),
      depth: fc.integer({ min: 10, max: 3_000 }),
      open: fc.constantFrom('[', '{a: ', '- '),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('anchor-alias' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tag' as const),
      at: fc.nat(),
      tag: fc.constantFrom('!!binary', '!!set', '!!omap', '!!pairs', '!!timestamp', '!!float', '!!int', '!!map', '!x'),
    }),
  },
);

interface ConfigCase {
  base: number;
  env: string;
  objectMutations: ObjectMutation[];
  textMutations: TextMutation[];
}

const caseArb: fc.Arbitrary<ConfigCase> = fc
  .record({
    base: fc.nat({ max: BASES.length - 1 }),
    envPick: fc.nat(),
    objectMutations: fc.array(objectMutationArb, { maxLength: 3 }),
    textMutations: fc.array(textMutationArb, { maxLength: 2 }),
  })
  .filter((c) => c.objectMutations.length + c.textMutations.length > 0)
  .map(({ base, envPick, objectMutations, textMutations }) => ({
    base,
    env: BASES[base]!.envs[envPick % BASES[base]!.envs.length]!,
    objectMutations,
    textMutations,
  }));

/** Every path in a JSON value (the root included), in a stable order. */
function paths(value: Json, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      paths(v, [...prefix, i], out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const k of Object.keys(value)) paths(value[k]!, [...prefix, k], out);
  }
  return out;
}

/** An own property, `__proto__` included (plain assignment would set the prototype instead). */
function setOwn(obj: Record<string, Json> | Json[], key: string | number, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function getAt(root: Json, path: Path): Json {
  let cur: Json = root;
  for (const p of path) cur = (cur as Record<string | number, Json>)[p]!;
  return cur;
}

function applyObjectMutation(root: Json, m: ObjectMutation): Json {
  const all = paths(root);
  const path = all[m.at % all.length]!;
  const parentPath = path.slice(0, -1);
  const last = path[path.length - 1];
  const parent = path.length > 0 ? (getAt(root, parentPath) as Record<string, Json> | Json[]) : null;
  const current = getAt(root, path);
  const put = (v: Json): Json => {
    if (!parent || last === undefined) return v;
    setOwn(parent, last, v);
    return root;
  };
  switch (m.kind) {
    case 'replace':
      return put(m.value);
    case 'insert':
      if (Array.isArray(current)) current.push(m.value);
      else if (current !== null && typeof current === 'object') setOwn(current, m.key, m.value);
      else return put({ [m.key]: m.value });
      return root;
    case 'delete':
      if (!parent || last === undefined) return null;
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last as string];
      return root;
    case 'rename': {
      if (!parent || Array.isArray(parent) || last === undefined) return root;
      // Rebuild in order so the renamed key stays where it was.
      const entries = Object.entries(parent);
      for (const k of Object.keys(parent)) delete parent[k];
      for (const [k, v] of entries) setOwn(parent, k === last ? m.key : k, v);
      return root;
    }
    case 'wrap':
      return put(m.asMap ? { v: current } : [current]);
    case 'retype':
      if (typeof current === 'number') return put(String(current));
      if (typeof current === 'string') return put(Number(current));
      if (typeof current === 'boolean') return put(current ? 1 : 0);
      if (current === null) return put({});
      return put(JSON.stringify(current));
  }
}

function applyTextMutation(text: string, m: TextMutation): string {
  const pos = (n: number) => (text.length === 0 ? 0 : n % (text.length + 1));
  const lines = text.split('\n');
  const line = (n: number) => n % Math.max(1, lines.length);
  switch (m.kind) {
    case 'insert-text':
      return text.slice(0, pos(m.at)) + m.text + text.slice(pos(m.at));
    case 'delete-text':
      return text.slice(0, pos(m.at)) + text.slice(pos(m.at) + m.length);
    case 'duplicate-line': {
      const i = line(m.at);
      lines.splice(i, 0, lines[i] ?? '');
      return lines.join('\n');
    }
    case 'reindent': {
      const i = line(m.at);
      lines[i] = m.indent + (lines[i] ?? '').trimStart();
      return lines.join('\n');
    }
    case 'truncate':
      return text.slice(0, pos(m.at));
    case 'alias-bomb': {
      // a0: &a0 [x, x, ...]; a1: &a1 [*a0, *a0, ...]; ... width^levels values if expanded.
      const out = [`bomb0: &a0 [${Array.from({ length: m.width }, () => '"lol"').join(', ')}]`];
      for (let l = 1; l < m.levels; l++) {
        out.push(`bomb${l}: &a${l} [${Array.from({ length: m.width }, () => `*a${l - 1}`).join(', ')}]`);
      }
      return `${text}\n${out.join('\n')}\n`;
    }
    case 'deep-text': {
      const close = m.open === '[' ? ']' : m.open === '{a: ' ? '}' : '';
      if (m.open === '- ') {
        return `${text}\ndeep:\n${Array.from({ length: m.depth }, (_, i) => `${' '.repeat(i * 2)}- `).join('\n')}1\n`;
      }
      return `${text}\ndeep: ${m.open.repeat(m.depth)}1${close.repeat(m.depth)}\n`;
    }
    case 'anchor-alias': {
      // Anchor one line's value and reuse it as another key's value (legal YAML, maybe wrong type).
      const i = line(m.at);
      const j = line(m.at * 7 + 3);
      const a = lines[i] ?? '';
      const b = lines[j] ?? '';
      const ai = a.indexOf(': ');
      const bi = b.indexOf(': ');
      if (ai < 0 || bi < 0) return `${text}\nx: *undefined_anchor\n`;
      lines[i] = `${a.slice(0, ai + 2)}&fz ${a.slice(ai + 2)}`;
      lines[j] = `${b.slice(0, bi + 2)}*fz`;
      return lines.join('\n');
    }
    case 'tag': {
      const i = line(m.at);
      const l = lines[i] ?? '';
      const at = l.indexOf(': ');
      if (at < 0) return text;
      lines[i] = `${l.slice(0, at + 2)}${m.tag} ${l.slice(at + 2)}`;
      return lines.join('\n');
    }
  }
}

function renderCase(c: ConfigCase): string {
  let doc = parseYaml(BASES[c.base]!.text) as Json;
  for (const m of c.objectMutations) doc = applyObjectMutation(doc, m);
  let text = c.objectMutations.length > 0 ? stringifyYaml(doc, { aliasDuplicateObjects: false }) : BASES[c.base]!.text;
  for (const m of c.textMutations) text = applyTextMutation(text, m);
  return text;
}

// ---------------------------------------------------------------------------------------------
// The oracle: what every verb does before its first AWS call.

const USAGE_CODES = (Object.keys(ErrorCodes) as ErrorCode[]).filter((c) => ErrorCodes[c] === 2);
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for exactly these
const UNPRINTABLE = /[\u0000-\u0009\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]/;

type Verdict = { ok: true } | { ok: false; error: PatchworkError };

/** Without the machine's region variables: the CLI runs in an isolated environment. */
function withoutRegionEnv<T>(fn: () => T): T {
  const saved: Record<string, string | undefined> = {};
  for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'PATCHWORK_ALLOW_UNKNOWN_REGION', 'PATCHWORK_ENV']) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
}

/** parseConfig → pickEnvironment → resolveEnvironment; any other error type fails the property. */
function validate(text: string, env: string | undefined, dir = '/tmp'): Verdict {
  return withoutRegionEnv(() => {
    try {
      const cfg = parseConfig(text, 'patchwork.yml', dir);
      const envs = env === undefined ? Object.keys(cfg.raw.environments) : [pickEnvironment(cfg, env)];
      for (const e of envs) resolveEnvironment(cfg, e);
      return { ok: true } as const;
    } catch (err) {
      if (!(err instanceof PatchworkError)) {
        throw new Error(`not a PatchworkError: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, {
          cause: err,
        });
      }
      return { ok: false, error: err } as const;
    }
  });
}

function checkError(err: PatchworkError): void {
  expect(err.exitCode, err.message).toBe(2);
  expect(USAGE_CODES).toContain(err.code);
  expect(err.message.length).toBeGreaterThan(0);
  expect(err.hint ?? '').not.toBe('');
  expect(err.hint).not.toMatch(/\n/);
  expect(err.message).not.toMatch(UNPRINTABLE);
  if (err.code === 'PW_CONFIG_INVALID' || err.code === 'PW_CONFIG_SYNTAX') {
    // One line per issue: `file:line path: message`, at most 50 and a count of the rest.
    const lines = err.message.split('\n');
    expect(lines.length).toBeLessThanOrEqual(51);
    for (const l of lines) expect(l).toMatch(/^patchwork\.yml:\d+ \S.*: |^\(\d+ more issues? not shown\)$/);
    expect((err.data.issues as unknown[]).length).toBeGreaterThan(0);
  }
}

/** Inputs that once broke validation (or were accepted silently): kept as fixed cases. */
const REGRESSIONS: { name: string; text: string; expect: 'ok' | ErrorCode }[] = [
  {
    // `key in raw.services` was true for Object.prototype names: the override was silently ignored.
    name: 'an override for an undefined service named toString',
    text: BASES[0]!.text.replace(
      '    desiredCount: 2\n',
      '    desiredCount: 2\n    services: { toString: { cpu: 256 } }\n',
    ),
    expect: 'PW_CONFIG_INVALID',
  },
  {
    name: 'an override for an undefined service named constructor',
    text: BASES[0]!.text.replace('    desiredCount: 2\n', '    desiredCount: 2\n    services: { constructor: {} }\n'),
    expect: 'PW_CONFIG_INVALID',
  },
  {
    // zod records drop `__proto__` without a word: a variable or service vanished silently.
    name: '__proto__ as an env variable name',
    text: BASES[0]!.text.replace('    port: 8080\n', '    port: 8080\n    env: { __proto__: x, A: b }\n'),
    expect: 'PW_CONFIG_INVALID',
  },
  {
    name: '__proto__ as a service name',
    text: BASES[0]!.text.replace('  web:\n', '  __proto__: { image: x, port: 1 }\n  web:\n'),
    expect: 'PW_CONFIG_INVALID',
  },
  {
    // A list as a key: yaml stringified it and printed a Node warning on stderr.
    name: 'a list used as a key',
    text: `${BASES[0]!.text}? [a, b]\n: c\n`,
    expect: 'PW_CONFIG_INVALID',
  },
  {
    name: 'a list used as a build arg name',
    text: BASES[0]!.text.replace('build: { context: webapp }', 'build: { context: webapp, args: { [a]: b } }'),
    expect: 'PW_CONFIG_INVALID',
  },
  {
    // The parser's own recursion limit surfaced as "Maximum call stack size exceeded".
    name: 'flow lists nested 20000 deep',
    text: `${BASES[0]!.text}deep: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`,
    expect: 'PW_CONFIG_INVALID',
  },
  {
    name: 'block maps nested 100 deep',
    text: `${BASES[0]!.text}${Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`,
    expect: 'PW_CONFIG_INVALID',
  },
  {
    // A NUL and an RTL override in a key reached the terminal raw.
    name: 'NUL and RTL override in keys',
    text: `${BASES[0]!.text}"\\0": 1\n"\\u202Eapp": 2\n`,
    expect: 'PW_CONFIG_INVALID',
  },
  {
    name: 'a newline in a key cannot forge an output line',
    text: `${BASES[0]!.text}"x\\nPW_OK: fine": 1\n`,
    expect: 'PW_CONFIG_INVALID',
  },
  {
    name: 'an alias bomb',
    text: `${BASES[0]!.text}${applyTextMutation('', { kind: 'alias-bomb', levels: 9, width: 10 })}`,
    expect: 'PW_CONFIG_SYNTAX',
  },
  {
    name: '5000 unknown keys are listed as 50 and a count',
    text: `${BASES[0]!.text}${Array.from({ length: 5000 }, (_, i) => `unknown${i}: 1`).join('\n')}\n`,
    expect: 'PW_CONFIG_INVALID',
  },
  {
    // yaml's duplicate-key check compared every key with every other: this file took ~60 s.
    name: '40000 distinct unknown keys (390 kB) are refused quickly',
    text: `${BASES[0]!.text}${Array.from({ length: 40_000 }, (_, i) => `k${i}: 1`).join('\n')}\n`,
    expect: 'PW_CONFIG_INVALID',
  },
  {
    name: 'a duplicate key among 40000 is still found',
    text: `${BASES[0]!.text}${Array.from({ length: 40_000 }, (_, i) => `k${i % 39_999}: 1`).join('\n')}\n`,
    expect: 'PW_CONFIG_SYNTAX',
  },
  { name: 'a UTF-8 BOM', text: `\uFEFF${BASES[0]!.text}`, expect: 'ok' },
  { name: 'an environment named constructor', text: BASES[0]!.text.replace('staging:', 'constructor:'), expect: 'ok' },
];

describe('config fuzz, in-process (parseConfig → resolveEnvironment)', () => {
  it('the bases are valid', () => {
    for (const b of BASES) for (const e of b.envs) expect(validate(b.text, e)).toEqual({ ok: true });
  });

  it.each(REGRESSIONS)('regression: $name', ({ text, expect: want }) => {
    const t0 = Date.now();
    const v = validate(text, undefined);
    expect(Date.now() - t0).toBeLessThan(5_000);
    if (want === 'ok') {
      expect(v.ok, v.ok ? '' : v.error.message).toBe(true);
      return;
    }
    expect(v.ok).toBe(false);
    if (!v.ok) {
      checkError(v.error);
      expect(v.error.code).toBe(want);
    }
  });

  it(`${IN_PROCESS_RUNS} mutated configs: accepted, or PatchworkError exit 2 (seed ${SEED_IN_PROCESS})`, () => {
    const seen: Record<string, number> = {};
    const started = Date.now();
    fc.assert(
      fc.property(caseArb, (c) => {
        const text = renderCase(c);
        const t0 = Date.now();
        const v = validate(text, c.env);
        const key = v.ok ? 'ok' : v.error.code;
        seen[key] = (seen[key] ?? 0) + 1;
        if (!v.ok) checkError(v.error);
        // Nothing a human could write should take long to refuse (2 s allows for a slow CI box).
        expect(Date.now() - t0).toBeLessThan(2_000);
      }),
      { seed: SEED_IN_PROCESS, numRuns: IN_PROCESS_RUNS, endOnFailure: false },
    );
    console.info(`config fuzz in-process: ${IN_PROCESS_RUNS} cases in ${Date.now() - started} ms`, seen);
    // The mutations must exercise both sides, else the generator is broken.
    expect(seen.ok ?? 0).toBeGreaterThan(0);
    expect((seen.PW_CONFIG_INVALID ?? 0) + (seen.PW_CONFIG_SYNTAX ?? 0)).toBeGreaterThan(IN_PROCESS_RUNS / 4);
  });
});

// ---------------------------------------------------------------------------------------------
// Through the CLI, against an endpoint that answers nothing

interface Counter {
  server: Server;
  url: string;
  connections: number;
}

async function countingEndpoint(): Promise<Counter> {
  const c: Counter = { server: createServer(), url: '', connections: 0 };
  c.server.on('connection', (sock) => {
    c.connections++;
    sock.destroy();
  });
  await new Promise<void>((r) => c.server.listen(0, '127.0.0.1', r));
  const addr = c.server.address();
  c.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return c;
}

const cliEnv = (endpoint: string) =>
  isolatedEnv({
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_MAX_ATTEMPTS: '1',
  });

/** Runs `items` through `fn`, `n` at a time, keeping order. */
async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Long generated values cut down for failure messages. */
function short(text: string, max = 600): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

/** What every CLI failure must look like. */
function checkCliFailure(run: Awaited<ReturnType<typeof runCli>>, what: string): void {
  const code = run.result.error?.code as string | undefined;
  expect(code, `${what}: no result line\n${run.stdout}\n${run.stderr}`).toMatch(/^PW_[A-Z_]+$/);
  expect(run.stderr, what).not.toMatch(/^\s+at /m);
  // Nothing but patchwork's own lines: no Node warning, no raw JS error.
  expect(run.stderr, what).not.toMatch(/Warning:|TypeError|RangeError|SyntaxError|ReferenceError/);
  const lines = run.stderr.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${code}: `));
  expect(at, `${what}: stderr lacks "${code}: "\n${run.stderr}`).toBeGreaterThanOrEqual(0);
  const hint = lines.slice(at + 1).find((l) => l.startsWith('  try: '));
  expect(hint, `${what}: no try: hint\n${run.stderr}`).toBeDefined();
  // stdout stays NDJSON whatever the input held.
  for (const l of run.stdout.split('\n').filter((x) => x.trim() !== ''))
    expect(() => JSON.parse(l), what).not.toThrow();
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pw-fuzz-'));
});

describe('config fuzz through the CLI (provision --dry-run --json)', () => {
  it(`${CLI_RUNS} mutated configs: exit 2 with no connection, or exit 1 after reaching the endpoint (seed ${SEED_CLI})`, async () => {
    const cases = fc.sample(caseArb, { seed: SEED_CLI, numRuns: CLI_RUNS });
    const seen: Record<string, number> = {};
    const started = Date.now();
    const failures: string[] = [];
    const timings: [number, number][] = [];
    await pool(cases, CONCURRENCY, async (c, i) => {
      const text = renderCase(c);
      const caseDir = join(dir, `cli-${i}`);
      mkdirSync(caseDir);
      const file = join(caseDir, 'patchwork.yml');
      writeFileSync(file, text);
      const oracle = validate(text, c.env, caseDir);
      const endpoint = await countingEndpoint();
      try {
        const t0 = Date.now();
        const run = await runCli(['provision', '--dry-run', '--env', c.env, '--config', file, '--json'], {
          env: cliEnv(endpoint.url),
          cwd: caseDir,
        });
        const what = `case ${i} (seed ${SEED_CLI}) ${short(JSON.stringify(c))}`;
        timings.push([Date.now() - t0, i]);
        const key = `exit ${run.code} ${run.result.error?.code ?? ''}`.trim();
        seen[key] = (seen[key] ?? 0) + 1;
        try {
          expect([1, 2], `${what}\n${run.stderr}`).toContain(run.code);
          checkCliFailure(run, what);
          if (run.code === 2) {
            expect(endpoint.connections, what).toBe(0);
            expect(run.result.apiCalls?.total ?? 0, what).toBe(0);
            expect(oracle.ok, `${what}: the CLI refused what validation accepts\n${run.stderr}`).toBe(false);
            // Same code, except around the depth limit: where yaml's own recursion gives out depends on
            // the process's stack, so a deep file with another problem may be reported by either check
            // (both exit 2, both documented).
            const deep = /nested more than \d+ levels deep/;
            const eitherDeep = deep.test(run.stderr) || (!oracle.ok && deep.test(oracle.error.message));
            if (!oracle.ok && !eitherDeep) expect(run.result.error?.code, what).toBe(oracle.error.code);
          } else {
            expect(oracle.ok, `${what}: validation refuses what the CLI sent to AWS`).toBe(true);
            expect(run.result.error?.code, `${what}\n${run.stderr}`).toBe('PW_ENDPOINT_UNREACHABLE');
            expect(endpoint.connections, what).toBeGreaterThan(0);
          }
        } catch (err) {
          failures.push(
            `${short((err as Error).message)}\n--- stderr ---\n${short(run.stderr)}\n--- config ---\n${short(text)}`,
          );
        }
      } finally {
        await new Promise<void>((r) => endpoint.server.close(() => r()));
      }
    });
    timings.sort((a, b) => b[0] - a[0]);
    console.info(
      `config fuzz CLI: ${cases.length} cases in ${Date.now() - started} ms; slowest`,
      timings.slice(0, 3),
      seen,
    );
    expect(failures, failures.join('\n\n')).toEqual([]);
    expect(Object.keys(seen).some((k) => k.startsWith('exit 2'))).toBe(true);
  }, 600_000);

  it('a file over 1 MiB is refused without being parsed or any connection', async () => {
    const endpoint = await countingEndpoint();
    try {
      const file = join(dir, 'huge.yml');
      writeFileSync(file, `${BASES[0]!.text}# ${'x'.repeat(1024 * 1024)}\n`);
      const run = await runCli(['provision', '--dry-run', '--env', 'prod', '--config', file, '--json'], {
        env: cliEnv(endpoint.url),
      });
      expect(run.code).toBe(2);
      expect(run.result.error?.code).toBe('PW_CONFIG_INVALID');
      checkCliFailure(run, 'huge file');
      expect(endpoint.connections).toBe(0);
    } finally {
      await new Promise<void>((r) => endpoint.server.close(() => r()));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Flags

// A build service in a committed git repository, so that deploy and build get past their own
// checks (an image-only service or a missing repository would be exit 2 whatever the flags).
const FLAG_CONFIG = `app: shop
region: eu-west-1
services:
  web:
    build: { context: app }
    port: 8080
environments:
  prod: {}
  staging: {}
`;

/** The flag fuzz's working directory: a git repository holding FLAG_CONFIG and a tiny context. */
function flagRepo(): string {
  const root = join(dir, 'flags');
  mkdirSync(join(root, 'app'), { recursive: true });
  writeFileSync(join(root, 'patchwork.yml'), FLAG_CONFIG);
  writeFileSync(join(root, 'app', 'Dockerfile'), 'FROM scratch\nCOPY x /x\n');
  writeFileSync(join(root, 'app', 'x'), 'x\n');
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'fixture');
  return root;
}

/** Flag runs: the fake endpoint, and a Docker engine that does not exist (build/deploy fail fast, exit 1). */
const flagEnv = (endpoint: string) => ({ ...cliEnv(endpoint), DOCKER_HOST: 'unix:///nonexistent/docker.sock' });

/** Every verb's valid invocation (destroy with --yes: it only ever meets the fake endpoint). */
const baseArgs = (verb: Verb): string[] => [verb, '--env', 'prod', ...(verb === 'destroy' ? ['--yes'] : [])];

const VERBS = ['provision', 'deploy', 'rollback', 'status', 'releases', 'unlock', 'build', 'destroy'] as const;
type Verb = (typeof VERBS)[number];
const KNOWN_FLAGS = new Set([
  'env',
  'config',
  'region',
  'profile',
  'json',
  'debug',
  'dry-run',
  'exit-code',
  'yes',
  'service',
  'no-wait',
  'timeout',
  'lock-wait',
  'rollback-on-timeout',
  'allow-dirty',
  'fast',
  'delete-images',
  'no-push',
  'tag',
  'to',
  'limit',
  'watch',
  'interval',
  'watch-count',
  'help',
  'version',
]);

const badDuration = fc.constantFrom(
  '-1s',
  '-5m',
  'abc',
  '1d',
  '1.5h',
  '1h1h',
  ' ',
  '∞',
  '10m-',
  'm',
  '١٠m',
  '1e3',
  '0x10',
  '10 m',
  '🚀',
);
const weirdText = fc.oneof(
  fc.constantFrom(
    '\u202Eprod',
    'прод',
    '🚀',
    'PROD',
    'prod ',
    ' prod',
    'pr\u0000od',
    'prod\nPW_OK: fine',
    'x'.repeat(5000),
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }),
);

/** One element that makes the invocation a usage error, for a verb. */
function badElementArb(verb: Verb): fc.Arbitrary<{ what: string; args: string[] }> {
  const common: fc.Arbitrary<{ what: string; args: string[] }>[] = [
    fc
      .oneof(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,14}$/),
        fc.constantFrom('ünïcode', '🚀', 'Env', 'ENV', 'e', 'jsonn', 'dry_run'),
      )
      .filter((f) => !KNOWN_FLAGS.has(f))
      .map((f) => ({ what: 'unknown flag', args: [`--${f}`] })),
    weirdText
      .filter((e) => e !== 'prod' && e !== 'staging' && e.trim() !== '')
      .map((e) => ({ what: 'unknown env', args: ['--env', e] })),
    fc
      .constantFrom('mars-north-1', 'EU-WEST-1', 'eu-west-99', 'eu_west_1', 'eu-west-1\u202E', '🌍', 'x'.repeat(300))
      .map((r) => ({ what: 'unknown region', args: ['--region', r] })),
    fc.constant({ what: 'missing config', args: ['--config', '/nonexistent/dir/patchwork.yml'] }),
    fc.constant({ what: 'env given twice', args: ['--env', 'prod', '--env', 'staging'] }),
    fc.constant({ what: 'boolean flag with a value', args: ['--json=maybe'] }),
    fc.constantFrom('extra', 'prod', '--').map((a) => ({ what: 'unexpected argument', args: [a, 'more'] })),
  ];
  const specific: fc.Arbitrary<{ what: string; args: string[] }>[] = [];
  if (verb === 'deploy' || verb === 'rollback') {
    specific.push(
      badDuration.map((d) => ({ what: 'bad --timeout', args: [`--timeout=${d}`] })),
      badDuration.map((d) => ({ what: 'bad --lock-wait', args: [`--lock-wait=${d}`] })),
    );
  }
  if (verb === 'deploy' || verb === 'status' || verb === 'build') {
    specific.push(
      weirdText.filter((s) => s !== 'web').map((s) => ({ what: 'unknown service', args: ['--service', s] })),
    );
  }
  if (verb === 'releases') {
    specific.push(
      fc
        .constantFrom('-5', '0', '1001', 'abc', '1e3', '99999999999999999999', '1.5', '')
        .map((l) => ({ what: 'bad --limit', args: [`--limit=${l}`] })),
    );
  }
  if (verb === 'status') {
    specific.push(
      fc.constantFrom('0', '-1', 'x', '1.5').map((v) => ({ what: 'bad --interval', args: [`--interval=${v}`] })),
    );
  }
  if (verb === 'provision' || verb === 'destroy' || verb === 'unlock') {
    specific.push(fc.constant({ what: '--exit-code without --dry-run', args: ['--exit-code'] }));
  }
  return fc.oneof(...common, ...specific);
}

const flagCaseArb = fc
  .constantFrom(...VERBS)
  .chain((verb) =>
    fc.record({
      verb: fc.constant(verb),
      bad: fc.array(badElementArb(verb), { minLength: 1, maxLength: 2 }),
      json: fc.boolean(),
      trailingFlagWithoutValue: fc.boolean(),
    }),
  )
  .map(({ verb, bad, json, trailingFlagWithoutValue }) => {
    const args: string[] = baseArgs(verb);
    for (const b of bad) args.push(...b.args);
    if (json) args.push('--json');
    // A value-taking flag at the very end, with no value: a usage error of its own.
    if (trailingFlagWithoutValue) args.push('--region');
    const what = bad.map((b) => b.what).join(' + ') + (trailingFlagWithoutValue ? ' + --region without value' : '');
    return { verb, args, what };
  });

describe('flag fuzz through the CLI', () => {
  let flagDir = '';
  beforeAll(() => {
    flagDir = flagRepo();
  });

  it("sanity: every verb's valid invocation gets past validation (exit 1 at Docker or the endpoint)", async () => {
    // Else a bad flag would not be what makes the fuzz cases below exit 2.
    const runs = await pool([...VERBS], CONCURRENCY, async (verb) => {
      const endpoint = await countingEndpoint();
      try {
        const run = await runCli([...baseArgs(verb), '--json'], { env: flagEnv(endpoint.url), cwd: flagDir });
        return `${verb}: exit ${run.code} ${run.result.error?.code}`;
      } finally {
        await new Promise<void>((r) => endpoint.server.close(() => r()));
      }
    });
    for (const r of runs) expect(r).toMatch(/: exit 1 PW_(ENDPOINT_UNREACHABLE|NO_DOCKER)$/);
  }, 600_000);

  // Durations are bounded (a day at most, as deploy.timeoutSeconds; --timeout at least 1 s): once a
  // regression, `--timeout 99999999h` went on to Docker and AWS with an 11,400-year wait.
  it.each([
    ['--timeout', '99999999h'],
    ['--timeout', '0'],
    ['--lock-wait', '99999999h'],
  ])('deploy %s %s is refused as a usage error (exit 2)', async (flag, value) => {
    const endpoint = await countingEndpoint();
    try {
      const run = await runCli(['deploy', '--env', 'prod', flag, value, '--json'], {
        env: flagEnv(endpoint.url),
        cwd: flagDir,
      });
      expect(run.code, run.stderr).toBe(2);
      expect(run.result.error?.code).toBe('PW_USAGE');
      expect(endpoint.connections).toBe(0);
    } finally {
      await new Promise<void>((r) => endpoint.server.close(() => r()));
    }
  });

  it(`${FLAG_RUNS} invocations with a bad flag or value: exit 2, no connection, no stack (seed ${SEED_FLAGS})`, async () => {
    const cases = fc.sample(flagCaseArb, { seed: SEED_FLAGS, numRuns: FLAG_RUNS });
    const seen: Record<string, number> = {};
    const failures: string[] = [];
    const started = Date.now();
    await pool(cases, CONCURRENCY, async (c, i) => {
      const endpoint = await countingEndpoint();
      try {
        const run = await runCli(c.args, { env: flagEnv(endpoint.url), cwd: flagDir });
        const code = (run.result.error?.code as string | undefined) ?? /^(PW_[A-Z_]+):/m.exec(run.stderr)?.[1];
        const key = `${c.verb} exit ${run.code} ${code ?? '?'}`;
        seen[key] = (seen[key] ?? 0) + 1;
        const what = `flag case ${i} (seed ${SEED_FLAGS}) ${c.what}: ${short(JSON.stringify(c.args))}`;
        try {
          expect(run.code, `${what}\n${run.stderr}`).toBe(2);
          expect(endpoint.connections, what).toBe(0);
          expect(run.stderr, what).not.toMatch(/^\s+at /m);
          expect(code, `${what}\n${run.stderr}`).toMatch(/^PW_[A-Z_]+$/);
          expect(USAGE_CODES, what).toContain(code);
          expect(run.stderr, what).toMatch(/\n {2}try: \S/);
          // Whatever was typed, the error stays on its line (no raw control or bidi characters).
          const errLine = run.stderr.split('\n').find((l) => l.startsWith(`${code}: `)) ?? '';
          expect(errLine, what).not.toMatch(UNPRINTABLE);
          if (c.args.includes('--json')) checkCliFailure(run, what);
        } catch (err) {
          failures.push(`${short((err as Error).message)}\n--- stderr ---\n${short(run.stderr)}`);
        }
      } finally {
        await new Promise<void>((r) => endpoint.server.close(() => r()));
      }
    });
    console.info(`flag fuzz: ${cases.length} cases in ${Date.now() - started} ms`, seen);
    expect(failures, failures.join('\n\n')).toEqual([]);
  }, 600_000);
});
