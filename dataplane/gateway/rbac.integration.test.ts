/**
 * The chart grants the gateway exactly what it declares: nothing missing, nothing more, and
 * nothing that writes a Weir resource. Renders the chart with the environment's helm; run under
 * `node hack/local-env/cli.ts run --with kube-api -- node --test <this file>`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { grants, type PolicyRule } from '../../lib/kube/policy-rule.ts';
import { gatewayClusterRules, gatewayNamespaceRules } from './rbac.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'weir');

interface Rendered {
  kind: string;
  metadata: { name: string };
  rules?: PolicyRule[];
}

describe("the chart's RBAC for the gateway", () => {
  const yaml = execFileSync('helm', ['template', 'weir', chart, '--namespace', 'weir-system'], { encoding: 'utf8' });
  const objects = parseAllDocuments(yaml)
    .map((d) => d.toJSON() as Rendered)
    .filter(Boolean);
  const rulesOf = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name)?.rules ?? [];
  const difference = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();

  const cases: [string, string, string, PolicyRule[]][] = [
    ['grants the gateway cluster-wide exactly what it declares', 'ClusterRole', 'weir-gateway', gatewayClusterRules],
    [
      'grants the gateway in its own namespace exactly its Leases',
      'Role',
      'weir-gateway-leases',
      gatewayNamespaceRules,
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

  it('lets the gateway write no Weir resource and read no Secret', () => {
    for (const g of grants(rulesOf('ClusterRole', 'weir-gateway'))) {
      if (g.startsWith('weir.dev/')) assert.match(g, /: (get|list|watch)$/, g);
      assert.ok(!g.startsWith('core/secrets/'), g);
    }
  });
});
