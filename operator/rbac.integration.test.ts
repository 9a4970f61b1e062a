/**
 * The chart grants the operator exactly what its controllers declare: nothing missing (a
 * controller would fail with 403), nothing more (least privilege). Renders the chart with
 * the environment's helm; run under `node hack/local-env/cli.ts run --with kube-api -- node --test <this file>`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { grants, type PolicyRule } from '../lib/kube/policy-rule.ts';
import { operatorClusterRules, operatorNamespaceRules } from './rbac.ts';

const chart = join(import.meta.dirname, '..', 'charts', 'weir');

interface Rendered {
  kind: string;
  metadata: { name: string };
  rules?: PolicyRule[];
}

function rendered(): Rendered[] {
  const yaml = execFileSync('helm', ['template', 'weir', chart, '--namespace', 'weir-system'], { encoding: 'utf8' });
  return parseAllDocuments(yaml)
    .map((d) => d.toJSON() as Rendered)
    .filter(Boolean);
}

function difference(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).sort();
}

describe('the chart’s RBAC', () => {
  const objects = rendered();
  const rulesOf = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name)?.rules ?? [];

  const cases: [string, string, string, PolicyRule[]][] = [
    [
      'grants the operator cluster-wide exactly what its controllers declare',
      'ClusterRole',
      'weir-operator',
      operatorClusterRules,
    ],
    [
      'grants the operator in its own namespace exactly leases and the Regions’ credentials',
      'Role',
      'weir-operator-leader-election',
      operatorNamespaceRules,
    ],
  ];
  for (const [name, kind, objectName, declared] of cases) {
    it(name, () => {
      const chartGrants = grants(rulesOf(kind, objectName));
      const wanted = grants(declared);
      assert.deepEqual(difference(wanted, chartGrants), [], 'declared but not granted');
      assert.deepEqual(difference(chartGrants, wanted), [], 'granted but not declared');
    });
  }

  it('grants no Secret cluster-wide but the tenants’ credentials Secret', () => {
    const secretRules = rulesOf('ClusterRole', 'weir-operator').filter((r) => r.resources.includes('secrets'));
    assert.ok(secretRules.length > 0);
    for (const rule of secretRules) assert.deepEqual(rule.resourceNames, ['weir-credentials']);
  });
});
