/**
 * REST ingestion (fastify): `POST /v1/pipelines/<namespace>/<name>/events` with one JSON
 * event, a JSON array of them, NDJSON, or (for protobuf pipelines) one binary message.
 * Answers 202 with the event ids once Kafka acknowledged them; every refusal is
 * `application/problem+json` with the registry's code, and the RateLimit headers ride on
 * every answer that passed the limiter.
 *
 * The body is read as bytes and parsed here, not by fastify, so that every malformed body
 * gets the gateway's own 400 with a pointer, and the body limit is fastify's (413).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { bearerFromAuthorization } from '../../lib/auth/bearer-token.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import { checkIdempotencyKey } from './idempotency.ts';
import { rejectReason, type Ingestor, type Payload } from './ingest.ts';
import { problemOf, asWeirError } from '../../lib/errors/problem.ts';
import { bodyFormat, parseJsonBody, parseNdjsonBody, type BodyLimits } from './request-body.ts';
import type { GatewayConfig } from './gateway-config.ts';

/** Options for {@link buildRestServer}. */
export interface RestServerOptions {
  ingestor: Ingestor;
  config: GatewayConfig;
  metrics: GatewayMetrics;
  log: Logger;
  /** Largest request body; 1 MiB unless given. */
  bodyLimit: number;
  limits: BodyLimits;
  /** Addresses of proxies whose X-Forwarded-For is believed (fastify's trustProxy); none unless given. */
  trustProxy?: string[];
  /** Longest a request may wait for Kafka. */
  produceTimeoutMs: number;
}

type EventsRequest = FastifyRequest<{ Params: { namespace: string; name: string } }>;

const header = (req: FastifyRequest, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

function sendProblem(reply: FastifyReply, err: unknown, headers: Record<string, string>, instance: string) {
  const problem = problemOf(err, instance);
  return reply.code(problem.status).headers(headers).type('application/problem+json').send(problem);
}

/** The `Weir-Schema-Version` header as a version number, if present. */
function schemaVersion(req: FastifyRequest): number | undefined {
  const raw = header(req, 'weir-schema-version');
  if (raw === undefined) return undefined;
  const version = Number(raw);
  if (!Number.isInteger(version) || version < 1)
    throw weirError(
      Errors.InvalidRequest,
      `Weir-Schema-Version must be a positive integer, got ${JSON.stringify(raw)}`,
    );
  return version;
}

/** Builds the REST server; the caller listens. */
export function buildRestServer(o: RestServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: o.bodyLimit,
    trustProxy: o.trustProxy?.length ? o.trustProxy : false,
    return503OnClosing: true,
    // The gateway answers slow clients itself; a request that sends its body for longer is cut off.
    requestTimeout: o.produceTimeoutMs + 30_000,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    let error;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      error = weirError(Errors.PayloadTooLarge, `the body is larger than ${o.bodyLimit} bytes`);
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_ERR_CTP_EMPTY_TYPE')
      error = weirError(
        Errors.UnsupportedMediaType,
        'send application/json, application/x-ndjson or application/x-protobuf',
      );
    else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
      error = weirError(Errors.InvalidRequest, err.message);
    else {
      error = asWeirError(err);
      o.log.error({ err }, 'request failed');
    }
    o.metrics.requests.inc({ protocol: 'rest', code: String(error.httpStatus) });
    void sendProblem(reply, error, {}, req.url);
  });
  app.setNotFoundHandler((req, reply) => {
    o.metrics.requests.inc({ protocol: 'rest', code: '404' });
    void sendProblem(
      reply,
      weirError(Errors.NotFound, `nothing at ${req.method} ${req.url.split('?')[0]}`),
      {},
      req.url.split('?')[0]!,
    );
  });

  const path = '/v1/pipelines/:namespace/:name/events';
  app.post(path, async (req: EventsRequest, reply) => {
    const started = performance.now();
    const { namespace, name } = req.params;
    const instance = `/v1/pipelines/${namespace}/${name}/events`;
    const answer = (status: number) => {
      o.metrics.requests.inc({ protocol: 'rest', code: String(status) });
      o.metrics.requestDuration.observe({ protocol: 'rest' }, (performance.now() - started) / 1000);
    };
    let admitted;
    try {
      admitted = await o.ingestor.admit(
        namespace,
        name,
        'rest',
        bearerFromAuthorization(req.headers.authorization),
        req.ip,
      );
    } catch (err) {
      const error = asWeirError(err);
      const route = o.config.route(namespace, name);
      o.metrics.eventsRejected.inc({
        tenant: route?.tenant.name ?? '',
        pipeline: route?.key ?? '',
        protocol: 'rest',
        reason: rejectReason(error),
      });
      answer(error.httpStatus);
      const headers: Record<string, string> =
        error.httpStatus === 401 ? { 'WWW-Authenticate': 'Bearer realm="weir"' } : {};
      if (error.retryable) headers['Retry-After'] = '1';
      return sendProblem(reply, error, headers, instance);
    }
    const refuse = (err: unknown) => {
      const error = asWeirError(err);
      const route = admitted.route;
      o.metrics.eventsRejected.inc({
        tenant: route.tenant.name,
        pipeline: route.key,
        protocol: 'rest',
        reason: rejectReason(error),
      });
      answer(error.httpStatus);
      return sendProblem(reply, error, {}, instance);
    };
    const body = req.body as Buffer | undefined;
    const format = bodyFormat(header(req, 'content-type'));
    if (!format)
      return refuse(
        weirError(
          Errors.UnsupportedMediaType,
          `content type ${JSON.stringify(header(req, 'content-type') ?? '')} is not accepted; send application/json, application/x-ndjson or application/x-protobuf`,
        ),
      );
    if (!body || body.length === 0) return refuse(weirError(Errors.InvalidEvent, 'the body is empty'));
    let payload: Payload;
    let version: number | undefined;
    const idempotencyKey = header(req, 'idempotency-key');
    try {
      version = schemaVersion(req);
      if (idempotencyKey !== undefined) {
        const problem = checkIdempotencyKey(idempotencyKey);
        if (problem) throw weirError(Errors.InvalidRequest, problem);
      }
      payload =
        format === 'protobuf'
          ? { kind: 'protobuf', bytes: body }
          : {
              kind: 'events',
              ...(format === 'json' ? parseJsonBody(body, o.limits) : parseNdjsonBody(body, o.limits)),
            };
    } catch (err) {
      if (asWeirError(err).code === Errors.InvalidEvent.code)
        o.metrics.invalidEvents.inc({ tenant: admitted.route.tenant.name, pipeline: admitted.route.key });
      return refuse(err);
    }
    const outcome = await o.ingestor.publish({
      admitted,
      protocol: 'rest',
      payload,
      bytes: body.length,
      clientIp: req.ip,
      header: (n) => header(req, n),
      idempotencyKey,
      schemaVersion: version,
      traceparent: header(req, 'traceparent'),
      tracestate: header(req, 'tracestate'),
    });
    if (!outcome.ok) {
      answer(outcome.error.httpStatus);
      return sendProblem(reply, outcome.error, outcome.headers, instance);
    }
    answer(202);
    const headers = outcome.replayed ? { ...outcome.headers, 'Idempotent-Replayed': 'true' } : outcome.headers;
    return reply
      .code(202)
      .headers(headers)
      .send({ pipeline: admitted.route.key, ids: outcome.ids, replayed: outcome.replayed });
  });
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: path,
    handler: async (req, reply) => {
      o.metrics.requests.inc({ protocol: 'rest', code: '405' });
      return sendProblem(
        reply.header('Allow', 'POST'),
        weirError(Errors.MethodNotAllowed, `${req.method} is not allowed here; POST events`),
        {},
        req.url,
      );
    },
  });
  return app;
}
