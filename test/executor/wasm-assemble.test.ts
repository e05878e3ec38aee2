/**
 * The assembler of the wasm kernels' WebAssembly (src/executor/backends/wasm-kernels/assemble.ts):
 * modules it builds run on a real memory, its number encodings hold at their edges, and text it
 * does not know is an error that says where.
 */
import { describe, expect, it } from 'vitest';
import { assemble, onMemory, type FunctionSource } from '../../src/executor/backends/wasm-kernels/assemble.ts';

function run<T>(functions: FunctionSource[]): { exports: T; memory: WebAssembly.Memory } {
  const memory = new WebAssembly.Memory({ initial: 1 });
  return { exports: onMemory<T>(functions)(memory), memory };
}

describe('the wasm assembler', () => {
  it('encodes constants at the edges of their LEB128 and float forms', () => {
    const ints = [0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, -8193, 2 ** 31 - 1, -(2 ** 31)];
    const floats = [0.5, -3.25, 6, Infinity, -Infinity, 1e-40];
    const body = [
      ...ints.map((v, i) => `i32.const ${i * 4} i32.const ${v} i32.store`),
      ...floats.map((v, i) => `i32.const ${256 + i * 4} f32.const ${v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v} f32.store`),
      `i32.const 512 f64.const 0.1 f64.store`,
    ].join('\n');
    const { exports, memory } = run<{ write(): void }>([{ name: 'write', params: {}, body }]);
    exports.write();
    expect([...new Int32Array(memory.buffer, 0, ints.length)]).toEqual(ints);
    expect([...new Float32Array(memory.buffer, 256, floats.length)]).toEqual(floats.map(Math.fround));
    expect(new Float64Array(memory.buffer, 512, 1)[0]).toBe(0.1);
  });

  it('runs loops, branches by label and SIMD on the imported memory', () => {
    // out[i] = max(a[i] + b[i], 0) four at a time, n a multiple of 4; returns nothing.
    const { exports, memory } = run<{ addRelu(a: number, b: number, out: number, n: number): void }>([{
      name: 'addRelu',
      params: { a: 'i32', b: 'i32', out: 'i32', n: 'i32' },
      locals: { o: 'i32', zero: 'v128' },
      body: `
        f32.const 0 f32x4.splat local.set $zero
        block $done
          local.get $n i32.eqz br_if $done
          loop $four
            local.get $out local.get $o i32.add
            local.get $a local.get $o i32.add v128.load
            local.get $b local.get $o i32.add v128.load
            f32x4.add local.get $zero f32x4.max v128.store
            local.get $o i32.const 16 i32.add local.tee $o
            local.get $n i32.const 2 i32.shl i32.lt_u br_if $four
          end
        end`,
    }]);
    const a = new Float32Array(memory.buffer, 0, 8);
    const b = new Float32Array(memory.buffer, 64, 8);
    a.set([1, -2, 3, -4, 5, -6, 7, NaN]);
    b.set([0.5, 1, -4, 5, 0, 6, -8, 1]);
    exports.addRelu(0, 64, 128, 8);
    const out = [...new Float32Array(memory.buffer, 128, 8)];
    expect(out.slice(0, 7)).toEqual([1.5, 0, 0, 1, 5, 0, 0]);
    expect(out[7]).toBeNaN();
  });

  it('says which function and instruction it cannot assemble', () => {
    const at = (body: string, locals = {}) => () => assemble([{ name: 'f', params: { x: 'i32' }, locals, body }]);
    expect(at('local.get $x f32x4.frobnicate')).toThrow('wasm function f, instruction 2: unknown instruction f32x4.frobnicate');
    expect(at('local.get $y drop')).toThrow('wasm function f, instruction 1: unknown local $y');
    expect(at('loop $a br_if $b end')).toThrow('wasm function f, instruction 2: unknown label $b');
    expect(at('block $a')).toThrow('wasm function f: 1 block(s) not ended');
    expect(at('end')).toThrow('wasm function f, instruction 1: end without a block or loop');
    expect(at('i32.const ten drop')).toThrow('wasm function f, instruction 1: expected a number, got ten');
  });

  it('builds modules that WebAssembly validates, and one instance per memory', () => {
    const source: FunctionSource = { name: 'nothing', params: { x: 'f64' }, body: '' };
    expect(WebAssembly.validate(assemble([source]))).toBe(true);
    const instantiate = onMemory<{ nothing(x: number): void }>([source]);
    const memory = new WebAssembly.Memory({ initial: 1 });
    expect(instantiate(memory)).toBe(instantiate(memory));
    expect(instantiate(new WebAssembly.Memory({ initial: 1 }))).not.toBe(instantiate(memory));
  });
});
