/**
 * Which release a rollback goes to — pure. Default: the newest successful deploy/rollback before
 * the current one (the newest successful); with `inFlight` (a progressive deployment of a newer
 * release is under way: its bake, a canary share), the newest successful itself — the release ECS
 * puts back when that deployment is stopped, not the one before it. `--to <sha>`: full sha or a unique prefix among
 * successful releases. Unknown or ambiguous → PW_UNKNOWN_RELEASE (exit 2) listing the nearest.
 */
import { PatchworkError } from '../errors.js';
import type { ReleaseRecord } from './history.js';

const usable = (r: ReleaseRecord) => r.kind !== 'unlock' && r.outcome === 'succeeded' && r.sha !== null;

function line(r: ReleaseRecord): string {
  return `${(r.sha ?? '').slice(0, 12)} ${r.startedAt} ${r.kind} ${r.outcome}`;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** The nearest known releases to a sha: longest common prefix first, then newest. */
export function nearestReleases(history: ReleaseRecord[], sha: string, n = 5): ReleaseRecord[] {
  const seen = new Set<string>();
  return history
    .filter(usable)
    .filter((r) => {
      if (seen.has(r.sha!)) return false;
      seen.add(r.sha!);
      return true;
    })
    .map((r, i) => ({ r, score: commonPrefix(r.sha!.toLowerCase(), sha.toLowerCase()), i }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, n)
    .map((x) => x.r);
}

/** history is newest first. */
export function selectRelease(history: ReleaseRecord[], to?: string, inFlight = false): ReleaseRecord {
  const ok = history.filter(usable);
  if (to === undefined) {
    const current = ok[0];
    if (inFlight && current) return current;
    const previous = ok.find((r) => current && r.sha !== current.sha);
    if (!previous) {
      throw new PatchworkError('PW_UNKNOWN_RELEASE', 'no previous successful release to roll back to', {
        hint: 'see `patchwork releases`; roll back with --to <sha> to a recorded release',
        data: { known: ok.slice(0, 5).map(line) },
      });
    }
    return previous;
  }
  const want = to.trim().toLowerCase();
  if (want.length < 4 || !/^[0-9a-z._-]+$/.test(want)) {
    throw new PatchworkError('PW_UNKNOWN_RELEASE', `"${to}" is not a sha prefix (4 or more characters)`, {
      hint: 'pass --to with at least 4 characters of a sha from `patchwork releases`',
    });
  }
  const matches = ok.filter((r) => r.sha!.toLowerCase().startsWith(want));
  const shas = [...new Set(matches.map((r) => r.sha!))];
  if (shas.length === 1) return matches[0]!;
  const near = shas.length > 1 ? matches.slice(0, 5) : nearestReleases(history, want);
  const what = shas.length > 1 ? `is ambiguous (${shas.length} releases match)` : 'matches no successful release';
  throw new PatchworkError(
    'PW_UNKNOWN_RELEASE',
    `--to ${to} ${what}; nearest: ${near.map(line).join('; ') || 'none recorded'}`,
    {
      hint:
        shas.length > 1 ? 'give more characters of the sha' : 'see `patchwork releases` for what can be rolled back to',
      data: { to, ambiguous: shas.length > 1, nearest: near.map(line) },
    },
  );
}
