/**
 * What `npm pack` ships is what a user needs: the CLI entry, the compiled library and commands
 * (no source maps of sources that are not shipped, nothing stale), the oclif manifest, the JSON
 * Schema generated at build time from the config's zod definition, README and package.json. The
 * tarball installs into an empty project (dependencies from the npm registry) and
 * `npx patchwork --help` works there. Needs `npm run build` first, as every integration test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-npm-pack-'));
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, npm_config_fund: 'false' },
  });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm pack', () => {
  let tarball = '';

  it('lists exactly what a user needs', () => {
    // --ignore-scripts: `prepare` would rebuild dist/ in place; the build is the suite's first step.
    const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT)) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = join(dir, packed!.filename);
    const files = packed!.files.map((f) => f.path).sort();
    expect(files.filter((f) => !f.startsWith('dist/'))).toEqual([
      'README.md',
      'bin/run.js',
      'oclif.manifest.json',
      'package.json',
      'patchwork.schema.json',
    ]);
    const dist = files.filter((f) => f.startsWith('dist/'));
    // Besides compiled code, the price table the library's cost estimate reads at run time, and the
    // CLI's bundle (scripts/bundle.mjs: bin/run.js runs it).
    expect(dist.filter((f) => !/\.(js|d\.ts)$/.test(f))).toEqual(['dist/cli.cjs', 'dist/lib/cost/prices.json']);
    // Every compiled file has its source: nothing stale from a removed module ships.
    for (const f of dist.filter((f) => f !== 'dist/cli.cjs')) {
      const src = f.replace(/^dist\//, 'src/').replace(/\.d\.ts$|\.js$/, '.ts');
      expect(existsSync(join(ROOT, src)), `${f} has no ${src}`).toBe(true);
    }
    expect(dist).toContain('dist/index.js');
    expect(dist).toContain('dist/commands/deploy.js');
    // The schema is the one `patchwork schema` prints (generated from the zod definition at build time).
    const schema = execFileSync(process.execPath, [join(ROOT, 'bin/run.js'), 'schema'], { encoding: 'utf8' });
    expect(JSON.parse(readFileSync(join(ROOT, 'patchwork.schema.json'), 'utf8'))).toEqual(JSON.parse(schema));
  }, 120_000);

  it('installs into an empty project, and `npx patchwork --help` works there', () => {
    const project = join(dir, 'project');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), '{ "name": "user-app", "version": "1.0.0", "private": true }\n');
    npm(['install', '--no-audit', tarball], project);
    const help = execFileSync('npx', ['--no-install', 'patchwork', '--help'], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
      timeout: 60_000,
    });
    for (const verb of ['provision', 'deploy', 'rollback', 'status', 'destroy']) expect(help).toContain(verb);
    expect(existsSync(join(project, 'node_modules/patchwork/patchwork.schema.json'))).toBe(true);
    const version = execFileSync('npx', ['--no-install', 'patchwork', '--version'], { cwd: project, encoding: 'utf8' });
    expect(version).toMatch(/^patchwork\/0\.1\.0 /);
  }, 600_000);

  // bin/run.js on Node 20: V8's code cache of the bundle, per user (Node ≥ 22.1 has its own).
  it.skipIf(typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function')(
    'keeps a code cache of the CLI under XDG_CACHE_HOME, and a damaged one is only recompiled',
    () => {
      const cache = join(dir, 'xdg-cache');
      const run = () =>
        execFileSync(process.execPath, [join(ROOT, 'bin/run.js'), 'schema'], {
          encoding: 'utf8',
          env: { ...process.env, XDG_CACHE_HOME: cache },
        });
      const first = run();
      const files = readdirSync(join(cache, 'patchwork'));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^cli-[0-9a-f]{20}-schema\.v8cache$/);
      const file = join(cache, 'patchwork', files[0]!);
      const size = statSync(file).size;
      expect(size).toBeGreaterThan(100_000);
      expect(statSync(join(cache, 'patchwork')).mode & 0o777).toBe(0o700);
      expect(run()).toBe(first);
      writeFileSync(file, 'not a code cache');
      expect(run()).toBe(first);
      expect(statSync(file).size).toBeGreaterThan(100_000);
      // A damaged body with an intact header: V8 alone accepts it and crashes (SIGSEGV/SIGTRAP).
      const data = readFileSync(file);
      for (let at = data.length >> 3; at < data.length; at += 1009) data[at] = data[at]! ^ 0xff;
      writeFileSync(file, data);
      expect(run()).toBe(first);
      expect(run()).toBe(first);
      expect(readdirSync(join(cache, 'patchwork'))).toHaveLength(1);
      // A cache directory that cannot be made (mkdir's `recursive` spins forever under /proc).
      const proc = execFileSync(process.execPath, [join(ROOT, 'bin/run.js'), 'schema'], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, XDG_CACHE_HOME: '/proc/patchwork-no-such-dir' },
      });
      expect(proc).toBe(first);
    },
  );
});
