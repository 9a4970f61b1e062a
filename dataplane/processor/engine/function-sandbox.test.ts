import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { QuickJSWASMModule } from 'quickjs-emscripten-core';
import { Errors, hasCode } from '../../../lib/errors/errors.ts';
import { FunctionSandbox, loadSandboxModule, type UserFunctionSpec } from './function-sandbox.ts';

let wasm: QuickJSWASMModule;
before(async () => {
  wasm = await loadSandboxModule();
});

const SUM = `({ init() { return 0 }, add(acc, v) { return acc + v }, merge(a, b) { return a + b }, result(acc) { return acc } })`;

function sandbox(source: string, limits: Partial<UserFunctionSpec> = {}): FunctionSandbox {
  return new FunctionSandbox(wasm, { name: 'f', source, timeoutMs: 50, memoryBytes: 8 * 2 ** 20, ...limits });
}

/** A reducer whose add() evaluates `expression` and returns its value. */
function probe(expression: string): unknown {
  const s = sandbox(
    `({ init() { return 0 }, add(acc, v) { return ${expression} }, merge(a, b) { return a }, result(a) { return a } })`,
  );
  try {
    return s.call('add', [0, 1]);
  } finally {
    s.dispose();
  }
}

const failedWith = (pattern: RegExp) => (err: Error) =>
  hasCode(err, Errors.UserFunctionFailed) && pattern.test(err.message);

describe('the function sandbox', () => {
  it('runs a reducer with JSON values in and out', () => {
    const s = sandbox(SUM);
    let acc = s.call('init', []);
    for (const v of [1, 2, 3.5]) acc = s.call('add', [acc, v]);
    assert.equal(s.call('result', [s.call('merge', [acc, 10])]), 16.5);
    s.dispose();
  });

  it('keeps structured accumulators, and turns undefined into null', () => {
    const s = sandbox(`({ init() { return { n: 0, seen: [] } }, add(a, v) { a.n++; a.seen.push(v); return a },
      merge(a, b) { return { n: a.n + b.n, seen: a.seen.concat(b.seen) } }, result(a) { return undefined } })`);
    assert.deepEqual(s.call('add', [s.call('init', []), 'x']), { n: 1, seen: ['x'] });
    assert.equal(s.call('result', [{}]), null);
    s.dispose();
  });

  it('refuses a source that does not evaluate, or lacks a method, naming the function', () => {
    assert.throws(
      () => sandbox('({ init() {'),
      (err: Error) =>
        hasCode(err, Errors.InvalidConfig) && /function f: the source does not evaluate/.test(err.message),
    );
    assert.throws(() => sandbox('({ init() { return 0 } })'), /missing: add, merge, result/);
  });

  it('gives the reducer no process, require, module, fetch, timers or Node globals', () => {
    for (const name of [
      'process',
      'require',
      'module',
      'fetch',
      'setTimeout',
      'Buffer',
      'globalThis.process',
      'std',
      'os',
      'WebAssembly',
    ])
      assert.equal(probe(`typeof ${name}`), 'undefined', name);
  });

  it('does not let the Function constructor or a prototype reach the host', () => {
    assert.equal(
      probe(`(function () { return this })().constructor.constructor('return typeof process')()`),
      'undefined',
    );
    assert.equal(
      probe(`Object.getPrototypeOf(async function () {}).constructor('return 1') instanceof Function`),
      true,
    );
    assert.equal(probe(`[].constructor.constructor('return typeof require')()`), 'undefined');
    // Changing the sandbox's own prototypes leaves the host's untouched.
    probe(`(Object.prototype.polluted = 'yes', 1)`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('stops a reducer that runs past its CPU time, and works again after', () => {
    const s = sandbox(
      `({ init() { return 0 }, add(a, v) { if (v === 'spin') for (;;) {} return a + v }, merge(a) { return a }, result(a) { return a } })`,
      { timeoutMs: 20 },
    );
    assert.throws(() => s.call('add', [0, 'spin']), failedWith(/f\.add ran past its 20 ms CPU limit/));
    assert.equal(s.call('add', [1, 2]), 3);
    s.dispose();
  });

  it('stops a reducer that allocates past its memory, and one that recurses without end', () => {
    const hog = sandbox(
      `({ init() { const a = []; for (;;) a.push(new Array(100000).fill(1)) }, add(a) { return a }, merge(a) { return a }, result(a) { return a } })`,
      { memoryBytes: 4 * 2 ** 20, timeoutMs: 5_000 },
    );
    assert.throws(() => hog.call('init', []), failedWith(/exceeded its 4 MiB memory or stack limit/));
    assert.equal(hog.call('add', [7]), 7);
    hog.dispose();
    const deep = sandbox(
      `({ init() { const f = (n) => f(n + 1) + 1; return f(0) }, add(a) { return a }, merge(a) { return a }, result(a) { return a } })`,
      { timeoutMs: 5_000 },
    );
    assert.throws(() => deep.call('init', []), failedWith(/memory or stack limit/));
    deep.dispose();
  });

  it('reports a reducer that throws, returns too much, or replaces JSON.stringify', () => {
    assert.throws(
      () => probe(`(() => { throw new TypeError('bad value') })()`),
      failedWith(/threw TypeError: bad value/),
    );
    assert.throws(() => probe(`'x'.repeat(70000)`), failedWith(/returned 70002 bytes of JSON; at most 65536/));
    const liar = sandbox(
      `({ init() { JSON.stringify = () => 42; return 0 }, add(a) { return a }, merge(a) { return a }, result(a) { return a } })`,
    );
    assert.throws(() => liar.call('init', []), failedWith(/returned what is not JSON/));
    liar.dispose();
  });
});
