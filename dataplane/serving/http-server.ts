/**
 * Serving's HTTP server (fastify): the REST routes of rest-routes.ts and GraphQL of
 * graphql-api.ts on one port. Every request under `/v1/` and `/graphql` (WebSocket upgrades
 * included) is authenticated to its tenant before anything else is read; every refusal is
 * `application/problem+json` from the one registry, and a bad parameter is named.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { bearerFromAuthorization } from '../../lib/auth/bearer-token.ts';
import { Errors, WeirError, weirError } from '../../lib/errors/errors.ts';
import { asWeirError, problemOf } from '../../lib/errors/problem.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { Principal } from './serving-config.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import type { ServingQueries } from './serving-queries.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who asks, set by the authentication hook on every `/v1/` and `/graphql` request. */
    principal: Principal | null;
  }
}

/** Options for {@link buildHttpServer}. */
export interface HttpServerOptions {
  queries: ServingQueries;
  metrics: ServingMetrics;
  log: Logger;
  /** Addresses of proxies whose X-Forwarded-For is believed; none unless given. */
  trustProxy?: string[];
}

/** Answers `err` as problem+json, with the headers a client needs to act on it. */
export function sendProblem(reply: FastifyReply, err: unknown, instance: string): FastifyReply {
  const error = asWeirError(err);
  const problem = problemOf(error, instance);
  if (error.httpStatus === 401) void reply.header('WWW-Authenticate', 'Bearer realm="weir"');
  if (error.retryable) void reply.header('Retry-After', '1');
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

/** A fastify schema validation failure as an InvalidRequest that names each parameter. */
function validationError(err: FastifyError) {
  const where = err.validationContext === 'params' ? 'path parameter' : 'query parameter';
  const errors = (err.validation ?? []).map((v) => {
    const parameter =
      v.instancePath.replace(/^\//, '').split('/')[0] ||
      String((v.params as { missingProperty?: string }).missingProperty ?? '');
    return { parameter, message: v.message ?? 'is not valid' };
  });
  const detail = errors.map((e) => `${where} ${e.parameter} ${e.message}`).join('; ');
  return weirError(Errors.InvalidRequest, detail || err.message, { details: { errors } });
}

/** Builds the server with authentication and error handling; routes are added by the caller. */
export function buildHttpServer(o: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    trustProxy: o.trustProxy?.length ? o.trustProxy : false,
    return503OnClosing: true,
    keepAliveTimeout: 65_000,
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.decorateRequest('principal', null);
  // Answered here rather than thrown: mercurius would turn a thrown error into a GraphQL answer with status 200.
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (!path.startsWith('/v1/') && path !== '/v1' && !path.startsWith('/graphql')) return;
    try {
      req.principal = await o.queries.config.authenticate(bearerFromAuthorization(req.headers.authorization));
    } catch (err) {
      // A refused WebSocket upgrade has no HTTP exchange to keep alive: its socket goes with the answer.
      if (req.headers.upgrade) reply.raw.once('finish', () => req.raw.socket.destroy());
      return sendProblem(reply.header('Connection', 'close'), err, path);
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const protocol = req.url.startsWith('/graphql') ? 'graphql' : 'rest';
    o.metrics.requests.inc({ protocol, code: String(reply.statusCode) });
    o.metrics.requestDuration.observe({ protocol }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    let error;
    if (err.validation) error = validationError(err);
    else if (
      !(err instanceof WeirError) &&
      err.statusCode !== undefined &&
      err.statusCode >= 400 &&
      err.statusCode < 500
    )
      error = weirError(Errors.InvalidRequest, err.message);
    else {
      error = asWeirError(err);
      if (error.code === Errors.Internal.code) o.log.error({ err }, 'request failed');
    }
    return sendProblem(reply, error, req.url.split('?')[0]!);
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(
      reply,
      weirError(Errors.NotFound, `nothing at ${req.method} ${req.url.split('?')[0]}`),
      req.url.split('?')[0]!,
    ),
  );
  return app;
}
