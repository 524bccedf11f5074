/** The build context: which files .dockerignore keeps (Docker's rules), and the tar sent to the engine. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar-fs';
import { afterEach, describe, expect, it } from 'vitest';
import { exceptionCouldMatchBelow, packContext, parseDockerignore, planContext } from '../../src/lib/docker/context.js';
import { PatchworkError } from '../../src/lib/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A temp directory holding `files` (path → content). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'pw-ctx-'));
  dirs.push(root);
  for (const [rel, content] of Object.entries(files)) {
    const abs = join(root, rel);
    mkdirSync(dirname(abs), { recursive: true });
    if (rel.endsWith('/')) mkdirSync(abs, { recursive: true });
    else writeFileSync(abs, content);
  }
  return root;
}

const files = async (dir: string, dockerfile?: string) => {
  const plan = await planContext(dir, dockerfile);
  const dirSet = new Set(plan.entries.filter((e) => plan.entries.some((o) => o.startsWith(`${e}/`))));
  return plan.entries.filter((e) => !dirSet.has(e)).sort();
};

interface TarEntry {
  name: string;
  type: string;
  uid: number;
  gid: number;
  body: string;
  linkname?: string | null;
}
/** Extracts the tar (tar-fs, our own dependency) into a temp dir, keeping every header seen. */
async function untar(stream: Readable): Promise<TarEntry[]> {
  const out = mkdtempSync(join(tmpdir(), 'pw-untar-'));
  dirs.push(out);
  const headers: Omit<TarEntry, 'body'>[] = [];
  await new Promise<void>((resolve, reject) => {
    const sink = extract(out, {
      map: (h) => {
        headers.push({
          name: h.name,
          type: h.type ?? 'file',
          uid: h.uid ?? -1,
          gid: h.gid ?? -1,
          linkname: (h as { linkname?: string }).linkname ?? null,
        });
        return h;
      },
    });
    sink.on('finish', resolve);
    sink.on('error', reject);
    stream.on('error', reject);
    stream.pipe(sink);
  });
  return headers.map((h) => ({ ...h, body: h.type === 'file' ? readFileSync(join(out, h.name), 'utf8') : '' }));
}

describe('parseDockerignore', () => {
  it('drops comments and blank lines and trims', () => {
    expect(parseDockerignore('# comment\n\n  node_modules  \r\n*.md\n!README.md\n')).toEqual([
      'node_modules',
      '*.md',
      '!README.md',
    ]);
  });
});

describe('planContext', () => {
  it('without .dockerignore sends everything', async () => {
    const dir = tree({ Dockerfile: 'FROM scratch', 'a.txt': 'a', 'src/b.go': 'b', 'src/deep/c.go': 'c' });
    expect(await files(dir)).toEqual(['Dockerfile', 'a.txt', 'src/b.go', 'src/deep/c.go']);
  });

  it('follows Docker semantics: `*.md` is top-level only, `**/*.md` is everywhere', async () => {
    const dir = tree({
      Dockerfile: 'FROM scratch',
      '.dockerignore': '*.md\n',
      'README.md': '',
      'docs/guide.md': '',
      'docs/x.txt': '',
    });
    expect(await files(dir)).toEqual(['.dockerignore', 'Dockerfile', 'docs/guide.md', 'docs/x.txt']);
    writeFileSync(join(dir, '.dockerignore'), '**/*.md\n');
    expect(await files(dir)).toEqual(['.dockerignore', 'Dockerfile', 'docs/x.txt']);
  });

  it('excludes whole directories, nested paths and test files', async () => {
    const dir = tree({
      Dockerfile: 'FROM scratch',
      '.dockerignore': '.git\nnode_modules\n*_test.go\nbuild/tmp\n**/*.log\n',
      '.git/HEAD': 'ref',
      'node_modules/x/index.js': '',
      'main.go': '',
      'main_test.go': '',
      'pkg/util_test.go': '',
      'pkg/util.go': '',
      'build/tmp/junk': '',
      'build/keep.txt': '',
      'a/b/c/trace.log': '',
      'a/b/c/data.json': '',
    });
    expect(await files(dir)).toEqual([
      '.dockerignore',
      'Dockerfile',
      'a/b/c/data.json',
      'build/keep.txt',
      'main.go',
      'pkg/util.go',
      // `*_test.go` only matches at the top, like Docker
      'pkg/util_test.go',
    ]);
  });

  it('re-includes files with negations, even under an excluded directory', async () => {
    const dir = tree({
      Dockerfile: 'FROM scratch',
      '.dockerignore': 'docs\n!docs/keep.txt\n*.txt\n!important.txt\nconfig/*\n!config/prod/\n',
      'docs/keep.txt': 'k',
      'docs/drop.md': '',
      'notes.txt': '',
      'important.txt': '',
      'config/dev/a.yml': '',
      'config/prod/a.yml': '',
      'config/top.yml': '',
    });
    expect(await files(dir)).toEqual([
      '.dockerignore',
      'Dockerfile',
      'config/prod/a.yml',
      'docs/keep.txt',
      'important.txt',
    ]);
  });

  it('a later pattern wins over an earlier negation (last match decides)', async () => {
    const dir = tree({
      Dockerfile: 'FROM scratch',
      '.dockerignore': '!secret.txt\n*.txt\n',
      'secret.txt': '',
      'x.go': '',
    });
    expect(await files(dir)).toEqual(['.dockerignore', 'Dockerfile', 'x.go']);
  });

  it('lists parent directories before their files', async () => {
    const dir = tree({
      Dockerfile: 'FROM scratch',
      '.dockerignore': 'a\n!a/b/c/keep\n',
      'a/b/c/keep': '',
      'a/b/c/drop': '',
    });
    const plan = await planContext(dir);
    const keep = plan.entries.indexOf('a/b/c/keep');
    expect(plan.entries.indexOf('a')).toBeLessThan(plan.entries.indexOf('a/b'));
    expect(plan.entries.indexOf('a/b/c')).toBeLessThan(keep);
    expect(plan.entries).not.toContain('a/b/c/drop');
  });

  it('always includes the Dockerfile and .dockerignore, even when ignored', async () => {
    const dir = tree({ Dockerfile: 'FROM scratch', '.dockerignore': 'Dockerfile\n.dockerignore\n*\n', 'x.go': '' });
    const plan = await planContext(dir);
    expect(plan.dockerfile).toBe('Dockerfile');
    expect(await files(dir)).toEqual(['.dockerignore', 'Dockerfile']);
  });

  it('forces in a Dockerfile in an ignored subdirectory', async () => {
    const dir = tree({
      'docker/Dockerfile.prod': 'FROM scratch',
      'docker/other': '',
      '.dockerignore': 'docker\n',
      'app.go': '',
    });
    const plan = await planContext(dir, 'docker/Dockerfile.prod');
    expect(plan.dockerfile).toBe('docker/Dockerfile.prod');
    expect(await files(dir, 'docker/Dockerfile.prod')).toEqual(['.dockerignore', 'app.go', 'docker/Dockerfile.prod']);
  });

  it('adds a Dockerfile from outside the context under a generated name', async () => {
    const root = tree({ 'Dockerfile.shared': 'FROM scratch\nCOPY . /\n', 'ctx/app.go': 'package main' });
    const plan = await planContext(join(root, 'ctx'), '../Dockerfile.shared');
    expect(plan.externalDockerfile).toBe(join(root, 'Dockerfile.shared'));
    expect(plan.dockerfile).toMatch(/^\.patchwork-dockerfile-[0-9a-f]{8}$/);
    const entries = await untar(await packContext(plan));
    expect(entries.map((e) => e.name).sort()).toEqual(['app.go', plan.dockerfile].sort());
    expect(entries.find((e) => e.name === plan.dockerfile)!.body).toBe('FROM scratch\nCOPY . /\n');
  });

  it('refuses a missing context or Dockerfile with a usage error', async () => {
    const dir = tree({ 'app.go': '' });
    const noDockerfile = await planContext(dir).catch((e: unknown) => e);
    expect(noDockerfile).toBeInstanceOf(PatchworkError);
    expect((noDockerfile as PatchworkError).code).toBe('PW_DOCKERFILE_NOT_FOUND');
    expect((noDockerfile as PatchworkError).exitCode).toBe(2);
    const noContext = await planContext(join(dir, 'missing')).catch((e: unknown) => e);
    expect((noContext as PatchworkError).code).toBe('PW_CONTEXT_NOT_FOUND');
  });
});

describe('exceptionCouldMatchBelow', () => {
  const segs = (...p: string[]) => p.map((x) => x.split('/'));
  it('descends only where an exception could apply', () => {
    expect(exceptionCouldMatchBelow(segs('docs/keep.txt'), 'docs')).toBe(true);
    expect(exceptionCouldMatchBelow(segs('docs/keep.txt'), 'node_modules')).toBe(false);
    expect(exceptionCouldMatchBelow(segs('**/keep.txt'), 'node_modules')).toBe(true);
    expect(exceptionCouldMatchBelow(segs('config/prod'), 'config')).toBe(true);
    expect(exceptionCouldMatchBelow(segs('config/prod'), 'config/prod')).toBe(false);
    expect(exceptionCouldMatchBelow(segs('c*/prod/x'), 'config/prod')).toBe(true);
    expect(exceptionCouldMatchBelow(segs('c?nfig/[pq]rod/x'), 'config/prod')).toBe(true);
    expect(exceptionCouldMatchBelow(segs('c?nfig/[st]rod/x'), 'config/prod')).toBe(false);
  });
});

describe('packContext', () => {
  it('tars exactly the planned entries, owned by root, with contents and symlinks', async () => {
    const dir = tree({
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': 'secret\n',
      'src/main.go': 'package main\n',
      secret: 'do not send',
    });
    symlinkSync('src/main.go', join(dir, 'link.go'));
    const plan = await planContext(dir);
    const entries = await untar(await packContext(plan));
    expect(entries.map((e) => e.name).sort()).toEqual(['.dockerignore', 'Dockerfile', 'link.go', 'src', 'src/main.go']);
    expect(entries.every((e) => e.uid === 0 && e.gid === 0)).toBe(true);
    expect(entries.find((e) => e.name === 'src/main.go')!.body).toBe('package main\n');
    expect(entries.find((e) => e.name === 'src')!.type).toBe('directory');
    const link = entries.find((e) => e.name === 'link.go')!;
    expect(link.type).toBe('symlink');
    expect(link.linkname).toBe('src/main.go');
    expect(plan.fileCount).toBe(4);
  });
});
