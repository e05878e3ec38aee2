/**
 * Applies a plan's augmentations to one training batch.
 */
import * as tf from '@tensorflow/tfjs';
import type { AugmentOp } from '../../plan/schema.ts';
import { drawBatchAffines, isGeometric, type GeometricOp } from './affine.ts';
import { cutmix, mixup } from './mix.ts';
import { brightness, contrast, noise, type ValueRange } from './photometric.ts';
import type { Rng } from './rng.ts';
import { sampleAffine } from './sampler.ts';

export type AugmentOptions = {
  /**
   * The model's input range that `x` is already in; brightness and noise amounts are fractions of
   * its span and value ops clip back into it. Default [0, 1].
   */
  range?: ValueRange;
};

/**
 * Augments a batch: `x` float NHWC already in the model's input range, `y` one-hot (or soft) labels.
 *
 * Order, whatever order the plan lists them in:
 * 1. all geometric ops (flip, rotate, zoom, translate, crop), composed in plan order into one
 *    affine transform per image and resampled once (bilinear, reflected edges);
 * 2. value ops (brightness, contrast, noise) in plan order, each clipped to `range`;
 * 3. mixing: mixup or cutmix; when the plan lists both, each batch uses one of them, chosen with
 *    probability 1/2 (timm's switch), rather than stacking two label mixes.
 *
 * Every random number comes from `rng`, so the same seed gives bit-identical batches on the cpu
 * and wasm backends (on webgpu the resampler, noise and contrast's mean run on the GPU: equal to
 * rounding). The inputs are left alone; the result is new tensors the caller disposes.
 *
 * @example
 * const rng = createRng(plan.seed);
 * const { x: xa, y: ya } = augmentBatch(x, y, plan.augment, rng, { range: [-1, 1] });
 */
export function augmentBatch(
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  ops: readonly AugmentOp[],
  rng: Rng,
  options: AugmentOptions = {},
): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const range = options.range ?? [0, 1];
  if (!(range[1] > range[0])) throw new RangeError(`augment range must have min < max, got [${range.join(', ')}]`);
  if (x.rank !== 4 || x.dtype !== 'float32') throw new TypeError(`augmentBatch expects a float32 NHWC batch, got ${x.dtype} of shape [${x.shape.join(', ')}]`);
  if (y.rank !== 2 || y.shape[0] !== x.shape[0]) {
    throw new TypeError(`augmentBatch expects labels of shape [${x.shape[0]}, classes], got [${y.shape.join(', ')}]`);
  }
  const [n, h, w] = x.shape;
  return tf.tidy(() => {
    let xa: tf.Tensor4D = x;
    let ya: tf.Tensor2D = y;

    const geometric = ops.filter(isGeometric) as GeometricOp[];
    const transforms = drawBatchAffines(geometric, rng, n, w, h);
    if (transforms) xa = sampleAffine(xa, transforms);

    for (const op of ops) {
      if (op.op === 'brightness') xa = brightness(xa, op.delta, range, rng);
      else if (op.op === 'contrast') xa = contrast(xa, op.factor, range, rng);
      else if (op.op === 'noise') xa = noise(xa, op.stddev, range, rng);
    }

    const mixOps = ops.filter((op) => op.op === 'mixup' || op.op === 'cutmix');
    const mix = mixOps.length <= 1 ? mixOps[0] : mixOps[rng.int(mixOps.length)];
    if (mix?.op === 'mixup') ({ x: xa, y: ya } = mixup(xa, ya, mix.alpha, rng));
    else if (mix?.op === 'cutmix') ({ x: xa, y: ya } = cutmix(xa, ya, mix.alpha, rng));

    // Never hand back the caller's own tensors: the result is always the caller's to dispose.
    return { x: xa === x ? x.clone() : xa, y: ya === y ? y.clone() : ya };
  });
}
