/** git for tests: fixed identity, so temp repositories commit on any machine. */
import { execFileSync } from 'node:child_process';

export const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Patchwork IT',
  GIT_AUTHOR_EMAIL: 'it@example.com',
  GIT_COMMITTER_NAME: 'Patchwork IT',
  GIT_COMMITTER_EMAIL: 'it@example.com',
};

export const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

/** `git init` (branch main) in `root`, everything there committed once; the commit's sha. */
export function commitAll(root: string, message: string): string {
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', message);
  return git(root, 'rev-parse', 'HEAD');
}
