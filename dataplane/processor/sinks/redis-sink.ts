/**
 * Results to Redis as lib/platform/results.ts lays them out: one hash per group key with its
 * current window, the group index, and a pub/sub message per update. Each result is one Lua
 * script, so a hash is replaced only by a newer window or a higher revision of the same
 * one, atomically; a batch's results go out in one pipeline. Replays rewrite the same
 * revision, so writes are idempotent; pub/sub messages may repeat after a crash, and
 * subscribers tell repeats by window and revision.
 */
import type { Redis } from 'ioredis';
import {
  currentResultKey,
  groupIndexKey,
  measureField,
  updatesChannel,
  type ResultUpdate,
  type WindowResult,
  type WindowRetraction,
} from '../../../lib/platform/results.ts';
import type { ResultSink } from '../task.ts';

const WRITE_RESULT = `
local cur = redis.call('HMGET', KEYS[1], 'windowStart', 'revision')
local start = tonumber(ARGV[1])
local rev = tonumber(ARGV[2])
local cs = tonumber(cur[1])
local cr = tonumber(cur[2])
local write = cs == nil or start > cs or (start == cs and rev >= cr)
if write then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], unpack(ARGV, 8))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[6], ARGV[7])
if write then return 1 end
return 0`;

const RETRACT = `
local cur = redis.call('HMGET', KEYS[1], 'windowStart', 'revision')
if tonumber(cur[1]) == tonumber(ARGV[1]) and tonumber(cur[2]) <= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 0`;

type ScriptedRedis = Redis & {
  weirWriteResult(...args: (string | number)[]): Promise<number>;
  weirRetract(...args: (string | number)[]): Promise<number>;
};

/** The hash fields of a result. */
export function resultFields(r: WindowResult): string[] {
  const fields: [string, string][] = [
    ['aggregation', r.aggregation],
    ['groupKey', r.groupKey],
    ['group', JSON.stringify(r.group)],
    ['windowStart', String(r.windowStart)],
    ['windowEnd', String(r.windowEnd)],
    ['events', String(r.events)],
    ['revision', String(r.revision)],
    ['final', String(r.final)],
    ['updatedAt', String(r.updatedAt)],
    ...Object.entries(r.measures).map(([name, value]): [string, string] => [
      measureField(name),
      JSON.stringify(value ?? null),
    ]),
  ];
  return fields.flat();
}

export class RedisResultSink implements ResultSink {
  readonly name = 'redis';
  readonly #redis: ScriptedRedis;
  readonly #tenant: string;
  readonly #pipeline: string;
  readonly #ttlMs: number;

  constructor(options: { redis: Redis; tenant: string; pipeline: string; ttlMs: number }) {
    options.redis.defineCommand('weirWriteResult', { numberOfKeys: 2, lua: WRITE_RESULT });
    options.redis.defineCommand('weirRetract', { numberOfKeys: 1, lua: RETRACT });
    this.#redis = options.redis as ScriptedRedis;
    this.#tenant = options.tenant;
    this.#pipeline = options.pipeline;
    this.#ttlMs = options.ttlMs;
  }

  async write({ results, retractions }: { results: WindowResult[]; retractions: WindowRetraction[] }): Promise<void> {
    if (!results.length && !retractions.length) return;
    const batch = this.#redis.pipeline() as unknown as ScriptedRedis & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const r of retractions) {
      const update: ResultUpdate = { type: 'retraction', ...r };
      batch.weirRetract(
        currentResultKey(this.#tenant, this.#pipeline, r.aggregation, r.groupKey),
        r.windowStart,
        r.revision,
        updatesChannel(this.#tenant, this.#pipeline, r.aggregation),
        JSON.stringify(update),
      );
    }
    for (const r of results) {
      const update: ResultUpdate = { type: 'result', ...r };
      batch.weirWriteResult(
        currentResultKey(this.#tenant, this.#pipeline, r.aggregation, r.groupKey),
        groupIndexKey(this.#tenant, this.#pipeline, r.aggregation),
        r.windowStart,
        r.revision,
        this.#ttlMs,
        r.updatedAt,
        r.groupKey,
        updatesChannel(this.#tenant, this.#pipeline, r.aggregation),
        JSON.stringify(update),
        ...resultFields(r),
      );
    }
    const replies = (await batch.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed) throw failed[0];
  }
}
