/**
 * The build context: the files under `build.context` that `.dockerignore` keeps (Docker's own
 * matching rules, via @balena/dockerignore), as an uncompressed tar stream for the engine. The
 * Dockerfile and `.dockerignore` always go in (the engine needs them; like `docker build`, the
 * daemon keeps them out of COPY when they are ignored). A Dockerfile outside the context is
 * added under a generated name. Owners are zeroed so the context is the same on every machine.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { PatchworkError } from '../errors.js';

export interface ContextPlan {
  /** Absolute context directory. */
  dir: string;
  /** Relative paths (POSIX) to pack, parents before children. Directories included. */
  entries: string[];
  /** How many of the entries are not directories. */
  fileCount: number;
  /** The Dockerfile's name inside the tar (what the engine's `dockerfile` option gets). */
  dockerfile: string;
  /** Absolute path of a Dockerfile that lives outside the context (added under `dockerfile`), else null. */
  externalDockerfile: string | null;
  /** The patterns read from .dockerignore (after comments and blank lines are dropped). */
  patterns: string[];
  /** Would this path (relative to the context, POSIX) be sent? True for paths that do not exist yet. */
  includes(rel: string): boolean;
}

/** `.dockerignore` lines → patterns (comments and blank lines dropped, whitespace trimmed). */
export function parseDockerignore(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Turns one glob path segment into a RegExp (`*`, `?`, `[...]`, `\` escapes), like filepath.Match. */
function segmentRegExp(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = seg.slice(i + 1, end);
        if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < seg.length) {
      re += escapeRe(seg[++i]!);
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}
const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Splits a pattern into clean segments (no leading `/` or `./`, no empty segments). */
function patternSegments(pattern: string): string[] {
  return pattern
    .replace(/^\/+/, '')
    .split('/')
    .filter((s) => s !== '' && s !== '.');
}

/**
 * Could an exception pattern (`!pattern`) re-include something below directory `dir`? If none
 * can, an ignored directory is skipped whole (like Docker does), which keeps huge ignored trees
 * such as node_modules from being walked.
 */
export function exceptionCouldMatchBelow(exceptions: string[][], dir: string): boolean {
  const parts = dir.split('/');
  return exceptions.some((segs) => {
    for (let i = 0; i < parts.length; i++) {
      const seg = segs[i];
      if (seg === undefined) return false; // pattern ends above: it names dir or a parent, not a child
      if (seg === '**') return true;
      if (!segmentRegExp(seg).test(parts[i]!)) return false;
    }
    return segs.length > parts.length;
  });
}

/** Works out which files go in the context. Throws PW_CONTEXT_NOT_FOUND / PW_DOCKERFILE_NOT_FOUND. */
export async function planContext(contextDir: string, dockerfile = 'Dockerfile'): Promise<ContextPlan> {
  const dir = resolve(contextDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new PatchworkError('PW_CONTEXT_NOT_FOUND', `build context ${dir} is not a directory`, {
      hint: 'fix build.context in the config (relative paths start at the config file)',
      data: { context: dir },
    });
  }
  const dockerfileAbs = isAbsolute(dockerfile) ? dockerfile : resolve(dir, dockerfile);
  if (!existsSync(dockerfileAbs) || !statSync(dockerfileAbs).isFile()) {
    throw new PatchworkError('PW_DOCKERFILE_NOT_FOUND', `no Dockerfile at ${dockerfileAbs}`, {
      hint: 'fix build.dockerfile in the config (relative to build.context)',
      data: { context: dir, dockerfile: dockerfileAbs },
    });
  }

  const ignorePath = join(dir, '.dockerignore');
  const patterns = existsSync(ignorePath) ? parseDockerignore(readFileSync(ignorePath, 'utf8')) : [];
  const ig = (await dockerignoreFactory())({ ignorecase: false }).add(patterns);
  const exceptions = patterns.filter((p) => p.startsWith('!')).map((p) => patternSegments(p.slice(1)));

  const included = new Set<string>();
  const entries: string[] = [];
  let fileCount = 0;
  const add = (rel: string, isDir: boolean) => {
    if (included.has(rel)) return;
    // A file re-included under an ignored directory still gets its parent directories.
    const slash = rel.lastIndexOf('/');
    if (slash > 0) add(rel.slice(0, slash), true);
    included.add(rel);
    entries.push(rel);
    if (!isDir) fileCount++;
  };

  const walk = (relDir: string) => {
    const abs = relDir ? join(dir, relDir) : dir;
    const names = readdirSync(abs, { withFileTypes: true })
      // Files, directories and symlinks; a tar cannot carry sockets or FIFOs.
      .filter((d) => d.isFile() || d.isDirectory() || d.isSymbolicLink())
      .map((d) => ({ name: d.name, isDir: d.isDirectory() }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, isDir } of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const ignored = patterns.length > 0 && ig.ignores(rel);
      if (isDir) {
        if (!ignored) {
          add(rel, true);
          walk(rel);
        } else if (exceptions.length > 0 && exceptionCouldMatchBelow(exceptions, rel)) {
          walk(rel);
        }
      } else if (!ignored) {
        add(rel, false);
      }
    }
  };
  walk('');

  // The engine needs these two even when .dockerignore names them.
  let inTar: string;
  let externalDockerfile: string | null = null;
  const relDockerfile = relative(dir, dockerfileAbs);
  if (relDockerfile.startsWith(`..${sep}`) || relDockerfile === '..' || isAbsolute(relDockerfile)) {
    inTar = `.patchwork-dockerfile-${hashName(dockerfileAbs)}`;
    externalDockerfile = dockerfileAbs;
    entries.push(inTar);
    fileCount++;
  } else {
    inTar = relDockerfile.split(sep).join('/');
    add(inTar, false);
  }
  if (existsSync(ignorePath)) add('.dockerignore', false);

  const includes = (rel: string) =>
    rel === inTar || rel === '.dockerignore' || patterns.length === 0 || !ig.ignores(rel);
  return { dir, entries, fileCount, dockerfile: inTar, externalDockerfile, patterns, includes };
}

type DockerignoreFactory = (opts?: { ignorecase?: boolean }) => {
  add(patterns: string[]): { ignores(path: string): boolean };
};
/** @balena/dockerignore is CommonJS (`module.exports = factory`): its default import is the factory. */
async function dockerignoreFactory(): Promise<DockerignoreFactory> {
  const mod = (await import('@balena/dockerignore')) as unknown as { default: DockerignoreFactory };
  return mod.default;
}

function hashName(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The tar stream for a planned context (uncompressed: the engine is local, gzip only costs CPU). */
export async function packContext(plan: ContextPlan): Promise<Readable> {
  const tarFs = await import('tar-fs');
  const { pack } = (tarFs as unknown as { default?: typeof tarFs }).default ?? tarFs;
  const own = (h: { uid?: number; gid?: number; uname?: string; gname?: string }) => {
    h.uid = 0;
    h.gid = 0;
    h.uname = '';
    h.gname = '';
    return h;
  };
  const external = plan.externalDockerfile;
  const listed = external ? plan.entries.filter((e) => e !== plan.dockerfile) : plan.entries;
  return pack(plan.dir, {
    entries: listed,
    // Every path is listed explicitly; never descend into a listed directory on our own.
    ignore: () => true,
    map: own as never,
    ...(external
      ? {
          finalize: false,
          finish: (p: { entry: (h: object, body: Buffer) => void; finalize: () => void }) => {
            const body = readFileSync(external);
            const st = lstatSync(external);
            p.entry({ name: plan.dockerfile, size: body.length, mode: 0o644, mtime: st.mtime, uid: 0, gid: 0 }, body);
            p.finalize();
          },
        }
      : {}),
  } as never) as unknown as Readable;
}
