/**
 * Translates a Pipeline's aggregations into one Flink SQL job: per aggregation a Kafka
 * source on the pipeline's input topic with event time and watermark from `eventTime`, a
 * TUMBLE, HOP or SESSION window table function, the measures, and Kafka sinks for the
 * output and dead-letter topics, all in one statement set with exactly-once delivery.
 *
 * Flink SQL drops rows later than the watermark without a word (FLINK-18850), so each
 * aggregation sends those rows to the dead-letter topic itself, before its window, with
 * the reason in a header: events in = counted + dead-lettered, per aggregation. Pure: the
 * same input gives the same SQL, and what Flink cannot do is an `Unsupported` answer.
 */
import { createHash } from 'node:crypto';
import type { PipelineSpec } from '../../crds/pipeline.ts';
import { durationMs, identifier as id, interval, jsonPath, literal, MAX_INTERVAL_MS } from './sql-text.ts';
import { accumulatorsOf, fieldsColumn, measureExpression, measureType, type Accumulators } from './flink-measures.ts';

type Aggregation = NonNullable<PipelineSpec['aggregate']>[number];

/** What the translation needs besides the spec; the topics are the pipeline's own, never the spec's. */
export interface FlinkJobInput {
  namespace: string;
  name: string;
  spec: PipelineSpec;
  topics: { input: string; output: string; deadLetter: string };
  bootstrapServers: readonly string[];
  /**
   * The tenant's own SCRAM user, which the job's Kafka clients connect as where the Region's
   * Kafka takes SASL (so Kafka's ACLs hold for Flink jobs too), and TLS where it asks for it.
   */
  kafkaSecurity?: {
    sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
    tls?: boolean;
  };
  /** How often the job checkpoints, which is also how often its output becomes visible; 5 s unless given. */
  checkpointIntervalMs?: number;
}

/** A job ready to submit. */
export interface FlinkJob {
  /** `pipeline.name` of the job: `weir/<namespace>/<name>@<state signature>.<hash of the SQL>`. */
  name: string;
  statements: string[];
  /** Digest of what the job's state depends on: a savepoint restores only into a job of the same one. */
  stateSignature: string;
}

export type Translation = { ok: true; job: FlinkJob } | { ok: false; reason: 'Unsupported'; message: string };

/** The state signature a job name carries (`...@<signature>.<hash>`), so every job says what its state is. */
export function signatureOfJobName(name: string): string | undefined {
  return /@([0-9a-f]{16})\.[0-9a-f]{12}$/.exec(name)?.[1];
}

/** The job name's prefix for a pipeline: every job of it, whatever its SQL, starts so. */
export function jobNamePrefix(namespace: string, name: string): string {
  return `weir/${namespace}/${name}@`;
}

const TIME = id('weir_event_time');
const ISO_FORMAT = "yyyy-MM-dd'T'HH:mm:ss[.SSSSSSSSS][.SSSSSS][.SSS][.SS][.S]";
const ISO = '^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?)(Z|[+-][0-9]{2}:[0-9]{2})$';

/**
 * Event time from a field holding epoch milliseconds or an RFC 3339 string. Flink's
 * TO_TIMESTAMP_LTZ(string, format) ignores a UTC offset, so the offset is applied here.
 */
export function eventTimeExpression(pointer: string): string {
  const v = `JSON_VALUE(${id('payload')}, ${jsonPath(pointer)})`;
  const local = `TO_TIMESTAMP_LTZ(REGEXP_EXTRACT(${v}, ${literal(ISO)}, 1), ${literal(ISO_FORMAT)})`;
  const sign = `CASE REGEXP_EXTRACT(${v}, '([+-])[0-9]{2}:[0-9]{2}$', 1) WHEN '+' THEN -1 WHEN '-' THEN 1 ELSE 0 END`;
  const minutes = `COALESCE(CAST(REGEXP_EXTRACT(${v}, '([0-9]{2}):[0-9]{2}$', 1) AS INT) * 60 + CAST(REGEXP_EXTRACT(${v}, '([0-9]{2})$', 1) AS INT), 0)`;
  // CASE, unlike COALESCE, evaluates the string path only for strings: its regular expressions
  // and formatter cost far more than the number path.
  const epoch = `TRY_CAST(${v} AS BIGINT)`;
  return `CASE WHEN ${epoch} IS NOT NULL THEN TO_TIMESTAMP_LTZ(${epoch}, 3) ELSE TIMESTAMPADD(MINUTE, (${sign}) * (${minutes}), ${local}) END`;
}

/** A duration of the spec as milliseconds, or why it cannot be one in Flink SQL. */
function windowMs(value: string | undefined, field: string, minMs: number): number | string {
  const ms = value === undefined ? undefined : durationMs(value);
  if (ms === undefined) return `${field} is missing or not a duration`;
  if (ms < minMs || ms > MAX_INTERVAL_MS) return `${field} must be between ${minMs} ms and 99 days in Flink SQL`;
  return ms;
}

/** Headers of a dead-lettered event: why, and for which aggregation. */
function deadLetterHeaders(reason: string, aggregation: string): string {
  return `MAP['weir-reason', ENCODE(${literal(reason)}, 'UTF-8'), 'weir-aggregation', ENCODE(${literal(aggregation)}, 'UTF-8')]`;
}

interface Plan {
  aggregation: Aggregation;
  index: number;
  window: { type: 'Tumbling' | 'Sliding' | 'Session'; sizeMs: number; slideMs: number };
  delayMs: number;
  accumulators: Accumulators;
}

/** Checks one aggregation against what Flink SQL can do; a message if it cannot. */
function plan(aggregation: Aggregation, index: number): Plan | string {
  const where = `aggregate[${aggregation.name}]`;
  const lateness = durationMs(aggregation.allowedLateness) ?? 0;
  if (lateness > 0)
    return `${where}.allowedLateness: Flink SQL window aggregations emit each window once and cannot update it later; use 0s or engine Native`;
  const delay = windowMs(aggregation.eventTime.maxOutOfOrderness, `${where}.eventTime.maxOutOfOrderness`, 0);
  if (typeof delay === 'string') return delay;
  const w = aggregation.window;
  let window: Plan['window'];
  if (w.type === 'Session') {
    const gap = windowMs(w.gap, `${where}.window.gap`, 1);
    if (typeof gap === 'string') return gap;
    window = { type: 'Session', sizeMs: gap, slideMs: gap };
  } else {
    const size = windowMs(w.size, `${where}.window.size`, 1);
    if (typeof size === 'string') return size;
    const slide = w.type === 'Sliding' ? windowMs(w.slide, `${where}.window.slide`, 1) : size;
    if (typeof slide === 'string') return slide;
    if (size % slide !== 0)
      return `${where}.window: Flink's HOP window needs a size that is a whole multiple of the slide (${w.size} / ${w.slide})`;
    window = { type: w.type, sizeMs: size, slideMs: slide };
  }
  const accumulators = accumulatorsOf(aggregation.measures);
  if (typeof accumulators === 'string') return `${where}.${accumulators}`;
  return { aggregation, index, window, delayMs: delay, accumulators };
}

/** The login module of the Kafka clients inside flink-sql-connector-kafka, which relocates them. */
const SCRAM_LOGIN_MODULE = 'org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule';

/** A JAAS option value, double-quoted. */
function jaasValue(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** The Kafka client properties of a connection as the tenant's SCRAM user, with TLS where asked. */
function kafkaSecurityOptions(security: FlinkJobInput['kafkaSecurity']): string[] {
  if (!security?.sasl && !security?.tls) return [];
  const protocol = security.sasl ? (security.tls ? 'SASL_SSL' : 'SASL_PLAINTEXT') : 'SSL';
  const out = [`'properties.security.protocol' = ${literal(protocol)}`];
  if (security.sasl) {
    const { mechanism, username, password } = security.sasl;
    out.push(
      `'properties.sasl.mechanism' = ${literal(mechanism)}`,
      `'properties.sasl.jaas.config' = ${literal(`${SCRAM_LOGIN_MODULE} required username=${jaasValue(username)} password=${jaasValue(password)};`)}`,
    );
  }
  return out;
}

/** Translates the pipeline, or says which field Flink SQL cannot run. */
export function translatePipeline(input: FlinkJobInput): Translation {
  const { spec } = input;
  const unsupported = (message: string): Translation => ({ ok: false, reason: 'Unsupported', message });
  if (spec.sinks.redis) return unsupported('sinks.redis: engine Flink writes results to the output topic only');
  if (spec.sinks.postgres)
    return unsupported(
      'sinks.postgres: engine Flink would need the tenant database password inside the job, where the JobManager API shows it; use engine Native',
    );
  if (!spec.sinks.topic.enabled)
    return unsupported('sinks.topic.enabled: engine Flink writes results to the output topic');
  if (spec.enrich?.length) return unsupported('enrich: engine Flink has no lookups; use engine Native');
  const aggregations = spec.aggregate ?? [];
  if (aggregations.length === 0) return unsupported('aggregate: engine Flink needs at least one aggregation to run');
  const plans: Plan[] = [];
  for (const [index, aggregation] of aggregations.entries()) {
    const p = plan(aggregation, index);
    if (typeof p === 'string') return unsupported(p);
    plans.push(p);
  }

  const base = `weir.${input.namespace}.${input.name}`;
  const kafka = (topic: string) => [
    `'connector' = 'kafka'`,
    `'topic' = ${literal(topic)}`,
    `'properties.bootstrap.servers' = ${literal(input.bootstrapServers.join(','))}`,
    ...kafkaSecurityOptions(input.kafkaSecurity),
  ];
  const exactlyOnce = (prefix: string) => [
    `'sink.delivery-guarantee' = 'exactly-once'`,
    `'sink.transactional-id-prefix' = ${literal(prefix)}`,
    // Below the broker's transaction.max.timeout.ms (15 minutes by default).
    `'properties.transaction.timeout.ms' = '600000'`,
  ];
  const ddl: string[] = [];
  const inserts: string[] = [];
  for (const p of plans) {
    const a = p.aggregation;
    const n = p.index;
    const source = id(`source_${n}`);
    const timed = id(`timed_${n}`);
    const output = id(`output_${n}`);
    const deadLetter = id(`dead_letter_${n}`);
    const keys = (a.groupBy ?? []).map((pointer, k) => ({ pointer, column: id(`k${k}`) }));
    const fields = p.accumulators.fields.map((f) => ({ ...f, column: id(`f${f.index}`) }));
    const distinct = p.accumulators.distinct.map((d) => ({ ...d, column: id(`d${d.index}`) }));
    const stats = fieldsColumn(p.accumulators);
    const value = (pointer: string) => `JSON_VALUE(${id('payload')}, ${jsonPath(pointer)})`;
    const columns = [
      id('payload'),
      TIME,
      ...keys.map((k) => `${value(k.pointer)} AS ${k.column}`),
      ...fields.map((f) => `TRY_CAST(${value(f.pointer)} AS DOUBLE) AS ${f.column}`),
      ...distinct.map((d) => `${value(d.pointer)} AS ${d.column}`),
    ];
    ddl.push(
      `CREATE TEMPORARY TABLE ${source} (${id('payload')} STRING, ${TIME} AS ${eventTimeExpression(a.eventTime.field)}, ` +
        // Flink fires a window [start, end) once the watermark reaches end - 1 ms; engine
        // Native closes it once the watermark (newest event time - maxOutOfOrderness)
        // reaches end. One millisecond less here makes the two close the same windows.
        `WATERMARK FOR ${TIME} AS ${TIME} - ${interval(p.delayMs + 1)}) WITH (${[
          ...kafka(input.topics.input),
          `'properties.group.id' = ${literal(`${base}.flink.${a.name}`)}`,
          `'scan.startup.mode' = 'group-offsets'`,
          `'properties.auto.offset.reset' = 'earliest'`,
          `'properties.isolation.level' = 'read_committed'`,
          `'format' = 'raw'`,
          // A watermark with every event, not every 200 ms: which events are too late then
          // depends only on their order in the partition, as it does for engine Native.
          `'scan.watermark.emit.strategy' = 'on-event'`,
        ].join(', ')})`,
      `CREATE TEMPORARY TABLE ${output} (${id('aggregation')} STRING, ${id('windowStart')} TIMESTAMP_LTZ(3), ` +
        `${id('windowEnd')} TIMESTAMP_LTZ(3), ${keys.length ? `${id('group')} MAP<STRING, STRING>, ` : ''}` +
        `${id('events')} BIGINT, ${id('measures')} ROW<${a.measures.map((m) => `${id(m.name)} ${measureType(m)}`).join(', ')}>` +
        `${stats ? `, ${id('fields')} ${stats.type}` : ''}) WITH (${[
          ...kafka(input.topics.output),
          `'format' = 'json'`,
          `'json.timestamp-format.standard' = 'ISO-8601'`,
          ...exactlyOnce(`${base}.${a.name}.output`),
        ].join(', ')})`,
      `CREATE TEMPORARY TABLE ${deadLetter} (${id('payload')} STRING, ${id('headers')} MAP<STRING, BYTES> METADATA) WITH (${[
        ...kafka(input.topics.deadLetter),
        `'format' = 'raw'`,
        ...exactlyOnce(`${base}.${a.name}.dlq`),
      ].join(', ')})`,
      `CREATE TEMPORARY VIEW ${timed} AS SELECT ${columns.join(', ')} FROM ${source} WHERE ${TIME} IS NOT NULL`,
    );
    inserts.push(
      `INSERT INTO ${deadLetter} SELECT ${id('payload')}, ${deadLetterHeaders('invalid-event-time', a.name)} FROM ${source} WHERE ${TIME} IS NULL`,
    );
    const watermark = (column: string) => `CURRENT_WATERMARK(${column})`;
    const group = keys.length ? `MAP[${keys.map((k) => `${literal(k.pointer)}, ${k.column}`).join(', ')}], ` : '';
    const groupBy = [id('window_start'), id('window_end'), ...keys.map((k) => k.column)].join(', ');
    const measures =
      `${id('a_count')}, ROW(${a.measures.map((m) => measureExpression(m, p.accumulators)).join(', ')})` +
      (stats ? `, ${stats.value}` : '');
    const aggregate = (from: string, open: string) =>
      `INSERT INTO ${output} SELECT ${literal(a.name)}, ${id('window_start')}, ${id('window_end')}, ${group}${measures} ` +
      `FROM (SELECT ${groupBy}, ${p.accumulators.select.join(', ')} FROM ${from} WHERE ${open} GROUP BY ${groupBy})`;
    if (p.window.type === 'Session') {
      // A session's end is not known before it closes: an event is too late when its own gap
      // has passed the watermark, and counted otherwise.
      const lastOpen = `${TIME} + ${interval(p.window.sizeMs - 1)}`;
      const open = id(`open_${n}`);
      ddl.push(
        `CREATE TEMPORARY VIEW ${open} AS SELECT * FROM ${timed} WHERE ${watermark(TIME)} IS NULL OR ${lastOpen} > ${watermark(TIME)}`,
      );
      const partition = keys.length ? ` PARTITION BY ${keys.map((k) => k.column).join(', ')}` : '';
      inserts.push(
        aggregate(
          `TABLE(SESSION(TABLE ${open}${partition}, DESCRIPTOR(${TIME}), ${interval(p.window.sizeMs)}))`,
          'TRUE',
        ),
        `INSERT INTO ${deadLetter} SELECT ${id('payload')}, ${deadLetterHeaders('too-late', a.name)} FROM ${timed} ` +
          `WHERE ${lastOpen} <= ${watermark(TIME)}`,
      );
    } else {
      // The slide-long slice of an event ends where the earliest window it belongs to ends:
      // once the watermark passed that end the event is too late for all of its windows,
      // and counted in none (as engine Native has it); otherwise it is on time in every one.
      // Windows are then assigned on the slice's window_time, which lies in the same windows.
      const sliced = id(`sliced_${n}`);
      const open = id(`open_${n}`);
      const slice = id('weir_slice_time');
      ddl.push(
        `CREATE TEMPORARY VIEW ${sliced} AS SELECT ${[id('payload'), TIME, ...keys.map((k) => k.column), ...fields.map((f) => f.column), ...distinct.map((d) => d.column)].join(', ')}, ` +
          `${id('window_time')} AS ${slice} FROM TABLE(TUMBLE(TABLE ${timed}, DESCRIPTOR(${TIME}), ${interval(p.window.slideMs)}))`,
        `CREATE TEMPORARY VIEW ${open} AS SELECT * FROM ${sliced} WHERE ${watermark(slice)} IS NULL OR ${slice} > ${watermark(slice)}`,
      );
      const tvf =
        p.window.type === 'Tumbling'
          ? `TUMBLE(TABLE ${open}, DESCRIPTOR(${slice}), ${interval(p.window.sizeMs)})`
          : `HOP(TABLE ${open}, DESCRIPTOR(${slice}), ${interval(p.window.slideMs)}, ${interval(p.window.sizeMs)})`;
      inserts.push(
        aggregate(`TABLE(${tvf})`, 'TRUE'),
        `INSERT INTO ${deadLetter} SELECT ${id('payload')}, ${deadLetterHeaders('too-late', a.name)} FROM ${sliced} ` +
          `WHERE ${slice} <= ${watermark(slice)}`,
      );
    }
  }
  const body = [...ddl, `EXECUTE STATEMENT SET BEGIN ${inserts.map((i) => `${i};`).join(' ')} END`];
  const settings = [
    `SET 'table.local-time-zone' = 'UTC'`,
    `SET 'execution.checkpointing.interval' = '${input.checkpointIntervalMs ?? 5000}ms'`,
    `SET 'execution.checkpointing.mode' = 'EXACTLY_ONCE'`,
    // A job cancelled behind Weir's back can still be resumed from its last checkpoint.
    `SET 'execution.checkpointing.externalized-checkpoint-retention' = 'RETAIN_ON_CANCELLATION'`,
    // A savepoint with state the new job has no place for fails the restore instead of dropping it.
    `SET 'execution.savepoint.ignore-unclaimed-state' = 'false'`,
  ];
  const signature = digest(JSON.stringify(plans.map(stateShape))).slice(0, 16);
  const hash = digest([...settings, ...body].join('\n')).slice(0, 12);
  const name = `${jobNamePrefix(input.namespace, input.name)}${signature}.${hash}`;
  return {
    ok: true,
    job: {
      name,
      statements: [`SET 'pipeline.name' = ${literal(name)}`, ...settings, ...body],
      stateSignature: signature,
    },
  };
}

/** What an aggregation's state depends on: the same shape restores from a savepoint, another does not. */
function stateShape(p: Plan): unknown {
  const a = p.aggregation;
  return {
    index: p.index,
    name: a.name,
    window: p.window,
    eventTime: a.eventTime.field,
    groupBy: a.groupBy ?? [],
    accumulators: p.accumulators.shape,
  };
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
