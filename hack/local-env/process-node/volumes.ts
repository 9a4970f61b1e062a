/**
 * Pod volumes on a node without mount namespaces. configMap, secret, downwardAPI, projected
 * (of those and service account tokens, so the API server's default kube-api-access
 * volume works) and emptyDir volumes are written into a directory per pod, and each container sees them
 * through path rewriting: wherever one of its mountPaths starts a path in its command,
 * args, env values or workingDir, the process node puts the directory it wrote instead.
 * A real kubelet mounts the volume at the mountPath inside the container instead; here
 * every pod shares the machine's file system, so `/etc/weir` cannot mean something else
 * for each pod.
 */
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { V1DownwardAPIVolumeFile, V1KeyToPath, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ContainerConfigError, tokenKey, type PodSources } from './pod-sources.ts';

/** One file of a volume, relative to the volume's root. */
export interface VolumeFile {
  path: string;
  content: Buffer;
  mode: number;
}

/** What a volume holds: files to write, or an empty directory the containers may write to. */
export type VolumeContent = { kind: 'files'; files: VolumeFile[] } | { kind: 'emptyDir' };

/** Volume types the process node can provide. */
export const SUPPORTED_VOLUME_TYPES = ['configMap', 'secret', 'downwardAPI', 'projected', 'emptyDir'] as const;

/** The volume's type name, as in the pod spec (`configMap`, `hostPath`, ...). */
export function volumeType(volume: V1Volume): string {
  return (
    Object.keys(volume).find((k) => k !== 'name' && (volume as unknown as Record<string, unknown>)[k] !== undefined) ??
    'unknown'
  );
}

/** Volumes of the pod the process node cannot provide, as `name (type)`. */
export function unsupportedVolumes(pod: V1Pod): string[] {
  return (pod.spec?.volumes ?? [])
    .filter((v) => !(SUPPORTED_VOLUME_TYPES as readonly string[]).includes(volumeType(v)))
    .map((v) => `${v.name} (${volumeType(v)})`);
}

/** A key's path inside a volume must stay inside it. */
function safeRelative(path: string, volume: string): string {
  const clean = normalize(path);
  if (clean.startsWith('..') || clean.startsWith('/') || clean === '.')
    throw new ContainerConfigError(`volume ${volume}: path '${path}' leaves the volume`, 'ContainerCreating');
  return clean;
}

/** The files one ConfigMap or Secret projects into a volume: every key, or only the listed items. */
function projectKeys(
  volume: string,
  kind: 'configmap' | 'secret',
  name: string,
  data: Record<string, Buffer> | undefined,
  items: V1KeyToPath[] | undefined,
  optional: boolean | undefined,
  defaultMode: number,
): VolumeFile[] {
  if (!data) {
    if (optional) return [];
    throw new ContainerConfigError(
      `MountVolume.SetUp failed for volume "${volume}" : ${kind} "${name}" not found`,
      'ContainerCreating',
    );
  }
  if (!items?.length)
    return Object.entries(data).map(([key, content]) => ({
      path: safeRelative(key, volume),
      content,
      mode: defaultMode,
    }));
  return items.flatMap((item) => {
    const content = data[item.key];
    if (content === undefined) {
      if (optional) return [];
      throw new ContainerConfigError(
        `MountVolume.SetUp failed for volume "${volume}" : configmap references non-existent config key: ${item.key}`,
        'ContainerCreating',
      );
    }
    return [{ path: safeRelative(item.path, volume), content, mode: item.mode ?? defaultMode }];
  });
}

/** Resolves a downward API field path of the pod, such as `metadata.namespace`. */
export type FieldResolver = (fieldPath: string) => string;

function downwardFiles(
  volume: string,
  items: V1DownwardAPIVolumeFile[] | undefined,
  field: FieldResolver,
  defaultMode: number,
): VolumeFile[] {
  return (items ?? []).map((item) => {
    if (!item.fieldRef)
      throw new ContainerConfigError(
        `volume ${volume}: only fieldRef items of the downward API are supported by the process node`,
        'ContainerCreating',
      );
    return {
      path: safeRelative(item.path, volume),
      content: Buffer.from(field(item.fieldRef.fieldPath)),
      mode: item.mode ?? defaultMode,
    };
  });
}

/** What one volume holds, given the pod's ConfigMaps, Secrets and tokens, and its fields. */
export function volumeContent(volume: V1Volume, sources: PodSources, field: FieldResolver = () => ''): VolumeContent {
  if (volume.emptyDir) return { kind: 'emptyDir' };
  if (volume.configMap) {
    const c = volume.configMap;
    return {
      kind: 'files',
      files: projectKeys(
        volume.name,
        'configmap',
        c.name ?? '',
        sources.configMaps.get(c.name ?? ''),
        c.items,
        c.optional,
        c.defaultMode ?? 0o644,
      ),
    };
  }
  if (volume.secret) {
    const s = volume.secret;
    return {
      kind: 'files',
      files: projectKeys(
        volume.name,
        'secret',
        s.secretName ?? '',
        sources.secrets.get(s.secretName ?? ''),
        s.items,
        s.optional,
        s.defaultMode ?? 0o644,
      ),
    };
  }
  if (volume.downwardAPI)
    return {
      kind: 'files',
      files: downwardFiles(volume.name, volume.downwardAPI.items, field, volume.downwardAPI.defaultMode ?? 0o644),
    };
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? 0o644;
    const files = (volume.projected.sources ?? []).flatMap((source): VolumeFile[] => {
      if (source.configMap)
        return projectKeys(
          volume.name,
          'configmap',
          source.configMap.name ?? '',
          sources.configMaps.get(source.configMap.name ?? ''),
          source.configMap.items,
          source.configMap.optional,
          mode,
        );
      if (source.secret)
        return projectKeys(
          volume.name,
          'secret',
          source.secret.name ?? '',
          sources.secrets.get(source.secret.name ?? ''),
          source.secret.items,
          source.secret.optional,
          mode,
        );
      if (source.downwardAPI) return downwardFiles(volume.name, source.downwardAPI.items, field, mode);
      if (source.serviceAccountToken) {
        const t = source.serviceAccountToken;
        const token = sources.tokens?.get(
          tokenKey({ audience: t.audience || undefined, expirationSeconds: t.expirationSeconds ?? 3600 }),
        );
        if (token === undefined)
          throw new ContainerConfigError(
            `MountVolume.SetUp failed for volume "${volume.name}" : no service account token`,
            'ContainerCreating',
          );
        return [{ path: safeRelative(t.path, volume.name), content: Buffer.from(token), mode }];
      }
      throw new ContainerConfigError(
        `volume ${volume.name}: clusterTrustBundle and podCertificate projections are not supported by the process node`,
        'ContainerCreating',
      );
    });
    return { kind: 'files', files };
  }
  throw new ContainerConfigError(
    `volume ${volume.name}: ${volumeType(volume)} volumes are not supported by the process node`,
    'ContainerCreating',
  );
}

/**
 * Writes a volume under `dir` (replacing what was there), readable by the container's
 * user: files with their mode, emptyDirs world-writable as the kubelet makes them.
 */
export function writeVolume(dir: string, content: VolumeContent): void {
  if (content.kind === 'emptyDir') {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    return;
  }
  // Written next to the volume, then swapped in, so that a reader never sees half of it.
  const staging = `${dir}.new`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true, mode: 0o755 });
  for (const file of content.files) {
    const target = join(staging, file.path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, file.content, { mode: file.mode });
    chmodSync(target, file.mode);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
}

/** Where a container's mountPath lives on this machine. */
export interface MountTarget {
  mountPath: string;
  hostPath: string;
}

/** The host directories of a container's volume mounts, given where each volume was written. */
export function mountTargets(mounts: V1VolumeMount[] | undefined, volumeDirs: Map<string, string>): MountTarget[] {
  return (mounts ?? []).map((m) => {
    const dir = volumeDirs.get(m.name);
    if (!dir)
      throw new ContainerConfigError(
        `volume mount ${m.mountPath} refers to volume "${m.name}", which the pod does not have`,
      );
    return {
      mountPath: m.mountPath.replace(/\/+$/, '') || '/',
      hostPath: m.subPath ? join(dir, safeRelative(m.subPath, m.name)) : dir,
    };
  });
}

/** Characters that may be part of a path segment; anything else ends a path. */
const PATH_CHAR = /[A-Za-z0-9._~@+-]/;

/**
 * Replaces each mountPath in `value` by its host directory where it starts a path (at the
 * start of the value or after a character that cannot be part of a path, such as `=` or
 * `:`) and ends at a path boundary: `/etc/weir/pipeline.json` and `--config=/etc/weir`
 * change, `/etc/weirdo` and `/opt/etc/weir` do not. Longer mountPaths win over the ones
 * they are nested in.
 */
export function rewriteMountPaths(value: string, targets: MountTarget[]): string {
  const ordered = [...targets]
    .filter((t) => t.mountPath !== '/')
    .sort((a, b) => b.mountPath.length - a.mountPath.length);
  if (ordered.length === 0) return value;
  let out = '';
  let i = 0;
  outer: while (i < value.length) {
    const before = value[i - 1];
    const atStart = i === 0 || (before !== '/' && !PATH_CHAR.test(before!));
    if (atStart && value[i] === '/') {
      for (const t of ordered) {
        if (!value.startsWith(t.mountPath, i)) continue;
        const after = value[i + t.mountPath.length];
        if (after !== undefined && after !== '/' && PATH_CHAR.test(after)) continue;
        out += t.hostPath;
        i += t.mountPath.length;
        continue outer;
      }
    }
    out += value[i];
    i++;
  }
  return out;
}
