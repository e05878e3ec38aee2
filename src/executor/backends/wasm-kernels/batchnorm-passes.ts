/**
 * The four passes of the training-mode BatchNorm over its activations (./batchnorm.ts), as
 * WebAssembly running on the wasm backend's own memory: each row of `[rows, cols]` four channels
 * at a time with SIMD, then the last cols % 4 one at a time by the same arithmetic in scalars.
 * Sums are kept in float64. Pointers are byte addresses in that memory; per-channel arrays are
 * float32 `[cols]`, sums float64 `[cols]`.
 *
 * The normalised value is v = (x - mean) scale + beta in float32, and the output min(max(v, lo), hi):
 * the activation as bounds (relu 0 and inf, relu6 0 and 6, none -inf and inf; NaN stays NaN). The
 * gradient recomputes v by the same instructions and passes dy where lo < v <= hi, as dy times 1 or
 * 0, so that a non-finite dy where the activation stopped it gives NaN, as tfjs's relu gradient does.
 */
import { alongChannels, channelBytes, HIGH, onMemory, type FunctionSource, type ValueType } from './assemble.ts';

/** The address of the element at byte offset $o of the array at `pointer`. */
const at = (pointer: string, offset = '$o') => `local.get $${pointer} local.get ${offset} i32.add`;

/**
 * Adds to float64 sums at `pointer` + $o2: the two f64x2 values pushed by `low` and `high` in the
 * vector loop, or the f64 pushed by `low` in the scalar one.
 */
function addSums(pointer: string, low: string, high?: string): string {
  const first = `${at(pointer, '$o2')} local.tee $p local.get $p ${high === undefined ? 'f64.load' : 'v128.load'} ${low} ${high === undefined ? 'f64.add f64.store' : 'f64x2.add v128.store'}`;
  return high === undefined ? first : `${first} local.get $p local.get $p v128.load offset=16 ${high} f64x2.add v128.store offset=16`;
}

/** The locals of the vector loop and of the scalar one: x - mean, v, d. */
const LOCALS = { vector: { xc: '$xc', v: '$v', d: '$d' }, scalar: { xc: '$xs', v: '$vs', d: '$ds' } };

/** Pushes v = (x - mean) scale + beta from the local x - mean. */
const normalised = (vector: boolean) => vector
  ? `local.get $xc ${at('scale')} v128.load f32x4.mul ${at('beta')} v128.load f32x4.add`
  : `local.get $xs ${at('scale')} f32.load f32.mul ${at('beta')} f32.load f32.add`;

/** Sets the locals x - mean and d = dy, masked by the activation when `masked`. */
function centredAndMasked(vector: boolean, masked: boolean): string {
  const { xc, v, d } = vector ? LOCALS.vector : LOCALS.scalar;
  const [load, sub] = vector ? ['v128.load', 'f32x4.sub'] : ['f32.load', 'f32.sub'];
  const mask = !masked ? '' : vector
    ? `${normalised(true)} local.tee ${v} local.get $lo4 f32x4.gt local.get ${v} local.get $hi4 f32x4.le v128.and local.get $one4 v128.and f32x4.mul`
    : `${normalised(false)} local.tee ${v} local.get $lo f32.gt local.get ${v} local.get $hi f32.le i32.and f32.convert_i32_u f32.mul`;
  return `${at('x')} ${load} ${at('mean')} ${load} ${sub} local.set ${xc} ${at('dy')} ${load} ${mask} local.set ${d}`;
}

interface Pass {
  readonly name: string;
  readonly params: Record<string, ValueType>;
  /** The pointers that step by a row (the others are per channel). */
  readonly rowPointers: readonly string[];
  readonly vector: string;
  readonly scalar: string;
}

/**
 * A pass over `[rows, cols]`: $o is the byte offset of the channel in a row's float32s and $o2 in
 * the float64 sums. Every function's parameters include rows and cols, and lo and hi where it
 * bounds or masks (splatted into $lo4 and $hi4, with $one4 = 1).
 */
function pass({ name, params, rowPointers, vector, scalar }: Pass): FunctionSource {
  const bounds = 'lo' in params ? 'local.get $lo f32x4.splat local.set $lo4 local.get $hi f32x4.splat local.set $hi4 f32.const 1 f32x4.splat local.set $one4' : '';
  const step = rowPointers.map((p) => `local.get $${p} local.get $bytes i32.add local.set $${p}`).join(' ');
  return {
    name,
    params,
    locals: {
      o: 'i32', o2: 'i32', p: 'i32', bytes: 'i32', vbytes: 'i32',
      xc: 'v128', d: 'v128', v: 'v128', lo4: 'v128', hi4: 'v128', one4: 'v128', xs: 'f32', vs: 'f32', ds: 'f32', a: 'f64',
    },
    body: `
      ${bounds}
      ${channelBytes('cols')}
      block $done
        local.get $rows i32.eqz br_if $done
        loop $row
          ${alongChannels(`local.get $o i32.const 1 i32.shl local.set $o2 ${vector}`, `local.get $o i32.const 1 i32.shl local.set $o2 ${scalar}`)}
          ${step}
          local.get $rows i32.const 1 i32.sub local.tee $rows br_if $row
        end
      end`,
  };
}

/** The two sums of the gradient's first pass: d, and d (x - mean). */
function gradientSums(masked: boolean): Pass {
  return {
    name: masked ? 'gradient_sums_masked' : 'gradient_sums',
    params: { x: 'i32', dy: 'i32', rows: 'i32', cols: 'i32', mean: 'i32', scale: 'i32', beta: 'i32', lo: 'f32', hi: 'f32', sa: 'i32', sb: 'i32' },
    rowPointers: ['x', 'dy'],
    vector: `${centredAndMasked(true, masked)}
      ${addSums('sa', 'local.get $d f64x2.promote_low_f32x4', `local.get $d local.get $d ${HIGH} f64x2.promote_low_f32x4`)}
      ${addSums('sb', 'local.get $d f64x2.promote_low_f32x4 local.get $xc f64x2.promote_low_f32x4 f64x2.mul',
        `local.get $d local.get $d ${HIGH} f64x2.promote_low_f32x4 local.get $xc local.get $xc ${HIGH} f64x2.promote_low_f32x4 f64x2.mul`)}`,
    scalar: `${centredAndMasked(false, masked)}
      ${addSums('sa', 'local.get $ds f64.promote_f32')}
      ${addSums('sb', 'local.get $ds f64.promote_f32 local.get $xs f64.promote_f32 f64.mul')}`,
  };
}

/** dx = g d + b (x - mean) + e per channel, d = dy masked as in the sums. */
function inputGradient(masked: boolean): Pass {
  return {
    name: masked ? 'input_gradient_masked' : 'input_gradient',
    params: { x: 'i32', dy: 'i32', rows: 'i32', cols: 'i32', mean: 'i32', scale: 'i32', beta: 'i32', lo: 'f32', hi: 'f32', g: 'i32', b: 'i32', e: 'i32', dx: 'i32' },
    rowPointers: ['x', 'dy', 'dx'],
    vector: `${at('dx')} ${centredAndMasked(true, masked)}
      local.get $d ${at('g')} v128.load f32x4.mul local.get $xc ${at('b')} v128.load f32x4.mul f32x4.add ${at('e')} v128.load f32x4.add v128.store`,
    scalar: `${at('dx')} ${centredAndMasked(false, masked)}
      local.get $ds ${at('g')} f32.load f32.mul local.get $xs ${at('b')} f32.load f32.mul f32.add ${at('e')} f32.load f32.add f32.store`,
  };
}

const PASSES: readonly Pass[] = [
  {
    // Per channel, the sums of x - k and of its square (k: the first row).
    name: 'shifted_sums',
    params: { x: 'i32', rows: 'i32', cols: 'i32', k: 'i32', sa: 'i32', sb: 'i32' },
    rowPointers: ['x'],
    vector: `${at('x')} v128.load ${at('k')} v128.load f32x4.sub local.set $v
      ${addSums('sa', 'local.get $v f64x2.promote_low_f32x4', `local.get $v local.get $v ${HIGH} f64x2.promote_low_f32x4`)}
      ${addSums('sb', 'local.get $v f64x2.promote_low_f32x4 local.tee $xc local.get $xc f64x2.mul',
        `local.get $v local.get $v ${HIGH} f64x2.promote_low_f32x4 local.tee $xc local.get $xc f64x2.mul`)}`,
    scalar: `${at('x')} f32.load ${at('k')} f32.load f32.sub f64.promote_f32 local.set $a
      ${addSums('sa', 'local.get $a')}
      ${addSums('sb', 'local.get $a local.get $a f64.mul')}`,
  },
  {
    // y = min(max(v, lo), hi).
    name: 'normalise',
    params: { x: 'i32', rows: 'i32', cols: 'i32', mean: 'i32', scale: 'i32', beta: 'i32', lo: 'f32', hi: 'f32', y: 'i32' },
    rowPointers: ['x', 'y'],
    vector: `${at('y')} ${at('x')} v128.load ${at('mean')} v128.load f32x4.sub local.set $xc
      ${normalised(true)} local.get $lo4 f32x4.max local.get $hi4 f32x4.min v128.store`,
    scalar: `${at('y')} ${at('x')} f32.load ${at('mean')} f32.load f32.sub local.set $xs
      ${normalised(false)} local.get $lo f32.max local.get $hi f32.min f32.store`,
  },
  gradientSums(false),
  gradientSums(true),
  inputGradient(false),
  inputGradient(true),
];

/** The passes as callable functions (arguments in the order of their parameters above). */
export interface BatchNormPasses {
  shifted_sums(x: number, rows: number, cols: number, k: number, sa: number, sb: number): void;
  normalise(x: number, rows: number, cols: number, mean: number, scale: number, beta: number, lo: number, hi: number, y: number): void;
  gradient_sums(x: number, dy: number, rows: number, cols: number, mean: number, scale: number, beta: number, lo: number, hi: number, sa: number, sb: number): void;
  gradient_sums_masked(x: number, dy: number, rows: number, cols: number, mean: number, scale: number, beta: number, lo: number, hi: number, sa: number, sb: number): void;
  input_gradient(x: number, dy: number, rows: number, cols: number, mean: number, scale: number, beta: number, lo: number, hi: number, g: number, b: number, e: number, dx: number): void;
  input_gradient_masked(x: number, dy: number, rows: number, cols: number, mean: number, scale: number, beta: number, lo: number, hi: number, g: number, b: number, e: number, dx: number): void;
}

/** The passes running on `memory`. */
export const batchNormPasses = onMemory<BatchNormPasses>(PASSES.map(pass));
