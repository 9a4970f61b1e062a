/**
 * Writing the objects a controller owns without writing them again and again. Every
 * reconcile of a parent computes all its children; most of the time they are what the
 * API server already holds, and a server-side apply of an unchanged object still costs
 * the API server a full decode, merge and compare.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Applier } from './apply.ts';
import type { Clock } from './clock.ts';

/** Annotation with the hash of what the operator last applied to an object. */
export const HASH_ANNOTATION = 'weir.dev/applied-hash';

/** A short, stable hash of a JSON value. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 22);
}

/** The owned objects as cached; `remember` adds one just written, before its watch event arrives. */
export interface ChildCache {
  get(kind: string, namespace: string, name: string): KubernetesObject | undefined;
  remember(obj: KubernetesObject): void;
}

function keyOf(obj: KubernetesObject): string {
  return `${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`;
}

export interface ChildApplierOptions {
  applier: Applier;
  children: ChildCache;
  clock: Clock;
  /**
   * How long an object found unchanged is trusted before it is applied anyway: an edit
   * someone made to a field keeps the hash annotation, so only a fresh apply repairs it.
   */
  refreshMs: number;
}

/**
 * Applies owned objects unless the cache shows the hash of the same object, applied (or
 * first found so) within `refreshMs`. A deleted child is a cache miss and is applied at once.
 */
export class ChildApplier {
  #o: ChildApplierOptions;
  /** When each object was last applied by this process, by kind/namespace/name. */
  #appliedAt = new Map<string, number>();

  constructor(options: ChildApplierOptions) {
    this.#o = options;
  }

  /** Applies the object if needed; resolves with whether it was written. */
  async apply(obj: KubernetesObject): Promise<boolean> {
    const key = keyOf(obj);
    const hash = hashOf(obj);
    const cached = this.#o.children.get(obj.kind!, obj.metadata?.namespace ?? '', obj.metadata!.name!);
    const now = this.#o.clock.now();
    if (cached?.metadata?.annotations?.[HASH_ANNOTATION] === hash) {
      // Found in order by a process that just started: trust it for one period, so that a
      // restart does not apply every child of every tenant at once.
      let appliedAt = this.#appliedAt.get(key);
      if (appliedAt === undefined) this.#appliedAt.set(key, (appliedAt = now));
      if (now - appliedAt < this.#o.refreshMs) return false;
    }
    const annotated = { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [HASH_ANNOTATION]: hash } } };
    this.#o.children.remember(await this.#o.applier.apply(annotated));
    this.#appliedAt.set(key, now);
    return true;
  }

  /** Forgets an object that was deleted, so the map does not grow with every child ever made. */
  forget(obj: KubernetesObject): void {
    this.#appliedAt.delete(keyOf(obj));
  }
}
