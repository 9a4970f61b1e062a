/**
 * Writes to and watches of the API server without @kubernetes/client-node's typed layer.
 * Its generated clients walk every body through a type-directed serializer, send it
 * through fetch's web streams and rebuild the answer as typed model classes; for the small
 * objects the operator writes thousands of times, that costs more CPU than the request
 * itself. Here a request is a JSON string out and a JSON value back, and a watch a Node
 * stream of lines, on the same connections and with the same authentication
 * (`KubeConfig.applySecurityAuthentication`); failed writes are the same `ApiException`
 * with the status code and the API server's Status as body.
 */
import {
  ApiException,
  HttpMethod,
  KubernetesObjectApi,
  RequestContext,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { STATUS_CODES } from 'node:http';
import { request, type Dispatcher } from 'undici';
// Not re-exported by the package's index; the version is pinned, and a unit test checks the
// wire names this serializer gives (`_default` becomes `default`, `_from` becomes `from`).
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { getSerializationType } from '@kubernetes/client-node/dist/util.js';

/** Content type of a server-side apply patch; JSON is valid YAML. */
const APPLY_PATCH = 'application/apply-patch+yaml';

/** client-node's discovery-backed path builder, which is protected there. */
class Paths extends KubernetesObjectApi {
  path(obj: KubernetesObject): Promise<string> {
    return this.specUriPath(obj, 'patch');
  }
}

export interface KubeRequestOptions {
  query?: Record<string, string | boolean | undefined>;
  contentType?: string;
  body?: unknown;
}

/** JSON requests to the API server of `kubeConfig`. */
export class KubeRequests {
  #kc: KubeConfig;
  #server: string;
  #paths: Paths;

  constructor(kubeConfig: KubeConfig) {
    this.#kc = kubeConfig;
    const server = kubeConfig.getCurrentCluster()?.server;
    if (!server) throw new Error('the kubeconfig names no cluster server');
    this.#server = server.replace(/\/+$/, '');
    // Paths.makeApiClient would build the base class; KubeConfig.makeApiClient builds this one.
    this.#paths = kubeConfig.makeApiClient(Paths);
  }

  /** The URL path of an object (found through discovery once per kind), with a subresource if given. */
  async pathOf(obj: KubernetesObject, subresource?: string): Promise<string> {
    const path = await this.#paths.path(obj);
    return subresource ? `${path}/${subresource}` : path;
  }

  /** Sends one request; resolves with the parsed JSON answer, rejects with an ApiException. */
  async send<T = unknown>(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    path: string,
    options: KubeRequestOptions = {},
  ): Promise<T> {
    const { url, headers, dispatcher } = await this.#authorized(method, path, options.query ?? {});
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const res = await request(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      dispatcher,
    });
    const text = await res.body.text();
    const value = parseJson(text);
    if (res.statusCode >= 200 && res.statusCode < 300) return value as T;
    const message = (value as { message?: unknown } | undefined)?.message;
    throw new ApiException(
      res.statusCode,
      typeof message === 'string' ? message : `HTTP ${res.statusCode}`,
      value ?? text,
      flatHeaders(res.headers),
    );
  }

  /**
   * Watches `path` with client-node's `Watch` signature, so that an informer takes either:
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
        headersTimeout: options.headersTimeoutMs,
        // A watch may be quiet for minutes; the informer's own silence timer ends one that is dead.
        bodyTimeout: 0,
      });
      if (res.statusCode !== 200) {
        // The body of an error is short and comes at once; a stalled one must not hold the watch.
        const stalled = setTimeout(() => controller.abort(), options.headersTimeoutMs ?? 30_000);
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
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
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

  /** Creates `obj` as `fieldManager`; resolves with what was stored, as plain JSON. */
  async create<T extends KubernetesObject>(obj: T, fieldManager: string): Promise<T> {
    const path = await this.pathOf(obj);
    const collection = path.slice(0, path.lastIndexOf('/'));
    return this.send<T>('POST', collection, { query: { fieldManager }, body: toWire(obj) });
  }

  /**
   * Server-side applies `obj`, or its `subresource`, as `fieldManager`, forcing conflicts;
   * resolves with what was stored, as plain JSON. `obj` may be one of client-node's typed
   * models: its property names are turned into the API's.
   *
   * Field validation is off because it has nothing to find here: an apply refuses a field
   * the schema does not declare whatever the setting, and a body from JSON.stringify cannot
   * hold a key twice, which is all that Warn (the default) and Strict look for in an apply,
   * by parsing its YAML a second time.
   */
  async apply<T extends KubernetesObject>(obj: T, fieldManager: string, subresource?: string): Promise<T> {
    const query = { fieldManager, force: true, fieldValidation: 'Ignore' };
    return this.send<T>('PATCH', await this.pathOf(obj, subresource), {
      query,
      contentType: APPLY_PATCH,
      body: toWire(obj),
    });
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

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
}
