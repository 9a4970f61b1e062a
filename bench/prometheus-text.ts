/** Reading the Prometheus text an operator's /metrics serves, for the benches' reports. */

/** The value of a metric's first series. */
export function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

/** The sum of a metric's series that carry `label` (such as `controller="tenant"`), or all of several labels. */
export function sumOf(text: string, name: string, label: string | string[]): number {
  const labels = Array.isArray(label) ? label : [label];
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** A quantile estimated from a Prometheus histogram's cumulative buckets. */
export function quantile(text: string, name: string, q: number): number {
  const buckets = text
    .split('\n')
    .filter((l) => l.startsWith(`${name}_bucket{`))
    .map((l) => ({
      le: Number(/le="([^"]+)"/.exec(l)![1]!.replace('+Inf', 'Infinity')),
      count: Number(l.split(' ').at(-1)),
    }));
  const total = buckets.at(-1)?.count ?? 0;
  const target = total * q;
  let prev = { le: 0, count: 0 };
  for (const b of buckets) {
    if (b.count >= target)
      return b.le === Infinity
        ? prev.le
        : prev.le + ((b.le - prev.le) * (target - prev.count)) / Math.max(1, b.count - prev.count);
    prev = b;
  }
  return NaN;
}
