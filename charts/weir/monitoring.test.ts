/**
 * The chart's alerts and dashboard: promtool checks the rule file and runs its unit tests
 * (files/alerts.test.yaml), and every metric the alerts and the dashboard query is one the
 * operator, the gateway or the processor registers — read from registries built by their own
 * metric factories, so a renamed metric fails here instead of leaving an alert that never fires.
 * promtool is built on demand (hack/build-components.sh promtool, from Debian's package).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Registry } from 'prom-client';
import { parse, stringify } from 'yaml';
import { createGatewayMetrics } from '../../dataplane/gateway/gateway-metrics.ts';
import { processorMetrics } from '../../dataplane/processor/processor-metrics.ts';
import { ensureBuilt, toolchain } from '../../hack/local-env/toolchain.ts';
import { createControllerMetrics } from '../../lib/controller/controller-metrics.ts';
import { createWorkQueueMetrics } from '../../lib/controller/work-queue-metrics.ts';
import { createLeaderElectionMetrics } from '../../lib/kube/leader-election-metrics.ts';
import { createRegistry } from '../../lib/observability/metrics.ts';

const files = join(import.meta.dirname, 'files');
const run = promisify(execFile);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { expr: string; refId: string }[];
}
interface Dashboard {
  uid: string;
  templating: { list: { name: string; type: string; query: string }[] };
  panels: Panel[];
}

const ruleFile = parse(readFileSync(join(files, 'alerts.yaml'), 'utf8')) as RuleFile;
const dashboard = JSON.parse(readFileSync(join(files, 'dashboard.json'), 'utf8')) as Dashboard;
const alerts = ruleFile.groups.flatMap((g) => g.rules.filter((r) => r.alert));

/** promtool's exit code and output; a non-zero exit is a result here, not an exception. */
async function promtool(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(toolchain().promtool, args, { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool']);
const NOT_METRICS_ANY_CASE = new Set(['and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions or
 * aggregations (followed by a parenthesis), keywords, label names (inside braces or a by,
 * without, on or ignoring list), strings, durations or numbers.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = match[0];
    const before = stripped[match.index - 1] ?? '';
    if (/[0-9.]/.test(before)) continue; // 1e3, 0.5, the unit of 5m
    if (/^\s*\(/.test(stripped.slice(match.index + name.length))) continue;
    if (NOT_METRICS.has(name) || NOT_METRICS_ANY_CASE.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** Every series name a registry exports, with the _bucket/_sum/_count series of histograms and summaries. */
async function exportedNames(registry: Registry): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    names.add(metric.name);
    const type = String(metric.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

/** The registries of the three services, built as their main modules build them. */
async function serviceMetrics(): Promise<Record<'operator' | 'gateway' | 'processor', Set<string>>> {
  const operator = createRegistry();
  createControllerMetrics(operator);
  createWorkQueueMetrics(operator);
  createLeaderElectionMetrics(operator);
  const gateway = createRegistry();
  createGatewayMetrics(gateway);
  const processor = createRegistry();
  processorMetrics(processor, { pipeline: 'tenant-a/clicks', consumerGroup: 'weir.tenant-a.clicks' });
  return {
    operator: await exportedNames(operator),
    gateway: await exportedNames(gateway),
    processor: await exportedNames(processor),
  };
}

/** Names `expr` queries that `known` lacks. */
function unknownNames(expr: string, known: Set<string>): string[] {
  return metricNamesIn(expr).filter((n) => !known.has(n));
}

describe('the metric names in a PromQL expression', () => {
  const cases: [string, string, string[]][] = [
    [
      'skips functions, aggregations, label lists, matchers, ranges and numbers',
      'histogram_quantile(0.99, sum by (controller, le) (rate(a_seconds_bucket{code=~"5..", x="y"}[5m]))) > 1e3',
      ['a_seconds_bucket'],
    ],
    [
      'finds both sides of a binary operation, with on() and offset',
      'sum(rate(a_total[$__rate_interval])) / on(namespace) group_left b_total offset 5m and c',
      ['a_total', 'b_total', 'c'],
    ],
    ['finds a metric selected by name alone', 'workqueue_depth > 100', ['workqueue_depth']],
  ];
  for (const [name, expr, expected] of cases) it(name, () => assert.deepEqual(metricNamesIn(expr), expected));
});

describe('the alerts and the dashboard', () => {
  let services: Awaited<ReturnType<typeof serviceMetrics>>;
  before(async () => {
    services = await serviceMetrics();
  });

  it('refuses a metric no service registers, such as a misspelled one', () => {
    const all = new Set([...services.operator, ...services.gateway, ...services.processor]);
    assert.deepEqual(unknownNames('rate(weir_gateway_request_total[5m])', all), ['weir_gateway_request_total']);
    assert.deepEqual(unknownNames('rate(weir_gateway_requests_total[5m])', all), []);
  });

  it('alert only on metrics the service of their group registers', () => {
    const owner: Record<string, Set<string>> = {
      'weir-operator': services.operator,
      'weir-gateway': services.gateway,
      'weir-processor': services.processor,
    };
    assert.deepEqual(ruleFile.groups.map((g) => g.name).sort(), Object.keys(owner).sort());
    for (const group of ruleFile.groups) {
      for (const rule of group.rules) {
        assert.ok(metricNamesIn(rule.expr).length > 0, `${rule.alert} queries no metric`);
        assert.deepEqual(unknownNames(rule.expr, owner[group.name]!), [], `${rule.alert} queries unknown metrics`);
      }
    }
  });

  it('chart only metrics some service registers', () => {
    const all = new Set([...services.operator, ...services.gateway, ...services.processor]);
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    assert.ok(queries.length >= 15, `only ${queries.length} queries`);
    for (const { panel, expr } of queries) {
      assert.ok(metricNamesIn(expr).length > 0, `panel ${panel} queries no metric`);
      assert.deepEqual(unknownNames(expr, all), [], `panel ${panel} queries unknown metrics`);
    }
  });

  it('show events in and out, rate-limited, invalid, dead letters, consumer lag and reconciles', () => {
    const queried = new Set(dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr))));
    for (const metric of [
      'weir_gateway_events_accepted_total',
      'weir_processor_kafka_records_written_total',
      'weir_gateway_events_limited_total',
      'weir_gateway_events_invalid_total',
      'weir_processor_dead_letters_total',
      'weir_consumer_lag',
      'controller_runtime_reconcile_total',
      'controller_runtime_reconcile_errors_total',
    ])
      assert.ok(queried.has(metric), `no panel shows ${metric}`);
  });
});

describe('the dashboard', () => {
  it('has panels with distinct ids that fit the grid without overlapping', () => {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids repeat');
    const cells = new Map<string, string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${p.title} does not fit 24 columns`);
      for (let row = y; row < y + h; row++)
        for (let col = x; col < x + w; col++) {
          const other = cells.get(`${row},${col}`);
          assert.equal(other, undefined, `${p.title} overlaps ${other}`);
          cells.set(`${row},${col}`, p.title);
        }
    }
  });

  it('queries the Prometheus data source the viewer picks', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    assert.deepEqual([variable?.type, variable?.query], ['datasource', 'prometheus']);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${datasource}', `${p.title} has another data source`);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      assert.ok(refIds.length > 0, `${p.title} has no query`);
      assert.equal(new Set(refIds).size, refIds.length, `${p.title} repeats a refId`);
    }
  });
});

describe('the alerting rules under promtool', () => {
  before(async () => {
    await ensureBuilt(['promtool']);
  });

  it('are a valid rule file', async () => {
    const { code, output } = await promtool(['check', 'rules', 'alerts.yaml'], files);
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('pass their unit tests', async () => {
    const { code, output } = await promtool(['test', 'rules', 'alerts.test.yaml'], files);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS/);
  });

  it('each have a unit test', () => {
    const tests = parse(readFileSync(join(files, 'alerts.test.yaml'), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const firing = new Set(
      tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length).map((a) => a.alertname)),
    );
    const quiet = new Set(
      tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => !a.exp_alerts.length).map((a) => a.alertname)),
    );
    for (const { alert } of alerts) {
      assert.ok(firing.has(alert!), `no test expects ${alert} to fire`);
      assert.ok(quiet.has(alert!), `no test expects ${alert} to stay quiet`);
    }
  });

  describe('have unit tests that notice', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'weir-alerts-'));
      copyFileSync(join(files, 'alerts.test.yaml'), join(dir, 'alerts.test.yaml'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** Runs the unit tests against alerts.yaml with `change` made to the named alert. */
    async function mutated(alertName: string, change: (rule: Rule & { for?: string }) => void) {
      const copy = structuredClone(ruleFile);
      const rule = copy.groups.flatMap((g) => g.rules).find((r) => r.alert === alertName)!;
      change(rule);
      writeFileSync(join(dir, 'alerts.yaml'), stringify(copy));
      return promtool(['test', 'rules', 'alerts.test.yaml'], dir);
    }

    for (const { alert } of alerts) {
      it(`${alert} never firing`, async () => {
        const { code, output } = await mutated(alert!, (r) => (r.expr = 'vector(1) < 0'));
        assert.notEqual(code, 0, output);
        assert.match(output, new RegExp(`alertname: ${alert},`));
      });
      it(`${alert} always firing`, async () => {
        const { code, output } = await mutated(alert!, (r) => {
          r.expr = metricNamesIn(r.expr)
            .map((n) => `(${n} > -Inf)`)
            .join(' or ');
          delete r.for;
        });
        assert.notEqual(code, 0, output);
        assert.match(output, new RegExp(`alertname: ${alert},`));
      });
    }
  });
});
