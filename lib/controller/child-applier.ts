/**
 * Writing the objects a controller owns without writing them again and again. Every
 * reconcile of a parent computes all its children; most of the time they are what the
 * API server already holds, and a server-side apply of an unchanged object still costs
 * the API server a full decode, merge and compare.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { statusCode, type Applier } from '../kube/apply.ts';
import type { Clock } from '../clock/clock.ts';

/** Annotation with the hash of what the operator last applied to an object. */
export const HASH_ANNOTATION = 'weir.dev/applied-hash';

/** A short, stable hash of a JSON value. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 22);
}

/** `obj` carrying the hash annotation of itself (or of `hash`), as a ChildApplier writes it. */
export function withAppliedHash<T extends KubernetesObject>(obj: T, hash = hashOf(obj)): T {
  return {
    ...obj,
    metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [HASH_ANNOTATION]: hash } },
  };
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
 * first found so) within `refreshMs`. A child missing from the cache (new, or deleted
 * behind the operator's back) is created at once.
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
    const unchanged = cached?.metadata?.annotations?.[HASH_ANNOTATION] === hash;
    if (unchanged) {
      // Found in order by a process that just started: trust it for one period, so that a
      // restart does not apply every child of every tenant at once.
      let appliedAt = this.#appliedAt.get(key);
      if (appliedAt === undefined) this.#appliedAt.set(key, (appliedAt = now));
      if (now - appliedAt < this.#o.refreshMs) return false;
    }
    await this.write(withAppliedHash(obj, hash), { exists: cached !== undefined, changed: !unchanged });
    this.#appliedAt.set(key, now);
    return true;
  }

  /**
   * Writes a child without the hash check: creates it unless it is known to exist, else
   * applies it (`changed`: what the operator wants of it changed since it was last
   * written), and puts what was stored into the cache.
   */
  async write<T extends KubernetesObject>(
    obj: T,
    { exists, changed }: { exists: boolean; changed: boolean },
  ): Promise<T> {
    const stored = exists ? await this.#applyOwned(obj, changed) : await this.#create(obj);
    this.#o.children.remember(stored);
    return stored;
  }

  /**
   * Creates a child the cache does not have, which costs the API server less than an apply.
   * One that exists after all (the cache lags, or it carries no labels the cache selects)
   * is applied instead.
   */
  async #create<T extends KubernetesObject>(obj: T): Promise<T> {
    try {
      return await this.#o.applier.create(obj);
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      return this.#applyOwned(obj, true);
    }
  }

  /**
   * Applies a child. A child this operator created is owned through an Update entry as well
   * as the apply entry; when what it wants changed, the Update entry's fields are handed to
   * the apply entry and the object is applied again, so that fields left out now are
   * removed rather than kept by the Update entry.
   */
  async #applyOwned<T extends KubernetesObject>(obj: T, changed: boolean): Promise<T> {
    const stored = await this.#o.applier.apply(obj);
    if (changed && (await this.#o.applier.releaseUpdateFields(stored))) return this.#o.applier.apply(obj);
    return stored;
  }

  /** Forgets an object that was deleted, so the map does not grow with every child ever made. */
  forget(obj: KubernetesObject): void {
    this.#appliedAt.delete(keyOf(obj));
  }
}
