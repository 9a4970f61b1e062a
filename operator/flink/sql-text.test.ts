import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationMs, identifier, interval, jsonPath, literal, pointerTokens } from './sql-text.ts';

describe('identifier', () => {
  const cases: [string, string, string][] = [
    ['quotes a plain name', 'count', '`count`'],
    ['doubles a back quote so the name cannot end early', 'a`b', '`a``b`'],
    ['keeps a quote and a semicolon inside the name', "x'; DROP TABLE t; --", "`x'; DROP TABLE t; --`"],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(identifier(input), want));
});

describe('literal', () => {
  const cases: [string, string, string][] = [
    ['quotes a plain string', 'spend', "'spend'"],
    ['doubles a quote so the string cannot end early', "it's", "'it''s'"],
    ['leaves backslashes alone, as Flink SQL does', 'a\\b', "'a\\b'"],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(literal(input), want));
});

describe('durationMs', () => {
  const cases: [string, string, number | undefined][] = [
    ['reads milliseconds', '500ms', 500],
    ['reads fractional seconds', '1.5s', 1500],
    ['adds up hours and minutes', '1h30m', 5_400_000],
    ['refuses what is not a duration', '5 minutes', undefined],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(durationMs(input), want));
});

describe('interval', () => {
  const cases: [string, number, string][] = [
    ['writes seconds with milliseconds', 5000, "INTERVAL '0 00:00:05.000' DAY TO SECOND(3)"],
    ['writes one millisecond', 1, "INTERVAL '0 00:00:00.001' DAY TO SECOND(3)"],
    ['writes days, hours and minutes', 90_061_250, "INTERVAL '1 01:01:01.250' DAY TO SECOND(3)"],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(interval(input), want));

  it('refuses what a DAY TO SECOND(3) literal cannot hold', () => {
    assert.throws(() => interval(100 * 86_400_000), RangeError);
    assert.throws(() => interval(0.5), RangeError);
  });
});

describe('jsonPath', () => {
  const cases: [string, string, string][] = [
    ['names each step in brackets', '/user/id', "'$[''user''][''id'']'"],
    ['indexes arrays with digit-only tokens', '/items/0/price', "'$[''items''][0][''price'']'"],
    ['unescapes ~1 and ~0 of the pointer', '/a~1b/c~0d', "'$[''a/b''][''c~d'']'"],
    ['escapes quotes and backslashes for the path and doubles quotes for SQL', "/a'b\\c", "'$[''a\\''b\\\\c'']'"],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(jsonPath(input), want));

  it('splits a pointer into its tokens', () => {
    assert.deepEqual(pointerTokens('/a/~1/~0'), ['a', '/', '~']);
  });
});
