/**
 * `deploy --sha`: a full git sha or a unique prefix (7+ hex characters), resolved to the full sha
 * before anything is looked up, so the release, the task definition's tags and the events all
 * record the full sha. The rules are pure; the sources (git, the registry's tags) are passed in.
 */
import { PatchworkError } from './errors.js';

const FULL_SHA_RE = /^[0-9a-f]{40}$/;
const PREFIX_RE = /^[0-9a-f]{7,40}$/;

/** The flag, lower-cased; anything but 7–40 hex characters is exit 2 (before any AWS call). */
export function checkShaFlag(raw: string): string {
  const want = raw.trim().toLowerCase();
  if (!PREFIX_RE.test(want)) {
    throw new PatchworkError('PW_USAGE', `--sha "${raw}" is not a git sha (7 to 40 hex characters)`, {
      hint: 'pass a full git sha or a prefix of 7 or more hex characters, as `patchwork releases` or `git log` print',
      data: { sha: raw },
    });
  }
  return want;
}

/** The one full sha among `candidates` (tags, …) that starts with `prefix`; null when none does. */
export function pickFullSha(prefix: string, candidates: Iterable<string>): string | null {
  const matches = [...new Set([...candidates].map((c) => c.toLowerCase()))]
    .filter((c) => FULL_SHA_RE.test(c) && c.startsWith(prefix))
    .sort();
  if (matches.length > 1) {
    throw new PatchworkError(
      'PW_SHA_AMBIGUOUS',
      `--sha ${prefix} is ambiguous: ${matches.length} pushed images match (${matches.join(', ')})`,
      {
        hint: `pass more characters, e.g. --sha ${matches[0]!.slice(0, Math.min(40, prefix.length + 4))}`,
        data: { sha: prefix, candidates: matches },
      },
    );
  }
  return matches[0] ?? null;
}

export interface ShaSources {
  /** `git rev-parse --verify <prefix>^{commit}` in the project: the full sha, or null (not there, no git). */
  git(prefix: string): Promise<string | null>;
  /** Every tag of the images to deploy (the registry's listing). */
  tags(): Promise<string[]>;
}

/**
 * The full sha for `--sha`. A full sha is returned as is (no git, no registry call: a plain deploy
 * costs what it did). A prefix: the local commit when git has it, else the unique pushed tag that
 * starts with it; when nothing matches the prefix is returned, and the image lookup reports it
 * missing (PW_IMAGE_NOT_FOUND).
 */
export async function resolveShaFlag(raw: string, sources: ShaSources): Promise<string> {
  const want = checkShaFlag(raw);
  if (want.length === 40) return want;
  const local = await sources.git(want).catch(() => null);
  if (local && FULL_SHA_RE.test(local.toLowerCase()) && local.toLowerCase().startsWith(want))
    return local.toLowerCase();
  return pickFullSha(want, await sources.tags()) ?? want;
}
