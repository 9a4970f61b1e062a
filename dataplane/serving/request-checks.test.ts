import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode, Errors } from '../../lib/errors/errors.ts';
import { groupKeyProblem } from './group-key.ts';
import { decodeCursor, encodeCursor } from './page-cursor.ts';
import { historyRange, parseTime } from './query-params.ts';
import { entityTag, matchesTag } from './rest-routes.ts';

describe('group keys', () => {
  const cases: [string, string, number, string | undefined][] = [
    ['accepts the key of one groupBy value', '["u1"]', 1, undefined],
    ['accepts the empty key of an aggregation without groupBy', '[]', 0, undefined],
    ['accepts numbers, booleans and null', '[1,true,null]', 3, undefined],
    ['refuses what is not JSON', 'u1', 1, 'must be a JSON array of the groupBy values, such as ["u1","eu"]'],
    [
      'refuses objects among the values',
      '[{"a":1}]',
      1,
      'must be a JSON array of the groupBy values, such as ["u1","eu"]',
    ],
    ['refuses the wrong number of values', '["a","b"]', 1, 'must have 1 value, one per groupBy field'],
    [
      'refuses a spelling the processor does not write',
      '[ "u1" ]',
      1,
      'must be written as the processor writes it: ["u1"]',
    ],
    ['refuses keys longer than 1024 characters', `["${'x'.repeat(1100)}"]`, 1, 'must be at most 1024 characters'],
  ];
  for (const [name, key, arity, problem] of cases) it(name, () => assert.equal(groupKeyProblem(key, arity), problem));
});

describe('page cursors', () => {
  it('come back as they were given out', () => {
    const c = { kind: 'history', aggregation: 'a', windowStart: 5, groupKey: '["x"]' } as const;
    assert.deepEqual(decodeCursor(encodeCursor(c), 'history', 'a'), c);
  });

  const refused: [string, string][] = [
    ['refuses text that is not a cursor', 'not a cursor!'],
    ['refuses a cursor of another listing', encodeCursor({ kind: 'current', aggregation: 'a', score: 1, skip: 0 })],
    [
      'refuses a cursor of another aggregation',
      encodeCursor({ kind: 'history', aggregation: 'b', windowStart: 1, groupKey: '[]' }),
    ],
    ['refuses a cursor with fields missing', Buffer.from('{"kind":"history","aggregation":"a"}').toString('base64url')],
  ];
  for (const [name, raw] of refused)
    it(name, () =>
      assert.throws(
        () => decodeCursor(raw, 'history', 'a', 'after'),
        (err: unknown) => hasCode(err, Errors.InvalidRequest) && /^after /.test(err.message),
      ),
    );
});

describe('history ranges', () => {
  it('reads epoch milliseconds and RFC 3339 times', () => {
    assert.equal(parseTime('1893456000000', 'from'), 1893456000000);
    assert.equal(parseTime('2030-01-01T00:00:00Z', 'from'), 1893456000000);
    assert.equal(parseTime('2030-01-01T01:00:00+01:00', 'from'), 1893456000000);
  });

  it('defaults to the day before now', () => {
    assert.deepEqual(historyRange(undefined, undefined, 100_000_000), [100_000_000 - 86_400_000, 100_000_000]);
  });

  it('names the parameter that is wrong', () => {
    assert.throws(() => historyRange('yesterday', undefined, 0), /^Error: from must be epoch milliseconds/);
    assert.throws(() => historyRange(undefined, '2030-13-45', 0), /^Error: to must be/);
    assert.throws(() => historyRange('10', '5', 0), /^Error: from must be before to/);
  });
});

describe('entity tags', () => {
  it('are equal for equal bodies and differ otherwise', () => {
    assert.equal(entityTag('{"a":1}'), entityTag('{"a":1}'));
    assert.notEqual(entityTag('{"a":1}'), entityTag('{"a":2}'));
  });

  it('match If-None-Match lists, weak tags and *', () => {
    const tag = entityTag('x');
    assert.ok(matchesTag(tag, tag));
    assert.ok(matchesTag(`"other", W/${tag}`, tag));
    assert.ok(matchesTag('*', tag));
    assert.ok(!matchesTag('"other"', tag));
    assert.ok(!matchesTag(undefined, tag));
  });
});
