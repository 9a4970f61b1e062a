/**
 * Writing the objects a controller owns without writing them again and again — Weir's one
 * way to skip a write of a child that would change nothing. Every reconcile of a parent
 * computes all its children; most of the time they are what the API server already holds,
 * and a server-side apply of an unchanged object still costs the API server a full decode,
 * merge and compare.
 *
 * Each child is written with two annotations: the hash of what the operator applied, and
 * when. A child is applied again when it is missing from the cache, when what the operator
 * wants of it changed (the hash differs), or when it was last applied more than a re-sync
 * period ago: an edit someone made behind the operator's back keeps the hash annotation, and
 * only a fresh apply repairs it. The decision reads only the cached object and the clock, so
 * reconcilers stay level-triggered: nothing is remembered between reconciles.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Clock } from '../clock/clock.ts';
import type { KubeClient } from '../kube/kube-client.ts';

/** Annotation with the hash of what the operator last applied to an object. */
export const HASH_ANNOTATION = 'weir.dev/applied-hash';
/** Annotation with when (RFC 3339) the operator last applied an object. */
export const APPLIED_AT_ANNOTATION = 'weir.dev/applied-at';

/** A short, stable hash of a JSON value. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 22);
}

/** `obj` with the annotations a ChildApplier writes: its hash, and the time it was applied. */
export function withAppliedHash<T extends KubernetesObject>(obj: T, appliedAt: number, hash = hashOf(obj)): T {
  const annotations = {
    ...obj.metadata?.annotations,
    [HASH_ANNOTATION]: hash,
    [APPLIED_AT_ANNOTATION]: new Date(appliedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  return { ...obj, metadata: { ...obj.metadata, annotations } };
}

/** The owned objects as cached (the informers keep their annotations). */
export interface ChildCache {
  get(kind: string, namespace: string, name: string): KubernetesObject | undefined;
}

/** What a ChildApplier decided about one child. */
export type ChildDecision = 'missing' | 'changed' | 'stale' | 'unchanged';

/** Whether `desired` must be applied, given the child as cached and the time. */
export function decide(
  desired: KubernetesObject,
  cached: KubernetesObject | undefined,
  now: number,
  refreshMs: number,
  hash = hashOf(desired),
): ChildDecision {
  if (!cached) return 'missing';
  const annotations = cached.metadata?.annotations ?? {};
  if (annotations[HASH_ANNOTATION] !== hash) return 'changed';
  const appliedAt = Date.parse(annotations[APPLIED_AT_ANNOTATION] ?? '');
  // A time in the future (another replica's clock ahead of ours) counts as fresh until then.
  return Number.isNaN(appliedAt) || now - appliedAt >= refreshMs ? 'stale' : 'unchanged';
}

export interface ChildApplierOptions {
  client: Pick<KubeClient, 'apply'>;
  children: ChildCache;
  clock: Clock;
  /** How long a child applied unchanged is trusted before it is applied anyway, to repair edits. */
  refreshMs: number;
}

/** Applies owned objects unless the cache shows them unchanged and freshly applied. */
export class ChildApplier {
  #o: ChildApplierOptions;

  constructor(options: ChildApplierOptions) {
    this.#o = options;
  }

  /** Applies the object if needed; resolves with what was decided. `signal` aborts the write. */
  async apply(obj: KubernetesObject, signal?: AbortSignal): Promise<ChildDecision> {
    const hash = hashOf(obj);
    const cached = this.#o.children.get(obj.kind!, obj.metadata?.namespace ?? '', obj.metadata!.name!);
    const now = this.#o.clock.now();
    const decision = decide(obj, cached, now, this.#o.refreshMs, hash);
    if (decision !== 'unchanged') await this.#o.client.apply(withAppliedHash(obj, now, hash), { signal });
    return decision;
  }
}
