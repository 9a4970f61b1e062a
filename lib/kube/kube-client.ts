/**
 * The one client through which the operator and Weir's services talk to the API server:
 * gets, lists and watches, creates, server-side applies (objects and their status),
 * replaces, JSON patches and deletes, all as plain JSON — built-in kinds and Weir's custom
 * resources alike. It runs on @kubernetes/client-node's kubeconfig loading, connections and
 * authentication (`KubeConfig.applySecurityAuthentication`), without its generated typed
 * clients, which walk every body through a type-directed serializer and rebuild answers as
 * model classes (with Dates for timestamps); for the small objects the operator writes
 * thousands of times, that cost more CPU than the request itself.
 *
 * Every request has a timeout and can be aborted; a failed one rejects with a
 * `KubernetesRequestFailed` error whose details carry the HTTP status and the API
 * server's Status (see {@link statusCode}).
 */
import { HttpMethod, RequestContext, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { STATUS_CODES } from 'node:http';
import { request, type Dispatcher } from 'undici';
// Not re-exported by the package's index; the version is pinned, and a unit test checks the
// wire names this serializer gives (`_default` becomes `default`, `_from` becomes `from`).
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { getSerializationType } from '@kubernetes/client-node/dist/util.js';
import { Errors, hasCode, weirError } from '../errors/errors.ts';
import { KindPaths } from './kind-paths.ts';

/** Content type of a server-side apply patch; JSON is valid YAML. */
const APPLY_PATCH = 'application/apply-patch+yaml';

export type HttpVerb = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** Options of one request. */
export interface KubeRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  contentType?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** Overrides the client's request timeout. */
  timeoutMs?: number;
}

/** A list answer: the items (without kind, as the API server sends them) and the list's resourceVersion. */
export interface ObjectList<T extends KubernetesObject = KubernetesObject> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** What names one object: enough for discovery to find its URL. */
export interface ObjectReference {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** Options for {@link KubeClient}. */
export interface KubeClientOptions {
  /** The field manager of every write; the operator's is `weir-operator`. */
  fieldManager: string;
  /** A request that has no complete answer after this long fails; 30 s unless given. Watches are exempt. */
  requestTimeoutMs?: number;
}

/** The HTTP status of a failed request, if it got an answer. */
export function statusCode(err: unknown): number | undefined {
  if (hasCode(err, Errors.KubernetesRequestFailed)) return err.details?.statusCode as number | undefined;
  // Errors of client-node's typed clients, which tests and the local environment still use.
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's Status of a failed request (reason, message, details), if it sent one. */
export function statusBody(err: unknown): { reason?: string; message?: string } | undefined {
  return hasCode(err, Errors.KubernetesRequestFailed) ? (err.details?.status as { reason?: string }) : undefined;
}

/** JSON requests to the API server of a kubeconfig. */
export class KubeClient {
  readonly fieldManager: string;
  #kc: KubeConfig;
  #server: string;
  #timeoutMs: number;
  #paths: KindPaths;

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions) {
    this.#kc = kubeConfig;
    const server = kubeConfig.getCurrentCluster()?.server;
    if (!server) throw new Error('the kubeconfig names no cluster server');
    this.#server = server.replace(/\/+$/, '');
    this.fieldManager = options.fieldManager;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#paths = new KindPaths((path) => this.send('GET', path));
  }

  /** The URL path of an object (its kind found through discovery once), with a subresource if given. */
  pathOf(obj: ObjectReference | KubernetesObject, subresource?: string): Promise<string> {
    return this.#paths.objectPath(obj, subresource);
  }

  /** The URL path of a kind's collection, in `namespace` or across all namespaces. */
  collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    return this.#paths.collectionPath(apiVersion, kind, namespace);
  }

  /** Sends one request; resolves with the parsed JSON answer. */
  async send<T = unknown>(method: HttpVerb, path: string, options: KubeRequestOptions = {}): Promise<T> {
    const { url, headers, dispatcher } = await this.#authorized(method, path, options.query ?? {});
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const timeout = options.timeoutMs ?? this.#timeoutMs;
    let statusCodeOf = 0;
    let text: string;
    try {
      const res = await request(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        dispatcher,
        signal: options.signal,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      statusCodeOf = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw weirError(Errors.KubernetesRequestFailed, `${method} ${path}: ${(err as Error).message}`, { cause: err });
    }
    const value = parseJson(text);
    if (statusCodeOf >= 200 && statusCodeOf < 300) return value as T;
    const status = value as { message?: unknown; reason?: unknown } | undefined;
    const message = typeof status?.message === 'string' ? status.message : (STATUS_CODES[statusCodeOf] ?? '');
    throw weirError(Errors.KubernetesRequestFailed, `${method} ${path}: ${statusCodeOf} ${message}`, {
      details: { statusCode: statusCodeOf, status: value ?? text },
    });
  }

  /** Reads the object at `path`, or undefined if there is none. */
  async get<T extends KubernetesObject>(path: string, options: { signal?: AbortSignal } = {}): Promise<T | undefined> {
    try {
      return await this.send<T>('GET', path, options);
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Reads an object by reference, or undefined if there is none. `cached` reads it from the
   * API server's watch cache (resourceVersion 0): cheaper, and at most moments old.
   */
  async read<T extends KubernetesObject>(
    ref: ObjectReference,
    options: { signal?: AbortSignal; cached?: boolean } = {},
  ): Promise<T | undefined> {
    const path = await this.pathOf(ref);
    try {
      return await this.send<T>('GET', path, {
        signal: options.signal,
        query: options.cached ? { resourceVersion: '0' } : {},
      });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** Lists a collection (all pages); items get the kind and apiVersion the API server leaves out. */
  async list<T extends KubernetesObject>(
    path: string,
    query: { labelSelector?: string; fieldSelector?: string } = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<ObjectList<T>> {
    let page = await this.send<ObjectList<T>>('GET', path, { query: { ...query, limit: 500 }, ...options });
    const items = [...page.items];
    while (page.metadata?.continue) {
      page = await this.send<ObjectList<T>>('GET', path, {
        query: { ...query, limit: 500, continue: page.metadata.continue },
        ...options,
      });
      items.push(...page.items);
    }
    const kind = page.kind?.replace(/List$/, '');
    for (const item of items) {
      item.kind ??= kind;
      item.apiVersion ??= page.apiVersion;
    }
    return { apiVersion: page.apiVersion, kind: page.kind, metadata: page.metadata, items };
  }

  /** Creates `obj`; resolves with what was stored. */
  async create<T extends KubernetesObject>(obj: T, options: { signal?: AbortSignal } = {}): Promise<T> {
    const path = await this.collectionPath(obj.apiVersion!, obj.kind!, obj.metadata?.namespace);
    return this.send<T>('POST', path, { query: { fieldManager: this.fieldManager }, body: toWire(obj), ...options });
  }

  /**
   * Server-side applies `obj`, or its `subresource` (such as `status`), forcing conflicts:
   * the operator is the authority for the fields it sets. Resolves with what was stored.
   * `obj` may be one of client-node's typed models: its property names become the API's.
   *
   * Field validation is off because it has nothing to find: an apply refuses a field the
   * schema does not declare whatever the setting, and a body from JSON.stringify cannot
   * hold a key twice, which is all that Warn (the default) and Strict look for in an apply,
   * by parsing its YAML a second time.
   */
  async apply<T extends KubernetesObject>(
    obj: T,
    options: { subresource?: string; fieldManager?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const query = { fieldManager: options.fieldManager ?? this.fieldManager, force: true, fieldValidation: 'Ignore' };
    const path = await this.pathOf(obj, options.subresource);
    return this.send<T>('PATCH', path, { query, contentType: APPLY_PATCH, body: toWire(obj), signal: options.signal });
  }

  /** Replaces an object at the resourceVersion it carries (409 if it changed since). */
  async replace<T extends KubernetesObject>(obj: T, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.send<T>('PUT', await this.pathOf(obj), {
      query: { fieldManager: this.fieldManager },
      body: toWire(obj),
      ...options,
    });
  }

  /** Sends a JSON patch (RFC 6902) to an object. */
  async jsonPatch<T extends KubernetesObject>(
    ref: ObjectReference | KubernetesObject,
    operations: object[],
    options: { fieldManager?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    return this.send<T>('PATCH', await this.pathOf(ref), {
      query: { fieldManager: options.fieldManager ?? this.fieldManager },
      contentType: 'application/json-patch+json',
      body: operations,
      signal: options.signal,
    });
  }

  /** Deletes an object; resolves with false if it was already gone. */
  async delete(ref: ObjectReference | KubernetesObject, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.send('DELETE', await this.pathOf(ref), options);
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }

  /**
   * Watches `path` with client-node's `Watch` signature, so an informer takes either:
   * `callback` gets each event's type and object, `done` is called once when the watch
   * ends, with the error if there was one (a non-200 answer carries `statusCode`). Resolves
   * with the request's AbortController once the answer has started. The body is read as a
   * Node stream and split into lines here, where client-node goes through fetch's web
   * streams and readline, which cost the operator more than parsing the events.
   */
  async watch(
    path: string,
    query: Record<string, unknown>,
    callback: (type: string, obj: unknown, event: unknown) => void,
    done: (err: unknown) => void,
    options: { headersTimeoutMs?: number } = {},
  ): Promise<AbortController> {
    const controller = new AbortController();
    let finished = false;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      controller.abort();
      done(err ?? null);
    };
    try {
      const { url, headers, dispatcher } = await this.#authorized('GET', path, { watch: true, ...query });
      const res = await request(url, {
        method: 'GET',
        headers,
        dispatcher,
        signal: controller.signal,
        headersTimeout: options.headersTimeoutMs ?? this.#timeoutMs,
        // A watch may be quiet for minutes; the informer's own silence timer ends one that is dead.
        bodyTimeout: 0,
      });
      if (res.statusCode !== 200) {
        // The body of an error is short and comes at once; a stalled one must not hold the watch.
        const stalled = setTimeout(() => controller.abort(), options.headersTimeoutMs ?? this.#timeoutMs);
        const body = parseJson(await res.body.text().finally(() => clearTimeout(stalled)));
        throw Object.assign(new Error(STATUS_CODES[res.statusCode] ?? `HTTP ${res.statusCode}`), {
          statusCode: res.statusCode,
          body,
        });
      }
      let pending = '';
      res.body.setEncoding('utf8');
      const deliver = (line: string) => {
        if (finished) return;
        const event = parseJson(line) as { type?: unknown; object?: unknown } | undefined;
        if (typeof event?.type !== 'string') return;
        try {
          callback(event.type, event.object, event);
        } catch (err) {
          finish(err);
        }
      };
      res.body.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop()!;
        for (const line of lines) deliver(line);
      });
      res.body.on('error', finish);
      res.body.on('end', () => {
        // The API server ends every event with a newline; a last one without is still an event.
        if (pending) deliver(pending);
        finish(null);
      });
      res.body.on('close', () => finish(null));
    } catch (err) {
      finish(err);
    }
    return controller;
  }

  /** The URL of a request with its query, and the headers and connections the kubeconfig's authentication gives it. */
  async #authorized(
    method: HttpVerb,
    path: string,
    query: Record<string, unknown>,
  ): Promise<{ url: URL; headers: Record<string, string>; dispatcher: Dispatcher | undefined }> {
    const url = new URL(this.#server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const context = new RequestContext(url.toString(), HttpMethod[method]);
    await this.#kc.applySecurityAuthentication(context);
    return {
      url,
      headers: { ...context.getHeaders(), accept: 'application/json' },
      dispatcher: context.getDispatcher() as Dispatcher | undefined,
    };
  }
}

/** A typed model of client-node as the API server spells it; other objects as they are. */
export function toWire(obj: KubernetesObject): unknown {
  const type = getSerializationType(obj.apiVersion, obj.kind);
  return type && type !== 'KubernetesObject' ? ObjectSerializer.serialize(obj, type, '') : obj;
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
