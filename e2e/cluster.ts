/**
 * What e2e tests need of the cluster in KUBECONFIG: typed clients, server-side apply of
 * Weir objects through @kubernetes/client-node, kubectl, and installing the CRDs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { GROUP, VERSION, weirKinds } from '../crds/index.ts';
import { reuseConnections } from '../lib/kube/kube-config.ts';

export const root = join(import.meta.dirname, '..');
export const FIELD_MANAGER = 'weir-e2e';

/** Clients for the cluster in KUBECONFIG. */
export function connect() {
  if (!process.env.KUBECONFIG)
    throw new Error('KUBECONFIG is not set: run e2e tests with `npm run test:e2e` or give them a cluster');
  const kc = reuseConnections(new KubeConfig());
  kc.loadFromDefault();
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    apiext: kc.makeApiClient(ApiextensionsV1Api),
  };
}

export type Clients = ReturnType<typeof connect>;

export interface KubectlResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the cluster in KUBECONFIG; `input` is passed on stdin. */
export function kubectl(args: string[], input?: string): KubectlResult {
  const r = spawnSync('kubectl', args, { input, encoding: 'utf8', env: process.env });
  if (r.error) throw r.error;
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Every document of a YAML file, as objects. */
export function readManifests(path: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((d): d is KubernetesObject => d !== null);
}

/** The YAML files of a directory, sorted. */
export function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

function pluralOf(kind: string | undefined): string {
  const def = weirKinds.find((k) => k.kind === kind);
  if (!def) throw new Error(`not a Weir kind: ${kind}`);
  return def.plural;
}

/**
 * Server-side applies a Weir object with @kubernetes/client-node, with strict field
 * validation so that unknown fields are errors, as they are for kubectl.
 */
export async function applyWeirObject(custom: CustomObjectsApi, obj: KubernetesObject): Promise<KubernetesObject> {
  const plural = pluralOf(obj.kind);
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  const options = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  const common = {
    group: GROUP,
    version: VERSION,
    plural,
    name,
    body: obj,
    fieldManager: FIELD_MANAGER,
    fieldValidation: 'Strict',
    force: true,
  };
  return (
    namespace
      ? await custom.patchNamespacedCustomObject({ ...common, namespace }, options)
      : await custom.patchClusterCustomObject(common, options)
  ) as KubernetesObject;
}

/** Deletes a Weir object if it exists. */
export async function deleteWeirObject(custom: CustomObjectsApi, obj: KubernetesObject): Promise<void> {
  const plural = pluralOf(obj.kind);
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  try {
    if (namespace)
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, name });
    else await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural, name });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
}

/** Creates the namespace unless it exists. */
export async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name, labels: { 'app.kubernetes.io/part-of': 'weir-e2e' } } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** Installs (or updates) the Weir CRDs with kubectl and waits until they are served. */
export async function installCrds(clients: Clients): Promise<void> {
  const applied = kubectl([
    'apply',
    '--server-side',
    `--field-manager=${FIELD_MANAGER}`,
    '--force-conflicts',
    '-f',
    join(root, 'crds'),
  ]);
  if (applied.status !== 0) throw new Error(`installing the CRDs failed:\n${applied.stderr}`);
  const deadline = Date.now() + 60_000;
  for (const def of weirKinds) {
    for (;;) {
      const crd = await clients.apiext.readCustomResourceDefinition({ name: `${def.plural}.${GROUP}` });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${def.plural}.${GROUP} was not established within 60s`);
      await sleep(200);
    }
  }
}

/** The message of an API error from @kubernetes/client-node (its body is the Status object). */
export function apiErrorMessage(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  if (typeof e.body === 'string') {
    try {
      return (JSON.parse(e.body) as { message?: string }).message ?? e.body;
    } catch {
      return e.body;
    }
  }
  if (e.body && typeof e.body === 'object') return (e.body as { message?: string }).message ?? JSON.stringify(e.body);
  return e.message ?? String(err);
}

/**
 * Installs the RBAC of the Helm chart (ServiceAccount, ClusterRole, bindings) in
 * `namespace` and returns a kubeconfig that authenticates as the operator's service
 * account, so e2e tests run the operator with exactly the permissions the chart grants.
 */
export async function operatorKubeconfig(clients: Clients, namespace: string): Promise<string> {
  return serviceAccountKubeconfig(clients, namespace, 'weir-operator');
}

/** Installs the chart's RBAC in `namespace` and returns a kubeconfig of one of its service accounts. */
export async function serviceAccountKubeconfig(
  clients: Clients,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const rendered = spawnSync('helm', ['template', 'weir', join(root, 'charts', 'weir'), '--namespace', namespace], {
    encoding: 'utf8',
  });
  if (rendered.status !== 0) throw new Error(`helm template failed:\n${rendered.stderr}`);
  // The RBAC, and the admission policy that keeps tenant owners off the operator's objects.
  const rbacKinds = new Set([
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
  ]);
  const docs = parseAllDocuments(rendered.stdout)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((d): d is KubernetesObject => d !== null && rbacKinds.has(d.kind ?? ''));
  const applied = kubectl(
    ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
    docs.map((d) => JSON.stringify(d)).join('\n'),
  );
  if (applied.status !== 0) throw new Error(`applying the chart's RBAC failed:\n${applied.stderr}`);
  const token = await clients.core.createNamespacedServiceAccountToken({
    namespace,
    name: serviceAccount,
    body: { spec: { expirationSeconds: 7200, audiences: [] } },
  });
  const cluster = clients.kc.getCurrentCluster();
  if (!cluster) throw new Error('KUBECONFIG has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'e2e',
        server: cluster.server,
        caData: cluster.caData,
        caFile: cluster.caFile,
        skipTLSVerify: cluster.skipTLSVerify,
      },
    ],
    users: [{ name: serviceAccount, token: token.status?.token }],
    contexts: [{ name: 'e2e', cluster: 'e2e', user: serviceAccount }],
    currentContext: 'e2e',
  });
  const path = join(mkdtempSync(join(tmpdir(), 'weir-e2e-')), `${serviceAccount}.kubeconfig`);
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}
