/**
 * The queries every serving API answers, whatever the protocol: the caller's pipeline and
 * aggregation are resolved under the caller's tenant (NotFound otherwise), the parameters
 * checked, and the reads go to {@link ResultsReader}. REST and gRPC call these directly;
 * GraphQL batches the same reads through its loaders.
 */
import type { WindowResult } from '../../lib/platform/results.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import { checkGroupKey } from './group-key.ts';
import { decodeCursor, encodeCursor } from './page-cursor.ts';
import { historyRange, pageLimit } from './query-params.ts';
import type { ResultsReader } from './results-reader.ts';
import type { Principal, ServingConfig } from './serving-config.ts';
import type { ServedAggregation, ServedPipeline } from './serving-table.ts';

/** Most group keys one listing may filter by. */
export const MAX_GROUP_KEYS = 100;

/** A page as the APIs answer it. */
export interface WindowPage {
  pipeline: string;
  aggregation: string;
  items: WindowResult[];
  nextCursor: string | undefined;
}

/** What a query names. */
export interface Target {
  namespace: string;
  name: string;
  aggregation: string;
}

/** Answers queries for one principal at a time. */
export class ServingQueries {
  readonly config: ServingConfig;
  readonly reader: ResultsReader;
  readonly maxPageSize: number;
  readonly clock: Clock;

  constructor(options: { config: ServingConfig; reader: ResultsReader; clock: Clock; maxPageSize: number }) {
    this.config = options.config;
    this.reader = options.reader;
    this.maxPageSize = options.maxPageSize;
    this.clock = options.clock;
  }

  /** The caller's pipeline and aggregation, or NotFound. */
  resolve(principal: Principal, target: Target): { pipeline: ServedPipeline; aggregation: ServedAggregation } {
    const pipeline = this.config.pipeline(principal, target.namespace, target.name);
    return { pipeline, aggregation: this.config.aggregation(pipeline, target.aggregation) };
  }

  /** Current windows: a page of the group index, or the windows of the group keys given. */
  async current(
    principal: Principal,
    target: Target,
    options: { limit?: number; cursor?: string; groupKeys?: string[] },
  ): Promise<WindowPage> {
    const { pipeline, aggregation } = this.resolve(principal, target);
    const limit = pageLimit(options.limit, this.maxPageSize, 100);
    const answer = (items: WindowResult[], next?: string): WindowPage => ({
      pipeline: pipeline.key,
      aggregation: aggregation.name,
      items,
      nextCursor: next,
    });
    if (options.groupKeys?.length) {
      if (options.groupKeys.length > MAX_GROUP_KEYS)
        throw weirError(Errors.InvalidRequest, `groupKey may be given at most ${MAX_GROUP_KEYS} times`, {
          details: { errors: [{ parameter: 'groupKey', message: `at most ${MAX_GROUP_KEYS} values` }] },
        });
      const keys = [...new Set(options.groupKeys.map((k) => checkGroupKey(k, aggregation.groupBy.length)))];
      const windows = await this.reader.windows(keys.map((groupKey) => ({ pipeline, aggregation, groupKey })));
      return answer(windows.filter((w): w is WindowResult => w !== undefined));
    }
    const after = options.cursor ? decodeCursor(options.cursor, 'current', aggregation.name) : undefined;
    const [page] = await this.reader.current([{ pipeline, aggregation, limit, after }]);
    return answer(page!.items, page!.next && encodeCursor(page!.next));
  }

  /** The current window of one group, or NotFound. */
  async window(principal: Principal, target: Target, groupKey: string): Promise<WindowResult> {
    const { pipeline, aggregation } = this.resolve(principal, target);
    const key = checkGroupKey(groupKey, aggregation.groupBy.length);
    const [found] = await this.reader.windows([{ pipeline, aggregation, groupKey: key }]);
    if (!found)
      throw weirError(
        Errors.NotFound,
        `aggregation ${aggregation.name} of ${pipeline.key} has no current window for ${key}`,
      );
    return found;
  }

  /** Closed windows with `from <= windowStart < to`, by window start. */
  async history(
    principal: Principal,
    target: Target,
    options: { from?: string; to?: string; groupKey?: string; limit?: number; cursor?: string },
  ): Promise<WindowPage> {
    const { pipeline, aggregation } = this.resolve(principal, target);
    const [from, to] = historyRange(options.from, options.to, this.clock.now());
    const limit = pageLimit(options.limit, this.maxPageSize, 100);
    const groupKey =
      options.groupKey === undefined ? undefined : checkGroupKey(options.groupKey, aggregation.groupBy.length);
    const after = options.cursor ? decodeCursor(options.cursor, 'history', aggregation.name) : undefined;
    const [page] = await this.reader.history([{ pipeline, aggregation, from, to, groupKey, limit, after }]);
    return {
      pipeline: pipeline.key,
      aggregation: aggregation.name,
      items: page!.items,
      nextCursor: page!.next && encodeCursor(page!.next),
    };
  }
}
