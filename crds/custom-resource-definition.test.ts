import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { validated } from './cel.ts';
import { customResourceDefinition, SchemaConversionError, structuralSchema } from './custom-resource-definition.ts';
import { weirKinds } from './index.ts';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema };

function walk(schema: Schema, path: string, visit: (s: Schema, path: string) => void): void {
  visit(schema, path);
  for (const [name, child] of Object.entries(schema.properties ?? {})) walk(child, `${path}.${name}`, visit);
  if (schema.items) walk(schema.items, `${path}[*]`, visit);
}

describe('structuralSchema', () => {
  it('refuses a field without a description, so kubectl explain always has something to say', () => {
    const schema = z.object({ documented: z.string().describe('yes'), bare: z.string() }).describe('spec');
    assert.throws(
      () => structuralSchema(schema, 'spec'),
      (err: Error) => err instanceof SchemaConversionError && err.message === 'spec.bare: field has no description',
    );
  });

  it('refuses unions, which a structural schema cannot express', () => {
    const schema = z
      .object({ either: z.union([z.string(), z.number()]).describe('one or the other') })
      .describe('spec');
    assert.throws(() => structuralSchema(schema, 'spec'), /spec\.either: 'anyOf' cannot be expressed/);
  });

  it('turns a free-form record into x-kubernetes-preserve-unknown-fields', () => {
    const out = structuralSchema(
      z.object({ doc: z.record(z.string(), z.unknown()).describe('anything') }).describe('spec'),
      'spec',
    ) as Schema;
    assert.deepEqual(out.properties?.doc, {
      description: 'anything',
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  it("drops zod's safe-integer bounds but keeps real ones", () => {
    const out = structuralSchema(z.object({ n: z.int().min(1).describe('n') }).describe('spec'), 'spec') as Schema;
    assert.deepEqual(out.properties?.n, { description: 'n', type: 'integer', minimum: 1, format: 'int64' });
  });

  it("fills an object default with its fields' defaults so that CEL rules on the object can read them", () => {
    const inner = validated(
      z.object({ min: z.int().default(1).describe('min'), max: z.int().default(4).describe('max') }),
      { rule: 'self.min <= self.max' },
    );
    const out = structuralSchema(
      z.object({ scaling: inner.prefault({}).describe('scaling') }).describe('spec'),
      'spec',
    ) as Schema;
    assert.deepEqual(out.properties?.scaling?.default, { min: 1, max: 4 });
  });
});

describe('the Weir CRDs', () => {
  for (const def of weirKinds) {
    const crd = customResourceDefinition(def) as {
      spec: {
        versions: { schema: { openAPIV3Schema: Schema }; additionalPrinterColumns: { name: string }[] }[];
        names: { categories: string[] };
      };
    };
    const version = crd.spec.versions[0]!;

    it(`${def.kind}: every field under spec and status has a description`, () => {
      const schema = version.schema.openAPIV3Schema;
      for (const part of ['spec', 'status'] as const) {
        walk(schema.properties![part]!, part, (s, path) => {
          if (!path.endsWith('[*]'))
            assert.equal(typeof s.description, 'string', `${def.kind} ${path} has no description`);
        });
      }
    });

    it(`${def.kind}: every list and string a CEL rule may read is bounded, so the API server can cost the rules`, () => {
      walk(version.schema.openAPIV3Schema.properties!.spec!, 'spec', (s, path) => {
        if (s.type === 'array') assert.equal(typeof s.maxItems, 'number', `${def.kind} ${path} has no maxItems`);
        if (s.type === 'string' && !s.enum)
          assert.equal(typeof s.maxLength, 'number', `${def.kind} ${path} has no maxLength`);
      });
    });

    it(`${def.kind}: is in the weir category and prints Age last`, () => {
      assert.deepEqual(crd.spec.names.categories, ['weir']);
      assert.equal(version.additionalPrinterColumns.at(-1)?.name, 'Age');
    });
  }
});
