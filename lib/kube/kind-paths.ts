/**
 * URL paths of kinds, found through the API server's discovery documents (`/api/v1`,
 * `/apis/<group>/<version>`), as client-go's RESTMapper does: one read per group version,
 * read again when a kind is not found there (a CRD installed since).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { Errors, weirError } from '../errors/errors.ts';

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

interface Discovered {
  plural: string;
  namespaced: boolean;
}

/** The discovery document's URL of a group version: `/api/v1` for the core group. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** Maps kinds to their URL paths through discovery. */
export class KindPaths {
  #read: (path: string) => Promise<unknown>;
  #groups = new Map<string, Promise<Map<string, Discovered>>>();

  /** `read` fetches a discovery document as JSON. */
  constructor(read: (path: string) => Promise<unknown>) {
    this.#read = read;
  }

  /** The path of a kind's collection, in `namespace`, or across all namespaces (and for cluster-scoped kinds) without one. */
  async collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const found = await this.#find(apiVersion, kind);
    const base = groupVersionPath(apiVersion);
    if (found.namespaced && namespace) return `${base}/namespaces/${encodeURIComponent(namespace)}/${found.plural}`;
    return `${base}/${found.plural}`;
  }

  /** The path of one object, with a subresource if given. */
  async objectPath(
    obj: { apiVersion?: string; kind?: string; metadata?: KubernetesObject['metadata'] },
    subresource?: string,
  ): Promise<string> {
    const { apiVersion, kind } = obj;
    const name = obj.metadata?.name;
    if (!apiVersion || !kind || !name) throw new TypeError('an object needs apiVersion, kind and metadata.name');
    const found = await this.#find(apiVersion, kind);
    if (found.namespaced && !obj.metadata?.namespace) throw new TypeError(`a ${kind} needs metadata.namespace`);
    const collection = await this.collectionPath(apiVersion, kind, obj.metadata?.namespace);
    const path = `${collection}/${encodeURIComponent(name)}`;
    return subresource ? `${path}/${subresource}` : path;
  }

  async #find(apiVersion: string, kind: string): Promise<Discovered> {
    for (const fresh of [false, true]) {
      if (fresh) this.#groups.delete(apiVersion);
      const found = (await this.#group(apiVersion)).get(kind);
      if (found) return found;
    }
    throw weirError(Errors.KubernetesRequestFailed, `the API server does not serve kind ${kind} in ${apiVersion}`, {
      details: { statusCode: 404 },
    });
  }

  #group(apiVersion: string): Promise<Map<string, Discovered>> {
    let group = this.#groups.get(apiVersion);
    if (!group) {
      group = this.#discover(apiVersion);
      this.#groups.set(apiVersion, group);
      // A failed read is not kept: the next call asks again.
      group.catch(() => this.#groups.delete(apiVersion));
    }
    return group;
  }

  async #discover(apiVersion: string): Promise<Map<string, Discovered>> {
    const doc = (await this.#read(groupVersionPath(apiVersion))) as { resources?: ApiResource[] } | undefined;
    const kinds = new Map<string, Discovered>();
    for (const r of doc?.resources ?? []) {
      // Subresources (`deployments/status`) share the kind of their parent.
      if (!r.name.includes('/')) kinds.set(r.kind, { plural: r.name, namespaced: r.namespaced });
    }
    return kinds;
  }
}
