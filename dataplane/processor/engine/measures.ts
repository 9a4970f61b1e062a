/**
 * The measures an aggregation computes, each as a mergeable accumulator: created empty,
 * fed events, merged (sliding windows combine panes, sessions combine when they touch),
 * turned into a result, and saved to and loaded from JSON for the changelog.
 *
 * Percentiles use DDSketch (@datadog/sketches-js) with a relative accuracy of 1 %: the
 * value reported for percentile q is within 1 % of the true value at rank ⌊q/100·(n−1)⌋.
 * Distinct uses {@link HyperLogLog} (see its bound). Function runs a user-defined reducer in
 * a {@link FunctionSandbox}.
 */
import { DDSketch } from '@datadog/sketches-js';
import type { Measure } from '../../../crds/pipeline.ts';
import type { MeasureValue } from '../../../lib/platform/results.ts';
import { fieldReader, numericValue, type FieldReader } from './event-fields.ts';
import type { FunctionSandbox } from './function-sandbox.ts';
import { HyperLogLog, type HyperLogLogJson } from './hyper-log-log.ts';
import type { z } from 'zod';

type MeasureSpec = z.output<typeof Measure>;

/** Relative accuracy of the Percentiles sketch. */
export const PERCENTILE_ACCURACY = 0.01;

/** One measure's operations on its accumulator type. `add` and `merge` may change their first argument. */
export interface MeasureOps<A = unknown> {
  readonly name: string;
  create(): A;
  add(acc: A, event: unknown): A;
  merge(into: A, from: A): A;
  result(acc: A): MeasureValue;
  save(acc: A): unknown;
  load(json: unknown): A;
}

interface AvgAcc {
  sum: number;
  count: number;
}

/** `p50`, `p99.9`: the result key of a percentile. */
export function percentileKey(p: number): string {
  return `p${p}`;
}

function numeric(name: string, read: FieldReader, pick: (a: number, b: number) => number): MeasureOps<number | null> {
  return {
    name,
    create: () => null,
    add: (acc, event) => {
      const v = numericValue(read(event));
      return v === undefined ? acc : acc === null ? v : pick(acc, v);
    },
    merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
    result: (acc) => acc,
    save: (acc) => acc,
    load: (json) => json as number | null,
  };
}

function percentiles(name: string, read: FieldReader, ps: readonly number[]): MeasureOps<DDSketch> {
  return {
    name,
    create: () => new DDSketch({ relativeAccuracy: PERCENTILE_ACCURACY }),
    add: (acc, event) => {
      const v = numericValue(read(event));
      if (v !== undefined) acc.accept(v);
      return acc;
    },
    merge: (a, b) => {
      a.merge(b);
      return a;
    },
    result: (acc) =>
      Object.fromEntries(ps.map((p) => [percentileKey(p), acc.count === 0 ? null : acc.getValueAtQuantile(p / 100)])),
    save: (acc) => Buffer.from(acc.toProto()).toString('base64'),
    load: (json) => DDSketch.fromProto(Buffer.from(json as string, 'base64')),
  };
}

function distinct(name: string, read: FieldReader): MeasureOps<HyperLogLog> {
  return {
    name,
    create: () => new HyperLogLog(),
    add: (acc, event) => {
      const v = read(event);
      // Values count by their JSON, so 1 and "1" are two values; a missing field is none.
      if (v !== undefined && v !== null) acc.add(typeof v === 'string' ? v : JSON.stringify(v));
      return acc;
    },
    merge: (a, b) => {
      a.merge(b);
      return a;
    },
    result: (acc) => acc.count(),
    save: (acc) => acc.toJSON(),
    load: (json) => HyperLogLog.fromJSON(json as HyperLogLogJson),
  };
}

function userFunction(name: string, read: FieldReader, sandbox: FunctionSandbox): MeasureOps<unknown> {
  return {
    name,
    create: () => sandbox.call('init', []),
    add: (acc, event) => {
      const v = read(event);
      return sandbox.call('add', [acc, v === undefined ? null : v]);
    },
    merge: (a, b) => sandbox.call('merge', [a, b]),
    result: (acc) => sandbox.call('result', [acc]) as MeasureValue,
    save: (acc) => acc,
    load: (json) => json,
  };
}

/** The operations of one measure of the spec; `functions` holds the sandboxes of spec.functions by name. */
export function measureOps(spec: MeasureSpec, functions: ReadonlyMap<string, FunctionSandbox>): MeasureOps {
  const read = spec.field ? fieldReader(spec.field) : () => undefined;
  switch (spec.type) {
    case 'Count':
      return {
        name: spec.name,
        create: () => 0,
        add: (acc) => (acc as number) + 1,
        merge: (a, b) => (a as number) + (b as number),
        result: (acc) => acc as number,
        save: (acc) => acc,
        load: (json) => json as number,
      };
    case 'Sum':
      return {
        name: spec.name,
        create: () => 0,
        add: (acc, event) => (acc as number) + (numericValue(read(event)) ?? 0),
        merge: (a, b) => (a as number) + (b as number),
        result: (acc) => acc as number,
        save: (acc) => acc,
        load: (json) => json as number,
      };
    case 'Avg':
      return {
        name: spec.name,
        create: (): AvgAcc => ({ sum: 0, count: 0 }),
        add: (acc, event) => {
          const a = acc as AvgAcc;
          const v = numericValue(read(event));
          if (v !== undefined) {
            a.sum += v;
            a.count++;
          }
          return a;
        },
        merge: (a, b) => ({
          sum: (a as AvgAcc).sum + (b as AvgAcc).sum,
          count: (a as AvgAcc).count + (b as AvgAcc).count,
        }),
        result: (acc) => ((acc as AvgAcc).count === 0 ? null : (acc as AvgAcc).sum / (acc as AvgAcc).count),
        save: (acc) => [(acc as AvgAcc).sum, (acc as AvgAcc).count],
        load: (json) => ({ sum: (json as number[])[0]!, count: (json as number[])[1]! }),
      };
    case 'Min':
      return numeric(spec.name, read, Math.min) as MeasureOps;
    case 'Max':
      return numeric(spec.name, read, Math.max) as MeasureOps;
    case 'Percentiles':
      return percentiles(spec.name, read, spec.percentiles ?? []) as MeasureOps;
    case 'Distinct':
      return distinct(spec.name, read) as MeasureOps;
    case 'Function': {
      const sandbox = functions.get(spec.function ?? '');
      if (!sandbox) throw new TypeError(`measure ${spec.name} names function ${spec.function}, which is not defined`);
      return userFunction(spec.name, read, sandbox);
    }
  }
}
