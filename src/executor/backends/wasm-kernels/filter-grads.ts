/**
 * Conv2DBackpropFilter as one matmul of the channel-major patch matrix with the output gradient.
 * (The depthwise filter gradient loops over the heap instead: depthwise-filter-grad.ts.)
 */
import * as tf from '@tensorflow/tfjs';
import { opKernel } from './kernel-adapter.ts';
import { geometryOf, patchesByChannel, type WindowGeometry } from './windows.ts';

/**
 * The largest patch tensor built at once, in elements (64 MiB of float32). Bigger batches are
 * cut along the batch axis and their filter gradients added: a 224 px MobileNet stem at batch
 * 32 would otherwise need several hundred MiB of patches.
 */
const PATCH_BUDGET = 1 << 24;

/** Splits x and dy along the batch axis so that each part's patch matrix fits the budget. */
function batchParts(x: tf.Tensor4D, dy: tf.Tensor4D, patchesPerExample: number): [tf.Tensor4D, tf.Tensor4D][] {
  const n = x.shape[0];
  const per = Math.max(1, Math.floor(PATCH_BUDGET / Math.max(1, patchesPerExample)));
  if (per >= n) return [[x, dy]];
  const sizes: number[] = [];
  for (let start = 0; start < n; start += per) sizes.push(Math.min(per, n - start));
  const xs = tf.split(x, sizes, 0) as tf.Tensor4D[];
  const dys = tf.split(dy, sizes, 0) as tf.Tensor4D[];
  return xs.map((part, i) => [part, dys[i] as tf.Tensor4D]);
}

function sumParts(parts: tf.Tensor[]): tf.Tensor {
  const [first] = parts;
  if (first === undefined) throw new Error('no batch parts');
  return parts.length === 1 ? first : tf.addN(parts);
}

function toNHWC(t: tf.Tensor4D, dataFormat: 'NHWC' | 'NCHW' | undefined): tf.Tensor4D {
  return dataFormat === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) : t;
}

/** dW[kh, kw, ci, co] = sum over (n, oh, ow) of patch(ci, kh, kw) * dy(co), as [Ci*KK, P] x [P, Co]. */
function convFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, g: WindowGeometry, filterShape: readonly number[]): tf.Tensor4D {
  const [kh = 1, kw = 1, ci = 1, co = 1] = filterShape;
  const perExample = ci * kh * kw * g.outHeight * g.outWidth;
  // Each part in its own tidy: its patches are freed before the next part's are built.
  const parts = batchParts(x, dy, perExample).map(([xs, dys]) =>
    tf.tidy(() => tf.matMul(patchesByChannel(xs, g), dys.reshape([-1, co]))),
  );
  return tf.transpose(sumParts(parts).reshape([ci, kh, kw, co]), [1, 2, 0, 3]);
}

/** Conv2DBackpropFilter carries no dilations in tfjs (conv2d's gradient refuses them); honour any a caller passes. */
type ConvFilterAttrs = tf.Conv2DBackpropFilterAttrs & { dilations?: [number, number] | number };

export const conv2DBackpropFilter = opKernel(['x', 'dy'], ({ x, dy }, attrs: ConvFilterAttrs) => {
  const format = attrs.dataFormat ?? 'NHWC';
  const dataFormat = tf.backend_util.convertConv2DDataFormat(format);
  const { filterShape, strides, pad, dimRoundingMode } = attrs;
  const info = tf.backend_util.computeConv2DInfo((x as tf.Tensor4D).shape, filterShape, strides, attrs.dilations ?? 1, pad, dimRoundingMode, false, dataFormat);
  const xs = toNHWC(x as tf.Tensor4D, format);
  const dys = toNHWC(dy as tf.Tensor4D, format);
  return convFilterGrad(xs, dys, geometryOf(info, dys.shape), filterShape);
});
