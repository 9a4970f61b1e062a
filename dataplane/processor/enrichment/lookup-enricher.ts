/**
 * The lookups of spec.enrich: for every event, the value at an enrichment's key pointer is
 * looked up and the record found is set at its `into` field.
 *
 * Each lookup goes L1 → L2 → source: an in-process LRU (lru-cache, `l1MaxEntries` entries
 * for `l1Ttl`), then Redis (`l2Ttl`, under the tenant prefix; not for Redis-backed lookups,
 * whose source is Redis already), then the source itself — a Postgres table of the tenant's
 * schema or a Redis hash under the tenant's prefix. Keys missing everywhere are cached as
 * misses for a short time ({@link NEGATIVE_TTL_MS}, or the level's TTL if shorter).
 *
 * A batch looks each distinct key up once, all of a level's keys in one request; lookups of
 * different enrichments run in parallel unless one reads a field another fills. A key
 * another batch is already fetching is awaited rather than fetched twice. A backend error
 * fails the events that needed it, which then go through the retry topic.
 */
import { LRUCache } from 'lru-cache';
import type { z } from 'zod';
import type { Enrichment } from '../../../crds/pipeline.ts';
import type { Clock } from '../../../lib/clock/clock.ts';
import { durationMs } from '../../../lib/platform/duration.ts';
import { fieldReader, pointerTokens, type FieldReader } from '../engine/event-fields.ts';
import type { EnrichOutcome, Enricher } from './enricher.ts';

type EnrichmentSpec = z.output<typeof Enrichment>;

/** Longest a miss is remembered, so that a record added later is found soon. */
export const NEGATIVE_TTL_MS = 5_000;

/** A record found, or null for a key that has none. */
export type Found = Record<string, unknown> | null;

/** What a source answered: records by key (keys absent have none), and keys whose lookup failed. */
export interface SourceAnswer {
  records: Map<string, Record<string, unknown>>;
  errors: Map<string, Error>;
}

/** The source of one enrichment: Postgres or Redis. It throws only when it could look up nothing. */
export interface LookupSource {
  fetch(keys: string[]): Promise<SourceAnswer>;
}

/** The Redis cache between the in-process one and the source. */
export interface SharedCache {
  get(enrichment: string, keys: string[]): Promise<Map<string, Found>>;
  set(enrichment: string, entries: Map<string, Found>, ttlMs: number, negativeTtlMs: number): Promise<void>;
}

/** Where a lookup was answered, for the hit ratio of each level. */
export type LookupLevel = 'l1' | 'l2' | 'source';

export interface LookupEnricherOptions {
  enrichments: readonly EnrichmentSpec[];
  /** The source of each enrichment, by name. */
  sources: ReadonlyMap<string, LookupSource>;
  /** Undefined when no enrichment uses L2. */
  shared: SharedCache | undefined;
  clock: Clock;
  /** Counts each lookup by enrichment, level and whether a record was found. */
  onLookup?: (enrichment: string, level: LookupLevel, found: boolean, count: number) => void;
}

interface Lookup {
  spec: EnrichmentSpec;
  readKey: FieldReader;
  source: LookupSource;
  l1: LRUCache<string, { found: Found }> | undefined;
  l2TtlMs: number;
  inFlight: Map<string, Promise<Found>>;
}

/** The text a key value is looked up by: strings and numbers as they are, anything else as JSON. */
function keyText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : JSON.stringify(value);
}

export class LookupEnricher implements Enricher {
  readonly #o: LookupEnricherOptions;
  /** Enrichments in groups that run one after the other; within a group, in parallel. */
  readonly #stages: Lookup[][];

  constructor(options: LookupEnricherOptions) {
    this.#o = options;
    const perf = { now: () => options.clock.now() };
    const lookups = options.enrichments.map((spec): Lookup => {
      const source = options.sources.get(spec.name);
      if (!source) throw new TypeError(`enrichment ${spec.name} has no source`);
      const l1Max = spec.cache.l1MaxEntries;
      return {
        spec,
        readKey: fieldReader(spec.key),
        source,
        l1:
          l1Max > 0
            ? new LRUCache({ max: l1Max, ttl: Math.max(1, durationMs(spec.cache.l1Ttl)), ttlResolution: 0, perf })
            : undefined,
        l2TtlMs: spec.redis ? 0 : durationMs(spec.cache.l2Ttl),
        inFlight: new Map(),
      };
    });
    // An enrichment whose key lies under another's `into` waits for that one.
    this.#stages = [];
    const stageOf = new Map<string, number>();
    for (const l of lookups) {
      const first = pointerTokens(l.spec.key)[0];
      const after = lookups
        .filter((o) => o !== l && o.spec.into === first && stageOf.has(o.spec.name))
        .map((o) => stageOf.get(o.spec.name)! + 1);
      const stage = Math.max(0, ...after);
      stageOf.set(l.spec.name, stage);
      (this.#stages[stage] ??= []).push(l);
    }
  }

  async enrich(events: Record<string, unknown>[]): Promise<EnrichOutcome[]> {
    const outcomes: EnrichOutcome[] = events.map(() => ({ kind: 'ok' }));
    for (const stage of this.#stages) await Promise.all(stage.map((l) => this.#apply(l, events, outcomes)));
    return outcomes;
  }

  async close(): Promise<void> {}

  async #apply(l: Lookup, events: Record<string, unknown>[], outcomes: EnrichOutcome[]): Promise<void> {
    const keys = events.map((e, i) => (outcomes[i]!.kind === 'ok' ? keyText(l.readKey(e)) : undefined));
    const found = new Map<string, Found>();
    const errors = new Map<string, Error>();
    try {
      const answer = await this.#resolve(l, [...new Set(keys.filter((k): k is string => k !== undefined))]);
      for (const [k, f] of answer.found) found.set(k, f);
      for (const [k, e] of answer.errors) errors.set(k, e);
    } catch (err) {
      for (const k of keys) if (k !== undefined) errors.set(k, err as Error);
    }
    for (const [i, event] of events.entries()) {
      if (outcomes[i]!.kind !== 'ok') continue;
      const k = keys[i];
      const error = k === undefined ? undefined : errors.get(k);
      if (error) {
        outcomes[i] = { kind: 'failed', message: `enrichment ${l.spec.name} failed: ${error.message}` };
        continue;
      }
      const record = k === undefined ? null : (found.get(k) ?? null);
      if (record) event[l.spec.into] = record;
      else if (l.spec.onMiss === 'DeadLetter')
        outcomes[i] = {
          kind: 'deadLetter',
          message:
            k === undefined
              ? `enrichment ${l.spec.name}: the event has no ${l.spec.key}`
              : `enrichment ${l.spec.name}: no record for ${l.spec.key} = ${JSON.stringify(k)}`,
        };
    }
  }

  /** Every key's record (or null), through L1, in-flight lookups, L2 and the source. */
  async #resolve(l: Lookup, keys: string[]): Promise<{ found: Map<string, Found>; errors: Map<string, Error> }> {
    const out = new Map<string, Found>();
    const errors = new Map<string, Error>();
    const l1Hits: Found[] = [];
    const waiting: [string, Promise<Found>][] = [];
    const missing: string[] = [];
    for (const k of keys) {
      const cached = l.l1?.get(k);
      if (cached) {
        out.set(k, cached.found);
        l1Hits.push(cached.found);
      } else if (l.inFlight.has(k)) waiting.push([k, l.inFlight.get(k)!]);
      else missing.push(k);
    }
    this.#count(l, 'l1', l1Hits);
    if (missing.length) {
      const fetched = this.#fetch(l, missing);
      for (const k of missing) {
        const one = fetched.then((answer) => {
          const e = answer.errors.get(k);
          if (e) throw e;
          return answer.found.get(k) ?? null;
        });
        // Awaited only by batches that wanted the same key meanwhile; a failure must not go unhandled.
        one.catch(() => undefined);
        l.inFlight.set(k, one);
      }
      try {
        const answer = await fetched;
        for (const [k, f] of answer.found) out.set(k, f);
        for (const [k, e] of answer.errors) errors.set(k, e);
      } finally {
        for (const k of missing) l.inFlight.delete(k);
      }
    }
    for (const [k, p] of waiting) {
      try {
        out.set(k, await p);
      } catch (err) {
        errors.set(k, err as Error);
      }
    }
    return { found: out, errors };
  }

  #count(l: Lookup, level: LookupLevel, found: Found[]): void {
    const hits = found.filter((f) => f !== null).length;
    if (hits) this.#o.onLookup?.(l.spec.name, level, true, hits);
    if (found.length - hits) this.#o.onLookup?.(l.spec.name, level, false, found.length - hits);
  }

  /** L2, then the source for what L2 lacks; fills both caches with what was found or found missing. */
  async #fetch(l: Lookup, keys: string[]): Promise<{ found: Map<string, Found>; errors: Map<string, Error> }> {
    const found = new Map<string, Found>();
    let remaining = keys;
    const shared = l.l2TtlMs > 0 ? this.#o.shared : undefined;
    if (shared) {
      const hits = await shared.get(l.spec.name, keys);
      for (const [k, f] of hits) found.set(k, f);
      this.#count(l, 'l2', [...hits.values()]);
      remaining = keys.filter((k) => !hits.has(k));
    }
    let errors = new Map<string, Error>();
    if (remaining.length) {
      const answer = await l.source.fetch(remaining);
      errors = answer.errors;
      const fresh = new Map<string, Found>();
      for (const k of remaining) if (!errors.has(k)) fresh.set(k, answer.records.get(k) ?? null);
      this.#count(l, 'source', [...fresh.values()]);
      for (const [k, f] of fresh) found.set(k, f);
      if (shared && fresh.size) await shared.set(l.spec.name, fresh, l.l2TtlMs, Math.min(l.l2TtlMs, NEGATIVE_TTL_MS));
    }
    if (l.l1) {
      const negativeTtl = Math.max(1, Math.min(durationMs(l.spec.cache.l1Ttl), NEGATIVE_TTL_MS));
      for (const [k, f] of found) l.l1.set(k, { found: f }, f === null ? { ttl: negativeTtl } : undefined);
    }
    return { found, errors };
  }
}
