/** Durations as the API writes them (`500ms`, `30s`, `1h30m`), in milliseconds. */

/** Milliseconds of a Go-style duration (the API accepts ms, s, m and h). */
export function durationMs(duration: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, value, unit] of duration.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g))
    total += Number(value) * units[unit!]!;
  return Math.round(total);
}
