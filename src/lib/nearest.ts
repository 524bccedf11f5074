/**
 * One nearest-name helper for every "did you mean": config keys, environments, services, verbs
 * and flags. A candidate that is a prefix of the word, or that the word is a prefix of
 * (`production` → `prod`, `stag` → `staging`), wins; otherwise the closest by edit distance, if it
 * is close enough to be a likely typo.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  // A typo is short; comparing a pasted megabyte against every key would only burn time.
  if (word.length > 64 || word === '') return undefined;
  const w = word.toLowerCase();
  const scored = candidates.map((c) => ({ c, d: editDistance(w, c.toLowerCase()) }));
  const prefixed = scored.filter(({ c }) => {
    const l = c.toLowerCase();
    return Math.min(l.length, w.length) >= 2 && (w.startsWith(l) || l.startsWith(w));
  });
  const byDistance = (a: { d: number }, b: { d: number }) => a.d - b.d;
  if (prefixed.length) return prefixed.sort(byDistance)[0]!.c;
  const best = scored.sort(byDistance)[0];
  return best && best.d <= Math.max(2, Math.floor(word.length / 3)) ? best.c : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
