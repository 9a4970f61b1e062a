/** Durations as the Weir API writes them (`500ms`, `30s`, `5m`, `1h30m`; the CRDs' DURATION_PATTERN). */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go-style duration; the API server has checked its form at admission. */
export function durationMs(duration: string): number {
  let total = 0;
  for (const [, value, unit] of duration.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g))
    total += Number(value) * UNITS[unit!]!;
  return Math.round(total);
}
