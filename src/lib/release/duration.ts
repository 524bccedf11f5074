import { PatchworkError } from '../errors.js';

/** The longest wait a flag may ask for: a day, as deploy.timeoutSeconds allows. */
export const MAX_DURATION_SECONDS = 86_400;

/**
 * "90", "90s", "10m", "1h", "1m30s" → seconds, within [min, max] (default 0 s to a day): a
 * `--timeout 0` or `--lock-wait 99999999h` is a usage error, not a wait that never ends.
 */
export function parseDuration(text: string, flag: string, bounds: { min?: number; max?: number } = {}): number {
  const t = text.trim().toLowerCase();
  const m = /^\d+$/.test(t) ? null : t.match(/^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/);
  if (t === '' || (!m && !/^\d+$/.test(t))) {
    throw new PatchworkError('PW_USAGE', `${flag} ${text}: not a duration`, { hint: `write it as 90s, 10m or 1h` });
  }
  const seconds = m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : Number(t);
  const min = bounds.min ?? 0;
  const max = bounds.max ?? MAX_DURATION_SECONDS;
  if (!Number.isSafeInteger(seconds) || seconds < min || seconds > max) {
    throw new PatchworkError('PW_USAGE', `${flag} ${text}: must be between ${min}s and ${max / 3600}h`, {
      hint: `write it as 90s, 10m or 1h (at most ${max / 3600}h)`,
    });
  }
  return seconds;
}
