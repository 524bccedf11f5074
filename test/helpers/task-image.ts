/**
 * A small one-off-task image for tests: a static Go binary on scratch, pushed to the local
 * registry (digest-pinned). `/task say TEXT`, `/task exit N`, `/task sleep SECONDS` run in order,
 * e.g. `/task say migrating exit 7`; each `say` goes to stdout, a line `stderr: …` to stderr.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localWorld } from './localworld.js';

const TASK_GO = `package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	args := os.Args[1:]
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "say":
			fmt.Println(args[i+1])
			fmt.Fprintln(os.Stderr, "stderr: "+args[i+1])
		case "sleep":
			s, _ := strconv.ParseFloat(args[i+1], 64)
			time.Sleep(time.Duration(s * float64(time.Second)))
		case "exit":
			n, _ := strconv.Atoi(args[i+1])
			os.Exit(n)
		}
	}
}
`;

export function findGo(): string | undefined {
  for (const candidate of [process.env.GO, 'go', '/usr/local/go/bin/go']) {
    if (candidate && spawnSync(candidate, ['version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

export const dockerOk = (): boolean => spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

/**
 * Builds the Go main package `source` into a static `/<binary>` on scratch (`ENTRYPOINT` or `CMD`),
 * pushes it as `<registry>/<name>:test`; returns the pushed `<registry>/<name>@sha256:…`.
 */
export function pushGoImage(
  go: string,
  name: string,
  source: string,
  o: { binary?: string; start?: 'ENTRYPOINT' | 'CMD' } = {},
): string {
  const binary = o.binary ?? 'app';
  const dir = mkdtempSync(join(tmpdir(), `pw-${name}-`));
  writeFileSync(join(dir, 'main.go'), source);
  writeFileSync(join(dir, 'go.mod'), `module ${name.replace(/[^a-z0-9]/g, '')}\n\ngo 1.21\n`);
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM scratch\nCOPY ${binary} /${binary}\n${o.start ?? 'ENTRYPOINT'} ["/${binary}"]\n`,
  );
  execFileSync(go, ['build', '-trimpath', '-o', binary, '.'], {
    cwd: dir,
    env: { ...process.env, CGO_ENABLED: '0', GOOS: 'linux', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
    stdio: 'pipe',
  });
  const { registry } = localWorld();
  const tag = `${registry}/${name}:test`;
  execFileSync('docker', ['build', '-q', '-t', tag, dir], { stdio: 'pipe' });
  execFileSync('docker', ['push', tag], { stdio: 'pipe' });
  const digests: string[] = JSON.parse(
    execFileSync('docker', ['inspect', '--format', '{{json .RepoDigests}}', tag], { encoding: 'utf8' }),
  );
  const pinned = digests.find((d) => d.startsWith(`${registry}/${name}@sha256:`));
  if (!pinned) throw new Error(`no digest for ${tag}: ${digests.join(', ')}`);
  return pinned;
}

/** Builds and pushes the image once per registry; returns `registry/pw-task@sha256:…`. */
export function taskImage(go: string): string {
  return pushGoImage(go, 'pw-task', TASK_GO, { binary: 'task', start: 'CMD' });
}
