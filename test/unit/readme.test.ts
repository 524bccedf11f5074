/**
 * README.md is part of the contract: every error code is documented there with its exit code, and
 * every warning code in its table of warnings.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/lib/errors.js';
import { Emitter } from '../../src/lib/events.js';
import { WarningCodes } from '../../src/lib/warnings.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it.each(Object.entries(ErrorCodes))('documents %s with exit %i', (code, exit) => {
    expect(readme).toContain(`| \`${code}\` | ${exit} |`);
  });

  const warnings = readme.slice(readme.indexOf('\n### Warning codes'));
  it.each(Object.keys(WarningCodes))('documents the warning %s in the warning codes table', (code) => {
    expect(warnings).toMatch(new RegExp(`^\\| \`${code}\` \\| .+ \\|$`, 'm'));
  });

  it('a warning code and an error code are never the same code', () => {
    for (const code of Object.keys(WarningCodes)) expect(Object.keys(ErrorCodes)).not.toContain(code);
  });

  it('warn() takes registered codes only (checked by tsc)', () => {
    const seen: string[] = [];
    const em = new Emitter((e) => seen.push(e.type === 'warning' ? e.code : e.type));
    em.warn('PW_LOCK_LOST', 'x');
    // @ts-expect-error a free string is not a warning code
    em.warn('PW_SOMETHING_ELSE', 'x');
    // @ts-expect-error a data event's payload is the one of its kind (an image, not a plan)
    em.emit({ type: 'data', kind: 'image', data: { changes: [] } });
    expect(seen).toEqual(['PW_LOCK_LOST', 'PW_SOMETHING_ELSE', 'data']);
  });
});
