/**
 * A small assembler for the WebAssembly that TL's wasm kernels run on the tfjs wasm backend's own
 * memory. Functions are written in WebAssembly's text format, one flat instruction after another
 * (`local.get $x`, `f32x4.add`, `loop $rows ... end`, `br_if $rows`), and this turns them into a
 * module that imports the memory as `env.memory`. Only the instructions the kernels use are
 * known; any other is an error that names it.
 */

export type ValueType = 'i32' | 'f32' | 'f64' | 'v128';

/** One exported function: its parameters and locals by name, and its body as flat text. */
export interface FunctionSource {
  readonly name: string;
  readonly params: Readonly<Record<string, ValueType>>;
  readonly locals?: Readonly<Record<string, ValueType>>;
  readonly body: string;
}

const TYPE_CODE: Record<ValueType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Instructions without immediates. */
const PLAIN: Record<string, number[]> = {
  'i32.eqz': [0x45], 'i32.eq': [0x46], 'i32.ne': [0x47], 'i32.lt_s': [0x48], 'i32.lt_u': [0x49],
  'i32.gt_s': [0x4a], 'i32.gt_u': [0x4b], 'i32.le_s': [0x4c], 'i32.ge_s': [0x4e], 'i32.ge_u': [0x4f],
  'i32.add': [0x6a], 'i32.sub': [0x6b], 'i32.mul': [0x6c], 'i32.and': [0x71], 'i32.shl': [0x74],
  'f32.abs': [0x8b], 'f32.neg': [0x8c], 'f32.sqrt': [0x91], 'f32.add': [0x92], 'f32.sub': [0x93], 'f32.mul': [0x94], 'f32.div': [0x95],
  'f32.min': [0x96], 'f32.max': [0x97], 'f32.gt': [0x5e], 'f32.le': [0x5f], 'f32.ge': [0x60],
  'f64.add': [0xa0], 'f64.sub': [0xa1], 'f64.mul': [0xa2],
  'f32.demote_f64': [0xb6], 'f64.promote_f32': [0xbb], 'f32.convert_i32_u': [0xb3],
  'select': [0x1b], 'drop': [0x1a], 'return': [0x0f],
  'v128.and': simd(0x4e), 'v128.or': simd(0x50), 'v128.bitselect': simd(0x52), 'i32x4.splat': simd(0x11),
  'f32x4.splat': simd(0x13), 'f64x2.splat': simd(0x14),
  'f32x4.gt': simd(0x44), 'f32x4.le': simd(0x45), 'f32x4.ge': simd(0x46),
  'f32x4.demote_f64x2_zero': simd(0x5e), 'f64x2.promote_low_f32x4': simd(0x5f),
  'f32x4.abs': simd(0xe0), 'f32x4.neg': simd(0xe1), 'f32x4.add': simd(0xe4), 'f32x4.sub': simd(0xe5),
  'f32x4.sqrt': simd(0xe3), 'f32x4.mul': simd(0xe6), 'f32x4.div': simd(0xe7), 'f32x4.min': simd(0xe8), 'f32x4.max': simd(0xe9),
  'f64x2.add': simd(0xf0), 'f64x2.sub': simd(0xf1), 'f64x2.mul': simd(0xf2),
};

/** Loads and stores: opcode and natural alignment (log2 bytes). */
const MEMORY: Record<string, [number[], number]> = {
  'i32.load': [[0x28], 2], 'f32.load': [[0x2a], 2], 'f64.load': [[0x2b], 3],
  'i32.store': [[0x36], 2], 'f32.store': [[0x38], 2], 'f64.store': [[0x39], 3],
  'v128.load': [simd(0x00), 4], 'v128.store': [simd(0x0b), 4],
};

function simd(code: number): number[] {
  return [0xfd, ...unsigned(code)];
}

function unsigned(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return out;
}

function signed(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function floatBytes(value: number, bytes: 4 | 8): number[] {
  const buffer = new ArrayBuffer(bytes);
  if (bytes === 4) new DataView(buffer).setFloat32(0, value, true);
  else new DataView(buffer).setFloat64(0, value, true);
  return [...new Uint8Array(buffer)];
}

function utf8(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...unsigned(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...unsigned(items.length), ...items.flat()];
}

function section(id: number, content: number[]): number[] {
  return [id, ...unsigned(content.length), ...content];
}

function parseNumber(token: string | undefined, where: string): number {
  const value = token === 'inf' ? Infinity : token === '-inf' ? -Infinity : Number(token);
  if (token === undefined || Number.isNaN(value)) throw new Error(`${where}: expected a number, got ${token ?? 'nothing'}`);
  return value;
}

/** The body of one function as code bytes, locals first. */
function assembleFunction(source: FunctionSource): number[] {
  const where = (i: number) => `wasm function ${source.name}, instruction ${i + 1}`;
  const names = [...Object.keys(source.params), ...Object.keys(source.locals ?? {})];
  const slot = (token: string | undefined, i: number): number => {
    const at = token?.startsWith('$') ? names.indexOf(token.slice(1)) : -1;
    if (at < 0) throw new Error(`${where(i)}: unknown local ${token ?? '(none)'}`);
    return at;
  };
  const labels: string[] = [];
  const depth = (token: string | undefined, i: number): number => {
    const at = token === undefined ? -1 : labels.lastIndexOf(token);
    if (at < 0) throw new Error(`${where(i)}: unknown label ${token ?? '(none)'}`);
    return labels.length - 1 - at;
  };
  const tokens = source.body.replace(/;;[^\n]*/g, ' ').split(/\s+/).filter((t) => t !== '');
  const code: number[] = [];
  let count = 0;
  for (let t = 0; t < tokens.length; count++) {
    const name = tokens[t++]!;
    const plain = PLAIN[name];
    const memory = MEMORY[name];
    if (plain !== undefined) code.push(...plain);
    else if (memory !== undefined) {
      let offset = 0;
      if (tokens[t]?.startsWith('offset=')) offset = parseNumber(tokens[t++]!.slice(7), where(count));
      // Alignment 0 (a hint): the kernels' pointers are only 4-byte aligned.
      code.push(...memory[0], 0, ...unsigned(offset));
    } else if (name === 'local.get' || name === 'local.set' || name === 'local.tee') {
      code.push({ 'local.get': 0x20, 'local.set': 0x21, 'local.tee': 0x22 }[name], ...unsigned(slot(tokens[t++], count)));
    } else if (name === 'block' || name === 'loop') {
      labels.push(tokens[t++] ?? '');
      code.push(name === 'block' ? 0x02 : 0x03, 0x40);
    } else if (name === 'end') {
      if (labels.pop() === undefined) throw new Error(`${where(count)}: end without a block or loop`);
      code.push(0x0b);
    } else if (name === 'br' || name === 'br_if') {
      code.push(name === 'br' ? 0x0c : 0x0d, ...unsigned(depth(tokens[t++], count)));
    } else if (name === 'i32.const') code.push(0x41, ...signed(parseNumber(tokens[t++], where(count))));
    else if (name === 'f32.const') code.push(0x43, ...floatBytes(parseNumber(tokens[t++], where(count)), 4));
    else if (name === 'f64.const') code.push(0x44, ...floatBytes(parseNumber(tokens[t++], where(count)), 8));
    else if (name === 'i8x16.shuffle') {
      const lanes = tokens.slice(t, t + 16).map((l) => parseNumber(l, where(count)));
      t += 16;
      code.push(...simd(0x0d), ...lanes);
    } else throw new Error(`${where(count)}: unknown instruction ${name}`);
  }
  if (labels.length > 0) throw new Error(`wasm function ${source.name}: ${labels.length} block(s) not ended`);
  const locals = Object.values(source.locals ?? {}).map((type) => [1, TYPE_CODE[type]]);
  const body = [...vector(locals), ...code, 0x0b];
  return [...unsigned(body.length), ...body];
}

/**
 * A module of the functions, each exported by its name, importing its memory as `env.memory`:
 * a shared memory (the threaded wasm backend's) where `shared`, which WebAssembly declares with
 * a maximum, here the largest there is (65536 pages, 4 GiB).
 */
export function assemble(functions: readonly FunctionSource[], shared = false): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vector(Object.values(f.params).map((p) => [TYPE_CODE[p]])), 0]);
  const limits = shared ? [0x03, 0x01, ...unsigned(65536)] : [0x00, 0x01];
  const memoryImport = [...utf8('env'), ...utf8('memory'), 0x02, ...limits];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => unsigned(i)))),
    ...section(7, vector(functions.map((f, i) => [...utf8(f.name), 0x00, ...unsigned(i)]))),
    ...section(10, vector(functions.map(assembleFunction))),
  ];
  return new Uint8Array(bytes);
}

/**
 * The functions as a module compiled on first use and instantiated once per memory: `T` names
 * their signatures, in the order of their parameters.
 */
export function onMemory<T>(functions: readonly FunctionSource[]): (memory: WebAssembly.Memory) => T {
  const compiled = new Map<boolean, WebAssembly.Module>();
  const instances = new WeakMap<WebAssembly.Memory, T>();
  return (memory) => {
    let exports = instances.get(memory);
    if (exports === undefined) {
      const shared = memory.buffer instanceof SharedArrayBuffer;
      let module = compiled.get(shared);
      if (module === undefined) compiled.set(shared, (module = new WebAssembly.Module(assemble(functions, shared))));
      exports = new WebAssembly.Instance(module, { env: { memory } }).exports as T;
      instances.set(memory, exports);
    }
    return exports;
  };
}

/** With the v128 on the stack pushed twice, moves its 8 high bytes low, for a second promote_low. */
export const HIGH = 'i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7';

/** Sets $bytes to the bytes of `count` float32 channels (a local's name) and $vbytes to those a SIMD loop covers. */
export const channelBytes = (count: string) =>
  `local.get $${count} i32.const 2 i32.shl local.set $bytes local.get $${count} i32.const -4 i32.and i32.const 2 i32.shl local.set $vbytes`;

/**
 * The loop along a row of channels the kernels share: `vector` for each 16 bytes (four float32
 * channels) below $vbytes, then `scalar` for each remaining 4 below $bytes, with $o the byte offset
 * in the row. The function declares $o, $bytes and $vbytes and sets the last two (channelBytes).
 */
export function alongChannels(vector: string, scalar: string): string {
  return `
    i32.const 0 local.set $o
    block $vectors
      local.get $vbytes i32.eqz br_if $vectors
      loop $vector
        ${vector}
        local.get $o i32.const 16 i32.add local.tee $o local.get $vbytes i32.lt_u br_if $vector
      end
    end
    block $scalars
      local.get $o local.get $bytes i32.ge_u br_if $scalars
      loop $scalar
        ${scalar}
        local.get $o i32.const 4 i32.add local.tee $o local.get $bytes i32.lt_u br_if $scalar
      end
    end`;
}
