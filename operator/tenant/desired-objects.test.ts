import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TenantSpec } from '../../crds/tenant.ts';
import {
  desiredCredentialsSecret,
  desiredNamespace,
  desiredNetworkPolicies,
  desiredOwnerRole,
  desiredOwnerRoleBinding,
  desiredResourceQuota,
  type TenantInput,
} from './desired-objects.ts';
import { credentialsData } from './credentials.ts';
import { tenantNamespace } from '../../lib/platform/tenant-names.ts';

const owner = {
  apiVersion: 'weir.dev/v1alpha1',
  kind: 'Tenant',
  name: 'acme',
  uid: 'u-1',
  controller: true,
  blockOwnerDeletion: true,
};

function input(spec: unknown): TenantInput {
  return { name: 'acme', spec: TenantSpec.parse(spec), ownerReference: owner, platformNamespace: 'weir-system' };
}

describe('tenant objects', () => {
  it('name the namespace tenant-<name> unless the spec names one', () => {
    assert.equal(tenantNamespace('acme', {}), 'tenant-acme');
    assert.equal(tenantNamespace('acme', { namespace: 'acme-prod' }), 'acme-prod');
  });

  it('are all owned by the Tenant and labelled with it, so the garbage collector and the operator find them', () => {
    const t = input({ owners: [{ kind: 'User', name: 'jane' }] });
    for (const obj of [
      desiredNamespace(t, 'tenant-acme'),
      desiredResourceQuota(t, 'tenant-acme'),
      desiredOwnerRole(t, 'tenant-acme'),
      ...desiredNetworkPolicies(t, 'tenant-acme'),
      desiredCredentialsSecret(t, 'tenant-acme', {}),
    ]) {
      assert.deepEqual(obj.metadata?.ownerReferences, [owner]);
      assert.equal(obj.metadata?.labels?.['weir.dev/tenant'], 'acme');
    }
  });

  it('put the endpoints, users, passwords and prefixes of the tenant into its credentials Secret', () => {
    const data = credentialsData(
      'acme',
      { redisEndpoint: 'redis:6379', postgresEndpoint: 'pg:5432', database: 'weir' },
      { redis: 'r-secret', postgres: 'p-secret' },
    );
    assert.deepEqual(data, {
      'redis-endpoint': 'redis:6379',
      'redis-username': 'weir-tenant-acme',
      'redis-password': 'r-secret',
      'redis-key-prefix': 'tenant:acme:',
      'postgres-endpoint': 'pg:5432',
      'postgres-database': 'weir',
      'postgres-username': 'weir_tenant_acme',
      'postgres-password': 'p-secret',
      'postgres-schema': 'weir_tenant_acme',
    });
    const secret = desiredCredentialsSecret(input({ owners: [{ kind: 'User', name: 'jane' }] }), 'tenant-acme', data);
    assert.equal(secret.metadata?.name, 'weir-credentials');
    assert.equal(secret.metadata?.namespace, 'tenant-acme');
    assert.deepEqual(secret.stringData, data);
  });

  it('enforce the restricted pod security standard in the namespace', () => {
    assert.equal(
      desiredNamespace(input({ owners: [{ kind: 'User', name: 'jane' }] }), 'tenant-acme').metadata?.labels?.[
        'pod-security.kubernetes.io/enforce'
      ],
      'restricted',
    );
  });

  it('turn the quotas into ResourceQuota limits, including the number of Pipelines, ConfigMaps and Secrets', () => {
    const quota = desiredResourceQuota(
      input({
        owners: [{ kind: 'User', name: 'jane' }],
        quotas: { cpu: '3', memory: '6Gi', pipelines: 7, configMaps: 30, secrets: 12 },
      }),
      'tenant-acme',
    );
    assert.deepEqual(quota.spec?.hard, {
      'requests.cpu': '3',
      'requests.memory': '6Gi',
      'limits.memory': '6Gi',
      'count/pipelines.weir.dev': '7',
      'count/configmaps': '30',
      'count/secrets': '12',
    });
  });

  it('deny ingress by default and allow the namespace itself, the platform, and what the spec allows', () => {
    const [deny, allow] = desiredNetworkPolicies(
      input({
        owners: [{ kind: 'User', name: 'jane' }],
        network: { allowNamespaces: ['web'], allowCidrs: ['203.0.113.0/24'] },
      }),
      'tenant-acme',
    );
    assert.deepEqual(deny?.spec, { podSelector: {}, policyTypes: ['Ingress'] });
    assert.deepEqual(allow?.spec?.ingress?.[0]?._from, [
      { podSelector: {} },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'weir-system' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'web' } } },
      { ipBlock: { cidr: '203.0.113.0/24' } },
    ]);
  });

  it('let owners manage Weir resources but read only their own credentials Secret', () => {
    const role = desiredOwnerRole(input({ owners: [{ kind: 'User', name: 'jane' }] }), 'tenant-acme');
    const secrets = role.rules?.find((r) => r.resources?.includes('secrets'));
    assert.deepEqual(secrets, {
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: ['weir-credentials'],
      verbs: ['get'],
    });
    assert.ok(!role.rules?.some((r) => r.resources?.includes('*') || r.verbs.includes('*')), 'no wildcard rules');
  });

  it('bind users and groups with the RBAC API group and service accounts with their namespace', () => {
    const binding = desiredOwnerRoleBinding(
      input({
        owners: [
          { kind: 'Group', name: 'team' },
          { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' },
        ],
      }),
      'tenant-acme',
    );
    assert.deepEqual(binding.subjects, [
      { kind: 'Group', name: 'team', apiGroup: 'rbac.authorization.k8s.io' },
      { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' },
    ]);
  });
});
