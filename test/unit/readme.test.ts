/** README.md is part of the contract: every error code is documented there with its exit code. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/lib/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it.each(Object.entries(ErrorCodes))('documents %s with exit %i', (code, exit) => {
    expect(readme).toContain(`| \`${code}\` | ${exit} |`);
  });
});
