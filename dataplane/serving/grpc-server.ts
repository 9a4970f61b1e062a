/**
 * gRPC reads (@grpc/grpc-js) of `weir.v1.Serving` (dataplane/proto/weir/v1/serving.proto):
 * unary Get and List, and Watch, a server stream of the aggregation's updates from the
 * shared {@link UpdatesHub}. The token comes from the `authorization` metadata; errors carry
 * the registry's gRPC status with Weir's code in the `weir-code` trailer. Deadlines are
 * honored: a read that has not finished when the caller's deadline passes is answered
 * DEADLINE_EXCEEDED at once, and a Watch ends with it.
 */
import { bindInsecure } from '../../lib/grpc/bind-server.ts';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { bearerFromAuthorization } from '../../lib/auth/bearer-token.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import { grpcError } from '../../lib/errors/grpc-error.ts';
import { asWeirError } from '../../lib/errors/problem.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import { updatesChannel, type ResultUpdate, type WindowResult } from '../../lib/platform/results.ts';
import { checkGroupKey } from './group-key.ts';
import type { Principal } from './serving-config.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import type { ServingQueries, Target } from './serving-queries.ts';
import type { UpdatesHub } from './updates-hub.ts';

/** Where the .proto files are. */
export const PROTO_DIR = join(import.meta.dirname, '..', 'proto');

interface GetRequest {
  pipeline: string;
  aggregation: string;
  groupKey: string;
}
interface ListRequest {
  pipeline: string;
  aggregation: string;
  limit: number;
  cursor: string;
  groupKeys: string[];
}
interface WatchRequest {
  pipeline: string;
  aggregation: string;
  groupKey: string;
}

/** The service definition, loaded from the .proto file. */
export function servingService(): grpc.ServiceDefinition {
  const definition = loadSync(join(PROTO_DIR, 'weir', 'v1', 'serving.proto'), {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    weir: { v1: { Serving: grpc.ServiceClientConstructor } };
  };
  return loaded.weir.v1.Serving.service;
}

/** A window result as the proto message. */
export function windowMessage(r: WindowResult) {
  return {
    aggregation: r.aggregation,
    groupKey: r.groupKey,
    groupJson: JSON.stringify(r.group),
    windowStart: r.windowStart,
    windowEnd: r.windowEnd,
    measuresJson: JSON.stringify(r.measures),
    events: r.events,
    revision: r.revision,
    final: r.final,
    updatedAt: r.updatedAt,
  };
}

function target(pipeline: string, aggregation: string): Target {
  const slash = pipeline.indexOf('/');
  if (slash <= 0 || slash === pipeline.length - 1 || pipeline.indexOf('/', slash + 1) >= 0)
    throw weirError(Errors.InvalidRequest, `pipeline must be "namespace/name", got ${JSON.stringify(pipeline)}`, {
      details: { errors: [{ parameter: 'pipeline', message: 'must be "namespace/name"' }] },
    });
  return { namespace: pipeline.slice(0, slash), name: pipeline.slice(slash + 1), aggregation };
}

/** Milliseconds left before the call's deadline, or undefined without one. */
function remainingMs(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  return Number.isFinite(at) ? at - Date.now() : undefined;
}

const deadlineExceeded = () => weirError(Errors.DeadlineExceeded, "the read did not finish before the call's deadline");

/** `work`, or DeadlineExceeded once `ms` have passed. */
async function within<T>(ms: number | undefined, work: () => Promise<T>): Promise<T> {
  if (ms === undefined) return work();
  if (ms <= 0) throw deadlineExceeded();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(deadlineExceeded()), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Options for {@link startGrpcServer}. */
export interface GrpcServerOptions {
  queries: ServingQueries;
  hub: UpdatesHub;
  metrics: ServingMetrics;
  log: Logger;
  host: string;
  port: number;
  subscriberBuffer: number;
}

/** Starts the server; resolves with the bound port and how to stop it. */
export async function startGrpcServer(o: GrpcServerOptions): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new grpc.Server({ 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 });
  const watches = new Set<() => void>();
  const authenticate = (metadata: grpc.Metadata): Promise<Principal> => {
    const values = metadata.get('authorization').map(String);
    return o.queries.config.authenticate(bearerFromAuthorization(values.length ? values : undefined));
  };
  const count = (code: number, started: number) => {
    o.metrics.requests.inc({ protocol: 'grpc', code: String(code) });
    o.metrics.requestDuration.observe({ protocol: 'grpc' }, (performance.now() - started) / 1000);
  };
  const unary =
    <Req, Res>(fn: (principal: Principal, request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const started = performance.now();
      within(remainingMs(call), async () => fn(await authenticate(call.metadata), call.request)).then(
        (value) => {
          count(200, started);
          callback(null, value);
        },
        (err: unknown) => {
          const e = asWeirError(err);
          if (e.code === Errors.Internal.code) o.log.error({ err }, 'gRPC call failed');
          count(e.httpStatus, started);
          callback(grpcError(e));
        },
      );
    };

  const get = unary<GetRequest, unknown>(async (principal, r) =>
    windowMessage(await o.queries.window(principal, target(r.pipeline, r.aggregation), r.groupKey)),
  );
  const list = unary<ListRequest, unknown>(async (principal, r) => {
    const page = await o.queries.current(principal, target(r.pipeline, r.aggregation), {
      limit: r.limit || undefined,
      cursor: r.cursor || undefined,
      groupKeys: r.groupKeys,
    });
    return { items: page.items.map(windowMessage), nextCursor: page.nextCursor ?? '' };
  });

  const watch: grpc.handleServerStreamingCall<WatchRequest, unknown> = (call) => {
    const started = performance.now();
    let stop = () => undefined as void;
    const fail = (err: unknown) => {
      const e = asWeirError(err);
      count(e.httpStatus, started);
      call.emit('error', grpcError(e));
    };
    void (async () => {
      const ms = remainingMs(call);
      const { pipeline, aggregation } = await within(ms, async () =>
        o.queries.resolve(await authenticate(call.metadata), target(call.request.pipeline, call.request.aggregation)),
      );
      const only = call.request.groupKey ? checkGroupKey(call.request.groupKey, aggregation.groupBy.length) : undefined;
      const { updates, ready } = o.hub.subscribe(
        updatesChannel(pipeline.tenant.name, pipeline.name, aggregation.name),
        o.subscriberBuffer,
      );
      let timer: NodeJS.Timeout | undefined;
      let ended = false;
      const gauge = o.metrics.subscribers.labels(pipeline.tenant.name);
      gauge.inc();
      stop = () => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        gauge.dec();
        watches.delete(stop);
        void updates.return?.();
      };
      watches.add(stop);
      call.on('cancelled', stop);
      if (ms !== undefined)
        timer = setTimeout(() => {
          stop();
          fail(weirError(Errors.DeadlineExceeded, "the watch reached the call's deadline"));
        }, ms);
      await ready;
      // Headers go out once the subscription stands, so a client knows from then on nothing is missed.
      call.sendMetadata(new grpc.Metadata());
      for await (const u of updates as AsyncIterable<ResultUpdate>) {
        if (only !== undefined && u.groupKey !== only) continue;
        call.write({
          type: u.type,
          aggregation: u.aggregation,
          groupKey: u.groupKey,
          windowStart: u.windowStart,
          windowEnd: u.windowEnd,
          revision: u.revision,
          updatedAt: u.updatedAt,
          result: u.type === 'result' ? windowMessage(u) : undefined,
        });
      }
      if (!ended) {
        stop();
        count(200, started);
        call.end();
      }
    })().catch((err: unknown) => {
      stop();
      fail(err);
    });
  };

  server.addService(servingService(), { get, list, watch });
  const port = await bindInsecure(server, o.host, o.port);
  return {
    port,
    async stop() {
      for (const w of [...watches]) w();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
