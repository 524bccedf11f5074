/**
 * Git facts for a build: the commit of HEAD, whether the work tree (under a path) differs from it,
 * and a hash of that difference. Runs the `git` binary (plumbing commands only); never writes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { type EnvSource, readEnv } from '../env.js';
import { PatchworkError } from '../errors.js';

export interface GitState {
  /** Top of the work tree. */
  root: string;
  /** Full sha of HEAD. */
  sha: string;
  /** Git's unique abbreviation of HEAD (7+ characters). */
  shortSha: string;
  /** Committer date of HEAD (ISO 8601, UTC). */
  committedAt: string;
  /** Branch name, or null on a detached HEAD. */
  branch: string | null;
  /** `remote.origin.url` without credentials, or null. */
  remote: string | null;
  /** The path the state was scoped to has uncommitted or untracked changes. */
  dirty: boolean;
  /** `git status --porcelain` lines for that path (at most 20). */
  changes: string[];
  /** 12 hex characters identifying the exact uncommitted content; null when clean. */
  dirtyHash: string | null;
}

interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

function git(cwd: string, args: string[], vars: EnvSource, maxBuffer = 64 * 1024 * 1024): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        encoding: 'buffer',
        maxBuffer,
        // Never prompt, never page, never read the user's locale into the output we parse.
        env: { ...vars, GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' },
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
        if (e && typeof e.code === 'string') {
          reject(e); // spawn failure (ENOENT: no git binary, ENOTDIR, …)
          return;
        }
        resolve({
          code: e ? Number(e.code ?? 1) : 0,
          stdout: stdout.toString('utf8'),
          stderr: stderr.toString('utf8'),
        });
      },
    );
  });
}

/** Buffer output (for the diff, which may be binary). */
function gitRaw(cwd: string, args: string[], vars: EnvSource): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        encoding: 'buffer',
        maxBuffer: 1024 * 1024 * 1024,
        env: {
          ...vars,
          GIT_TERMINAL_PROMPT: '0',
          GIT_PAGER: 'cat',
          LC_ALL: 'C',
          GIT_OPTIONAL_LOCKS: '0',
          GIT_LITERAL_PATHSPECS: '1',
        },
      },
      (err, stdout, stderr) => {
        if (err) reject(gitFailed(args, stderr.toString('utf8').trim() || err.message, err));
        else resolve(stdout);
      },
    );
  });
}

/** A git command that failed outright (not a status the caller reads). */
function gitFailed(args: string[], why: string, cause: unknown): PatchworkError {
  return new PatchworkError('PW_NOT_A_GIT_REPO', `git ${args.join(' ')}: ${why}`, {
    hint: 'check the repository with `git status`; or pass --tag <tag> to build without git',
    cause,
  });
}

const hintTag = 'pass --tag <tag> to build without git, or run inside a git repository with at least one commit';

/**
 * The full sha of the commit `prefix` names in the repository at `dir` (`git rev-parse --verify
 * <prefix>^{commit}`), or null: no such commit, an ambiguous prefix, not a repository, no git.
 */
export async function resolveCommit(dir: string, prefix: string, vars: EnvSource): Promise<string | null> {
  try {
    const run = await git(dir, ['rev-parse', '--verify', '--quiet', `${prefix}^{commit}`], vars, 1024 * 1024);
    const out = run.stdout.trim();
    return run.code === 0 && /^[0-9a-f]{40}$/.test(out) ? out : null;
  } catch {
    return null;
  }
}

export interface GitStateOptions {
  /**
   * Which changed paths count (relative to `dir`, POSIX separators); default: every path under
   * `dir`. The build passes "is in the build context", so a file that .dockerignore leaves out
   * (a local binary, notes) does not make the tree dirty.
   */
  relevant?: (rel: string) => boolean;
  /** The environment git runs with (PATH, HOME, GIT_*; default: this process's, read by env.ts). */
  env?: EnvSource;
}

interface Change {
  xy: string;
  path: string;
  orig?: string;
}

/**
 * The state of the repository that contains `dir`, with dirtiness scoped to `dir` (changes
 * elsewhere in the repository do not change what is built from `dir`).
 */
export async function gitState(dir: string, opts: GitStateOptions = {}): Promise<GitState> {
  const vars = opts.env ?? readEnv().vars;
  let head: GitRun;
  try {
    head = await git(dir, ['rev-parse', '--show-toplevel', '--verify', '--quiet', 'HEAD'], vars);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PatchworkError(
      'PW_NOT_A_GIT_REPO',
      `cannot run git in ${dir} (${code === 'ENOENT' ? 'git is not installed or the directory does not exist' : code})`,
      { hint: hintTag, data: { dir }, cause: err },
    );
  }
  const lines = head.stdout.split('\n').filter(Boolean);
  if (head.code !== 0 || lines.length < 2) {
    const notRepo = /not a git repository/i.test(head.stderr) || lines.length === 0;
    throw new PatchworkError(
      'PW_NOT_A_GIT_REPO',
      notRepo
        ? `${dir} is not inside a git repository, so there is no commit to tag the image with`
        : `the git repository at ${lines[0]} has no commits yet, so there is no commit to tag the image with`,
      { hint: hintTag, data: { dir, reason: notRepo ? 'not-a-repo' : 'no-commits' } },
    );
  }
  const root = lines[0]!;
  const sha = lines[1]!;

  const [short, date, branch, remote, status] = await Promise.all([
    git(dir, ['rev-parse', '--short', 'HEAD'], vars),
    git(dir, ['show', '-s', '--format=%ct', 'HEAD'], vars),
    git(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD'], vars),
    git(dir, ['config', '--get', 'remote.origin.url'], vars),
    git(dir, ['status', '--porcelain', '-z', '--untracked-files=all', '--ignore-submodules=none', '--', '.'], vars),
  ]);
  if (status.code !== 0) {
    throw new PatchworkError('PW_NOT_A_GIT_REPO', `git status failed in ${dir}: ${status.stderr.trim()}`, {
      hint: hintTag,
      data: { dir },
    });
  }
  const realDir = realpathSync(dir);
  const toRel = (p: string) => relative(realDir, join(root, p)).split(sep).join('/');
  const relevant = opts.relevant;
  const changes = parsePorcelainZ(status.stdout).filter(
    (c) => !relevant || relevant(toRel(c.path)) || (c.orig !== undefined && relevant(toRel(c.orig))),
  );
  const dirty = changes.length > 0;
  return {
    root,
    sha,
    shortSha: short.code === 0 && short.stdout.trim() ? short.stdout.trim() : sha.slice(0, 7),
    committedAt: new Date(Number(date.stdout.trim()) * 1000 || Date.now()).toISOString(),
    branch: branch.code === 0 && branch.stdout.trim() ? branch.stdout.trim() : null,
    remote: remote.code === 0 && remote.stdout.trim() ? redactRemote(remote.stdout.trim()) : null,
    dirty,
    changes: changes.slice(0, 20).map((c) => `${c.xy} ${c.orig !== undefined ? `${c.orig} -> ` : ''}${c.path}`),
    dirtyHash: dirty ? await diffHash(root, changes, vars) : null,
  };
}

/** `git status --porcelain -z`: `XY path\0`, renames and copies followed by `orig\0`. */
function parsePorcelainZ(out: string): Change[] {
  const fields = out.split('\0');
  const changes: Change[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.length < 4) continue;
    const change: Change = { xy: f.slice(0, 2), path: f.slice(3) };
    if (change.xy[0] === 'R' || change.xy[0] === 'C') change.orig = fields[++i] ?? '';
    changes.push(change);
  }
  return changes;
}

/**
 * A hash of the given changes: the binary diff against HEAD of the tracked paths (staged or not)
 * plus the path and content of each untracked file. Two different dirty trees get different
 * hashes; the same dirty tree always gets the same one. Paths are relative to the repository root.
 */
async function diffHash(root: string, changes: Change[], vars: EnvSource): Promise<string> {
  const hash = createHash('sha256');
  const tracked = [
    ...new Set(changes.filter((c) => c.xy !== '??').flatMap((c) => (c.orig ? [c.path, c.orig] : [c.path]))),
  ];
  // Thousands of paths would overflow the command line: then the whole tree's diff stands in.
  const pathspec = tracked.length > 2_000 ? ['.'] : tracked.sort();
  if (tracked.length > 0) {
    hash.update(
      await gitRaw(
        root,
        ['diff', 'HEAD', '--binary', '--no-color', '--no-ext-diff', '--full-index', '--', ...pathspec],
        vars,
      ),
    );
  }
  hash.update('\0untracked\0');
  const untracked = changes
    .filter((c) => c.xy === '??')
    .map((c) => c.path)
    .sort();
  for (const rel of untracked) {
    hash.update(`${rel}\0`);
    await new Promise<void>((resolve, reject) => {
      const s = createReadStream(join(root, rel));
      s.on('data', (chunk) => hash.update(chunk));
      s.on('end', () => resolve());
      s.on('error', (err: NodeJS.ErrnoException) => {
        // A symlink to a directory or a file that vanished: its path alone is enough.
        if (err.code === 'EISDIR' || err.code === 'ENOENT') resolve();
        else reject(err);
      });
    });
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

/** Drops user:password@ from URLs so a token in a remote never lands in an image label. */
export function redactRemote(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/@]*@)?(.*)$/i.exec(url);
  if (!m) return url; // scp-like (git@host:org/repo.git) or a path: nothing secret in it
  return `${m[1]}${m[3]}`;
}

/** Docker's rule for a tag: up to 128 of [A-Za-z0-9_.-], not starting with . or -. */
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export interface TagChoice {
  /** The tag the result reports, that skip checks and deploys use. */
  tag: string;
  /** Extra tags pushed beside it (the short sha). */
  also: string[];
  /** The commit, when known. */
  sha: string | null;
  /** When the content was made: the commit date for a clean tree, else null (build time). */
  createdAt: string | null;
  dirty: boolean;
}

export interface TagOptions {
  /** --tag: use this tag, git or not. */
  tag?: string;
  /** --allow-dirty: push a dirty tree under a `-dirty-<hash>` tag. */
  allowDirty?: boolean;
  /** Will the image be pushed? (A dirty tree is only refused for push.) */
  push: boolean;
}

/**
 * Which tags an image gets. Pure: `state` is the git state (or the PW_NOT_A_GIT_REPO error
 * gitState threw), so every rule is testable without a repository.
 */
/** `state` null: git was not asked (only a given --tag is looked up); the tag is then required. */
export function chooseTags(
  state: GitState | PatchworkError | null,
  opts: TagOptions,
  where = 'the build context',
): TagChoice {
  const known = state instanceof PatchworkError ? null : state;
  if (opts.tag !== undefined) {
    if (!TAG_RE.test(opts.tag)) {
      throw new PatchworkError('PW_USAGE', `--tag "${opts.tag}" is not a valid image tag`, {
        hint: 'use up to 128 letters, digits, _ . - (not starting with . or -)',
      });
    }
    const dirty = known?.dirty ?? false;
    return {
      tag: opts.tag,
      also: [],
      sha: known?.sha ?? null,
      createdAt: known && !dirty ? known.committedAt : null,
      dirty,
    };
  }
  if (!known) throw state ?? new PatchworkError('PW_USAGE', `${where}: no tag given and git not read`, {});
  if (!known.dirty) {
    return { tag: known.sha, also: [known.shortSha], sha: known.sha, createdAt: known.committedAt, dirty: false };
  }
  if (opts.push && !opts.allowDirty) {
    const shown = known.changes.slice(0, 5).map((l) => l.trim());
    throw new PatchworkError(
      'PW_DIRTY_TREE',
      `${where} has uncommitted changes (${known.changes.length}${known.changes.length >= 20 ? '+' : ''}: ${shown.join(', ')}${known.changes.length > 5 ? ', …' : ''}); an image pushed as ${known.shortSha} would not match that commit`,
      {
        hint: 'commit or stash the changes, or pass --allow-dirty (tags <sha>-dirty-<hash>), or --no-push',
        data: { sha: known.sha, changes: known.changes },
      },
    );
  }
  const suffix = `-dirty-${known.dirtyHash}`;
  return {
    tag: `${known.sha}${suffix}`,
    also: [`${known.shortSha}${suffix}`],
    sha: known.sha,
    createdAt: null,
    dirty: true,
  };
}
