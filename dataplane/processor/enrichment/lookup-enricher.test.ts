import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpec } from '../../../crds/pipeline.ts';
import { FakeClock } from '../../../lib/clock/clock.ts';
import {
  LookupEnricher,
  type Found,
  type LookupLevel,
  type LookupSource,
  type SharedCache,
  type SourceAnswer,
} from './lookup-enricher.ts';

/** A source over a fixed table that records every fetch; `gate` holds fetches until released. */
function tableSource(
  rows: Record<string, Record<string, unknown>>,
  options: { failing?: string[]; gate?: Promise<void> } = {},
) {
  const fetches: string[][] = [];
  const source: LookupSource = {
    async fetch(keys): Promise<SourceAnswer> {
      fetches.push([...keys]);
      await options.gate;
      const records = new Map<string, Record<string, unknown>>();
      const errors = new Map<string, Error>();
      for (const k of keys) {
        if (options.failing?.includes(k)) errors.set(k, new Error(`cannot look up ${k}`));
        else if (rows[k]) records.set(k, rows[k]);
      }
      return { records, errors };
    },
  };
  return { source, fetches };
}

function memoryCache(): SharedCache & { entries: Map<string, Found> } {
  const entries = new Map<string, Found>();
  return {
    entries,
    async get(enrichment, keys) {
      return new Map(
        keys.filter((k) => entries.has(`${enrichment}:${k}`)).map((k) => [k, entries.get(`${enrichment}:${k}`)!]),
      );
    },
    async set(enrichment, found) {
      for (const [k, f] of found) entries.set(`${enrichment}:${k}`, f);
    },
  };
}

const USERS = { u1: { id: 'u1', plan: 'gold' }, u2: { id: 'u2', plan: 'free' } };

function enrichSpec(enrich: unknown[]) {
  return PipelineSpec.parse({ enrich }).enrich!;
}

const USER_PLAN = { name: 'user_plan', key: '/user', into: 'plan', postgres: { table: 'users', keyColumn: 'id' } };

function counter() {
  const counts: Record<string, number> = {};
  return {
    counts,
    onLookup: (_e: string, level: LookupLevel, found: boolean, n: number) =>
      (counts[`${level}:${found}`] = (counts[`${level}:${found}`] ?? 0) + n),
  };
}

describe('enrichment', () => {
  it('sets the record found at the into field, and leaves the field out on a miss by default', async () => {
    const { source } = tableSource(USERS);
    const enricher = new LookupEnricher({
      enrichments: enrichSpec([USER_PLAN]),
      sources: new Map([['user_plan', source]]),
      shared: undefined,
      clock: new FakeClock(),
    });
    const events: Record<string, unknown>[] = [{ user: 'u1' }, { user: 'nobody' }, {}];
    assert.deepEqual(await enricher.enrich(events), [{ kind: 'ok' }, { kind: 'ok' }, { kind: 'ok' }]);
    assert.deepEqual(events, [{ user: 'u1', plan: USERS.u1 }, { user: 'nobody' }, {}]);
  });

  it('looks each distinct key of a batch up once, and answers the next batch from L1', async () => {
    const { source, fetches } = tableSource(USERS);
    const { counts, onLookup } = counter();
    const enricher = new LookupEnricher({
      enrichments: enrichSpec([USER_PLAN]),
      sources: new Map([['user_plan', source]]),
      shared: undefined,
      clock: new FakeClock(),
      onLookup,
    });
    await enricher.enrich([{ user: 'u1' }, { user: 'u2' }, { user: 'u1' }]);
    await enricher.enrich([{ user: 'u1' }, { user: 'u2' }]);
    assert.deepEqual(fetches, [['u1', 'u2']]);
    assert.deepEqual(counts, { 'source:true': 2, 'l1:true': 2 });
  });

  it('answers from L2 what L1 lacks (another replica, or a restart), and fills L2 from the source', async () => {
    const shared = memoryCache();
    const first = tableSource(USERS);
    await new LookupEnricher({
      enrichments: enrichSpec([USER_PLAN]),
      sources: new Map([['user_plan', first.source]]),
      shared,
      clock: new FakeClock(),
    }).enrich([{ user: 'u1' }, { user: 'gone' }]);
    assert.deepEqual(shared.entries.get('user_plan:u1'), USERS.u1);
    assert.equal(shared.entries.get('user_plan:gone'), null, 'a miss is cached too');
    const second = tableSource(USERS);
    const { counts, onLookup } = counter();
    const events: Record<string, unknown>[] = [{ user: 'u1' }, { user: 'gone' }];
    await new LookupEnricher({
      enrichments: enrichSpec([USER_PLAN]),
      sources: new Map([['user_plan', second.source]]),
      shared,
      clock: new FakeClock(),
      onLookup,
    }).enrich(events);
    assert.deepEqual(second.fetches, []);
    assert.deepEqual(counts, { 'l2:true': 1, 'l2:false': 1 });
    assert.deepEqual(events[0]!.plan, USERS.u1);
  });

  it('makes one query for a key that batches miss at the same time', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { source, fetches } = tableSource(USERS, { gate });
    const enricher = new LookupEnricher({
      enrichments: enrichSpec([USER_PLAN]),
      sources: new Map([['user_plan', source]]),
      shared: undefined,
      clock: new FakeClock(),
    });
    const a: Record<string, unknown>[] = [{ user: 'u1' }];
    const b: Record<string, unknown>[] = [{ user: 'u1' }, { user: 'u2' }];
    const both = Promise.all([enricher.enrich(a), enricher.enrich(b)]);
    await new Promise((r) => setImmediate(r));
    release();
    await both;
    assert.deepEqual(fetches, [['u1'], ['u2']]);
    assert.deepEqual([a[0]!.plan, b[0]!.plan, b[1]!.plan], [USERS.u1, USERS.u1, USERS.u2]);
  });

  it('remembers a miss only briefly, so a record added later is found', async () => {
    const rows: Record<string, Record<string, unknown>> = {};
    const { source, fetches } = tableSource(rows);
    // lru-cache reads a start time of 0 as no time at all.
    const clock = new FakeClock({ now: 1_000_000 });
    const enricher = new LookupEnricher({
      enrichments: enrichSpec([{ ...USER_PLAN, cache: { l1Ttl: '1h', l2Ttl: '1h' } }]),
      sources: new Map([['user_plan', source]]),
      shared: undefined,
      clock,
    });
    await enricher.enrich([{ user: 'late' }]);
    rows.late = { id: 'late' };
    await clock.advance(4_000);
    await enricher.enrich([{ user: 'late' }]);
    assert.equal(fetches.length, 1, 'still a cached miss after 4 s');
    await clock.advance(1_001);
    const events: Record<string, unknown>[] = [{ user: 'late' }];
    await enricher.enrich(events);
    assert.equal(fetches.length, 2);
    assert.deepEqual(events[0]!.plan, { id: 'late' });
  });

  it('dead-letters a miss when onMiss says so, naming the key', async () => {
    const { source } = tableSource(USERS);
    const enricher = new LookupEnricher({
      enrichments: enrichSpec([{ ...USER_PLAN, onMiss: 'DeadLetter' }]),
      sources: new Map([['user_plan', source]]),
      shared: undefined,
      clock: new FakeClock(),
    });
    const [ok, miss, none] = await enricher.enrich([{ user: 'u1' }, { user: 'u9' }, {}]);
    assert.equal(ok!.kind, 'ok');
    assert.deepEqual(miss, { kind: 'deadLetter', message: 'enrichment user_plan: no record for /user = "u9"' });
    assert.deepEqual(none, { kind: 'deadLetter', message: 'enrichment user_plan: the event has no /user' });
  });

  it('fails only the events whose key could not be looked up, and caches nothing for them', async () => {
    const { source, fetches } = tableSource(USERS, { failing: ['bad'] });
    const enricher = new LookupEnricher({
      enrichments: enrichSpec([USER_PLAN]),
      sources: new Map([['user_plan', source]]),
      shared: undefined,
      clock: new FakeClock(),
    });
    const outcomes = await enricher.enrich([{ user: 'u1' }, { user: 'bad' }]);
    assert.deepEqual(outcomes, [
      { kind: 'ok' },
      { kind: 'failed', message: 'enrichment user_plan failed: cannot look up bad' },
    ]);
    await enricher.enrich([{ user: 'bad' }]);
    assert.deepEqual(fetches, [['u1', 'bad'], ['bad']]);
  });

  it("runs independent lookups in parallel, and one keyed by another's field after it", async () => {
    const started: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tracked = (name: string, rows: Record<string, Record<string, unknown>>): LookupSource => ({
      async fetch(keys) {
        started.push(name);
        await gate;
        return { records: new Map(keys.filter((k) => rows[k]).map((k) => [k, rows[k]!])), errors: new Map() };
      },
    });
    const enrichments = enrichSpec([
      USER_PLAN,
      { name: 'page', key: '/page', into: 'section', redis: { hashPrefix: 'pages:' } },
      { name: 'tier', key: '/plan/plan', into: 'tier', postgres: { table: 'tiers', keyColumn: 'name' } },
    ]);
    const enricher = new LookupEnricher({
      enrichments,
      sources: new Map([
        ['user_plan', tracked('user_plan', USERS)],
        ['page', tracked('page', { home: { title: 'Home' } })],
        ['tier', tracked('tier', { gold: { discount: 0.2 } })],
      ]),
      shared: undefined,
      clock: new FakeClock(),
    });
    const events: Record<string, unknown>[] = [{ user: 'u1', page: 'home' }];
    const done = enricher.enrich(events);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started.sort(), ['page', 'user_plan'], 'both independent lookups started before either finished');
    release();
    await done;
    assert.deepEqual(started, ['page', 'user_plan', 'tier']);
    assert.deepEqual(events[0], {
      user: 'u1',
      page: 'home',
      plan: USERS.u1,
      section: { title: 'Home' },
      tier: { discount: 0.2 },
    });
  });
});
