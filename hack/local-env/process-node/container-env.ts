/**
 * A container's environment as the kubelet builds it: `envFrom` first, then `env` in
 * order, values resolved from ConfigMaps, Secrets and the pod's own fields, and `$(VAR)`
 * references expanded against the variables defined before them.
 */
import type { V1Container, V1EnvVarSource, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError, type PodSources } from './pod-sources.ts';

/** What the pod's fields resolve to that only the node knows. */
export interface PodRuntimeFields {
  podIP: string;
  hostIP: string;
}

/**
 * Expands `$(NAME)` with `lookup`, exactly as Kubernetes does: `$$` is a literal `$`, and a
 * reference to an unknown name (or one left unclosed) stays as written.
 */
export function expandReferences(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance = 1;
    if (rest[0] === '$') {
      out += '$';
    } else if (rest[0] === '(') {
      const close = rest.indexOf(')');
      if (close === -1) {
        out += '$(';
      } else {
        const name = rest.slice(1, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close + 1;
      }
    } else {
      out += `$${rest[0]}`;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/** `metadata.labels['app']` → the label's value; the field paths the downward API offers for env. */
export function podField(pod: V1Pod, path: string, fields: PodRuntimeFields): string {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) return (keyed[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[keyed[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return fields.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return fields.hostIP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef path ${path}`);
  }
}

function fromSource(
  pod: V1Pod,
  source: V1EnvVarSource,
  sources: PodSources,
  fields: PodRuntimeFields,
): string | undefined {
  const namespace = pod.metadata?.namespace ?? '';
  if (source.fieldRef) return podField(pod, source.fieldRef.fieldPath, fields);
  const ref = source.configMapKeyRef ?? source.secretKeyRef;
  if (ref) {
    const kind = source.configMapKeyRef ? 'ConfigMap' : 'Secret';
    const data = (source.configMapKeyRef ? sources.configMaps : sources.secrets).get(ref.name ?? '');
    if (!data) {
      if (ref.optional) return undefined;
      throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name}" not found`);
    }
    const value = data[ref.key];
    if (value === undefined) {
      if (ref.optional) return undefined;
      throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`);
    }
    return value.toString('utf8');
  }
  throw new ContainerConfigError('resourceFieldRef is not supported by the process node');
}

/** The container's variables from the pod spec, in the order the kubelet sets them. */
export function containerEnv(
  pod: V1Pod,
  container: V1Container,
  sources: PodSources,
  fields: PodRuntimeFields,
): Map<string, string> {
  const env = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const data = (from.configMapRef ? sources.configMaps : sources.secrets).get(ref.name ?? '');
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [key, value] of Object.entries(data)) env.set(`${from.prefix ?? ''}${key}`, value.toString('utf8'));
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom) {
      const value = fromSource(pod, e.valueFrom, sources, fields);
      if (value !== undefined) env.set(e.name, value);
      continue;
    }
    // Only what is defined so far can be referred to, as with the kubelet.
    env.set(
      e.name,
      expandReferences(e.value ?? '', (name) => env.get(name)),
    );
  }
  return env;
}

/** The container's command line: `command` then `args`, with `$(VAR)` expanded from its environment. */
export function commandLine(container: V1Container, env: Map<string, string>): string[] {
  const expand = (s: string) => expandReferences(s, (name) => env.get(name));
  return [...(container.command ?? []), ...(container.args ?? [])].map(expand);
}
