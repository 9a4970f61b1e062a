/**
 * The ConfigMaps and Secrets a pod reads — through env, envFrom and volumes — and their
 * contents once fetched, in the one shape the env and volume code reads them in.
 */
import type { V1ConfigMap, V1Container, V1Pod, V1Secret } from '@kubernetes/client-node';

/**
 * Key → bytes of every ConfigMap and Secret the pod names (one that does not exist is
 * absent), and the service account tokens its projected volumes ask for, by {@link tokenKey}.
 */
export interface PodSources {
  configMaps: Map<string, Record<string, Buffer>>;
  secrets: Map<string, Record<string, Buffer>>;
  tokens?: Map<string, string>;
}

/** A service account token a projected volume asks for. */
export interface TokenRequest {
  audience?: string;
  expirationSeconds: number;
}

/** Identifies a token request among a pod's sources. */
export function tokenKey(request: TokenRequest): string {
  return `${request.audience ?? ''}/${request.expirationSeconds}`;
}

/** The service account tokens the pod's projected volumes ask for (1 h unless they say otherwise, as the API defaults). */
export function tokenRequests(pod: V1Pod): TokenRequest[] {
  const requests = new Map<string, TokenRequest>();
  for (const v of pod.spec?.volumes ?? []) {
    for (const s of v.projected?.sources ?? []) {
      if (!s.serviceAccountToken) continue;
      const request = {
        audience: s.serviceAccountToken.audience || undefined,
        expirationSeconds: s.serviceAccountToken.expirationSeconds ?? 3600,
      };
      requests.set(tokenKey(request), request);
    }
  }
  return [...requests.values()];
}

/** The names of the ConfigMaps and Secrets in the pod's namespace that the pod refers to. */
export function referencedObjects(pod: V1Pod): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const containers: V1Container[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  for (const c of containers) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef?.name) configMaps.add(e.configMapRef.name);
      if (e.secretRef?.name) secrets.add(e.secretRef.name);
    }
  }
  for (const v of pod.spec?.volumes ?? []) {
    if (v.configMap?.name) configMaps.add(v.configMap.name);
    if (v.secret?.secretName) secrets.add(v.secret.secretName);
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap?.name) configMaps.add(s.configMap.name);
      if (s.secret?.name) secrets.add(s.secret.name);
    }
  }
  return { configMaps, secrets };
}

/** A ConfigMap's `data` and `binaryData` as bytes. */
export function configMapBytes(cm: V1ConfigMap): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(cm.data ?? {})) out[k] = Buffer.from(v, 'utf8');
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

/** A Secret's `data` (base64 on the wire) as bytes. */
export function secretBytes(secret: V1Secret): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

/** A problem the kubelet reports as the reason of a waiting container, with its message. */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError';
  readonly reason: string;

  constructor(message: string, reason = 'CreateContainerConfigError') {
    super(message);
    this.reason = reason;
  }
}
