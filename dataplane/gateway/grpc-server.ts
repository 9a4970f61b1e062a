/**
 * gRPC ingestion (@grpc/grpc-js) of `weir.v1.Ingest` (dataplane/proto/weir/v1/ingest.proto):
 * unary `Publish`, and `Stream`, a stream of events acknowledged one by one. Errors carry
 * the registry's gRPC status, with Weir's code in the `weir-code` trailer; the caller's
 * deadline bounds the wait for Kafka. Streams count against the same connection caps as
 * WebSocket connections and have the same per-message limits.
 */
import { bindInsecure } from '../../lib/grpc/bind-server.ts';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { bearerFromAuthorization } from '../../lib/auth/bearer-token.ts';
import { Errors, weirError, type WeirError } from '../../lib/errors/errors.ts';
import { rejectReason, type Admitted, type Outcome, type Payload } from './ingest.ts';
import { grpcError } from '../../lib/errors/grpc-error.ts';
import { asWeirError, problemOf } from '../../lib/errors/problem.ts';
import { parseJsonBody, type BodyLimits } from './request-body.ts';
import { SESSION_ID, StreamSession, type StreamDeps } from './stream-session.ts';

/** Where the gateway's .proto files are. */
export const PROTO_DIR = join(import.meta.dirname, '..', 'proto');

/** A PublishRequest as proto-loader decodes it. */
interface PublishRequest {
  pipeline: string;
  id: string;
  payload?: 'json' | 'binary';
  json?: Buffer;
  binary?: Buffer;
  schemaVersion: number;
}

/** Options for {@link startGrpcServer}. */
export interface GrpcServerOptions extends StreamDeps {
  host: string;
  port: number;
  maxMessageBytes: number;
  limits: BodyLimits;
  maxInFlight: number;
}

/** The service definition, loaded from the .proto file. */
export function ingestService(): grpc.ServiceDefinition {
  const definition = loadSync(join(PROTO_DIR, 'weir', 'v1', 'ingest.proto'), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    weir: { v1: { Ingest: grpc.ServiceClientConstructor } };
  };
  return loaded.weir.v1.Ingest.service;
}

function errorMessage(error: WeirError, retryAfter: string | undefined) {
  const problem = problemOf(error);
  return {
    code: problem.code,
    httpStatus: problem.status,
    message: problem.detail,
    retryAfterSeconds: retryAfter ? Number(retryAfter) : 0,
    problems: (problem.errors as { pointer: string; message: string }[] | undefined) ?? [],
  };
}

/** `ipv4:10.1.2.3:5000` or `ipv6:[::1]:5000` → the address. */
export function peerAddress(peer: string): string {
  const match = /^ipv[46]:\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return match ? match[1]! : peer;
}

function metadataValue(metadata: grpc.Metadata, name: string): string | undefined {
  const values = metadata.get(name);
  return values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
}

function splitPipeline(pipeline: string): [string, string] {
  const slash = pipeline.indexOf('/');
  if (slash <= 0 || slash === pipeline.length - 1 || pipeline.indexOf('/', slash + 1) >= 0)
    throw weirError(Errors.InvalidRequest, `pipeline must be "namespace/name", got ${JSON.stringify(pipeline)}`);
  return [pipeline.slice(0, slash), pipeline.slice(slash + 1)];
}

function payloadOf(request: PublishRequest, limits: BodyLimits, allowBatch: boolean): Payload {
  if (request.payload === 'binary' && request.binary) return { kind: 'protobuf', bytes: request.binary };
  if (request.payload === 'json' && request.json?.length) {
    const parsed = parseJsonBody(request.json, limits);
    if (parsed.batch && !allowBatch)
      throw weirError(Errors.InvalidEvent, 'a stream message carries one event, not an array');
    return { kind: 'events', ...parsed };
  }
  throw weirError(Errors.InvalidEvent, 'the request has no payload: set json or binary');
}

/** Starts the server; resolves with the bound port and how to drain it. */
export async function startGrpcServer(o: GrpcServerOptions): Promise<{ port: number; drain(): Promise<void> }> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': o.maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  const streams = new Set<{ call: grpc.ServerDuplexStream<PublishRequest, unknown>; session?: StreamSession }>();
  let draining = false;

  const admit = async (metadata: grpc.Metadata, pipeline: string, peer: string): Promise<Admitted> => {
    const [namespace, name] = splitPipeline(pipeline);
    const values = metadata.get('authorization').map(String);
    const bearer = bearerFromAuthorization(values.length ? values : undefined);
    try {
      return await o.ingestor.admit(namespace, name, 'grpc', bearer, peerAddress(peer));
    } catch (err) {
      const route = o.config.route(namespace, name);
      o.metrics.eventsRejected.inc({
        tenant: route?.tenant.name ?? '',
        pipeline: route?.key ?? '',
        protocol: 'grpc',
        reason: rejectReason(asWeirError(err)),
      });
      throw err;
    }
  };
  const header = (metadata: grpc.Metadata) => (name: string) => metadataValue(metadata, name);
  const count = (outcome: Outcome | WeirError, started: number) => {
    const status = 'ok' in outcome ? (outcome.ok ? 200 : outcome.error.httpStatus) : outcome.httpStatus;
    o.metrics.requests.inc({ protocol: 'grpc', code: String(status) });
    o.metrics.requestDuration.observe({ protocol: 'grpc' }, (performance.now() - started) / 1000);
  };

  const publish: grpc.handleUnaryCall<PublishRequest, unknown> = (call, callback) => {
    const started = performance.now();
    void (async () => {
      if (draining) throw weirError(Errors.ShuttingDown, 'this gateway is shutting down; call again');
      const admitted = await admit(call.metadata, call.request.pipeline, call.getPeer());
      const payload = payloadOf(call.request, o.limits, true);
      const deadline = call.getDeadline();
      const outcome = await o.ingestor.publish({
        admitted,
        protocol: 'grpc',
        payload,
        bytes: (call.request.json ?? call.request.binary)?.length ?? 0,
        clientIp: peerAddress(call.getPeer()),
        header: header(call.metadata),
        idempotencyKey: call.request.id || undefined,
        schemaVersion: call.request.schemaVersion || undefined,
        traceparent: metadataValue(call.metadata, 'traceparent'),
        tracestate: metadataValue(call.metadata, 'tracestate'),
        deadline:
          deadline instanceof Date ? deadline.getTime() : Number.isFinite(deadline) ? Number(deadline) : undefined,
      });
      count(outcome, started);
      if (!outcome.ok) return callback(grpcError(withRetry(outcome)));
      callback(null, { pipeline: admitted.route.key, eventIds: outcome.ids, replayed: outcome.replayed });
    })().catch((err: unknown) => {
      count(asWeirError(err), started);
      callback(grpcError(err));
    });
  };

  const stream: grpc.handleBidiStreamingCall<PublishRequest, unknown> = (call) => {
    const entry: { call: typeof call; session?: StreamSession } = { call };
    streams.add(entry);
    const fail = (err: unknown) => {
      o.metrics.requests.inc({ protocol: 'grpc', code: String(asWeirError(err).httpStatus) });
      call.emit('error', grpcError(err));
    };
    let opening: Promise<StreamSession> | undefined;
    const open = (pipeline: string) => {
      opening ??= (async () => {
        if (draining) throw weirError(Errors.ShuttingDown, 'this gateway is shutting down; call again');
        const session = metadataValue(call.metadata, 'weir-session');
        if (session !== undefined && !SESSION_ID.test(session))
          throw weirError(Errors.InvalidRequest, 'weir-session must be 1-128 letters, digits, - or _');
        const admitted = await admit(call.metadata, pipeline, call.getPeer());
        const s = new StreamSession(o, admitted, 'grpc', peerAddress(call.getPeer()), header(call.metadata), session);
        await s.open();
        entry.session = s;
        return s;
      })();
      return opening;
    };
    const fromMetadata = metadataValue(call.metadata, 'weir-pipeline');
    if (fromMetadata) open(fromMetadata).catch(fail);
    let ended = false;
    let pending = 0;
    const finish = () => {
      if (ended && pending === 0) {
        void entry.session?.close();
        streams.delete(entry);
        call.end();
      }
    };
    call.on('data', (request: PublishRequest) => {
      const started = performance.now();
      pending++;
      if (pending >= o.maxInFlight) call.pause();
      void (async () => {
        const session = await open(request.pipeline || fromMetadata || '');
        let outcome: Outcome;
        try {
          outcome = await session.publish({
            id: request.id,
            payload: payloadOf(request, o.limits, false),
            bytes: (request.json ?? request.binary)?.length ?? 0,
            schemaVersion: request.schemaVersion || undefined,
          });
        } catch (err) {
          outcome = { ok: false, error: asWeirError(err), headers: {} };
        }
        count(outcome, started);
        call.write(
          outcome.ok
            ? { id: request.id, eventId: outcome.ids[0], replayed: outcome.replayed }
            : { id: request.id, error: errorMessage(outcome.error, outcome.headers['Retry-After']) },
        );
      })()
        .catch(fail)
        .finally(() => {
          pending--;
          if (pending < o.maxInFlight && !draining) call.resume();
          finish();
        });
    });
    call.on('end', () => {
      ended = true;
      finish();
    });
    call.on('cancelled', () => {
      streams.delete(entry);
      void entry.session?.close();
    });
    call.on('error', () => undefined);
  };

  server.addService(ingestService(), { publish, stream });
  const port = await bindInsecure(server, o.host, o.port);
  return {
    port,
    async drain() {
      draining = true;
      await Promise.all(
        [...streams].map(async ({ call, session }) => {
          call.pause();
          await session?.settled();
          call.emit(
            'error',
            grpcError(
              weirError(Errors.ShuttingDown, 'this gateway is shutting down; reconnect with the same weir-session'),
            ),
          );
        }),
      );
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

function withRetry(outcome: Extract<Outcome, { ok: false }>): WeirError {
  const retry = outcome.headers['Retry-After'];
  if (!retry || outcome.error.details?.retryAfterSeconds !== undefined) return outcome.error;
  return weirError(outcome.error.definition, outcome.error.message, {
    details: { ...outcome.error.details, retryAfterSeconds: Number(retry) },
  });
}
