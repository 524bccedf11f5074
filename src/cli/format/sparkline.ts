/**
 * Sparklines for a terminal: one character per bucket, ▁ (lowest) to █ (highest), scaled from 0
 * (or the minimum, when it is negative) to the maximum of the series; a bucket without data is a
 * space, so gaps stay visible. Pure.
 */

const BARS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const;

/**
 * `values` in time order; `null` for a bucket without data. With `width` the series is first
 * reduced to that many buckets (each the max of the points it covers: spikes must not vanish).
 */
export function sparkline(values: (number | null)[], width?: number): string {
  const series = width && values.length > width ? bucket(values, width) : values;
  const present = series.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return ' '.repeat(series.length);
  const lo = Math.min(0, ...present);
  const hi = Math.max(...present);
  const span = hi - lo;
  return series
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' ';
      if (span === 0) return hi === 0 ? BARS[0] : BARS[BARS.length - 1];
      const idx = Math.round(((v - lo) / span) * (BARS.length - 1));
      return BARS[Math.min(BARS.length - 1, Math.max(0, idx))];
    })
    .join('');
}

function bucket(values: (number | null)[], width: number): (number | null)[] {
  const out: (number | null)[] = [];
  for (let i = 0; i < width; i++) {
    const from = Math.floor((i * values.length) / width);
    const to = Math.floor(((i + 1) * values.length) / width);
    const slice = values.slice(from, Math.max(to, from + 1)).filter((v): v is number => v !== null);
    out.push(slice.length ? Math.max(...slice) : null);
  }
  return out;
}

/**
 * Places points (timestamps + values, any order) onto `count` fixed buckets of `periodSeconds`
 * ending at `end`; buckets without a point are null.
 */
export function toBuckets(
  timestamps: string[],
  values: number[],
  end: Date,
  periodSeconds: number,
  count: number,
): (number | null)[] {
  const out: (number | null)[] = new Array(count).fill(null);
  const startMs = end.getTime() - count * periodSeconds * 1000;
  timestamps.forEach((t, i) => {
    const idx = Math.floor((new Date(t).getTime() - startMs) / (periodSeconds * 1000));
    if (idx >= 0 && idx < count && values[i] !== undefined) out[idx] = values[i] as number;
  });
  return out;
}
