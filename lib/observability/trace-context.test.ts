import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { continueTrace, parseTraceParent, passTraceState } from './trace-context.ts';

describe('trace context', () => {
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it("keeps the caller's trace id and flags and names a span of its own", () => {
    const next = parseTraceParent(continueTrace(parent))!;
    assert.equal(next.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(next.flags, '01');
    assert.notEqual(next.spanId, '00f067aa0ba902b7');
  });

  it('starts a new, unsampled trace when the caller sent none or a malformed one', () => {
    for (const header of [undefined, 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01']) {
      const next = parseTraceParent(continueTrace(header))!;
      assert.match(next.traceId, /^[0-9a-f]{32}$/);
      assert.equal(next.flags, '00');
    }
  });

  it('refuses traceparents of another shape', () => {
    assert.equal(parseTraceParent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), undefined);
    assert.equal(parseTraceParent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'), undefined);
  });

  it('passes a reasonable tracestate on and drops an oversized or binary one', () => {
    assert.equal(passTraceState(' congo=t61rcWkgMzE '), 'congo=t61rcWkgMzE');
    assert.equal(passTraceState('a'.repeat(600)), undefined);
    assert.equal(passTraceState('x=\u0001'), undefined);
  });
});
