import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'graphql';
import { queryCost } from './query-cost.ts';

const MAX_PAGE = 1000;
const cost = (query: string) => queryCost(parse(query), MAX_PAGE);

describe('the cost of a GraphQL query', () => {
  it('counts one for each plain field', () => {
    assert.equal(cost('{ pipeline(namespace: "a", name: "b") { name namespace } }'), 3);
  });

  it('counts what is under a list as many times as the list may be long', () => {
    // pipelines (1) + 10 pipelines × (aggregations (1) + 16 × name (1))
    assert.equal(cost('{ pipelines { aggregations { name } } }'), 1 + 10 * (1 + 16));
  });

  it('charges reads ten and multiplies their items by first', () => {
    const q = (first: string) =>
      cost(
        `{ pipeline(namespace: "a", name: "b") { aggregation(name: "x") { current${first} { items { groupKey } } } } }`,
      );
    assert.equal(q('(first: 5)'), 1 + 1 + 10 + 5 * (1 + 1));
    assert.equal(q(''), 1 + 1 + 10 + 100 * 2);
  });

  it('takes a first given by a variable to be the largest page, whatever the variables say', () => {
    const q =
      'query($n: Int) { pipeline(namespace: "a", name: "b") { aggregation(name: "x") { history(first: $n) { items { events } } } } }';
    assert.equal(cost(q), 1 + 1 + 10 + MAX_PAGE * 2);
  });

  it('counts fragments where they are spread, and the costliest of several operations', () => {
    const q = `fragment W on WindowPage { items { groupKey events } }
      query Small { pipelines { name } }
      query Big { pipeline(namespace: "a", name: "b") { aggregation(name: "x") { current(first: 10) { ...W } } } }`;
    assert.equal(cost(q), 1 + 1 + 10 + 10 * (1 + 2));
  });
});
