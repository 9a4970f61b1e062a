/**
 * An in-memory stand-in for {@link KubeClient} in unit tests of reconcilers: it stores
 * objects, applies writes the way the API server would for the fields reconcilers use
 * (status through its subresource, finalizers through JSON patches with their tests), and
 * records every write so that a test can assert what a reconcile did — and what it did not.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { Errors, weirError } from '../../errors/errors.ts';
import type { KubeClient, ObjectReference } from '../kube-client.ts';

/** One write a reconcile made. */
export interface RecordedWrite {
  verb: 'apply' | 'create' | 'replace' | 'patch' | 'delete' | 'post';
  kind: string;
  name: string;
  namespace?: string;
  subresource?: string;
  body?: unknown;
}

type Stored = KubernetesObject & Record<string, unknown>;

/** The fake's own URL scheme: one path per apiVersion, kind, namespace and name. */
function pathKey(obj: {
  apiVersion?: string;
  kind?: string;
  metadata?: { namespace?: string; name?: string };
}): string {
  return `/${obj.apiVersion}/${obj.kind}/${obj.metadata?.namespace ?? '-'}/${obj.metadata?.name}`;
}

function failed(statusCode: number, message: string): Error {
  return weirError(Errors.KubernetesRequestFailed, message, { details: { statusCode } });
}

/** A KubeClient over a map of objects. */
export class FakeKubeClient {
  readonly fieldManager = 'weir-test';
  #now: () => number;
  readonly writes: RecordedWrite[] = [];
  #objects = new Map<string, Stored>();
  #version = 0;
  #failures: { verb: RecordedWrite['verb']; kind?: string; error: Error }[] = [];

  /** `now` stamps deletions, as the API server's clock would. */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? (() => Date.now());
  }

  /** The client as the type reconcilers take. */
  get client(): KubeClient {
    return this as unknown as KubeClient;
  }

  /** Puts an object in the store as someone else wrote it (no write is recorded). */
  seed<T extends KubernetesObject>(obj: T): T {
    const stored = this.#store(structuredClone(obj) as Stored);
    return stored as unknown as T;
  }

  /** The stored object of a kind, namespace and name. */
  find<T extends KubernetesObject>(kind: string, namespace: string | undefined, name: string): T | undefined {
    for (const obj of this.#objects.values())
      if (obj.kind === kind && obj.metadata?.name === name && (obj.metadata?.namespace ?? '') === (namespace ?? ''))
        return structuredClone(obj) as unknown as T;
    return undefined;
  }

  /** Every stored object of a kind. */
  all<T extends KubernetesObject>(kind: string): T[] {
    return [...this.#objects.values()].filter((o) => o.kind === kind).map((o) => structuredClone(o) as unknown as T);
  }

  /** Makes the next write of `verb` (of `kind`, if given) fail with `error`. */
  failNext(verb: RecordedWrite['verb'], error: Error, kind?: string): void {
    this.#failures.push({ verb, kind, error });
  }

  /** The writes of a kind (and subresource), for assertions. */
  writesOf(kind: string, subresource?: string): RecordedWrite[] {
    return this.writes.filter((w) => w.kind === kind && w.subresource === subresource);
  }

  async pathOf(obj: ObjectReference | KubernetesObject, subresource?: string): Promise<string> {
    return subresource ? `${pathKey(obj)}/${subresource}` : pathKey(obj);
  }

  async get<T extends KubernetesObject>(path: string): Promise<T | undefined> {
    const obj = this.#objects.get(path);
    return obj && (structuredClone(obj) as unknown as T);
  }

  async read<T extends KubernetesObject>(ref: ObjectReference): Promise<T | undefined> {
    return this.get<T>(await this.pathOf(ref));
  }

  async apply<T extends KubernetesObject>(obj: T, options: { subresource?: string } = {}): Promise<T> {
    this.#record('apply', obj, options.subresource);
    const path = await this.pathOf(obj);
    const current = this.#objects.get(path);
    if (options.subresource === 'status') {
      if (!current) throw failed(404, `${obj.kind} ${obj.metadata?.name} not found`);
      return this.#store({ ...current, status: (obj as Stored).status }) as unknown as T;
    }
    const body = structuredClone(obj) as Stored;
    const finalizers = [...new Set([...(current?.metadata?.finalizers ?? []), ...(body.metadata?.finalizers ?? [])])];
    const merged: Stored = current
      ? { ...current, ...body, metadata: { ...current.metadata, ...body.metadata, finalizers }, status: current.status }
      : body;
    return this.#store(merged) as unknown as T;
  }

  async create<T extends KubernetesObject>(obj: T): Promise<T> {
    this.#record('create', obj);
    if (this.#objects.has(await this.pathOf(obj)))
      throw failed(409, `${obj.kind} ${obj.metadata?.name} already exists`);
    return this.#store(structuredClone(obj) as Stored) as unknown as T;
  }

  async replace<T extends KubernetesObject>(obj: T): Promise<T> {
    this.#record('replace', obj);
    const current = this.#objects.get(await this.pathOf(obj));
    if (current?.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
      throw failed(409, 'the object has been modified');
    return this.#store(structuredClone(obj) as Stored) as unknown as T;
  }

  async jsonPatch<T extends KubernetesObject>(
    ref: ObjectReference | KubernetesObject,
    operations: object[],
  ): Promise<T> {
    this.#record('patch', ref as KubernetesObject, undefined, operations);
    const path = await this.pathOf(ref);
    const current = this.#objects.get(path);
    if (!current) throw failed(404, `${ref.kind} ${ref.metadata?.name} not found`);
    const next = structuredClone(current);
    for (const op of operations as { op: string; path: string; value?: unknown }[]) {
      const segments = op.path.split('/').slice(1);
      const last = segments.pop()!;
      let parent: Record<string, unknown> | unknown[] = next;
      for (const s of segments) parent = (parent as Record<string, unknown>)[s] as Record<string, unknown>;
      const at = Array.isArray(parent) ? Number(last) : last;
      const value = (parent as Record<string | number, unknown>)[at];
      if (op.op === 'test' && JSON.stringify(value) !== JSON.stringify(op.value))
        throw failed(422, `test of ${op.path} failed`);
      if (op.op === 'remove') {
        if (Array.isArray(parent)) parent.splice(at as number, 1);
        else delete parent[last];
      }
      if (op.op === 'replace' || op.op === 'add') (parent as Record<string | number, unknown>)[at] = op.value;
    }
    return this.#store(next) as unknown as T;
  }

  async delete(ref: ObjectReference | KubernetesObject): Promise<boolean> {
    this.#record('delete', ref as KubernetesObject);
    const path = await this.pathOf(ref);
    const current = this.#objects.get(path);
    if (!current) return false;
    // Like the API server: an object with finalizers is only marked for deletion.
    if (current.metadata?.finalizers?.length)
      this.#store({
        ...current,
        metadata: { ...current.metadata, deletionTimestamp: new Date(this.#now()).toISOString() as never },
      });
    else this.#objects.delete(path);
    return true;
  }

  async send(method: string, path: string, options: { body?: unknown } = {}): Promise<unknown> {
    if (method === 'POST')
      this.writes.push({ verb: 'post', kind: path.split('/').at(-1)!, name: '', body: options.body });
    return {};
  }

  #record(verb: RecordedWrite['verb'], obj: KubernetesObject, subresource?: string, body?: unknown): void {
    const failure = this.#failures.findIndex((f) => f.verb === verb && (!f.kind || f.kind === obj.kind));
    if (failure >= 0) throw this.#failures.splice(failure, 1)[0]!.error;
    this.writes.push({
      verb,
      kind: obj.kind!,
      name: obj.metadata!.name!,
      namespace: obj.metadata?.namespace,
      subresource,
      body: body ?? obj,
    });
  }

  #store(obj: Stored): Stored {
    const metadata = { uid: `uid-${obj.metadata?.name}`, ...obj.metadata, resourceVersion: String(++this.#version) };
    const stored: Stored = { ...obj, metadata };
    // As the API server keeps a Secret: stringData is written into data, base64.
    if (stored.kind === 'Secret' && stored.stringData) {
      const data = { ...(stored.data as Record<string, string> | undefined) };
      for (const [k, v] of Object.entries(stored.stringData as Record<string, string>))
        data[k] = Buffer.from(v).toString('base64');
      stored.data = data;
      delete stored.stringData;
    }
    // An object marked for deletion goes once its last finalizer does.
    if (metadata.deletionTimestamp && !metadata.finalizers?.length) this.#objects.delete(pathKey(stored));
    else this.#objects.set(pathKey(stored), stored);
    return structuredClone(stored);
  }
}
