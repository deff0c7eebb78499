/** Small statistics for the report. */

/** The q-quantile (0..1) of values, by linear interpolation between closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Median, min and max of some runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median and range of the finite values, or null when there are none. */
export function spread(values: ReadonlyArray<number | undefined>): Spread | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  return { median: quantile(v, 0.5), min: Math.min(...v), max: Math.max(...v), n: v.length };
}
