/** Release selection: previous, prefix, ambiguous, unknown (exit 2 with nearest), history items. */
import { describe, expect, it } from 'vitest';
import { isPatchworkError } from '../../src/lib/errors.js';
import {
  fromReleaseItem,
  MAX_ITEM_BYTES,
  newRelease,
  type ReleaseRecord,
  toReleaseItem,
} from '../../src/lib/release/history.js';
import { selectRelease } from '../../src/lib/release/select.js';

let n = 0;
function rel(
  sha: string,
  outcome: ReleaseRecord['outcome'] = 'succeeded',
  kind: ReleaseRecord['kind'] = 'deploy',
): ReleaseRecord {
  n++;
  return newRelease({
    kind,
    sha,
    outcome,
    deployer: 'me',
    services: [],
    startedAt: `2026-11-23T10:${String(60 - n).padStart(2, '0')}:00.000Z`,
  });
}

// newest first
const H = [
  rel('aaaa1111ffff'),
  rel('bbbb2222ffff', 'rolled-back'),
  rel('cccc3333ffff'),
  rel('cccc4444ffff'),
  rel('dddd5555ffff'),
];

function err(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    if (isPatchworkError(e)) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('selectRelease', () => {
  it('defaults to the previous successful release (skipping failed ones)', () => {
    expect(selectRelease(H).sha).toBe('cccc3333ffff');
  });
  it('with a progressive deployment in flight: the newest successful, which stopping it puts back', () => {
    const during = [rel('eeee6666ffff', 'in-progress'), ...H];
    expect(selectRelease(during, undefined, true).sha).toBe('aaaa1111ffff');
    expect(selectRelease(during).sha).toBe('cccc3333ffff');
    expect(selectRelease(during, 'dddd', true).sha).toBe('dddd5555ffff');
  });
  it('finds a unique prefix or a full sha', () => {
    expect(selectRelease(H, 'dddd').sha).toBe('dddd5555ffff');
    expect(selectRelease(H, 'cccc4444ffff').sha).toBe('cccc4444ffff');
  });
  it('ambiguous prefix → PW_UNKNOWN_RELEASE (exit 2) listing the matches', () => {
    const e = err(() => selectRelease(H, 'cccc'));
    expect(e.code).toBe('PW_UNKNOWN_RELEASE');
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/ambiguous/);
    expect(e.message).toContain('cccc3333ffff');
    expect(e.message).toContain('cccc4444ffff');
  });
  it('unknown sha → exit 2 listing the nearest known releases', () => {
    const e = err(() => selectRelease(H, 'dddd9'));
    expect(e.exitCode).toBe(2);
    expect((e.data.nearest as string[])[0]).toContain('dddd5555ffff');
  });
  it('a failed release is not a rollback target', () => {
    expect(err(() => selectRelease(H, 'bbbb')).message).toMatch(/matches no successful release/);
  });
  it('no previous release → exit 2', () => {
    expect(err(() => selectRelease([rel('eeee1234')])).exitCode).toBe(2);
  });
});

describe('release items', () => {
  it('round-trip and stay below the item size cap', () => {
    const r = rel('abcd1234');
    r.reason = 'x'.repeat(500_000);
    r.services = Array.from({ length: 500 }, (_, i) => ({
      service: `s${i}`,
      image: 'i'.repeat(300),
      digest: null,
      taskDefinitionArn: null,
    }));
    const item = toReleaseItem(r);
    expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThan(MAX_ITEM_BYTES + 1024);
    const back = fromReleaseItem(item)!;
    expect(back.sha).toBe('abcd1234');
    expect(item.sk!.S).toBe(`${r.startedAt}#${r.id}`);
  });
});
