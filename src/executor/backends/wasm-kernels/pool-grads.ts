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
import { opKernel } from './kernel-adapter.ts';
import { depthwiseAdjoint, extractWindows, geometryOf, oneHotFilter, type WindowGeometry } from './windows.ts';

/** Below every finite float32 input: padding never wins a window that has a real pixel. */
const LOWEST_FLOAT32 = -3.4028234663852886e38;

/** Routes each output's gradient to the first maximum of its window (row-major), as the cpu backend does. */
export const maxPoolGrad = opKernel(['dy', 'input'], ({ dy, input }, attrs: tf.MaxPoolGradAttrs) => {
  const x = input as tf.Tensor4D;
  const info = tf.backend_util.computePool2DInfo(x.shape, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const g = geometryOf(info, dy.shape);
  const [n, , , c] = x.shape;
  const kk = g.filterHeight * g.filterWidth;
  const windows = extractWindows(x, g, LOWEST_FLOAT32).reshape([n, g.outHeight, g.outWidth, c, kk]);
  // ArgMax keeps the first of equal values; OneHot is int32 (the wasm kernel ignores a float dtype).
  const first = tf.cast(tf.oneHot(tf.argMax(windows, -1), kk), 'float32');
  const routed = tf.mul(first, tf.expandDims(dy, -1)).reshape([n, g.outHeight, g.outWidth, c * kk]) as tf.Tensor4D;
  return depthwiseAdjoint(routed, oneHotFilter(g.filterHeight, g.filterWidth, c), g);
});

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
