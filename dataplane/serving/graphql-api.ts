/**
 * GraphQL (mercurius) at `/graphql`: the caller's pipelines, their aggregations, current
 * and closed windows, and `windowUpdates`, a subscription over WebSocket fed by the
 * processor's updates channel through the shared {@link UpdatesHub}.
 *
 * Backend reads go through mercurius loaders, so one query for the windows of N
 * aggregations (or N group keys) makes two Redis round trips and one Postgres query per
 * results table, not N. Queries deeper than `maxDepth` or costlier than `maxCost`
 * (query-cost.ts) are refused before they run. Everything is resolved under the caller's
 * tenant: another tenant's pipeline is `null`, like one that does not exist.
 */
import type { FastifyInstance } from 'fastify';
import { GraphQLScalarType, parse } from 'graphql';
import mercurius, { type IResolvers, type MercuriusContext, type MercuriusLoaders } from 'mercurius';
import { hasCode, Errors, type WeirError } from '../../lib/errors/errors.ts';
import { asWeirError } from '../../lib/errors/problem.ts';
import { updatesChannel, type ResultUpdate } from '../../lib/platform/results.ts';
import { checkGroupKey } from './group-key.ts';
import { decodeCursor, encodeCursor } from './page-cursor.ts';
import { costLimitRule } from './query-cost.ts';
import { historyRange, pageLimit } from './query-params.ts';
import { notKept } from './results-reader.ts';
import type { Principal } from './serving-config.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import type { ServingQueries } from './serving-queries.ts';
import type { ServedAggregation, ServedPipeline } from './serving-table.ts';
import type { UpdatesHub } from './updates-hub.ts';

export const SCHEMA = /* GraphQL */ `
  "Any JSON value: measure values and group values."
  scalar JSON

  type Query {
    "The caller's pipelines."
    pipelines: [Pipeline!]!
    "One of the caller's pipelines; null when the caller has none of that name."
    pipeline(namespace: String!, name: String!): Pipeline
  }

  type Subscription {
    "Every window result and retraction the processor writes for the aggregation, from now on."
    windowUpdates(namespace: String!, name: String!, aggregation: String!, groupKey: String): WindowUpdate!
  }

  type Pipeline {
    namespace: String!
    name: String!
    aggregations: [Aggregation!]!
    aggregation(name: String!): Aggregation
  }

  type Window {
    type: String!
    size: String
    slide: String
    gap: String
  }

  type Measure {
    name: String!
    type: String!
  }

  type Aggregation {
    name: String!
    window: Window!
    groupBy: [String!]!
    measures: [Measure!]!
    "Current windows, oldest update first, or those of the group keys given."
    current(first: Int, after: String, groupKeys: [String!]): WindowPage!
    "The current window of one group."
    currentWindow(groupKey: String!): WindowResult
    "Closed windows with from <= windowStart < to (epoch ms or RFC 3339), by window start."
    history(from: String, to: String, groupKey: String, first: Int, after: String): WindowPage!
  }

  type WindowPage {
    items: [WindowResult!]!
    "Pass as after for the next page; null on the last."
    nextCursor: String
  }

  type WindowResult {
    aggregation: String!
    groupKey: String!
    group: JSON!
    windowStart: Float!
    windowEnd: Float!
    measures: JSON!
    events: Float!
    revision: Float!
    final: Boolean!
    updatedAt: Float!
  }

  type WindowUpdate {
    "result or retraction"
    type: String!
    aggregation: String!
    groupKey: String!
    windowStart: Float!
    windowEnd: Float!
    revision: Float!
    updatedAt: Float!
    "Null for a retraction."
    result: WindowResult
  }
`;

declare module 'mercurius' {
  interface MercuriusContext {
    /** Who asks, from the authentication hook of the HTTP server. */
    principal: Principal;
  }
}

type Context = MercuriusContext;

interface AggregationNode {
  pipeline: ServedPipeline;
  aggregation: ServedAggregation;
}

/** A registry error as a GraphQL error with Weir's code and the HTTP status it has over REST. */
function graphqlError(err: unknown): Error {
  const e: WeirError = asWeirError(err);
  return new mercurius.ErrorWithProps(e.message, { code: e.code, status: e.httpStatus, ...e.details });
}

/** Runs `fn`, turning registry errors into GraphQL errors. */
async function guarded<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw graphqlError(err);
  }
}

/** Options for {@link registerGraphql}. */
export interface GraphqlOptions {
  queries: ServingQueries;
  hub: UpdatesHub;
  metrics: ServingMetrics;
  maxDepth: number;
  maxCost: number;
  subscriberBuffer: number;
}

/** Registers `/graphql` on `app`, whose hook has authenticated every request to it. */
export async function registerGraphql(app: FastifyInstance, o: GraphqlOptions): Promise<void> {
  const { queries } = o;
  const node = (pipeline: ServedPipeline, aggregation: ServedAggregation): AggregationNode => ({
    pipeline,
    aggregation,
  });
  const own = (ctx: Context, namespace: string, name: string) => {
    try {
      return queries.config.pipeline(ctx.principal, namespace, name);
    } catch (err) {
      if (hasCode(err, Errors.NotFound)) return null;
      throw err;
    }
  };

  const resolvers: IResolvers = {
    JSON: new GraphQLScalarType({ name: 'JSON', serialize: (v) => v }),
    Query: {
      pipelines: (_root, _args, ctx: Context) => queries.config.pipelines(ctx.principal),
      pipeline: (_root, args: { namespace: string; name: string }, ctx: Context) => own(ctx, args.namespace, args.name),
    },
    Pipeline: {
      aggregations: (p: ServedPipeline) => [...p.aggregations.values()].map((a) => node(p, a)),
      aggregation: (p: ServedPipeline, args: { name: string }) => {
        const a = p.aggregations.get(args.name);
        return a ? node(p, a) : null;
      },
    },
    Aggregation: {
      name: (n: AggregationNode) => n.aggregation.name,
      window: (n: AggregationNode) => n.aggregation.window,
      groupBy: (n: AggregationNode) => n.aggregation.groupBy,
      measures: (n: AggregationNode) => n.aggregation.measures,
    },
    WindowUpdate: {
      result: (u: ResultUpdate) => (u.type === 'result' ? u : null),
    },
    Subscription: {
      windowUpdates: {
        subscribe: (
          _root: unknown,
          args: { namespace: string; name: string; aggregation: string; groupKey?: string },
          ctx: Context,
        ) =>
          guarded(async () => {
            const { pipeline, aggregation } = queries.resolve(ctx.principal, {
              namespace: args.namespace,
              name: args.name,
              aggregation: args.aggregation,
            });
            const only =
              args.groupKey === undefined || args.groupKey === null
                ? undefined
                : checkGroupKey(args.groupKey, aggregation.groupBy.length);
            const channel = updatesChannel(pipeline.tenant.name, pipeline.name, aggregation.name);
            const { updates, ready } = o.hub.subscribe(channel, o.subscriberBuffer);
            await ready;
            const gauge = o.metrics.subscribers.labels(pipeline.tenant.name);
            gauge.inc();
            return filtered(updates, only, () => gauge.dec());
          }),
        resolve: (update: ResultUpdate) => update,
      },
    },
  };

  type Q<A> = { obj: AggregationNode; params: A };
  const loaders: MercuriusLoaders = {
    Aggregation: {
      // All current-window fields of one query level: one batch of listings and one of lookups.
      current: async (batch: Q<{ first?: number; after?: string; groupKeys?: string[] }>[]) => {
        const answers: (unknown | Error)[] = batch.map(() => undefined);
        const listings: { i: number; limit: number; after?: ReturnType<typeof decodeCursor<'current'>> }[] = [];
        const lookups: { i: number; keys: string[] }[] = [];
        batch.forEach(({ obj, params }, i) => {
          try {
            if (!obj.pipeline.current) throw notKept(obj.pipeline, 'current windows', 'redis');
            if (params.groupKeys?.length) {
              lookups.push({
                i,
                keys: [
                  ...new Set(
                    params.groupKeys.map((k) => checkGroupKey(k, obj.aggregation.groupBy.length, 'groupKeys')),
                  ),
                ],
              });
            } else {
              const limit = pageLimit(params.first ?? undefined, queries.maxPageSize, 100, 'first');
              const after = params.after
                ? decodeCursor(params.after, 'current', obj.aggregation.name, 'after')
                : undefined;
              listings.push({ i, limit, after });
            }
          } catch (err) {
            answers[i] = graphqlError(err);
          }
        });
        const [pages, windows] = await Promise.all([
          guarded(() =>
            queries.reader.current(listings.map((l) => ({ ...batch[l.i]!.obj, limit: l.limit, after: l.after }))),
          ),
          guarded(() =>
            queries.reader.windows(
              lookups.flatMap((l) => l.keys.map((groupKey) => ({ ...batch[l.i]!.obj, groupKey }))),
            ),
          ),
        ]);
        listings.forEach((l, j) => {
          const page = pages[j]!;
          answers[l.i] = { items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null };
        });
        let at = 0;
        for (const l of lookups)
          answers[l.i] = { items: windows.slice(at, (at += l.keys.length)).filter(Boolean), nextCursor: null };
        return answers;
      },
      currentWindow: async (batch: Q<{ groupKey: string }>[]) => {
        const answers: (unknown | Error)[] = batch.map(() => null);
        const valid: number[] = [];
        batch.forEach(({ obj, params }, i) => {
          try {
            checkGroupKey(params.groupKey, obj.aggregation.groupBy.length);
            valid.push(i);
          } catch (err) {
            answers[i] = graphqlError(err);
          }
        });
        const found = await guarded(() =>
          queries.reader.windows(valid.map((i) => ({ ...batch[i]!.obj, groupKey: batch[i]!.params.groupKey }))),
        );
        valid.forEach((i, j) => (answers[i] = found[j] ?? null));
        return answers;
      },
      history: async (
        batch: Q<{ from?: string; to?: string; groupKey?: string; first?: number; after?: string }>[],
      ) => {
        const answers: (unknown | Error)[] = batch.map(() => undefined);
        const listings: { i: number; listing: Parameters<typeof queries.reader.history>[0][number] }[] = [];
        const now = queries.clock.now();
        batch.forEach(({ obj, params }, i) => {
          try {
            if (!obj.pipeline.history) throw notKept(obj.pipeline, 'history of closed windows', 'postgres');
            const [from, to] = historyRange(params.from ?? undefined, params.to ?? undefined, now);
            listings.push({
              i,
              listing: {
                ...obj,
                from,
                to,
                groupKey:
                  params.groupKey === undefined || params.groupKey === null
                    ? undefined
                    : checkGroupKey(params.groupKey, obj.aggregation.groupBy.length),
                limit: pageLimit(params.first ?? undefined, queries.maxPageSize, 100, 'first'),
                after: params.after ? decodeCursor(params.after, 'history', obj.aggregation.name, 'after') : undefined,
              },
            });
          } catch (err) {
            answers[i] = graphqlError(err);
          }
        });
        const pages = await guarded(() => queries.reader.history(listings.map((l) => l.listing)));
        listings.forEach((l, j) => {
          const page = pages[j]!;
          answers[l.i] = { items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null };
        });
        return answers;
      },
    },
  };

  await app.register(mercurius, {
    schema: SCHEMA,
    resolvers,
    loaders,
    path: '/graphql',
    graphiql: false,
    queryDepth: o.maxDepth,
    validationRules: [costLimitRule(o.maxCost, queries.maxPageSize)],
    context: (req) => ({ principal: req.principal }),
    subscription: {
      context: (_socket, req) => ({ principal: req.principal }),
    },
  });
  // Parse once at start so that a broken schema fails here, not at the first request.
  parse(SCHEMA);
}

/**
 * The updates of one group key (all without one), calling `done` once when the subscriber
 * leaves. Not an async generator: one waiting for the next update could not be returned
 * until an update came, and a client that left would hold its subscription until then.
 */
function filtered(
  updates: AsyncIterableIterator<ResultUpdate>,
  groupKey: string | undefined,
  done: () => void,
): AsyncIterableIterator<ResultUpdate> {
  let left = false;
  const leave = () => {
    if (left) return;
    left = true;
    done();
  };
  const iterator: AsyncIterableIterator<ResultUpdate> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      for (;;) {
        let step: IteratorResult<ResultUpdate>;
        try {
          step = await updates.next();
        } catch (err) {
          leave();
          throw graphqlError(err);
        }
        if (step.done) leave();
        if (step.done || groupKey === undefined || step.value.groupKey === groupKey) return step;
      }
    },
    async return() {
      leave();
      return (await updates.return?.()) ?? { value: undefined, done: true };
    },
  };
  return iterator;
}
