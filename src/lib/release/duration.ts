import { PatchworkError } from '../errors.js';

/** "90", "90s", "10m", "1h", "1m30s" → seconds. */
export function parseDuration(text: string, flag: string): number {
  const t = text.trim().toLowerCase();
  if (/^\d+$/.test(t)) return Number(t);
  const m = t.match(/^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/);
  if (!m || t === '') {
    throw new PatchworkError('PW_USAGE', `${flag} ${text}: not a duration`, { hint: `write it as 90s, 10m or 1h` });
  }
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}
