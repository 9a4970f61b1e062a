/**
 * Measures in Flink SQL. A window aggregate's state is its list of accumulators, and Flink
 * cannot restore a savepoint into a different list (StateMigrationException). So the list
 * depends only on which fields are measured, never on which measures: every numeric field
 * gets count, sum, min and max (Sum, Avg, Min and Max read them), plus PERCENTILE when a
 * Percentiles measure reads it, and Distinct fields a COUNT(DISTINCT). Adding, removing or
 * renaming a measure of a field already measured then keeps the window state.
 */
import { identifier as id } from './sql-text.ts';

/** A measure as the spec has it. */
export interface MeasureSpec {
  name: string;
  type: 'Count' | 'Sum' | 'Avg' | 'Min' | 'Max' | 'Percentiles' | 'Distinct' | 'Function';
  field?: string;
  percentiles?: number[];
}

/** The accumulators of one aggregation. */
export interface Accumulators {
  /** Numeric fields, read with TRY_CAST(... AS DOUBLE): a value that is not a number is not counted. */
  fields: { pointer: string; index: number; percentiles: number[] }[];
  /** Fields counted by distinct value, read as strings. */
  distinct: { pointer: string; index: number }[];
  /** The accumulator columns of the window aggregate, in order. */
  select: string[];
  /** What the state consists of, for the compatibility of savepoints: `select` without PERCENTILE's arguments. */
  shape: string[];
}

/** Flink SQL type of a measure's value in the output. */
export function measureType(m: MeasureSpec): string {
  switch (m.type) {
    case 'Count':
    case 'Distinct':
      return 'BIGINT';
    case 'Percentiles':
      return 'MAP<STRING, DOUBLE>';
    default:
      return 'DOUBLE';
  }
}

/** A percentile (0 < p < 100) as the fraction PERCENTILE takes, without floating-point noise. */
function fraction(p: number): string {
  return String(Number((p / 100).toPrecision(12)));
}

/** The accumulators the measures need, or `measures[name]...: why` when Flink SQL has no such measure. */
export function accumulatorsOf(measures: readonly MeasureSpec[]): Accumulators | string {
  const fields: Accumulators['fields'] = [];
  const distinct: Accumulators['distinct'] = [];
  for (const m of measures) {
    if (m.type === 'Function')
      return `measures[${m.name}].type: Function runs a reducer of engine Native; Flink SQL has no sandbox for it`;
    if (m.type === 'Count') continue;
    if (!m.field) return `measures[${m.name}].field: required for ${m.type}`;
    if (m.type === 'Distinct') {
      if (!distinct.some((d) => d.pointer === m.field)) distinct.push({ pointer: m.field, index: distinct.length });
      continue;
    }
    let field = fields.find((f) => f.pointer === m.field);
    if (!field) fields.push((field = { pointer: m.field, index: fields.length, percentiles: [] }));
    if (m.type === 'Percentiles') {
      if (!m.percentiles?.length) return `measures[${m.name}].percentiles: required for Percentiles`;
      field.percentiles = [...new Set([...field.percentiles, ...m.percentiles])].sort((a, b) => a - b);
    }
  }
  const select = [`COUNT(*) AS ${id('a_count')}`];
  const shape = ['count'];
  for (const f of fields) {
    const column = id(`f${f.index}`);
    select.push(
      `COUNT(${column}) AS ${id(`n${f.index}`)}`,
      `SUM(${column}) AS ${id(`s${f.index}`)}`,
      `MIN(${column}) AS ${id(`lo${f.index}`)}`,
      `MAX(${column}) AS ${id(`hi${f.index}`)}`,
    );
    shape.push(`numeric(${f.pointer})`);
    if (f.percentiles.length) {
      select.push(`PERCENTILE(${column}, ARRAY[${f.percentiles.map(fraction).join(', ')}]) AS ${id(`p${f.index}`)}`);
      shape.push(`percentile(${f.pointer})`);
    }
  }
  for (const d of distinct) {
    select.push(`COUNT(DISTINCT ${id(`d${d.index}`)}) AS ${id(`u${d.index}`)}`);
    shape.push(`distinct(${d.pointer})`);
  }
  return { fields, distinct, select, shape };
}

/** The measure's value from the accumulators, as the output's measures row holds it. */
export function measureExpression(m: MeasureSpec, acc: Accumulators): string {
  if (m.type === 'Count') return id('a_count');
  if (m.type === 'Distinct') return id(`u${acc.distinct.find((d) => d.pointer === m.field)!.index}`);
  const f = acc.fields.find((x) => x.pointer === m.field)!;
  switch (m.type) {
    case 'Sum':
      return id(`s${f.index}`);
    case 'Avg':
      return `${id(`s${f.index}`)} / ${id(`n${f.index}`)}`;
    case 'Min':
      return id(`lo${f.index}`);
    case 'Max':
      return id(`hi${f.index}`);
    default: {
      // PERCENTILE's array is 1-based, in the order of the field's sorted percentiles.
      const entries = (m.percentiles ?? []).map(
        (p) => `'${String(p)}', ${id(`p${f.index}`)}[${f.percentiles.indexOf(p) + 1}]`,
      );
      return `MAP[${entries.join(', ')}]`;
    }
  }
}

/** One entry of the output's `fields`: the accumulators of one measured field, by pointer. */
function fieldEntries(
  acc: Accumulators,
): { pointer: string; members: { name: string; type: string; value: string }[] }[] {
  const entries = acc.fields.map((f) => ({
    pointer: f.pointer,
    members: [
      { name: 'count', type: 'BIGINT', value: id(`n${f.index}`) },
      { name: 'sum', type: 'DOUBLE', value: id(`s${f.index}`) },
      { name: 'min', type: 'DOUBLE', value: id(`lo${f.index}`) },
      { name: 'max', type: 'DOUBLE', value: id(`hi${f.index}`) },
      ...(f.percentiles.length ? [{ name: 'percentiles', type: 'ARRAY<DOUBLE>', value: id(`p${f.index}`) }] : []),
    ],
  }));
  for (const d of acc.distinct) {
    const member = { name: 'distinct', type: 'BIGINT', value: id(`u${d.index}`) };
    const entry = entries.find((e) => e.pointer === d.pointer);
    if (entry) entry.members.push(member);
    else entries.push({ pointer: d.pointer, members: [member] });
  }
  return entries;
}

/**
 * The output's `fields` column (type and value), which shows every accumulator: the planner
 * prunes aggregates nothing reads, and a pruned list would change the state with the measures.
 * Undefined when no field is measured.
 */
export function fieldsColumn(acc: Accumulators): { type: string; value: string } | undefined {
  const entries = fieldEntries(acc);
  if (entries.length === 0) return undefined;
  return {
    type: `ROW<${entries.map((e) => `${id(e.pointer)} ROW<${e.members.map((m) => `${id(m.name)} ${m.type}`).join(', ')}>`).join(', ')}>`,
    value: `ROW(${entries.map((e) => `ROW(${e.members.map((m) => m.value).join(', ')})`).join(', ')})`,
  };
}
