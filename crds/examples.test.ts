import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, weirKinds } from './index.ts';

const examplesDir = join(import.meta.dirname, '..', 'examples');

describe('the examples', () => {
  const docs = readdirSync(examplesDir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(examplesDir, f), 'utf8')).map((d) => ({
        file: f,
        obj: d.toJS() as { apiVersion: string; kind: string; spec: unknown },
      })),
    );

  it('cover every Weir kind', () => {
    assert.deepEqual(new Set(docs.map((d) => d.obj.kind)), new Set(weirKinds.map((k) => k.kind)));
  });

  for (const { file, obj } of docs) {
    it(`${file}: satisfies the zod schema of its kind`, () => {
      assert.equal(obj.apiVersion, API_VERSION);
      const def = weirKinds.find((k) => k.kind === obj.kind);
      assert.ok(def, `${file}: unknown kind ${obj.kind}`);
      const result = def.spec.safeParse(obj.spec);
      assert.ok(result.success, `${file}: ${result.error?.message}`);
    });
  }

  it('the clickstream pipeline uses enrichment and tumbling, sliding and session windows with percentiles', () => {
    const pipeline = docs.find((d) => d.obj.kind === 'Pipeline')!.obj.spec as {
      enrich: unknown[];
      aggregate: { window: { type: string }; measures: { type: string }[] }[];
    };
    assert.ok(pipeline.enrich.length > 0);
    assert.deepEqual(
      new Set(pipeline.aggregate.map((a) => a.window.type)),
      new Set(['Tumbling', 'Sliding', 'Session']),
    );
    assert.ok(pipeline.aggregate.some((a) => a.measures.some((m) => m.type === 'Percentiles')));
  });
});
