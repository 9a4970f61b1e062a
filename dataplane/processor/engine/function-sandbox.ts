/**
 * The sandbox user-defined reducers (Function measures) run in: QuickJS compiled to
 * WebAssembly (quickjs-emscripten), one runtime per function.
 *
 * Why this and not Node's `vm` or a worker: a `vm` context shares the processor's heap and
 * its prototypes leak the host (`this.constructor.constructor('return process')()`), and a
 * worker with `resourceLimits` still runs with Node's APIs. Inside QuickJS the reducer sees
 * a bare ECMAScript global: no `process`, `require`, `fetch`, timers, file system or
 * network; values cross the boundary only as JSON text, so no host object is ever reachable.
 * CPU is bounded by QuickJS's interrupt handler (checked between bytecodes) against a
 * per-call deadline, memory by the runtime's allocation limit, recursion by its stack limit.
 * A runtime that hit a limit is thrown away and rebuilt from the source, so whatever the
 * reducer left half-done does not linger.
 */
import variant from '@jitl/quickjs-wasmfile-release-sync';
import {
  newQuickJSWASMModuleFromVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import { Errors, weirError } from '../../../lib/errors/errors.ts';

/** The methods a reducer's source must define. */
export const REDUCER_METHODS = ['init', 'add', 'merge', 'result'] as const;
export type ReducerMethod = (typeof REDUCER_METHODS)[number];

/** A user-defined reducer as the processor runs it. */
export interface UserFunctionSpec {
  name: string;
  /** An expression evaluating to `{ init(), add(acc, value), merge(a, b), result(acc) }`. */
  source: string;
  /** CPU time one call may take. */
  timeoutMs: number;
  /** Memory the runtime may allocate. */
  memoryBytes: number;
}

/** Longest JSON an accumulator or result may have: it is stored in the changelog with every change. */
export const MAX_VALUE_BYTES = 64 * 1024;
const STACK_BYTES = 256 * 1024;

let module: Promise<QuickJSWASMModule> | undefined;

/** Loads the WebAssembly module once per process; later calls share it. */
export function loadSandboxModule(): Promise<QuickJSWASMModule> {
  // The package's types describe its CommonJS entry; the ESM one Node loads exports the variant as default.
  module ??= newQuickJSWASMModuleFromVariant(variant as unknown as QuickJSSyncVariant);
  return module;
}

const BOOTSTRAP = `globalThis.__weirCall = function (method, argsJson) {
  const out = __weirReducer[method].apply(__weirReducer, JSON.parse(argsJson));
  return JSON.stringify(out === undefined ? null : out);
};`;

/** One reducer in its own QuickJS runtime. Calls are synchronous. */
export class FunctionSandbox {
  readonly spec: UserFunctionSpec;
  #module: QuickJSWASMModule;
  #runtime!: QuickJSRuntime;
  #context!: QuickJSContext;
  #call!: QuickJSHandle;
  #deadline = 0;

  /** Evaluates the source; an InvalidConfig error says what is wrong with it. */
  constructor(wasm: QuickJSWASMModule, spec: UserFunctionSpec) {
    this.#module = wasm;
    this.spec = spec;
    this.#start();
  }

  /** Calls one of the reducer's methods with JSON arguments; returns its JSON result. */
  call(method: ReducerMethod, args: unknown[]): unknown {
    const argsJson = JSON.stringify(args);
    const ctx = this.#context;
    const m = ctx.newString(method);
    const a = ctx.newString(argsJson);
    this.#deadline = performance.now() + this.spec.timeoutMs;
    const result = ctx.callFunction(this.#call, ctx.undefined, m, a);
    m.dispose();
    a.dispose();
    if (result.error) {
      const error = ctx.dump(result.error) as { name?: string; message?: string } | string;
      result.error.dispose();
      const message = typeof error === 'string' ? error : `${error.name ?? 'Error'}: ${error.message ?? ''}`;
      const limit = /interrupted/.test(message)
        ? `ran past its ${this.spec.timeoutMs} ms CPU limit`
        : /out of memory|stack overflow/.test(message)
          ? `exceeded its ${Math.round(this.spec.memoryBytes / 2 ** 20)} MiB memory or stack limit (${message})`
          : undefined;
      if (limit) this.#restart();
      throw weirError(Errors.UserFunctionFailed, `function ${this.spec.name}.${method} ${limit ?? `threw ${message}`}`);
    }
    // The reducer may have replaced JSON.stringify in its own global: what comes back is checked.
    const isString = ctx.typeof(result.value) === 'string';
    const text = isString ? ctx.getString(result.value) : '';
    result.value.dispose();
    const failed = (why: string) => weirError(Errors.UserFunctionFailed, `function ${this.spec.name}.${method} ${why}`);
    if (!isString) throw failed('returned what is not JSON');
    if (text.length > MAX_VALUE_BYTES)
      throw failed(`returned ${text.length} bytes of JSON; at most ${MAX_VALUE_BYTES} are kept`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw failed('returned what is not JSON');
    }
  }

  /** Frees the runtime. */
  dispose(): void {
    this.#call.dispose();
    this.#context.dispose();
    this.#runtime.dispose();
  }

  #start(): void {
    const runtime = this.#module.newRuntime();
    runtime.setMemoryLimit(this.spec.memoryBytes);
    runtime.setMaxStackSize(STACK_BYTES);
    runtime.setInterruptHandler(() => performance.now() > this.#deadline);
    const ctx = runtime.newContext();
    const fail = (why: string): never => {
      ctx.dispose();
      runtime.dispose();
      throw weirError(Errors.InvalidConfig, `function ${this.spec.name}: ${why}`);
    };
    this.#deadline = performance.now() + Math.max(this.spec.timeoutMs, 100);
    const evaluated = ctx.evalCode(`(${this.spec.source}\n)`, `${this.spec.name}.js`);
    if (evaluated.error) {
      const error = ctx.dump(evaluated.error) as { message?: string };
      evaluated.error.dispose();
      fail(`the source does not evaluate: ${error.message ?? String(error)}`);
    }
    const reducer = ctx.unwrapResult(evaluated);
    const kinds = REDUCER_METHODS.map((method) => {
      const prop = ctx.getProp(reducer, method);
      const kind = ctx.typeof(prop);
      prop.dispose();
      return [method, kind] as const;
    });
    const missing = kinds.filter(([, kind]) => kind !== 'function').map(([method]) => method);
    if (missing.length) {
      reducer.dispose();
      fail(
        `the source must evaluate to an object with the functions ${REDUCER_METHODS.join(', ')}; missing: ${missing.join(', ')}`,
      );
    }
    ctx.setProp(ctx.global, '__weirReducer', reducer);
    reducer.dispose();
    ctx.unwrapResult(ctx.evalCode(BOOTSTRAP)).dispose();
    this.#runtime = runtime;
    this.#context = ctx;
    this.#call = ctx.getProp(ctx.global, '__weirCall');
  }

  #restart(): void {
    this.dispose();
    this.#start();
  }
}
