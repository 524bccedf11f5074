import { describe, expect, it } from 'vitest';
import { PatchworkError } from '../../src/lib/errors.js';
import { checkShaFlag, pickFullSha, resolveShaFlag, type ShaSources } from '../../src/lib/sha.js';

const A = '5c938f64f43c1d2e3f4a5b6c7d8e9f0a1b2c3d4e';
const B = '5c938f64f43cffffffffffffffffffffffffffff';
const C = 'd92def8aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

function caught(f: () => unknown): PatchworkError {
  try {
    f();
  } catch (err) {
    if (err instanceof PatchworkError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

function sources(git: Record<string, string>, tags: string[]): ShaSources & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    git: async (p) => {
      calls.push(`git ${p}`);
      return git[p] ?? null;
    },
    tags: async () => {
      calls.push('tags');
      return tags;
    },
  };
}

describe('--sha: a full sha or a unique prefix', () => {
  it('checkShaFlag: 7–40 hex characters (lower-cased); anything else is exit 2 PW_USAGE', () => {
    expect(checkShaFlag(' 5C938F64F43C ')).toBe('5c938f64f43c');
    expect(checkShaFlag(A)).toBe(A);
    for (const bad of ['5c938f', 'main', 'zzzzzzzz', `${A}0`, 'v1.2.3', '']) {
      const e = caught(() => checkShaFlag(bad));
      expect(e.code).toBe('PW_USAGE');
      expect(e.exitCode).toBe(2);
      expect(e.hint).toMatch(/7 or more hex/);
    }
  });

  it('pickFullSha: the one full-sha tag with the prefix; short and dirty tags never count', () => {
    expect(pickFullSha('5c938f64f43c', ['5c938f6', A, `${A}-dirty-abc`, C, 'latest'])).toBe(A);
    expect(pickFullSha('5c938f6', [A, A.toUpperCase()])).toBe(A);
    expect(pickFullSha('1234567', [A, C, '1234567'])).toBeNull();
  });

  it('pickFullSha: several matches are exit 2 PW_SHA_AMBIGUOUS naming the candidates, with a longer prefix to try', () => {
    const e = caught(() => pickFullSha('5c938f64f43c', [B, A, C]));
    expect(e.code).toBe('PW_SHA_AMBIGUOUS');
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`--sha 5c938f64f43c is ambiguous: 2 pushed images match (${A}, ${B})`);
    expect(e.hint).toBe('pass more characters, e.g. --sha 5c938f64f43c1d2e');
    expect(e.data.candidates).toEqual([A, B]);
  });

  it('resolveShaFlag: a full sha asks nothing; a prefix asks git first, then the tags', async () => {
    const s1 = sources({}, [A]);
    expect(await resolveShaFlag(A.toUpperCase(), s1)).toBe(A);
    expect(s1.calls).toEqual([]);

    const s2 = sources({ '5c938f64f43c': A }, [A, B]);
    expect(await resolveShaFlag('5c938f64f43c', s2)).toBe(A);
    expect(s2.calls).toEqual(['git 5c938f64f43c']);

    const s3 = sources({}, ['d92def8', C]);
    expect(await resolveShaFlag('d92def8', s3)).toBe(C);
    expect(s3.calls).toEqual(['git d92def8', 'tags']);

    // Nothing matches: the prefix goes on, and the image lookup reports it missing.
    expect(await resolveShaFlag('1234567', sources({}, [A]))).toBe('1234567');
    // git answering a commit that does not start with the prefix is ignored.
    expect(await resolveShaFlag('d92def8', sources({ d92def8: A }, [C]))).toBe(C);
    await expect(resolveShaFlag('5c938f6', sources({}, [A, B]))).rejects.toMatchObject({ code: 'PW_SHA_AMBIGUOUS' });
    await expect(resolveShaFlag('nothex!', sources({}, [A]))).rejects.toMatchObject({ code: 'PW_USAGE' });
  });
});
