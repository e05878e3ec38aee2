/**
 * The training-mode BatchNorm gradient in two passes over the activations instead of about twenty.
 *
 * tfjs-layers' batchNormalization in training mode runs moments (Mean, Sub, Square, Mean) and then
 * FusedBatchNorm on the batch statistics. tfjs's FusedBatchNorm gradient builds every piece from
 * full-size ops: x - mean, dy * scale, a Tile of rsqrt(variance) to the full shape, four products,
 * and four per-channel Sums (each a transpose plus a reduction on the webgpu backend). All of its
 * per-channel gradients come from two sums over the batch,
 *   sumDy = sum(dy)   and   sumDyXc = sum(dy * (x - mean)),
 * which one pass computes here (`pairSums`); dx is one broadcast multiply.
 */
import * as tf from '@tensorflow/tfjs';
import { sizeOf, webgpuBackendOf } from './backend.ts';
import { pairSums } from './batchnorm-programs.ts';
import { columnsFit } from './reduce-programs.ts';

/** The kernel that returns `[2, C]`: sum(dy) and sum(dy * (x - mean)) over all but the last axis. */
export const BN_GRAD_SUMS = 'TLBatchNormGradSums';

/** Kernel function of BN_GRAD_SUMS: inputs x and dy (same shape, channels last) and mean `[C]`. */
export const bnGradSums: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, dy, mean } = inputs;
  if (x === undefined || dy === undefined || mean === undefined) throw new Error(`${BN_GRAD_SUMS} needs x, dy and mean`);
  const cols = mean.shape[0] ?? 1;
  return pairSums(webgpuBackendOf(backend), 'gradient', [x, dy, mean], sizeOf(x.shape) / cols, cols);
};

/** Whether the fused gradient applies: batch statistics per last-axis channel, float32. */
function fusable(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor | undefined): boolean {
  const c = x.shape[x.rank - 1];
  const perChannel = (t: tf.Tensor) => t.rank === 1 && t.shape[0] === c;
  return tf.getBackend() === 'webgpu' && x.rank >= 2 && x.dtype === 'float32' && c !== undefined && columnsFit(c)
    && perChannel(mean) && perChannel(variance) && (scale == null || perChannel(scale));
}

/**
 * FusedBatchNorm's gradient: the fused form on webgpu for per-channel statistics, `original`
 * otherwise. The two sums are computed when the gradient function is called, since tfjs calls
 * each input's closure in its own tidy; for a BatchNorm whose mean, variance, scale and offset all
 * need no gradient this is one pass too many, which TL's frozen layers (run in inference mode and
 * below the trainable ones) do not meet.
 */
export function fusedBatchNormGrad(original: tf.GradConfig): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      if (Array.isArray(dy) || x === undefined || mean === undefined || variance === undefined || !fusable(x, mean, variance, scale)) {
        return original.gradFunc(dy, saved, attrs);
      }
      const epsilon = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
      const sums = tf.engine().runKernel(BN_GRAD_SUMS, { x, dy, mean }, {}) as tf.Tensor2D;
      const [sumDy, sumDyXc] = tf.unstack(sums) as [tf.Tensor1D, tf.Tensor1D];
      const rstd = tf.rsqrt(tf.add(variance, tf.scalar(epsilon)));
      const gain = scale == null ? rstd : tf.mul(rstd, scale);
      return {
        x: () => tf.mul(dy, gain),
        mean: () => tf.reshape(tf.neg(tf.mul(gain, sumDy)), mean.shape),
        // d/dvariance of (x - mean) * rstd * scale is -0.5 * rstd^2 * (x - mean) * rstd * scale.
        variance: () => tf.reshape(tf.mul(tf.mul(tf.square(rstd), gain), tf.mul(sumDyXc, -0.5)), mean.shape),
        scale: () => tf.reshape(tf.mul(rstd, sumDyXc), mean.shape),
        offset: () => tf.reshape(sumDy, mean.shape),
      };
    },
  };
}
