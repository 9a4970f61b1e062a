/**
 * What a GraphQL query may cost before it runs, so that one request cannot ask for the
 * whole store: every field costs 1, a field that reads a backend (`current`,
 * `currentWindow`, `history`) 10, and what is selected under a list costs as many times as the list may be
 * long — `first` for pages (100 unless given), {@link LIST_SIZES} for the lists of
 * pipelines and aggregations. A query above the limit is refused whole, before any read.
 */
import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValueNode,
} from 'graphql';
import { Errors } from '../../lib/errors/errors.ts';

/** How long a list is taken to be: a tenant's pipelines (no hard limit), a pipeline's aggregations (at most 16). */
export const LIST_SIZES: Record<string, number> = { pipelines: 10, aggregations: 16 };
/** Fields that read a backend. */
const READS = new Set(['current', 'currentWindow', 'history', 'windowUpdates']);
/** Fields whose `first` argument sizes what is under them. */
const PAGES = new Set(['current', 'history']);
const DEFAULT_FIRST = 100;

function intArgument(field: FieldNode, name: string, maxPage: number): number | undefined {
  const arg = field.arguments?.find((a) => a.name.value === name);
  if (!arg) return undefined;
  const value: ValueNode = arg.value;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) return maxPage;
  return undefined;
}

/** The cost of the costliest operation in `document`. */
export function queryCost(document: DocumentNode, maxPage: number): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const cost = (set: SelectionSetNode | undefined, times: number, seen: Set<string>): number => {
    let total = 0;
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.INLINE_FRAGMENT) total += cost(s.selectionSet, times, seen);
      else if (s.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(s.name.value);
        if (f && !seen.has(f.name.value)) total += cost(f.selectionSet, times, new Set([...seen, f.name.value]));
      } else {
        const name = s.name.value;
        const under = PAGES.has(name)
          ? times * Math.max(1, intArgument(s, 'first', maxPage) ?? DEFAULT_FIRST)
          : times * (LIST_SIZES[name] ?? 1);
        total += times * (READS.has(name) ? 10 : 1) + cost(s.selectionSet, under, seen);
      }
    }
    return total;
  };
  let total = 0;
  // The costliest operation of the document counts: any of them may be the one run.
  for (const d of document.definitions)
    if (d.kind === Kind.OPERATION_DEFINITION) total = Math.max(total, cost(d.selectionSet, 1, new Set()));
  return total;
}

/** A validation rule refusing operations that cost more than `max`. */
export function costLimitRule(max: number, maxPage: number) {
  return (context: ValidationContext) => ({
    Document: {
      leave(document: DocumentNode) {
        const cost = queryCost(document, maxPage);
        if (cost > max)
          context.reportError(
            new GraphQLError(
              `the query costs ${cost}, more than the limit of ${max}: ask for smaller pages (first) or fewer fields`,
              { extensions: { code: Errors.QueryTooComplex.code, cost, maxCost: max } },
            ),
          );
      },
    },
  });
}
