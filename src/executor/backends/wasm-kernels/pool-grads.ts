/**
 * Pooling gradients. MaxPoolGrad replaces the shipped wasm kernel, which seeds its running
 * maximum with FLT_MIN (the smallest positive float, not the lowest): the gradient of a window
 * whose values are all <= 0, common after batch norm, is dropped (or lands on the tensor's first
 * element); and of equal maxima it keeps the last, where the cpu backend and TensorFlow keep the
 * first. AvgPoolGrad replaces one that divides by the full window everywhere while the forward
 * op divides by the pixels inside the input: with 'same' padding, border gradients were off by
 * up to the window-to-overlap ratio (the cpu backend has the same bug).
 */
import * as tf from '@tensorflow/tfjs';
import { alongChannels, channelBytes, onMemory } from './assemble.ts';
import { heapOf, memoryOf, views, withScratch } from './heap.ts';
import { opKernel } from './kernel-adapter.ts';
import { depthwiseAdjoint, geometryOf, type WindowGeometry } from './windows.ts';

/**
 * One output position of a max pool: the first maximum of its window per channel (taps in
 * row-major order, a later tap wins only when strictly greater, so NaN never does), then dy added
 * to dx there. The window's taps inside the input are `rows` x `cols` from x's address `x`, `rowStep`
 * and `colStep` bytes apart; dx's address is x's plus `dxMinusX`. `best` and `at` are scratch of c
 * float32s and c int32s: the running maximum and its tap's address (-1: none yet, as when every
 * value is NaN or -Infinity, and then the gradient is dropped, as the cpu backend drops it).
 */
const maxPoolRouting = onMemory<{
  route(x: number, rows: number, cols: number, rowStep: number, colStep: number, c: number, dy: number, dxMinusX: number, best: number, at: number): void;
}>([{
  name: 'route',
  params: { x: 'i32', rows: 'i32', cols: 'i32', rowStep: 'i32', colStep: 'i32', c: 'i32', dy: 'i32', dxMinusX: 'i32', best: 'i32', at: 'i32' },
  locals: { o: 'i32', bytes: 'i32', vbytes: 'i32', r: 'i32', k: 'i32', p: 'i32', a: 'i32', v: 'v128', b: 'v128', m: 'v128', s: 'f32' },
  body: `
    ${channelBytes('c')}
    ${alongChannels(
      `local.get $best local.get $o i32.add f32.const -inf f32x4.splat v128.store
       local.get $at local.get $o i32.add i32.const -1 i32x4.splat v128.store`,
      `local.get $best local.get $o i32.add f32.const -inf f32.store
       local.get $at local.get $o i32.add i32.const -1 i32.store`)}
    loop $row
      i32.const 0 local.set $k
      loop $column
        local.get $x local.get $r local.get $rowStep i32.mul i32.add local.get $k local.get $colStep i32.mul i32.add local.set $p
        ${alongChannels(
          `local.get $p local.get $o i32.add v128.load local.tee $v
           local.get $best local.get $o i32.add v128.load local.tee $b f32x4.gt local.set $m
           local.get $best local.get $o i32.add local.get $v local.get $b local.get $m v128.bitselect v128.store
           local.get $at local.get $o i32.add local.get $p i32x4.splat local.get $at local.get $o i32.add v128.load local.get $m v128.bitselect v128.store`,
          `block $kept
             local.get $p local.get $o i32.add f32.load local.tee $s
             local.get $best local.get $o i32.add f32.load f32.gt i32.eqz br_if $kept
             local.get $best local.get $o i32.add local.get $s f32.store
             local.get $at local.get $o i32.add local.get $p i32.store
           end`)}
        local.get $k i32.const 1 i32.add local.tee $k local.get $cols i32.lt_u br_if $column
      end
      local.get $r i32.const 1 i32.add local.tee $r local.get $rows i32.lt_u br_if $row
    end
    i32.const 0 local.set $o
    loop $scatter
      block $none
        local.get $at local.get $o i32.add i32.load local.tee $a i32.const -1 i32.eq br_if $none
        local.get $a local.get $o i32.add local.get $dxMinusX i32.add local.tee $p
        local.get $p f32.load local.get $dy local.get $o i32.add f32.load f32.add f32.store
      end
      local.get $o i32.const 4 i32.add local.tee $o local.get $bytes i32.lt_u br_if $scatter
    end`,
}]);

/**
 * Routes each output's gradient to the first maximum of its window (row-major), as the cpu
 * backend does: the window's taps inside the input are walked here, each output position's
 * channels in WebAssembly (SIMD, four channels at a time).
 */
export const maxPoolGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const heap = heapOf(backend);
  const { dy, input } = inputs;
  if (dy === undefined || input === undefined) throw new Error('MaxPoolGrad needs dy and input');
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const shape = input.shape as [number, number, number, number];
  const g = geometryOf(tf.backend_util.computePool2DInfo(shape, filterSize, strides, 1, pad, dimRoundingMode), dy.shape);
  const [n, , , c] = shape;
  const dxInfo = heap.makeOutput(shape, 'float32');
  if (tf.util.sizeFromShape(shape) === 0) return dxInfo;
  const wasm = memoryOf(backend);
  const { route } = maxPoolRouting(wasm.memory);
  withScratch(wasm, 8 * c, (scratch) => {
    const [x, dys] = views(heap, inputs, ['input', 'dy'], 'MaxPoolGrad');
    const dx = heap.typedArrayFromHeap(dxInfo).fill(0);
    const [rowStep, colStep] = [g.inWidth * c * 4, c * 4];
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < g.outHeight; oh++) {
        const top = oh * g.strideHeight - g.padTop;
        const [firstRow, endRow] = [Math.max(0, -top), Math.min(g.filterHeight, g.inHeight - top)];
        for (let ow = 0; ow < g.outWidth; ow++) {
          const left = ow * g.strideWidth - g.padLeft;
          const [firstCol, endCol] = [Math.max(0, -left), Math.min(g.filterWidth, g.inWidth - left)];
          if (endRow <= firstRow || endCol <= firstCol) continue;
          const xAt = x!.byteOffset + ((b * g.inHeight + top + firstRow) * g.inWidth + left + firstCol) * colStep;
          const dyAt = dys!.byteOffset + ((b * g.outHeight + oh) * g.outWidth + ow) * colStep;
          route(xAt, endRow - firstRow, endCol - firstCol, rowStep, colStep, c, dyAt, dx.byteOffset - x!.byteOffset, scratch, scratch + 4 * c);
        }
      }
    }
  });
  return dxInfo;
};

/** 1 / (number of input pixels in each output's window), as [1, OH, OW, 1]. */
function inverseCounts(g: WindowGeometry): tf.Tensor4D {
  const along = (out: number, stride: number, eff: number, before: number, size: number): number[] =>
    Array.from({ length: out }, (_, o) => {
      const start = o * stride - before;
      return Math.min(start + eff, size) - Math.max(start, 0);
    });
  const rows = along(g.outHeight, g.strideHeight, g.effectiveFilterHeight, g.padTop, g.inHeight);
  const cols = along(g.outWidth, g.strideWidth, g.effectiveFilterWidth, g.padLeft, g.inWidth);
  const values = new Float32Array(g.outHeight * g.outWidth);
  rows.forEach((r, i) => cols.forEach((k, j) => (values[i * g.outWidth + j] = 1 / Math.max(1, r * k))));
  return tf.tensor4d(values, [1, g.outHeight, g.outWidth, 1]);
}

/** Spreads each output's gradient evenly over the input pixels its forward average was taken over. */
export const avgPoolGrad = opKernel(['dy', 'input'], ({ dy, input }, attrs: tf.AvgPoolGradAttrs) => {
  const x = input as tf.Tensor4D;
  const info = tf.backend_util.computePool2DInfo(x.shape, attrs.filterSize, attrs.strides, 1, attrs.pad);
  const g = geometryOf(info, dy.shape);
  const c = x.shape[3];
  const scaled = tf.mul(dy, inverseCounts(g)) as tf.Tensor4D;
  return depthwiseAdjoint(scaled, tf.ones([g.filterHeight, g.filterWidth, c, 1]) as tf.Tensor4D, g);
});
