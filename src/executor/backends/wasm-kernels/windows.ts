/**
 * Sliding-window geometry and the two primitives every gradient here is built from:
 * `extractWindows` (im2col, done as a depthwise convolution with a one-hot filter, so XNNPACK does
 * the gathering with exactly the forward op's stride, dilation and padding rules) and its adjoint
 * `depthwiseAdjoint` (col2im, done as a stride-1 depthwise convolution of the zero-dilated
 * gradient with the flipped filter). The wasm backend has fast SIMD convolutions but slow
 * JS-side slices and a slow gather, which is why nothing here slices per window offset.
 */
import * as tf from '@tensorflow/tfjs';
import { runKernel } from './kernel-adapter.ts';

/** The parts of tfjs's `Conv2DInfo` the kernels use, in NHWC terms. */
export interface WindowGeometry {
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly filterHeight: number;
  readonly filterWidth: number;
  readonly strideHeight: number;
  readonly strideWidth: number;
  readonly dilationHeight: number;
  readonly dilationWidth: number;
  readonly effectiveFilterHeight: number;
  readonly effectiveFilterWidth: number;
  readonly padTop: number;
  readonly padLeft: number;
}

/**
 * The geometry of a windowed op from tfjs's conv info and the gradient actually received
 * ([N, OH, OW, C]). The gradient's size wins: tfjs-core's conv2d gradient drops
 * `dimRoundingMode`, so with 'ceil' the info has one row fewer than the forward op produced.
 */
export function geometryOf(info: tf.backend_util.Conv2DInfo, dyShape: readonly number[]): WindowGeometry {
  return {
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    outHeight: dyShape[1] ?? info.outHeight,
    outWidth: dyShape[2] ?? info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    effectiveFilterHeight: info.effectiveFilterHeight,
    effectiveFilterWidth: info.effectiveFilterWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

export type ExplicitPads = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Padding after the input along one axis so that a convolution yields exactly `outLen`
 * positions under XNNPACK's floor rounding. tfjs's own rounding modes never leave more rows than
 * the wanted windows plus a stride's remainder, so zero is enough when the windows fall short.
 */
function trailing(inLen: number, outLen: number, stride: number, eff: number, before: number): number {
  return Math.max(0, (outLen - 1) * stride + eff - inLen - before);
}

/** A [KH, KW, C, KH*KW] filter whose output channel (c, k) copies window offset k of channel c. */
export function oneHotFilter(filterHeight: number, filterWidth: number, channels: number): tf.Tensor4D {
  const kk = filterHeight * filterWidth;
  const values = new Float32Array(kk * channels * kk);
  for (let k = 0; k < kk; k++) {
    for (let c = 0; c < channels; c++) values[(k * channels + c) * kk + k] = 1;
  }
  return tf.tensor4d(values, [filterHeight, filterWidth, channels, kk]);
}

function depthwise(x: tf.Tensor4D, filter: tf.Tensor4D, strides: [number, number], dilations: [number, number], pad: ExplicitPads): tf.Tensor4D {
  // Through runKernel: the op refuses stride > 1 together with dilation > 1, the wasm kernel does not.
  return runKernel('DepthwiseConv2dNative', { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC' }) as tf.Tensor4D;
}

/**
 * All windows of `x` ([B, H, W, C]) as [B, OH, OW, C * KH*KW], channel (c, kh, kw); positions in
 * the padding read `padValue`. Exact: each output is one input times 1 plus zeros.
 */
export function extractWindows(x: tf.Tensor4D, g: WindowGeometry, padValue = 0): tf.Tensor4D {
  const c = x.shape[3];
  const bottom = trailing(g.inHeight, g.outHeight, g.strideHeight, g.effectiveFilterHeight, g.padTop);
  const right = trailing(g.inWidth, g.outWidth, g.strideWidth, g.effectiveFilterWidth, g.padLeft);
  const unpadded = g.padTop === 0 && bottom === 0 && g.padLeft === 0 && right === 0;
  if (g.filterHeight * g.filterWidth === 1 && g.strideHeight === 1 && g.strideWidth === 1 && unpadded) return x;
  let src = x;
  let pads: ExplicitPads = [[0, 0], [g.padTop, bottom], [g.padLeft, right], [0, 0]];
  if (padValue !== 0 && !unpadded) {
    // The convolution pads with zeros; other fill values need an explicit pad first.
    src = tf.pad(x, pads, padValue);
    pads = [[0, 0], [0, 0], [0, 0], [0, 0]];
  }
  const filter = oneHotFilter(g.filterHeight, g.filterWidth, c);
  return depthwise(src, filter, [g.strideHeight, g.strideWidth], [g.dilationHeight, g.dilationWidth], pads);
}

/**
 * Patches of `x` ([N, H, W, C]) as a [C * KH*KW, N*OH*OW] matrix, rows (c, kh, kw). Built from the
 * channel-major copy of x so that the big matrix comes out as the left operand of a plain matmul,
 * the one case the wasm BatchMatMul hands to XNNPACK (transposed operands take a scalar loop).
 */
export function patchesByChannel(x: tf.Tensor4D, g: WindowGeometry): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  const planes = (c === 1 ? x : tf.transpose(x, [3, 0, 1, 2])).reshape([c * n, h, w, 1]) as tf.Tensor4D;
  const windows = extractWindows(planes, g);
  const kk = g.filterHeight * g.filterWidth;
  const p = n * g.outHeight * g.outWidth;
  if (kk === 1) return windows.reshape([c, p]);
  return tf.transpose(windows.reshape([c, p, kk]), [0, 2, 1]).reshape([c * kk, p]);
}

/**
 * The gradient laid out for a stride-1 convolution that computes the adjoint of a windowed op:
 * zeros between rows and columns for the stride, and the explicit padding (or cropping) that
 * makes the result exactly [N, H, W, C]. With E = effective filter size - 1, output row i reads
 * dilated rows i + top - E .. i + top, which is where the windows that covered input row i sit.
 */
export function spreadForAdjoint(dy: tf.Tensor4D, g: WindowGeometry): { z: tf.Tensor4D; pads: ExplicitPads } {
  const [n, oh, ow, c] = dy.shape;
  const sh = g.strideHeight;
  const sw = g.strideWidth;
  let z = dy;
  if (sh > 1 || sw > 1) {
    const spread = tf.pad(dy.reshape([n, oh, 1, ow, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    z = spread.reshape([n, oh * sh, ow * sw, c]);
  }
  const beforeH = g.effectiveFilterHeight - 1 - g.padTop;
  const afterH = g.inHeight + g.padTop - oh * sh;
  const beforeW = g.effectiveFilterWidth - 1 - g.padLeft;
  const afterW = g.inWidth + g.padLeft - ow * sw;
  if (beforeH < 0 || afterH < 0 || beforeW < 0 || afterW < 0) {
    // Only explicit paddings wider than the filter get here: those rows only feed the padding.
    const top = Math.max(0, -beforeH);
    const left = Math.max(0, -beforeW);
    z = tf.slice(z, [0, top, left, 0], [n, oh * sh - top - Math.max(0, -afterH), ow * sw - left - Math.max(0, -afterW), c]);
  }
  return { z, pads: [[0, 0], [Math.max(0, beforeH), Math.max(0, afterH)], [Math.max(0, beforeW), Math.max(0, afterW)], [0, 0]] };
}

/**
 * The adjoint of a depthwise convolution with `filter` ([KH, KW, C, M]): maps a gradient
 * [N, OH, OW, C*M] back to [N, H, W, C]. With the one-hot filter it is col2im.
 */
export function depthwiseAdjoint(dy: tf.Tensor4D, filter: tf.Tensor4D, g: WindowGeometry): tf.Tensor4D {
  const [kh, kw, c, m] = filter.shape;
  const { z, pads } = spreadForAdjoint(dy, g);
  const flipped = tf.reverse(filter, [0, 1]).reshape([kh, kw, c * m, 1]) as tf.Tensor4D;
  const full = depthwise(z, flipped, [1, 1], [g.dilationHeight, g.dilationWidth], pads);
  if (m === 1) return full;
  const [n, h, w] = full.shape;
  return tf.sum(full.reshape([n, h, w, c, m]), -1);
}

/** The adjoint of a regular convolution with `filter` ([KH, KW, Cin, Cout]): [N, OH, OW, Cout] to [N, H, W, Cin]. */
export function convAdjoint(dy: tf.Tensor4D, filter: tf.Tensor4D, g: WindowGeometry): tf.Tensor4D {
  const transposed = tf.transpose(filter, [0, 1, 3, 2]);
  if (filter.shape[0] === 1 && filter.shape[1] === 1) {
    // A 1x1 filter sends each dy position to one dx position: multiply first, then spread the
    // product (at stride 2, a quarter of the products of convolving the spread dy). Its windows
    // reach the last row they can, so the spread only ever crops: it is dx.
    const product = runKernel('Conv2D', { x: dy, filter: transposed }, { strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC' }) as tf.Tensor4D;
    return spreadForAdjoint(product, g).z;
  }
  const { z, pads } = spreadForAdjoint(dy, g);
  const attrs = { strides: [1, 1], pad: pads, dilations: [g.dilationHeight, g.dilationWidth], dataFormat: 'NHWC' };
  return runKernel('Conv2D', { x: z, filter: tf.reverse(transposed, [0, 1]) }, attrs) as tf.Tensor4D;
}
