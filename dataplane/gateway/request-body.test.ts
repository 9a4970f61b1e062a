import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors } from '../../lib/errors/errors.ts';
import { bodyFormat, nestingDepth, parseJsonBody, parseNdjsonBody } from './request-body.ts';

const limits = { maxEvents: 3, maxDepth: 4 };
const json = (text: string) => Buffer.from(text);

function problems(run: () => unknown): { pointer: string; message: string }[] {
  try {
    run();
  } catch (err) {
    assert.equal((err as { code?: string }).code, Errors.InvalidEvent.code);
    return (err as { details: { errors: { pointer: string; message: string }[] } }).details.errors;
  }
  assert.fail('expected the body to be refused');
}

describe('the format of a request body', () => {
  const cases: [string | undefined, string | undefined][] = [
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/JSON', 'json'],
    ['application/cloudevents+json', 'json'],
    ['application/x-ndjson', 'ndjson'],
    ['application/jsonl', 'ndjson'],
    ['application/x-protobuf', 'protobuf'],
    ['application/json; charset=latin1', undefined],
    ['text/plain', undefined],
    ['multipart/form-data; boundary=x', undefined],
    [undefined, undefined],
  ];
  for (const [type, format] of cases)
    it(`is ${format ?? 'refused'} for ${type ?? 'no content type'}`, () => assert.equal(bodyFormat(type), format));
});

describe('a JSON body', () => {
  it('is one event when it holds an object, keeping its bytes as they came', () => {
    const body = json('{"a": 1}');
    const parsed = parseJsonBody(body, limits);
    assert.equal(parsed.batch, false);
    assert.deepEqual(parsed.events[0]!.value, { a: 1 });
    assert.equal(parsed.events[0]!.json, body);
  });

  it('is a batch when it holds an array of objects', () => {
    const parsed = parseJsonBody(json('[{"a":1},{"b":2}]'), limits);
    assert.equal(parsed.batch, true);
    assert.deepEqual(
      parsed.events.map((e) => e.json.toString()),
      ['{"a":1}', '{"b":2}'],
    );
  });

  it('is refused with the parser position when it is not JSON', () => {
    const [p] = problems(() => parseJsonBody(json('{"a": }'), limits));
    assert.equal(p!.pointer, '');
    assert.match(p!.message, /is not valid JSON/);
  });

  it('names each element of a batch that is not an object', () => {
    assert.deepEqual(
      problems(() => parseJsonBody(json('[{"a":1}, 2, "x"]'), limits)),
      [
        { pointer: '/1', message: 'must be a JSON object' },
        { pointer: '/2', message: 'must be a JSON object' },
      ],
    );
  });

  it('refuses a scalar, an empty batch and a batch over the limit', () => {
    assert.match(problems(() => parseJsonBody(json('42'), limits))[0]!.message, /must be a JSON object/);
    assert.match(problems(() => parseJsonBody(json('[]'), limits))[0]!.message, /empty batch/);
    assert.match(
      problems(() => parseJsonBody(json('[{},{},{},{}]'), limits))[0]!.message,
      /holds 4 events; a batch may hold 3/,
    );
  });

  it('refuses nesting past the limit before parsing, in an event and in a batch', () => {
    assert.match(
      problems(() => parseJsonBody(json('{"a":{"b":{"c":{"d":{}}}}}'), limits))[0]!.message,
      /deeper than 4/,
    );
    assert.equal(parseJsonBody(json('[{"a":{"b":{"c":{}}}}]'), limits).events.length, 1);
    assert.match(
      problems(() => parseJsonBody(json(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), limits))[0]!.message,
      /deeper/,
    );
  });
});

describe('an NDJSON body', () => {
  it('is one event per line, blank lines and CRLF ignored', () => {
    const parsed = parseNdjsonBody(json('{"a":1}\r\n\n{"b":2}\n'), limits);
    assert.deepEqual(
      parsed.events.map((e) => e.value),
      [{ a: 1 }, { b: 2 }],
    );
  });

  it('names every bad line by its event index', () => {
    assert.deepEqual(
      problems(() => parseNdjsonBody(json('{"a":1}\nnope\n[1]\n'), limits)).map((p) => p.pointer),
      ['/1', '/2'],
    );
  });

  it('refuses more lines than a batch may hold', () => {
    assert.match(problems(() => parseNdjsonBody(json('{}\n{}\n{}\n{}\n'), limits))[0]!.message, /more than 3/);
  });
});

describe('nesting depth', () => {
  it('ignores brackets in strings, escaped quotes included', () => {
    assert.equal(nestingDepth(json('{"a":"[[[{{{\\"[[["}'), 10), 1);
  });
  it('stops counting past the limit', () => {
    assert.equal(nestingDepth(json('[[[[[[[[[['), 3), 4);
  });
});
