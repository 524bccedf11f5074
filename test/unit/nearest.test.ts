/** The one nearest-name helper: prefixes first (production → prod), then edit distance within a typo's reach. */
import { describe, expect, it } from 'vitest';
import { nearest } from '../../src/lib/nearest.js';

describe('nearest', () => {
  it('prefers a name the word starts with, or that starts with the word', () => {
    expect(nearest('production', ['staging', 'prod'])).toBe('prod');
    expect(nearest('stag', ['prod', 'staging'])).toBe('staging');
  });
  it('falls back to edit distance for typos', () => {
    expect(nearest('deplyo', ['build', 'deploy', 'destroy', 'doctor'])).toBe('deploy');
    expect(nearest('prd', ['prod', 'staging'])).toBe('prod');
    expect(nearest('Web', ['web', 'worker'])).toBe('web');
  });
  it('suggests nothing when no name is close', () => {
    expect(nearest('zzzzzz', ['prod', 'staging'])).toBeUndefined();
    expect(nearest('', ['prod'])).toBeUndefined();
    expect(nearest('x'.repeat(100), ['prod'])).toBeUndefined();
  });
});
