/**
 * REST reads of aggregation results:
 *
 *   GET /v1/pipelines                                                       the caller's pipelines
 *   GET /v1/pipelines/:namespace/:name/aggregations/:aggregation/current    current windows (?limit, ?cursor, ?groupKey…)
 *   GET /v1/pipelines/:namespace/:name/aggregations/:aggregation/current/:groupKey
 *   GET /v1/pipelines/:namespace/:name/aggregations/:aggregation/history    closed windows (?from, ?to, ?groupKey, ?limit, ?cursor)
 *
 * Answers carry a strong ETag of their body; a request whose If-None-Match holds it gets 304
 * without the body. They are private to the caller's tenant (`Cache-Control: private`,
 * `Vary: Authorization`) and must be revalidated, since windows change as events arrive.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from './serving-config.ts';
import type { ServingQueries, Target } from './serving-queries.ts';
import type { ServedPipeline } from './serving-table.ts';

const NAME = { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } as const;
const params = {
  type: 'object',
  required: ['namespace', 'name', 'aggregation'],
  properties: {
    namespace: NAME,
    name: NAME,
    aggregation: { type: 'string', maxLength: 63, pattern: '^[a-z_][a-z0-9_]*$' },
    groupKey: { type: 'string', maxLength: 1024 },
  },
} as const;

type TargetRequest<Q = unknown> = FastifyRequest<{ Params: Target & { groupKey?: string }; Querystring: Q }>;

/** The entity tag of a body: its SHA-256, so equal answers have equal tags on every replica. */
export function entityTag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}

/** Whether an If-None-Match header value matches `tag` (RFC 9110: weak comparison, `*` matches). */
export function matchesTag(header: string | undefined, tag: string): boolean {
  if (!header) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === tag);
}

/** Sends `value` as JSON with its ETag, or 304 when the client has it. */
function sendTagged(req: FastifyRequest, reply: FastifyReply, value: unknown) {
  const body = JSON.stringify(value);
  const tag = entityTag(body);
  void reply.header('ETag', tag).header('Cache-Control', 'private, no-cache').header('Vary', 'Authorization');
  if (matchesTag(req.headers['if-none-match'], tag)) return reply.code(304).send();
  return reply.type('application/json; charset=utf-8').send(body);
}

function describe(p: ServedPipeline) {
  return {
    namespace: p.namespace,
    name: p.name,
    current: p.current,
    history: p.history !== undefined,
    aggregations: [...p.aggregations.values()],
  };
}

/** Adds the REST routes to `app`, whose hook has authenticated every request. */
export function addRestRoutes(app: FastifyInstance, queries: ServingQueries): void {
  const principal = (req: FastifyRequest): Principal => req.principal!;
  const base = '/v1/pipelines/:namespace/:name/aggregations/:aggregation';
  const limit = { type: 'integer', minimum: 1, maximum: queries.maxPageSize } as const;
  const cursor = { type: 'string', minLength: 1, maxLength: 1024 } as const;

  app.get('/v1/pipelines', async (req, reply) =>
    sendTagged(req, reply, { items: queries.config.pipelines(principal(req)).map(describe) }),
  );

  app.get(
    `${base}/current`,
    {
      schema: {
        params,
        querystring: {
          type: 'object',
          properties: {
            limit,
            cursor,
            groupKey: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 1024 } },
          },
        },
      },
    },
    async (req: TargetRequest<{ limit?: number; cursor?: string; groupKey?: string[] }>, reply) =>
      sendTagged(
        req,
        reply,
        await queries.current(principal(req), req.params, {
          limit: req.query.limit,
          cursor: req.query.cursor,
          groupKeys: req.query.groupKey,
        }),
      ),
  );

  app.get(`${base}/current/:groupKey`, { schema: { params } }, async (req: TargetRequest, reply) =>
    sendTagged(req, reply, await queries.window(principal(req), req.params, req.params.groupKey ?? '')),
  );

  app.get(
    `${base}/history`,
    {
      schema: {
        params,
        querystring: {
          type: 'object',
          properties: {
            from: { type: 'string', maxLength: 64 },
            to: { type: 'string', maxLength: 64 },
            groupKey: { type: 'string', maxLength: 1024 },
            limit,
            cursor,
          },
        },
      },
    },
    async (
      req: TargetRequest<{ from?: string; to?: string; groupKey?: string; limit?: number; cursor?: string }>,
      reply,
    ) => sendTagged(req, reply, await queries.history(principal(req), req.params, req.query)),
  );
}
