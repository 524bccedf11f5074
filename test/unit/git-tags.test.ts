/** Tag rules against real temporary git repositories: clean, dirty, detached HEAD, not a repo. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PatchworkError } from '../../src/lib/errors.js';
import { chooseTags, type GitState, gitState, redactRemote } from '../../src/lib/git/repo.js';

const diffHash = async (dir: string) => (await gitState(dir)).dirtyHash;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pw-git-'));
  dirs.push(d);
  return d;
}

/** A repo with app/ (the build context) and other/, one commit. */
function repo(): { root: string; app: string; sha: string } {
  const root = tempDir();
  git(root, 'init', '-q', '-b', 'main');
  mkdirSync(join(root, 'app'));
  mkdirSync(join(root, 'other'));
  writeFileSync(join(root, 'app', 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(join(root, 'app', 'main.go'), 'package main\n');
  writeFileSync(join(root, 'other', 'notes.md'), 'notes\n');
  writeFileSync(join(root, '.gitignore'), 'app/bin/\n');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'first');
  return { root, app: join(root, 'app'), sha: git(root, 'rev-parse', 'HEAD') };
}

const expectCode = (fn: () => unknown, code: string, exitCode = 2) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PatchworkError);
    expect((err as PatchworkError).code).toBe(code);
    expect((err as PatchworkError).exitCode).toBe(exitCode);
    return err as PatchworkError;
  }
  throw new Error(`expected ${code}`);
};

describe('gitState', () => {
  it('reads a clean tree: full sha, short sha, branch, commit date', async () => {
    const { app, root, sha } = repo();
    const s = await gitState(app);
    expect(s.sha).toBe(sha);
    expect(s.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(sha.startsWith(s.shortSha)).toBe(true);
    expect(s.shortSha.length).toBeGreaterThanOrEqual(7);
    expect(s.branch).toBe('main');
    expect(s.root).toBe(git(root, 'rev-parse', '--show-toplevel'));
    expect(s.dirty).toBe(false);
    expect(s.dirtyHash).toBeNull();
    expect(Date.parse(s.committedAt)).not.toBeNaN();
    expect(s.remote).toBeNull();
  });

  it('is dirty for modified, staged, deleted and untracked files under the context', async () => {
    const { app } = repo();
    writeFileSync(join(app, 'main.go'), 'package main // changed\n');
    const modified = await gitState(app);
    expect(modified.dirty).toBe(true);
    expect(modified.changes).toEqual([' M app/main.go']);
    expect(modified.dirtyHash).toMatch(/^[0-9a-f]{12}$/);

    git(app, 'add', 'main.go');
    expect((await gitState(app)).dirty).toBe(true);
    git(app, 'reset', '-q', '--hard');

    writeFileSync(join(app, 'new.go'), 'package main\n');
    expect((await gitState(app)).changes).toEqual(['?? app/new.go']);
    unlinkSync(join(app, 'new.go'));

    unlinkSync(join(app, 'main.go'));
    expect((await gitState(app)).dirty).toBe(true);
  });

  it('ignores changes outside the context and git-ignored files', async () => {
    const { root, app } = repo();
    writeFileSync(join(root, 'other', 'notes.md'), 'edited\n');
    writeFileSync(join(root, 'untracked-at-top.txt'), 'x');
    mkdirSync(join(app, 'bin'));
    writeFileSync(join(app, 'bin', 'webapp'), 'binary');
    const s = await gitState(app);
    expect(s.dirty).toBe(false);
    expect((await gitState(root)).dirty).toBe(true);
  });

  it('hashes the exact dirty content: same content → same hash, other content → other hash', async () => {
    const { app } = repo();
    writeFileSync(join(app, 'main.go'), 'package main // one\n');
    const one = await diffHash(app);
    expect(await diffHash(app)).toBe(one);
    writeFileSync(join(app, 'main.go'), 'package main // two\n');
    const two = await diffHash(app);
    expect(two).not.toBe(one);
    writeFileSync(join(app, 'main.go'), 'package main // one\n');
    expect(await diffHash(app)).toBe(one);
    // An untracked file's content counts too.
    writeFileSync(join(app, 'extra.txt'), 'a');
    const withA = await diffHash(app);
    writeFileSync(join(app, 'extra.txt'), 'b');
    expect(await diffHash(app)).not.toBe(withA);
  });

  it('counts only relevant paths (the build context after .dockerignore)', async () => {
    const { app } = repo();
    writeFileSync(join(app, 'notes.md'), 'local notes\n');
    writeFileSync(join(app, 'webapp.test'), 'a test binary');
    const relevant = (rel: string) => !rel.endsWith('.md') && !rel.endsWith('.test');
    expect((await gitState(app)).dirty).toBe(true);
    const filtered = await gitState(app, { relevant });
    expect(filtered.dirty).toBe(false);
    expect(filtered.dirtyHash).toBeNull();
    writeFileSync(join(app, 'main.go'), 'package main // real change\n');
    const real = await gitState(app, { relevant });
    expect(real.changes).toEqual([' M app/main.go']);
    // The irrelevant files do not change the hash of the relevant change.
    writeFileSync(join(app, 'notes.md'), 'other notes\n');
    expect((await gitState(app, { relevant })).dirtyHash).toBe(real.dirtyHash);
  });

  it('lists a staged rename with its original path', async () => {
    const { app } = repo();
    git(app, 'mv', 'main.go', 'app.go');
    const s = await gitState(app);
    expect(s.changes).toEqual(['R  app/main.go -> app/app.go']);
    expect((await gitState(app, { relevant: (rel) => rel === 'main.go' })).dirty).toBe(true);
  });

  it('works on a detached HEAD', async () => {
    const { root, app, sha } = repo();
    writeFileSync(join(app, 'main.go'), 'package main // v2\n');
    git(root, 'commit', '-q', '-am', 'second');
    git(root, 'checkout', '-q', '--detach', sha);
    const s = await gitState(app);
    expect(s.sha).toBe(sha);
    expect(s.branch).toBeNull();
    expect(s.dirty).toBe(false);
    expect(chooseTags(s, { push: true }).tag).toBe(sha);
  });

  it('reports the origin remote without credentials', async () => {
    const { root, app } = repo();
    git(root, 'remote', 'add', 'origin', 'https://user:ghp_secret@github.com/acme/shop.git');
    expect((await gitState(app)).remote).toBe('https://github.com/acme/shop.git');
  });

  it('outside a repository: PW_NOT_A_GIT_REPO (exit 2) with a --tag hint', async () => {
    const dir = tempDir();
    const err = await gitState(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PatchworkError);
    expect((err as PatchworkError).code).toBe('PW_NOT_A_GIT_REPO');
    expect((err as PatchworkError).exitCode).toBe(2);
    expect((err as PatchworkError).hint).toContain('--tag');
    expect((err as PatchworkError).data.reason).toBe('not-a-repo');
  });

  it('in a repository without commits: PW_NOT_A_GIT_REPO', async () => {
    const dir = tempDir();
    git(dir, 'init', '-q');
    const err = (await gitState(dir).catch((e: unknown) => e)) as PatchworkError;
    expect(err.code).toBe('PW_NOT_A_GIT_REPO');
    expect(err.data.reason).toBe('no-commits');
    expect(err.message).toContain('no commits');
  });
});

describe('chooseTags', () => {
  const clean: GitState = {
    root: '/r',
    sha: 'a'.repeat(40),
    shortSha: 'aaaaaaa',
    committedAt: '2024-01-02T03:04:05.000Z',
    branch: 'main',
    remote: null,
    dirty: false,
    changes: [],
    dirtyHash: null,
  };
  const dirty: GitState = { ...clean, dirty: true, changes: [' M app/main.go'], dirtyHash: '0123456789ab' };

  it('clean: the full sha, plus the short sha, dated by the commit', () => {
    expect(chooseTags(clean, { push: true })).toEqual({
      tag: clean.sha,
      also: ['aaaaaaa'],
      sha: clean.sha,
      createdAt: clean.committedAt,
      dirty: false,
    });
  });

  it('dirty: refused for push (exit 2) with the changes listed', () => {
    const err = expectCode(() => chooseTags(dirty, { push: true }), 'PW_DIRTY_TREE');
    expect(err.message).toContain('M app/main.go');
    expect(err.hint).toContain('--allow-dirty');
  });

  it('dirty with --allow-dirty: <sha>-dirty-<hash>', () => {
    const t = chooseTags(dirty, { push: true, allowDirty: true });
    expect(t.tag).toBe(`${clean.sha}-dirty-0123456789ab`);
    expect(t.also).toEqual(['aaaaaaa-dirty-0123456789ab']);
    expect(t.dirty).toBe(true);
    expect(t.createdAt).toBeNull();
  });

  it('dirty without push: allowed, still tagged dirty', () => {
    expect(chooseTags(dirty, { push: false }).tag).toBe(`${clean.sha}-dirty-0123456789ab`);
  });

  it('not a repo: the git error, unless --tag', () => {
    const notRepo = new PatchworkError('PW_NOT_A_GIT_REPO', 'not a repo', { hint: 'pass --tag' });
    expectCode(() => chooseTags(notRepo, { push: true }), 'PW_NOT_A_GIT_REPO');
    expect(chooseTags(notRepo, { push: true, tag: 'v1.2.3' })).toEqual({
      tag: 'v1.2.3',
      also: [],
      sha: null,
      createdAt: null,
      dirty: false,
    });
  });

  it('--tag wins over git, even on a dirty tree, and keeps the revision', () => {
    const t = chooseTags(dirty, { push: true, tag: 'release-7' });
    expect(t.tag).toBe('release-7');
    expect(t.sha).toBe(clean.sha);
  });

  it.each(['', '-lead', '.dot', 'has space', 'a/b', 'x'.repeat(129)])('rejects the invalid tag %j', (tag) => {
    expectCode(() => chooseTags(clean, { push: true, tag }), 'PW_USAGE');
  });
});

describe('redactRemote', () => {
  it.each([
    ['https://user:pw@github.com/a/b.git', 'https://github.com/a/b.git'],
    ['https://x-access-token@host/a.git', 'https://host/a.git'],
    ['ssh://git@github.com/a/b.git', 'ssh://github.com/a/b.git'],
    ['git@github.com:a/b.git', 'git@github.com:a/b.git'],
    ['https://github.com/a/b', 'https://github.com/a/b'],
  ])('%s → %s', (input, output) => expect(redactRemote(input)).toBe(output));
});
